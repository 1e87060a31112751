"""``/etc/ld.so.cache`` in glibc's ``glibc-ld.so.cache1.1`` format, written in pure Python.

What ``ldconfig`` would write for the tree: every directory of ``/etc/ld.so.conf`` (with its
``include`` lines) then the trusted ones, a directory reached twice (merged-/usr) counted once
under its first name; in each, every ``lib*.so*``/``ld-*.so*`` file that is an ELF shared object
of a known machine, keyed by its ``SONAME`` (or by its own name when it is a symlink to a file
named after that ``SONAME``, like ``ldconfig``'s development links). Entries are sorted as the
dynamic loader's binary search expects (``_dl_cache_libcmp``, descending). No extension section
(ldconfig's generator string and glibc-hwcaps subdirectories) is written.

Pure; cost: one ELF header read per candidate library.
"""

from __future__ import annotations

import functools
import posixpath
import struct
from collections.abc import Mapping

from couturier.assembly.assemble import matches
from couturier.core.distro import multiarch_triplet
from couturier.core.entries import Entry, EntryType
from couturier.core.links import MAX_HOPS, LinkLoop, real_path, tree_links

__all__ = [
    "CACHE_ARCHITECTURES",
    "conf_dirs",
    "elf_library",
    "ld_so_cache",
    "tree_real_path",
    "trusted_dirs",
]

Tree = Mapping[str, Entry]

_MAGIC = b"glibc-ld.so.cache1.1"
_ENDIAN_LITTLE = 2
_FLAG_ELF_LIBC6 = 0x0003
# (ELF class, e_machine) → cache flags, as sysdeps/.../readelflib.c sets them.
_MACHINE_FLAGS = {
    (2, 62): _FLAG_ELF_LIBC6 | 0x0300,  # x86-64
    (1, 3): _FLAG_ELF_LIBC6,  # i386
    (2, 183): _FLAG_ELF_LIBC6 | 0x0A00,  # aarch64
    (1, 40): _FLAG_ELF_LIBC6 | 0x0900,  # armhf
}
# Little-endian machines whose libraries' cache flags are known.
CACHE_ARCHITECTURES = frozenset({"amd64", "arm64", "i386", "armhf"})


def trusted_dirs(architecture: str) -> list[str]:
    """The directories ``ldconfig`` always scans on Debian, after the configured ones."""
    triplet = multiarch_triplet(architecture)
    return [f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib", "/usr/lib"]


class _MissingError(Exception):
    """A component of a path is not in the tree."""


def tree_real_path(tree: Tree, path: str, hops: int = MAX_HOPS) -> str | None:
    """The root-relative path ``path`` names once every symlink in it is followed; ``None`` when
    it does not exist or loops (more than ``hops`` links; see
    :func:`couturier.core.links.real_path`)."""
    links = tree_links(tree)

    def link_at(candidate: str) -> str | None:
        if candidate not in tree:
            raise _MissingError(candidate)
        return links(candidate)

    try:
        return real_path(path.lstrip("/"), link_at, hops=hops)
    except (_MissingError, LinkLoop):
        return None


def conf_dirs(tree: Tree) -> list[str]:
    """Directories named by ``/etc/ld.so.conf`` and what it includes, in order (absolute)."""
    seen: set[str] = set()
    dirs: list[str] = []

    def read(path: str) -> None:
        if path in seen:
            return
        seen.add(path)
        real = tree_real_path(tree, path)
        entry = tree.get(real) if real is not None else None
        if entry is None or entry.type is not EntryType.FILE:
            return
        for raw in entry.data.decode("utf-8", "replace").splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("include"):
                for pattern in line.split()[1:]:
                    absolute = posixpath.join("/etc", pattern).strip("/")
                    for found in sorted(p for p in tree if matches(absolute, p)):
                        read(found)
            elif line and not line.startswith("hwcap"):
                dirs.append("/" + posixpath.normpath(line).strip("/"))

    read("etc/ld.so.conf")
    if "etc/ld.so.conf" not in tree:  # Debian's default ld.so.conf
        for found in sorted(p for p in tree if matches("etc/ld.so.conf.d/*.conf", p)):
            read(found)
    return dirs


def elf_library(data: bytes) -> tuple[str | None, int] | None:
    """``(SONAME or None, cache flags)`` of an ELF shared object of a known machine, else None."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[5] not in (1, 2):
        return None
    elf_class, order = data[4], "<" if data[5] == 1 else ">"
    e_type, machine = struct.unpack_from(order + "HH", data, 16)
    flags = _MACHINE_FLAGS.get((elf_class, machine))
    if e_type != 3 or flags is None:  # ET_DYN only
        return None
    try:
        if elf_class == 2:
            (phoff,) = struct.unpack_from(order + "Q", data, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", data, 54)
            ph = [
                struct.unpack_from(order + "IIQQQQ", data, phoff + i * phentsize)
                for i in range(phnum)
            ]
            headers = [(t, off, vaddr, filesz) for t, _, off, vaddr, _, filesz in ph]
            dyn_format, dyn_size = order + "qQ", 16
        else:
            (phoff,) = struct.unpack_from(order + "I", data, 28)
            phentsize, phnum = struct.unpack_from(order + "HH", data, 42)
            ph32 = [
                struct.unpack_from(order + "IIIII", data, phoff + i * phentsize)
                for i in range(phnum)
            ]
            headers = [(t, off, vaddr, filesz) for t, off, vaddr, _, filesz in ph32]
            dyn_format, dyn_size = order + "iI", 8
        return _soname(data, headers, dyn_format, dyn_size), flags
    except struct.error:
        return None


def _soname(
    data: bytes, headers: list[tuple[int, int, int, int]], dyn_format: str, dyn_size: int
) -> str | None:
    dynamic = next((h for h in headers if h[0] == 2), None)  # PT_DYNAMIC
    if dynamic is None:
        return None
    strtab = soname = None
    offset, end = dynamic[1], dynamic[1] + dynamic[3]
    while offset + dyn_size <= min(end, len(data)):
        tag, value = struct.unpack_from(dyn_format, data, offset)
        if tag == 0:
            break
        if tag == 5:
            strtab = value
        elif tag == 14:
            soname = value
        offset += dyn_size
    if strtab is None or soname is None:
        return None
    for kind, file_offset, vaddr, filesz in headers:
        if kind == 1 and vaddr <= strtab < vaddr + filesz:  # PT_LOAD holding the string table
            start = strtab - vaddr + file_offset + soname
            stop = data.find(b"\0", start)
            return data[start:stop].decode("utf-8", "replace") if stop > start else None
    return None


def _is_dso(name: str) -> bool:
    return (name.startswith(("lib", "ld-")) and ".so" in name) or name.startswith(
        ("ld.so.", "ld64.so.")
    )


def _libcmp(a: str, b: str) -> int:
    """glibc's ``_dl_cache_libcmp``: digits compare as numbers, and sort after other chars."""
    i = j = 0
    while i < len(a):
        if a[i].isdigit():
            if j >= len(b) or not b[j].isdigit():
                return 1
            si, sj = i, j
            while i < len(a) and a[i].isdigit():
                i += 1
            while j < len(b) and b[j].isdigit():
                j += 1
            if int(a[si:i]) != int(b[sj:j]):
                return int(a[si:i]) - int(b[sj:j])
        elif j < len(b) and b[j].isdigit():
            return -1
        elif j >= len(b) or a[i] != b[j]:
            return ord(a[i]) - (ord(b[j]) if j < len(b) else 0)
        else:
            i += 1
            j += 1
    return 0 - (ord(b[j]) if j < len(b) else 0)


def _scan(
    tree: Tree, children: Mapping[str, list[str]], directory: str, real: str
) -> list[tuple[str, int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for name in sorted(children.get(real, ())):
        if not _is_dso(name):
            continue
        path = f"{real}/{name}"
        target = tree_real_path(tree, path)
        entry = tree.get(target) if target is not None else None
        if target is None or entry is None or entry.type is not EntryType.FILE:
            continue
        library = elf_library(entry.data)
        if library is None:
            continue
        soname, flags = library
        soname = soname or name
        key = soname
        link = tree[path]
        if link.type is EntryType.SYMLINK:
            base = posixpath.basename(link.target)  # the link's own target, as ldconfig reads it
            if base == soname or (base.endswith(".so") and soname.startswith(base)):
                key = name  # ldconfig lists a link to the library's own file under its name
        found.setdefault(key, (flags, f"{directory}/{key}"))
    return [(key, flags, value) for key, (flags, value) in found.items()]


def ld_so_cache(tree: Tree, architecture: str) -> bytes:
    """The bytes of ``/etc/ld.so.cache`` for ``tree`` (little-endian machines)."""
    children: dict[str, list[str]] = {}
    for path in tree:
        parent, _, name = path.rpartition("/")
        children.setdefault(parent, []).append(name)
    entries: list[tuple[str, int, str]] = []
    scanned: set[str] = set()
    for directory in [*conf_dirs(tree), *trusted_dirs(architecture)]:
        real = tree_real_path(tree, directory)
        if real is None or real in scanned or tree.get(real, None) is None:
            continue
        scanned.add(real)
        entries += _scan(tree, children, directory, real)

    def order(x: tuple[str, int, str], y: tuple[str, int, str]) -> int:
        return _libcmp(y[0], x[0]) or (y[1] - x[1])

    entries.sort(key=functools.cmp_to_key(order))
    header_size = 48
    strings_start = header_size + 24 * len(entries)
    strings = bytearray()
    offsets: dict[str, int] = {}

    def intern(text: str) -> int:
        if text not in offsets:
            offsets[text] = strings_start + len(strings)
            strings.extend(text.encode() + b"\0")
        return offsets[text]

    table = b"".join(
        struct.pack("<iIIIQ", flags, intern(key), intern(value), 0, 0)
        for key, flags, value in entries
    )
    header = _MAGIC + struct.pack("<IIB3xI12x", len(entries), len(strings), _ENDIAN_LITTLE, 0)
    return header + table + bytes(strings)
