"""Merge the data of several packages into one merged-/usr filesystem tree, as dpkg would unpack it.

:func:`assemble` takes the packages in install order and returns an :class:`Assembly`: every image
path with its :class:`~couturier.core.entries.Entry`, and per package the original paths it owns
(what the dpkg file lists record). The rules:

- merged-/usr: ``bin``, ``sbin``, ``lib`` (and ``lib32``, ``lib64``, ``libx32`` when a package puts
  something there) are symlinks into ``usr/``; a package's ``bin/sh`` lands at ``usr/bin/sh``. A
  package that ships such a link itself (``usrmerge``, trixie's ``base-files``) owns it.
- a non-directory path shipped by two packages is a :class:`FileConflictError`, unless one
  package's ``Replaces`` names the other (version constraint honoured): it wins whatever the order,
  and the path leaves the other's file list, as with dpkg. Directories merge (first one wins).
  A directory where another package has a symlink (or the reverse) is a conflict too.
- paths matching :attr:`AssemblyOptions.exclude` and no :attr:`AssemblyOptions.include` are
  dropped (documentation, man and info pages, locales; copyright files kept); an excluded
  directory comes back when something kept lies below it.
- every parent directory exists; those no package ships are made (0755, root, no owner).
- a hard link whose original was dropped or replaced by another package becomes a copy.

:func:`split_layers` cuts the tree into one layer per group of packages (starter, added), pulling
each directory down into the first layer that needs it. Pure; cost linear in the number of entries
times the path depth.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from functools import cache

from couturier.assembly.deb import DebContents
from couturier.assembly.errors import BuildError, FileConflictError
from couturier.core.catalog import Package
from couturier.core.entries import Entry, EntryType

__all__ = [
    "DEFAULT_EXCLUDE",
    "DEFAULT_INCLUDE",
    "MERGED_USR_DIRS",
    "Assembly",
    "AssemblyOptions",
    "assemble",
    "matches",
    "parents",
    "split_layers",
    "usr_merged",
    "with_parents",
]

# Top-level directories that merged-/usr turns into links; the first three always exist.
MERGED_USR_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_ALWAYS_LINKED = ("bin", "sbin", "lib")

DEFAULT_EXCLUDE = (
    "usr/share/doc/**",
    "usr/share/man/**",
    "usr/share/info/**",
    "usr/share/locale/**",
    "usr/share/lintian/**",
    "usr/share/doc-base/**",
)
# One level under usr/share/doc keeps each package's directory (or its link to the directory of
# the package it shares one with) so that every copyright file stays reachable by package name.
DEFAULT_INCLUDE = ("usr/share/doc/*", "usr/share/doc/*/copyright")


@dataclass(frozen=True, slots=True)
class AssemblyOptions:
    """How the tree is assembled. Patterns are root-relative, ``*`` matches within one path
    component and ``**`` any number of components (also none)."""

    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    include: tuple[str, ...] = DEFAULT_INCLUDE
    merged_usr: bool = True


@dataclass(frozen=True, slots=True)
class Assembly:
    """The merged tree: ``entries`` by image path (sorted), ``packages`` in install order, and
    ``paths``: per package name, the original paths (``bin/sh``, not ``usr/bin/sh``) of the
    entries it owns in the image, directories included, in archive order."""

    entries: Mapping[str, Entry]
    packages: tuple[DebContents, ...]
    paths: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    merged_usr: bool = True

    def image_path(self, original: str) -> str:
        """Where the package path ``original`` lies in this tree."""
        return usr_merged(original) if self.merged_usr else original


def usr_merged(path: str) -> str:
    """Where a package path lands in a merged-/usr image: ``bin/sh`` → ``usr/bin/sh``."""
    head = path.split("/", 1)[0]
    return f"usr/{path}" if head in MERGED_USR_DIRS else path


def matches(pattern: str, path: str) -> bool:
    """Tell whether ``path`` matches ``pattern`` (``*`` within a component, ``**`` across).

    A path outside the pattern's literal prefix (its components before the first wildcard) is
    refused at once: most paths of a tree, for the patterns in use."""
    prefix, below = _literal_prefix(pattern)
    if prefix and path != prefix and not path.startswith(below):
        return False
    return _match(pattern.split("/"), path.split("/"))


def _match(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], pattern[0]) and _match(pattern[1:], parts[1:])


def parents(path: str) -> list[str]:
    """The ancestors of a root-relative path, outermost first: ``a/b/c`` → ``[a, a/b]``."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


@cache
def _literal_prefix(pattern: str) -> tuple[str, str]:
    """The components of ``pattern`` before its first wildcard, joined, and that followed by
    ``/``: every path it matches is that prefix or lies below it (``usr/share/doc/*/copyright``
    → ``usr/share/doc``)."""
    literal: list[str] = []
    for part in pattern.split("/"):
        if any(c in part for c in "*?["):
            break
        literal.append(part)
    prefix = "/".join(literal)
    return prefix, prefix + "/"


def _replaces(package: Package, other: Package) -> bool:
    return any(r.name == other.name and r.allows(other.version) for r in package.replaces)


class _Assembler:
    def __init__(self, options: AssemblyOptions) -> None:
        self.options = options
        self.tree: dict[str, Entry] = {}
        self.packages: dict[str, Package] = {}
        self.owned: dict[str, dict[str, None]] = {}  # package → original paths (ordered set)
        self.origin: dict[str, str] = {}  # image path of a non-directory → original path
        self.excluded_dirs: dict[str, tuple[Entry, str]] = {}
        self.links: dict[str, Entry] = {}  # merged-/usr links shipped by packages
        self.link_data: dict[str, bytes] = {}  # hard link path → its original's content

    def add(self, deb: DebContents) -> None:
        package = Package(deb.control)
        if deb.name in self.packages:
            raise BuildError(
                f"{deb.name} is installed twice ({deb.filename})",
                fields={"package": deb.name, "file": deb.filename},
            )
        self.packages[deb.name] = package
        self.owned[deb.name] = {}
        files = {e.path: e for e in deb.entries if e.type is EntryType.FILE}
        for entry in deb.entries:
            usr_link = entry.path in MERGED_USR_DIRS and entry.type is EntryType.SYMLINK
            if self.options.merged_usr and usr_link:
                self._usr_link(entry, deb.name)
                continue
            path = usr_merged(entry.path) if self.options.merged_usr else entry.path
            placed = entry if path == entry.path else replace(entry, path=path)
            if entry.type is EntryType.HARDLINK:
                target = usr_merged(entry.target) if self.options.merged_usr else entry.target
                placed = replace(placed, target=target)
                original = files.get(entry.target)
                self.link_data[path] = original.data if original is not None else b""
            if self._excluded(path):
                if entry.type is EntryType.DIRECTORY:
                    self.excluded_dirs.setdefault(path, (placed, entry.path))
                continue
            self._place(placed, entry.path, deb.name)

    def _excluded(self, path: str) -> bool:
        return any(matches(p, path) for p in self.options.exclude) and not any(
            matches(p, path) for p in self.options.include
        )

    def _usr_link(self, entry: Entry, name: str) -> None:
        wanted = f"usr/{entry.path}"
        if posixpath.normpath(posixpath.join("/", entry.target)).lstrip("/") != wanted:
            raise FileConflictError(
                f"/{entry.path}", "the merged-/usr layout", name, f"it links to {entry.target}"
            )
        self.links.setdefault(entry.path, replace(entry, mode=0o777, target=wanted))
        self.owned[name][entry.path] = None

    def _place(self, entry: Entry, original: str, name: str) -> None:
        old = self.tree.get(entry.path)
        if old is None:
            self.tree[entry.path] = entry
        elif old.type is EntryType.DIRECTORY and entry.type is EntryType.DIRECTORY:
            pass  # directories merge; the first package's metadata stays
        elif old.owner == name:
            self.tree[entry.path] = entry
        elif EntryType.DIRECTORY in (old.type, entry.type):
            detail = "a directory in one, not in the other"
            raise FileConflictError(f"/{entry.path}", old.owner or "?", name, detail)
        else:
            assert old.owner is not None
            new_pkg, old_pkg = self.packages[name], self.packages[old.owner]
            if _replaces(new_pkg, old_pkg):
                self.tree[entry.path] = entry
                self.owned[old.owner].pop(self.origin[entry.path], None)
            elif _replaces(old_pkg, new_pkg):
                return  # the installed package replaces this one: its file stays
            else:
                raise FileConflictError(f"/{entry.path}", old.owner, name)
        if entry.type is not EntryType.DIRECTORY:
            self.origin[entry.path] = original
        self.owned[name][original] = None

    def finish(self, debs: Sequence[DebContents]) -> Assembly:
        if self.options.merged_usr:
            for top in MERGED_USR_DIRS:
                used = any(p == f"usr/{top}" or p.startswith(f"usr/{top}/") for p in self.tree)
                if top in _ALWAYS_LINKED or used or top in self.links:
                    link = Entry(top, EntryType.SYMLINK, 0o777, target=f"usr/{top}")
                    self.tree[top] = self.links.get(top, link)
        for path, entry in list(self.tree.items()):
            if entry.type is EntryType.HARDLINK:
                original = self.tree.get(entry.target)
                if original is None or original.owner != entry.owner:
                    # The original was dropped or replaced: a copy keeps the link's content and
                    # never points into another package's layer.
                    data = self.link_data.get(path, b"")
                    self.tree[path] = replace(entry, type=EntryType.FILE, data=data, target="")
        for path in sorted(self.tree):
            for parent in parents(path):
                self._ensure_directory(parent, path)
        entries = dict(sorted(self.tree.items()))
        paths = {name: tuple(owned) for name, owned in self.owned.items()}
        return Assembly(entries, tuple(debs), paths, self.options.merged_usr)

    def _ensure_directory(self, path: str, child: str) -> None:
        existing = self.tree.get(path)
        if existing is not None:
            if existing.type is not EntryType.DIRECTORY:
                child_owner = self.tree[child].owner or "?"
                detail = f"{child} needs a directory there"
                raise FileConflictError(f"/{path}", existing.owner or "?", child_owner, detail)
            return
        kept = self.excluded_dirs.get(path)
        if kept is not None:
            entry, original = kept
            self.tree[path] = entry
            if entry.owner is not None:
                self.owned[entry.owner][original] = None
        else:
            self.tree[path] = Entry(path, EntryType.DIRECTORY, 0o755)


def assemble(debs: Sequence[DebContents], options: AssemblyOptions | None = None) -> Assembly:
    """Merge ``debs`` (in install order) into one tree; see the module docstring for the rules.

    Raises :class:`FileConflictError` naming the path and both packages, :class:`BuildError` when
    a package appears twice.
    """
    assembler = _Assembler(options or AssemblyOptions())
    for deb in debs:
        assembler.add(deb)
    return assembler.finish(debs)


def split_layers(
    entries: Mapping[str, Entry], groups: Sequence[Collection[str]]
) -> list[tuple[Entry, ...]]:
    """Cut ``entries`` into one layer per group of package names, in order.

    An entry goes to the layer of its owner's first group; merged-/usr links to the first layer,
    other entries without an owner (directories no package ships) to the lowest layer that
    holds something below them. A directory moves down to the first
    layer holding something below it (or a merged-/usr link to it), so every layer's parents
    exist in it or an earlier one.
    Each layer is sorted by path. Raises ``ValueError`` for an owner in no group.
    """
    group_of: dict[str, int] = {}
    for index, group in enumerate(groups):
        for name in group:
            group_of.setdefault(name, index)
    layer_of: dict[str, int] = {}
    for path, entry in entries.items():
        if entry.owner is None:
            # Merged-/usr links belong at the bottom; a made-up parent directory goes to the
            # lowest layer that needs it (below), so what the starter layer holds never depends
            # on what was added above it.
            is_usr_link = path in MERGED_USR_DIRS and entry.type is EntryType.SYMLINK
            layer_of[path] = 0 if is_usr_link else len(groups) - 1
        elif entry.owner in group_of:
            layer_of[path] = group_of[entry.owner]
        else:
            raise ValueError(f"{entry.owner} (owner of {path}) is in no layer group")
    for path, entry in entries.items():
        needed = parents(path)
        if path in MERGED_USR_DIRS and entry.type is EntryType.SYMLINK:
            needed += [*parents(entry.target), entry.target]  # no dangling merged-/usr link
        for parent in needed:
            if parent in layer_of:
                layer_of[parent] = min(layer_of[parent], layer_of[path])
    layers: list[list[Entry]] = [[] for _ in groups]
    for path in sorted(entries):
        layers[layer_of[path]].append(entries[path])
    return [tuple(layer) for layer in layers]


def with_parents(entries: Iterable[Entry], below: Mapping[str, Entry]) -> tuple[Entry, ...]:
    """``entries`` sorted by path, plus a directory (0755, root) for every parent that neither
    they nor the layers ``below`` hold: what a layer of generated or bundled files needs."""
    layer = {entry.path: entry for entry in entries}
    for path in list(layer):
        for parent in parents(path):
            if parent not in layer and parent not in below:
                layer[parent] = Entry(parent, EntryType.DIRECTORY, 0o755)
    return tuple(layer[path] for path in sorted(layer))
