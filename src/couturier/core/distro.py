"""The distribution a release's packages come from: its vendor, codename and version.

A :class:`Distro` is what the SBOMs and the generated ``/etc/os-release`` say about where an
image's packages come from. It is made (by the adapter that reads the package source) from the
settings' ``vendor`` of the release's first mirror, else the ``Origin`` of the suite's signed
``InRelease`` (``Debian``, ``Ubuntu``), else Debian; the codename and version come from the same
``InRelease`` (``Codename``, ``Version``), else the release's name.

Rules and their sources:

- purl namespace: the vendor, lowercased (purl specification, ``PURL-TYPES.rst``, type ``deb``:
  "The namespace is the vendor name such as debian or ubuntu ... must be lowercased").
- ``distro`` qualifier: ``<vendor>-<codename>`` (``debian-bookworm``, ``ubuntu-noble``). The
  specification's examples give the codename alone (``distro=jessie``); the vendor prefix is the
  practice of syft and trivy (``distro=debian-12``), which lets one qualifier say both. The
  codename (not the numeric version) is kept because every Debian-format source has one.
- multiarch triplets: Debian's ``dpkg-architecture -qDEB_HOST_MULTIARCH`` per architecture
  (``/usr/lib/x86_64-linux-gnu``); an architecture not in the table is taken as
  ``<arch>-linux-gnu``.
- os-release fields: ``os-release(5)`` (``NAME``, ``ID`` lowercase, ``ID_LIKE``, ``VERSION_ID``,
  ``VERSION_CODENAME``, ``PRETTY_NAME``).

Pure: values in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["DEBIAN", "MULTIARCH_TRIPLETS", "Distro", "distro_of", "multiarch_triplet", "vendor_of"]

MULTIARCH_TRIPLETS: Mapping[str, str] = MappingProxyType(
    {
        "amd64": "x86_64-linux-gnu",
        "arm64": "aarch64-linux-gnu",
        "armhf": "arm-linux-gnueabihf",
        "i386": "i386-linux-gnu",
        "ppc64el": "powerpc64le-linux-gnu",
        "s390x": "s390x-linux-gnu",
        "riscv64": "riscv64-linux-gnu",
    }
)


def multiarch_triplet(architecture: str) -> str:
    """The multiarch directory name of a Debian architecture (``amd64`` → ``x86_64-linux-gnu``)."""
    return MULTIARCH_TRIPLETS.get(architecture, f"{architecture}-linux-gnu")


_NOT_VENDOR = re.compile(r"[^a-z0-9.+-]+")
_DEFAULT_VENDOR = "debian"


def vendor_of(name: str) -> str:
    """``name`` (an ``Origin`` such as ``Ubuntu``, or a settings value) as a vendor id:
    lowercase, runs of characters other than ``[a-z0-9.+-]`` made one ``-``
    (``Couturier fixture`` → ``couturier-fixture``); empty when nothing is left."""
    return _NOT_VENDOR.sub("-", name.strip().lower()).strip("-.+")


@dataclass(frozen=True)
class Distro:
    """Where a release's packages come from.

    ``vendor`` is the lowercase id (purl namespace, os-release ``ID``); ``name`` the vendor as
    the source writes it (os-release ``NAME``); ``codename`` the release codename (``bookworm``,
    ``noble``; empty when unknown); ``version`` the release's version (``12.8``, ``24.04``;
    empty when unknown).
    """

    vendor: str = _DEFAULT_VENDOR
    name: str = "Debian"
    codename: str = ""
    version: str = ""

    def purl_distro(self) -> str:
        """The purl ``distro`` qualifier, ``<vendor>-<codename>``; empty without a codename."""
        return f"{self.vendor}-{self.codename}" if self.codename else ""

    def os_release(self) -> dict[str, str]:
        """The ``/etc/os-release`` fields (``os-release(5)``) of an image of this distribution,
        for when no package ships the file; ``ID_LIKE=debian`` for every other vendor."""
        pretty = " ".join(
            part
            for part in (self.name, self.version, f"({self.codename})" if self.codename else "")
            if part
        )
        fields = {"PRETTY_NAME": pretty, "NAME": self.name, "ID": self.vendor}
        if self.vendor != _DEFAULT_VENDOR:
            fields["ID_LIKE"] = _DEFAULT_VENDOR
        if self.version:
            fields["VERSION_ID"] = self.version
        if self.codename:
            fields["VERSION_CODENAME"] = self.codename
        return fields


DEBIAN = Distro()


def distro_of(vendor: str | None, origin: str, codename: str, version: str = "") -> Distro:
    """The distribution of a source: ``vendor`` (the settings' word, wins when given) else
    ``origin`` (``InRelease``'s ``Origin``) else Debian, with ``codename`` and ``version``.

    ``name`` is the ``Origin`` as written when it names the same vendor, else the vendor id.
    """
    from_origin = vendor_of(origin)
    chosen = vendor_of(vendor or "") or from_origin or _DEFAULT_VENDOR
    if from_origin == chosen:
        name = origin.strip()
    elif chosen == _DEFAULT_VENDOR:
        name = DEBIAN.name
    else:
        name = vendor.strip() if vendor else chosen
    return Distro(chosen, name, codename.strip(), version.strip())
