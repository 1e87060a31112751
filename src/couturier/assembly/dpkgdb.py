"""The dpkg database of an assembled image, written natively so ``dpkg --root`` sees the packages.

:func:`dpkg_database` returns the entries of ``var/lib/dpkg``: ``status`` (one stanza per package,
``Status: install ok installed``, sorted by name, fields in dpkg's own order, conffiles with their
md5), ``info/format``, and per package ``info/<pkg>.list`` (every original path it owns, with
the ``/.`` root line, as dpkg records them: ``/bin/sh`` even though it lies at ``/usr/bin/sh``),
``info/<pkg>.md5sums`` (every file's md5, conffiles excepted, as dpkg does: the value the
package's own ``md5sums`` lists for the path, since dpkg installs that file, else one computed
from the content in the image) and ``info/<pkg>.conffiles``. Multi-Arch: same packages get
``<pkg>:<arch>.*`` names. The lists hold what is in the image: paths dropped by the assembly
options (documentation) are left out, so ``dpkg --verify`` finds no missing file.

Pure; cost linear in the number of entries.
"""

from __future__ import annotations

import re

from couturier.assembly.assemble import Assembly
from couturier.assembly.deb import DebContents, md5_hex
from couturier.core.entries import Entry, EntryType

__all__ = ["STATUS_FIELD_ORDER", "dpkg_database", "status_stanza"]

# lib/dpkg/parse.c fieldinfos: the order dpkg writes the fields it knows; others follow as given.
STATUS_FIELD_ORDER = (
    "Package",
    "Essential",
    "Protected",
    "Status",
    "Priority",
    "Section",
    "Installed-Size",
    "Origin",
    "Maintainer",
    "Bugs",
    "Architecture",
    "Multi-Arch",
    "Source",
    "Version",
    "Config-Version",
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Conffiles",
    "Filename",
    "Size",
    "MD5sum",
    "MSDOS-Filename",
    "Description",
    "Triggers-Pending",
    "Triggers-Awaited",
)
_DROPPED = {"Filename", "Size", "MD5sum", "MSDOS-Filename", "Config-Version", "Status"}

_DB = "var/lib/dpkg"
_MD5 = re.compile(r"[0-9a-f]{32}")


def _info_name(deb: DebContents) -> str:
    if deb.control.get("Multi-Arch") == "same":
        return f"{deb.name}:{deb.architecture}"
    return deb.name


def _file_data(assembly: Assembly, entry: Entry) -> bytes | None:
    if entry.type is EntryType.FILE:
        return entry.data
    if entry.type is EntryType.HARDLINK:
        original = assembly.entries.get(entry.target)
        return original.data if original is not None else None
    return None


def _conffile_sums(assembly: Assembly, deb: DebContents) -> list[tuple[str, str]]:
    sums: list[tuple[str, str]] = []
    for conffile in deb.conffiles:
        entry = assembly.entries.get(assembly.image_path(conffile.lstrip("/")))
        data = None if entry is None or entry.owner != deb.name else _file_data(assembly, entry)
        if data is not None:
            sums.append((conffile, md5_hex(data)))
    return sums


def status_stanza(deb: DebContents, conffiles: list[tuple[str, str]]) -> str:
    """The ``status`` stanza of an installed ``deb`` whose conffiles have the given md5s."""
    fields = {k: v for k, v in deb.control.items() if k not in _DROPPED}
    fields["Status"] = "install ok installed"
    if conffiles:
        fields["Conffiles"] = "".join(f"\n {path} {digest}" for path, digest in conffiles)
    known = [k for k in STATUS_FIELD_ORDER if k in fields]
    others = [k for k in fields if k not in STATUS_FIELD_ORDER]
    lines = []
    for key in known + others:
        value = fields[key]
        lines.append(f"{key}:{value}\n" if value.startswith("\n") else f"{key}: {value}\n")
    return "".join(lines)


def dpkg_database(assembly: Assembly) -> list[Entry]:
    """The entries of ``var/lib/dpkg`` for every package of ``assembly``, sorted by path.

    Files are 0644, root-owned; the empty ``updates`` and ``triggers`` directories dpkg needs are
    included when the tree lacks them, other parents are left to
    :func:`~couturier.assembly.assemble.with_parents`.
    """
    files: dict[str, bytes] = {}
    stanzas: list[tuple[str, str, str]] = []
    for deb in assembly.packages:
        owned = assembly.paths.get(deb.name, ())
        conffiles = _conffile_sums(assembly, deb)
        stanzas.append((deb.name, deb.architecture, status_stanza(deb, conffiles)))
        info = f"{_DB}/info/{_info_name(deb)}"
        files[f"{info}.list"] = ("/.\n" + "".join(f"/{p}\n" for p in owned)).encode()
        skip = {c.lstrip("/") for c in deb.conffiles}
        sums = []
        for path in owned:
            entry = assembly.entries.get(assembly.image_path(path))
            if entry is None or entry.owner != deb.name or path in skip:
                continue
            data = _file_data(assembly, entry)
            if data is not None:
                # The entry is the package's own file, unchanged, and dpkg records the md5s the
                # package ships: take the listed value (for Debian's packages the md5 of this
                # very content, checked on every file of the python starter's three lines)
                # instead of hashing every file of the image again; hash what is not listed.
                digest = deb.md5sums.get(path)
                if digest is None or not _MD5.fullmatch(digest):
                    digest = md5_hex(data)
                sums.append(f"{digest}  {path}\n")
        files[f"{info}.md5sums"] = "".join(sums).encode()
        if deb.conffiles:
            files[f"{info}.conffiles"] = "".join(f"{c}\n" for c in deb.conffiles).encode()
    stanzas.sort()
    files[f"{_DB}/status"] = "".join(f"{s}\n" for _, _, s in stanzas).encode()
    files[f"{_DB}/available"] = b""
    files[f"{_DB}/info/format"] = b"1\n"
    entries = [Entry(path, EntryType.FILE, 0o644, data=data) for path, data in files.items()]
    for directory in (f"{_DB}/updates", f"{_DB}/triggers"):
        if directory not in assembly.entries:
            entries.append(Entry(directory, EntryType.DIRECTORY, 0o755))
    return sorted(entries, key=lambda e: e.path)
