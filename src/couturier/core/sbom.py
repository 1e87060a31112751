"""The software bill of materials of one line image, and its SPDX 2.3 and CycloneDX 1.6 forms.

An :class:`SbomImage` is what an SBOM says about one image (one line, one architecture): its name,
version and digest, and one :class:`SbomPackage` per package, in two groups, ``starter`` (what the
starter image brings) and ``added`` (what the private image adds, with the added request that
pulled each dependency in). An ``-auto`` package for which no family member fits the line is
listed with no version and the status ``skipped``. :func:`sbom_packages` builds the package list
from a :class:`~couturier.core.planner.LinePlan`.

:func:`spdx_document` and :func:`cyclonedx_document` turn an image into the JSON value of each
format; :func:`sbom_json` serializes either to bytes. Output is deterministic: the same image
gives the same bytes. Times come from the image's ``created`` (its ``SOURCE_DATE_EPOCH``), never
the clock, and the SPDX ``documentNamespace`` and CycloneDX ``serialNumber`` are derived from a
sha256 of the rest of the document.

Licenses are SPDX license expressions (as :mod:`couturier.assembly.licenses` makes them from the
packages' copyright files); a ``LicenseRef-*`` in one is declared in the SPDX document's
``hasExtractedLicensingInfos``, and anything that is not a well-formed expression is turned into
one ``LicenseRef-*``, so both documents always validate.

Package URLs name the distribution the packages come from
(:class:`~couturier.core.distro.Distro`: ``pkg:deb/ubuntu/...?distro=ubuntu-noble`` for an Ubuntu
source); Debian when none is given. Pure: Couturier's own version (the documents' creator tool)
is the image's ``tool_version``, which the caller reads from the installed metadata.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from couturier.core.distro import DEBIAN, Distro
from couturier.core.families import AUTO_SUFFIX, auto_description
from couturier.core.planner import LinePlan

__all__ = [
    "ADDED",
    "INSTALLED",
    "SKIPPED",
    "STARTER",
    "SbomImage",
    "SbomPackage",
    "cyclonedx_document",
    "deb_purl",
    "license_refs",
    "normalize_license",
    "sbom_json",
    "sbom_packages",
    "spdx_document",
]

STARTER = "starter"
ADDED = "added"
INSTALLED = "installed"
SKIPPED = "skipped"

_TOOL = "couturier"
_NAMESPACE_BASE = "https://couturier.invalid/spdx"
_PROPERTY = "couturier:"
_OPERATORS = frozenset({"AND", "OR", "WITH"})
_LICENSE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")
_LICENSE_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_NOT_ID = re.compile(r"[^A-Za-z0-9.-]+")
# purl's "Punctuation Characters" plus ':' (which the spec says is never percent-encoded).
_PURL_SAFE = ".-_~:"
_PURL_KEPT = frozenset((string.ascii_letters + string.digits + _PURL_SAFE).encode("ascii"))
_PURL_PLAIN = re.compile(r"[A-Za-z0-9._~:-]*")


def _purl_quote(text: str) -> str:
    """``text`` percent-encoded as the purl specification says: ASCII letters, digits and
    ``.-_~:`` kept, every other byte of its UTF-8 form written ``%XX`` (upper-case hex), so
    ``1.2+dfsg`` → ``1.2%2Bdfsg`` and ``sha256:ab`` stays as it is."""
    if _PURL_PLAIN.fullmatch(text):
        return text  # most names and versions: nothing to encode, no per-byte work
    return "".join(
        chr(byte) if byte in _PURL_KEPT else f"%{byte:02X}" for byte in text.encode("utf-8")
    )


@dataclass(frozen=True)
class SbomPackage:
    """One package of an image as the SBOM lists it.

    ``version`` is None only for a skipped ``-auto`` package. ``group`` is ``starter`` or
    ``added``; ``status`` is ``installed`` or ``skipped``. ``pulled_in_by`` names the requested
    package whose dependencies brought this one in (None for a requested package), and
    ``required_by`` the package whose dependency did so directly (the edge of the dependency
    graph). ``requested_as`` is the ``-auto`` request a package is the chosen member of.
    ``license`` is an SPDX expression, None when the package says nothing usable.
    ``vendor`` (the purl namespace) and ``release`` (the codename in its ``distro`` qualifier)
    say which distribution the package comes from.
    """

    name: str
    version: str | None
    architecture: str
    source: str
    source_version: str
    license: str | None
    group: str
    pulled_in_by: str | None
    status: str = INSTALLED
    summary: str = ""
    release: str = ""
    required_by: str | None = None
    requested_as: str | None = None
    vendor: str = DEBIAN.vendor

    @property
    def installed(self) -> bool:
        return self.status == INSTALLED

    @property
    def purl(self) -> str:
        """``pkg:deb/<vendor>/<name>@<version>?arch=<arch>&distro=<vendor>-<release>``.

        Encoded as the purl specification says: ``+`` becomes ``%2B``, ``:`` (a version's epoch)
        stays as it is. No ``@version`` for a skipped package.
        """
        return deb_purl(self.name, self.version, self.architecture, self.release, self.vendor)

    @property
    def source_purl(self) -> str:
        """The purl of the source package (``arch=source``)."""
        version = self.source_version or self.version
        name = self.source or self.name
        return deb_purl(name, version, "source", self.release, self.vendor)


@dataclass(frozen=True)
class SbomImage:
    """One line image on one architecture, as its SBOM describes it.

    ``image_digest`` is the manifest digest (may be empty when not known yet); ``created`` the
    image's ``SOURCE_DATE_EPOCH``, so the SBOM's dates do not depend on when it was written.
    ``distro`` is where its packages come from (named in the image's description).
    ``tool_version`` is Couturier's own version, named as the documents' creator tool
    (``Tool: couturier-0.4.0``).
    """

    name: str
    line: str
    full_version: str
    release: str
    architecture: str
    image_digest: str
    created: int
    packages: tuple[SbomPackage, ...]
    starter: str = ""
    distro: Distro = DEBIAN
    tool_version: str = field(kw_only=True)


def deb_purl(
    name: str,
    version: str | None,
    architecture: str,
    release: str = "",
    vendor: str = DEBIAN.vendor,
) -> str:
    """The purl of a Debian-format package (``pkg:deb/<vendor>/...``), canonical as the spec
    defines; ``release`` (a codename) gives the ``distro`` qualifier ``<vendor>-<release>``
    (see :mod:`couturier.core.distro` for the rule and its source)."""
    out = f"pkg:deb/{_purl_quote(vendor)}/{_purl_quote(name)}"
    if version:
        out += "@" + _purl_quote(version)
    qualifiers = {"arch": architecture}
    if release:
        qualifiers["distro"] = Distro(vendor, codename=release).purl_distro()
    query = "&".join(f"{key}={_purl_quote(value)}" for key, value in qualifiers.items())
    return f"{out}?{query}"


def _pulled_in_by(plan: LinePlan, name: str) -> str | None:
    """The requested package at the top of ``name``'s chain of reasons (None for a request)."""
    root = plan.chain_root(name)
    return None if root == name else root


def sbom_packages(
    plan: LinePlan,
    licenses: Mapping[str, str | None],
    skipped_autos: Sequence[str] = (),
    distro: Distro = DEBIAN,
) -> tuple[SbomPackage, ...]:
    """The SBOM packages of ``plan``: starter packages, added packages, then the skipped autos.

    ``licenses`` maps package names to SPDX expressions (missing names: no license known). The
    skipped autos are the plan's ``-auto`` requests with no member on this line, plus any named
    in ``skipped_autos``. ``distro`` gives the purls' vendor and codename (the line's release
    name when it knows no codename). Cost: linear in the packages times the depth of the
    chains of reasons.
    """
    release = distro.codename or plan.line.release
    vendor = distro.vendor
    autos = dict(plan.autos)
    request_of = {member: request for request, member in autos.items() if member is not None}
    out: list[SbomPackage] = []
    for group, packages in ((STARTER, plan.starter), (ADDED, plan.added)):
        for package in sorted(packages, key=lambda p: p.name):
            source, source_version = package.source
            out.append(
                SbomPackage(
                    name=package.name,
                    version=package.version,
                    architecture=package.architecture,
                    source=source,
                    source_version=source_version,
                    license=licenses.get(package.name),
                    group=group,
                    pulled_in_by=_pulled_in_by(plan, package.name),
                    status=INSTALLED,
                    summary=package.summary,
                    release=release,
                    required_by=plan.reasons.get(package.name),
                    requested_as=request_of.get(package.name),
                    vendor=vendor,
                )
            )
    skipped = {name for name, member in autos.items() if member is None} | set(skipped_autos)
    for name in sorted(skipped):
        out.append(
            SbomPackage(
                name=name,
                version=None,
                architecture=plan.architecture,
                source="",
                source_version="",
                license=None,
                group=ADDED,
                pulled_in_by=None,
                status=SKIPPED,
                summary=auto_description(name.removesuffix(AUTO_SUFFIX)),
                release=release,
                vendor=vendor,
            )
        )
    return tuple(out)


# -- licenses ------------------------------------------------------------------------------------


def normalize_license(expression: str | None) -> str | None:
    """``expression`` if it is a well-formed SPDX license expression, else one ``LicenseRef``.

    Well-formed here means: balanced parentheses, operators ``AND``/``OR``/``WITH`` between
    license ids (``[A-Za-z0-9.+-]``) or ``LicenseRef-`` ids. Whether an id is on the SPDX list is
    the caller's business (:mod:`couturier.assembly.licenses` only produces listed ids).
    """
    if expression is None or not expression.strip():
        return None
    text = " ".join(expression.split())
    if _well_formed(_LICENSE_TOKEN.findall(text)):
        return text
    return "LicenseRef-" + (_NOT_ID.sub("-", text).strip("-.") or "unknown")


def _well_formed(tokens: list[str]) -> bool:
    depth, want_operand = 0, True
    for token in tokens:
        if token == "(":
            if not want_operand:
                return False
            depth += 1
        elif token == ")":
            depth -= 1
            if want_operand or depth < 0:
                return False
        elif token in _OPERATORS:
            if want_operand:
                return False
            want_operand = True
        else:
            if not want_operand or not _LICENSE_ID.fullmatch(token):
                return False
            if token.startswith("LicenseRef-") and not _LICENSE_REF.fullmatch(token):
                return False
            want_operand = False
    return depth == 0 and not want_operand


def license_refs(expression: str) -> list[str]:
    """The ``LicenseRef-*`` ids in ``expression``, in order of appearance, once each."""
    found = [t for t in _LICENSE_TOKEN.findall(expression) if t.startswith("LicenseRef-")]
    return list(dict.fromkeys(found))


# -- shared helpers ------------------------------------------------------------------------------


def _timestamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ordered(packages: Iterable[SbomPackage]) -> list[SbomPackage]:
    """Starter packages first, then added ones, skipped ones last; by name within each."""
    return sorted(packages, key=lambda p: (p.group != STARTER, not p.installed, p.name))


def _content_hash(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(sbom_json(document)).hexdigest()


def _image_purl(image: SbomImage) -> str | None:
    """``pkg:oci/<name>@<digest>?arch=..&tag=..`` when the manifest digest is known."""
    if not image.image_digest:
        return None
    name = image.name.rsplit("/", 1)[-1].lower()
    qualifiers = f"arch={_purl_quote(image.architecture)}"
    if image.full_version:
        qualifiers += f"&tag={_purl_quote(image.full_version)}"
    digest = _purl_quote(image.image_digest)
    return f"pkg:oci/{_purl_quote(name)}@{digest}?{qualifiers}"


def _describe(package: SbomPackage) -> str:
    """A sentence saying where the package comes from (the SPDX package comment)."""
    if not package.installed:
        return (
            f"skipped: no member of {package.name.removesuffix(AUTO_SUFFIX)} fits this line,"
            " nothing was installed for it"
        )
    what = "starter package" if package.group == STARTER else "added package"
    if package.requested_as is not None:
        return f"{what}, requested as {package.requested_as}"
    if package.pulled_in_by is None:
        return f"{what}, requested"
    return f"{what}, pulled in by {package.pulled_in_by}"


def _properties(package: SbomPackage) -> list[tuple[str, str]]:
    """Couturier's facts about a package, as (name, value) pairs."""
    out = [("group", package.group), ("status", package.status)]
    if package.pulled_in_by is not None:
        out.append(("pulled-in-by", package.pulled_in_by))
    if package.requested_as is not None:
        out.append(("requested-as", package.requested_as))
    return [(_PROPERTY + key, value) for key, value in out]


# -- SPDX 2.3 --------------------------------------------------------------------------------------


def _spdx_ids(packages: Sequence[SbomPackage]) -> dict[str, str]:
    """A unique ``SPDXRef-`` id per package name (``+`` and such become ``-``)."""
    ids: dict[str, str] = {}
    used = {"SPDXRef-DOCUMENT", "SPDXRef-Image"}
    for package in packages:
        base = "SPDXRef-Package-deb-" + (_NOT_ID.sub("-", package.name) or "x")
        candidate, n = base, 1
        while candidate in used:
            n += 1
            candidate = f"{base}-{n}"
        used.add(candidate)
        ids[package.name] = candidate
    return ids


def _spdx_image(image: SbomImage) -> dict[str, Any]:
    line = f"{image.starter} line {image.line}" if image.starter else f"line {image.line}"
    body: dict[str, Any] = {
        "SPDXID": "SPDXRef-Image",
        "name": image.name,
        "versionInfo": image.full_version,
        "primaryPackagePurpose": "CONTAINER",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "comment": f"{line}, built from {image.distro.name} {image.release} for "
        f"{image.architecture}",
    }
    purl = _image_purl(image)
    if purl is not None:
        body["checksums"] = [
            {"algorithm": "SHA256", "checksumValue": image.image_digest.removeprefix("sha256:")}
        ]
        body["externalRefs"] = [_spdx_purl(purl)]
    return body


def _spdx_purl(purl: str) -> dict[str, str]:
    return {
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    }


def _spdx_package(package: SbomPackage, spdx_id: str, tool: str, created: str) -> dict[str, Any]:
    license_text = normalize_license(package.license) or "NOASSERTION"
    body: dict[str, Any] = {
        "SPDXID": spdx_id,
        "name": package.name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": license_text,
        "copyrightText": "NOASSERTION",
        "comment": _describe(package),
        "annotations": [
            {
                "annotationDate": created,
                "annotationType": "OTHER",
                "annotator": tool,
                "comment": f"{key}={value}",
            }
            for key, value in _properties(package)
        ],
    }
    if package.summary:
        body["summary"] = package.summary
    if package.installed and package.version is not None:
        body["versionInfo"] = package.version
        body["externalRefs"] = [_spdx_purl(package.purl)]
        source_version = package.source_version or package.version
        body["sourceInfo"] = (
            f"built from Debian source package {package.source or package.name} {source_version}"
        )
    return body


def _extracted_licenses(packages: Sequence[SbomPackage]) -> list[dict[str, str]]:
    """One ``hasExtractedLicensingInfos`` entry per ``LicenseRef`` the packages use."""
    users: dict[str, list[str]] = {}
    for package in packages:
        expression = normalize_license(package.license)
        for ref in license_refs(expression or ""):
            users.setdefault(ref, []).append(package.name)
    out = []
    for ref in sorted(users):
        name = ref.removeprefix("LicenseRef-")
        files = ", ".join(f"/usr/share/doc/{p}/copyright" for p in sorted(users[ref]))
        out.append(
            {
                "licenseId": ref,
                "name": name,
                "extractedText": f"The license named {name!r} in the Debian copyright files"
                f" {files}; the text is in those files.",
            }
        )
    return out


def spdx_document(image: SbomImage) -> dict[str, Any]:
    """The SPDX 2.3 JSON document of ``image``.

    The image is a package (``SPDXRef-Image``, purpose ``CONTAINER``) that the document
    DESCRIBES and that CONTAINS every installed package; a package DEPENDS_ON those it pulled in;
    a skipped package is related to the image by OTHER with a comment. Each package's group,
    status and pulled-in-by are annotations (``couturier:group=added``...), and its comment says
    the same in words. Cost: linear in the packages.
    """
    tool = f"Tool: {_TOOL}-{image.tool_version}"
    created = _timestamp(image.created)
    packages = _ordered(image.packages)
    ids = _spdx_ids(packages)
    installed = {p.name for p in packages if p.installed}
    relationships = [_relationship("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image")]
    for package in packages:
        if package.installed:
            relationships.append(_relationship("SPDXRef-Image", "CONTAINS", ids[package.name]))
        else:
            relationships.append(
                _relationship(
                    "SPDXRef-Image", "OTHER", ids[package.name], "requested, skipped on this line"
                )
            )
        parent = package.required_by
        if package.installed and parent is not None and parent in installed:
            relationships.append(_relationship(ids[parent], "DEPENDS_ON", ids[package.name]))
    document: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{image.name} {image.full_version} ({image.line}, {image.architecture})",
        "creationInfo": {"created": created, "creators": [tool]},
        "packages": [
            _spdx_image(image),
            *(_spdx_package(p, ids[p.name], tool, created) for p in packages),
        ],
        "relationships": relationships,
    }
    extracted = _extracted_licenses(packages)
    if extracted:
        document["hasExtractedLicensingInfos"] = extracted
    slug = _NOT_ID.sub("-", f"{image.name}-{image.line}-{image.architecture}").strip("-")
    document["documentNamespace"] = f"{_NAMESPACE_BASE}/{slug}-{_content_hash(document)}"
    return document


def _relationship(left: str, kind: str, right: str, comment: str = "") -> dict[str, str]:
    body = {"spdxElementId": left, "relationshipType": kind, "relatedSpdxElement": right}
    if comment:
        body["comment"] = comment
    return body


# -- CycloneDX 1.6 ---------------------------------------------------------------------------------


def _cdx_ref(package: SbomPackage) -> str:
    return f"deb:{package.name}"


def _cdx_properties(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


def _cdx_component(package: SbomPackage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "library",
        "bom-ref": _cdx_ref(package),
        "name": package.name,
    }
    if package.installed and package.version is not None:
        body["version"] = package.version
        body["purl"] = package.purl
        body["pedigree"] = {
            "ancestors": [
                {
                    "type": "library",
                    "name": package.source or package.name,
                    "version": package.source_version or package.version,
                    "purl": package.source_purl,
                }
            ]
        }
    if package.summary:
        body["description"] = package.summary
    expression = normalize_license(package.license)
    if expression is not None:
        body["licenses"] = [{"expression": expression, "acknowledgement": "declared"}]
    properties = _properties(package)
    if not package.installed:
        properties.append((_PROPERTY + "architecture", package.architecture))
    body["properties"] = _cdx_properties(properties)
    return body


def _cdx_image(image: SbomImage) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "container", "bom-ref": "image", "name": image.name}
    if image.full_version:
        body["version"] = image.full_version
    purl = _image_purl(image)
    if purl is not None:
        body["purl"] = purl
        body["hashes"] = [{"alg": "SHA-256", "content": image.image_digest.removeprefix("sha256:")}]
    facts = [
        ("starter", image.starter),
        ("line", image.line),
        ("release", image.release),
        ("distro", image.distro.purl_distro()),
        ("architecture", image.architecture),
        ("digest", image.image_digest),
    ]
    body["properties"] = _cdx_properties((_PROPERTY + k, v) for k, v in facts if v)
    return body


def cyclonedx_document(image: SbomImage) -> dict[str, Any]:
    """The CycloneDX 1.6 JSON document of ``image``.

    The image is ``metadata.component`` (type ``container``); every package is a ``library``
    component with its purl, its source package as ``pedigree.ancestors`` and the properties
    ``couturier:group``, ``couturier:status`` and ``couturier:pulled-in-by``. ``dependencies``
    is the graph: the image depends on the requested packages, each package on those it pulled
    in. Cost: linear in the packages.
    """
    packages = _ordered(image.packages)
    installed = {p.name: p for p in packages if p.installed}
    children: dict[str, list[str]] = {name: [] for name in installed}
    top: list[str] = []
    for package in installed.values():
        parent = package.required_by
        if parent is not None and parent in installed and parent != package.name:
            children[parent].append(_cdx_ref(package))
        else:
            top.append(_cdx_ref(package))
    dependencies = [{"ref": "image", "dependsOn": sorted(top)}]
    dependencies += [
        {"ref": _cdx_ref(p), "dependsOn": sorted(children[p.name])} for p in installed.values()
    ]
    document: dict[str, Any] = {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": _timestamp(image.created),
            "tools": {
                "components": [
                    {"type": "application", "name": _TOOL, "version": image.tool_version}
                ]
            },
            "component": _cdx_image(image),
        },
        "components": [_cdx_component(p) for p in packages],
        "dependencies": dependencies,
    }
    digest = bytes.fromhex(_content_hash(document))
    document["serialNumber"] = uuid.UUID(bytes=digest[:16], version=5).urn
    return document


def sbom_json(document: Mapping[str, Any]) -> bytes:
    """``document`` as JSON bytes: sorted keys, two-space indent, UTF-8, final newline."""
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode()
