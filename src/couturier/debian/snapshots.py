"""The immutable index snapshot store and the per-suite refresh state.

On disk (``settings.snapshot_dir`` and ``settings.state_dir``)::

    snapshots/<sha256>          a verified, decompressed Packages file, named by its sha256
    snapshots/<sha256>.idx      derived lookup index (marshal): name -> stanza offsets, provides
    snapshots/<sha256>.search   derived search text: "name\\0version\\0summary\\n" per stanza,
                                lowercase, sorted by name
    state/suites/<mirror>/<suite>.json
                                which snapshot is current per component/arch, the InRelease it
                                was verified from, when it was refreshed

Snapshots are written once (temp file, fsync, rename) and never changed; the derived files are a
cache, rebuilt when missing or unreadable. A suite's state file is replaced atomically, and only
after every index of the suite verified, so readers always see a consistent set.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import json
import marshal
import mmap
import os
import re
import secrets
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from couturier.core.catalog import Package
from couturier.debian.packages import iter_stanzas, parse_stanza, stanza_core
from couturier.errors import NotFoundError

__all__ = [
    "IndexState",
    "SnapshotIndex",
    "SnapshotStore",
    "StagedSnapshot",
    "SuiteState",
    "atomic_write",
    "load_suite_state",
    "save_suite_state",
    "suite_state_path",
]

_INDEX_FORMAT = 2
_PROVIDES_NAME = re.compile(rb"(?:^|,)\s*([a-z0-9][a-z0-9+.\-]*)")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_name(path)
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


@dataclass(frozen=True)
class StagedSnapshot:
    """A verified index written to a temporary file, not yet part of the store."""

    sha256: str
    size: int
    temp: Path | None  # None when the store already holds this snapshot


class SnapshotIndex:
    """One snapshot opened for lookups: stanzas are read from the mmapped file on demand.

    ``names`` maps a package name to the byte offset of its stanza (a tuple of offsets when there
    are several), ``provides`` a provided name to the package name(s) providing it (a tuple when
    several), ``sorted_names`` is every name in order. Single values are stored bare because
    loading 63k small lists costs twice as much as loading ints.
    """

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.sha256 = path.name
        self.names: dict[str, int | tuple[int, ...]] = data["names"]
        self.provides: dict[str, str | tuple[str, ...]] = data["provides"]
        self.sorted_names: list[str] = data["sorted_names"]
        self._map: mmap.mmap | bytes | None = None
        self._search: mmap.mmap | bytes | None = None

    def _buffer(self) -> mmap.mmap | bytes:
        if self._map is None:
            self._map = _map(self.path)
        return self._map

    def stanza(self, offset: int) -> bytes:
        """The raw stanza starting at byte ``offset``."""
        buffer = self._buffer()
        end = buffer.find(b"\n\n", offset)
        return buffer[offset : end if end >= 0 else len(buffer)]

    def offsets(self, name: str) -> tuple[int, ...]:
        """Byte offsets of the stanzas of ``name``; empty when the snapshot has none."""
        found = self.names.get(name, ())
        return (found,) if isinstance(found, int) else found

    def providers(self, provided: str) -> tuple[str, ...]:
        """Names of the packages whose Provides names ``provided``."""
        found = self.provides.get(provided, ())
        return (found,) if isinstance(found, str) else found

    def packages(self, name: str, origin: str) -> list[Package]:
        """Every stanza of ``name``, parsed in full; empty when the snapshot has none."""
        return [Package(parse_stanza(self.stanza(o)), origin) for o in self.offsets(name)]

    @property
    def search_text(self) -> mmap.mmap | bytes:
        """The lowercase UTF-8 search text (see the module docstring), mapped on first use."""
        if self._search is None:
            path = self.path.with_name(self.path.name + ".search")
            try:
                self._search = _map(path)
            except OSError:
                self._search = _search_text(self.path.read_bytes()).encode()
                atomic_write(path, self._search)
        return self._search


def _map(path: Path) -> mmap.mmap | bytes:
    with path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def _summary(stanza: bytes) -> bytes:
    d = stanza.find(b"\nDescription:")
    if d < 0:
        return b""
    end = stanza.find(b"\n", d + 13)
    return (stanza[d + 13 : end] if end >= 0 else stanza[d + 13 :]).strip()


def _identity(stanza: bytes) -> tuple[str, str] | None:
    core = stanza_core(stanza)
    if core is not None:
        return core[0], core[1]
    fields = parse_stanza(stanza)
    if "Package" in fields and "Version" in fields:
        return fields["Package"], fields["Version"]
    return None


def _build_index(data: bytes) -> dict[str, Any]:
    names: dict[str, list[int]] = {}
    provides: dict[str, list[str]] = {}
    for offset, stanza in iter_stanzas(data):
        identity = _identity(stanza)
        if identity is None:
            continue
        name = identity[0]
        names.setdefault(name, []).append(offset)
        p = stanza.find(b"\nProvides:")
        if p >= 0:
            text = parse_stanza(stanza).get("Provides", "").encode()
            for provided in _PROVIDES_NAME.findall(text):
                providers = provides.setdefault(provided.decode(), [])
                if name not in providers:
                    providers.append(name)
    return {
        "format": _INDEX_FORMAT,
        "names": {k: v[0] if len(v) == 1 else tuple(v) for k, v in names.items()},
        "provides": {k: v[0] if len(v) == 1 else tuple(v) for k, v in provides.items()},
        "sorted_names": sorted(names),
    }


def _search_text(data: bytes) -> str:
    lines = []
    for _, stanza in iter_stanzas(data):
        identity = _identity(stanza)
        if identity is None:
            continue
        summary = _summary(stanza).decode("utf-8", "replace")
        clean = summary.replace("\0", " ").replace("\n", " ")
        lines.append(f"{identity[0]}\0{identity[1]}\0{clean}".lower())
    lines.sort()
    return "".join(line + "\n" for line in lines)


class SnapshotStore:
    """Content-addressed snapshots under ``root`` (``settings.snapshot_dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def stage(self, data: bytes, sha256: str) -> StagedSnapshot:
        """Write verified ``data`` (whose sha256 the caller checked) to a temp file, fsynced."""
        if self.has(sha256):
            return StagedSnapshot(sha256, len(data), None)
        self.root.mkdir(parents=True, exist_ok=True)
        temp = _temp_name(self.path(sha256))
        try:
            with temp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return StagedSnapshot(sha256, len(data), temp)

    def commit(self, staged: StagedSnapshot) -> Path:
        """Move a staged snapshot into the store and build its derived files."""
        target = self.path(staged.sha256)
        if staged.temp is not None:
            staged.temp.replace(target)
            _fsync_dir(self.root)
        self.open(staged.sha256)
        return target

    @staticmethod
    def discard(staged: StagedSnapshot) -> None:
        if staged.temp is not None:
            staged.temp.unlink(missing_ok=True)

    def open(self, sha256: str) -> SnapshotIndex:
        """Open snapshot ``sha256`` for lookups, (re)building its ``.idx`` when needed.

        Snapshots are immutable, so an index opened once is kept for the process (the last
        :data:`_OPENED_LIMIT` of them): a command that reads a release twice (checking a spec,
        then planning it) loads it once. Raises :class:`NotFoundError` when the snapshot file is
        not in the store.
        """
        path = self.path(sha256)
        opened = _OPENED.get(path)
        if opened is not None:
            _OPENED.move_to_end(path)
            return opened
        index = self._open(path, sha256)
        _OPENED[path] = index
        while len(_OPENED) > _OPENED_LIMIT:
            _OPENED.popitem(last=False)
        return index

    def _open(self, path: Path, sha256: str) -> SnapshotIndex:
        index_path = path.with_name(sha256 + ".idx")
        try:
            data = _load_marshal(index_path)
            if isinstance(data, dict) and data.get("format") == _INDEX_FORMAT:
                return SnapshotIndex(path, data)
        except (OSError, EOFError, ValueError, TypeError):
            pass
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                f"index snapshot {sha256} is missing from {self.root}",
                "run `couturier catalog refresh` to download it again",
            ) from None
        data = _build_index(content)
        atomic_write(index_path, marshal.dumps(data))
        atomic_write(path.with_name(sha256 + ".search"), _search_text(content).encode())
        return SnapshotIndex(path, data)


# Indexes opened by this process, by snapshot path, least recently used first.
_OPENED: OrderedDict[Path, SnapshotIndex] = OrderedDict()
_OPENED_LIMIT = 32


def _load_marshal(path: Path) -> Any:
    # Unmarshalling ~100k containers triggers the cyclic GC again and again; none of them can be
    # part of a cycle, so pausing it halves the load time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return marshal.loads(path.read_bytes())
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class IndexState:
    """The current snapshot of one component/architecture of a suite."""

    sha256: str
    size: int
    root: str  # mirror root URL the index came from
    inrelease_sha256: str  # the InRelease it was verified against
    refreshed: str  # ISO 8601, UTC


@dataclass(frozen=True)
class SuiteState:
    """What is current for one suite of one mirror."""

    mirror: str
    suite: str
    refreshed: str
    absent: bool = False
    inreleases: dict[str, dict[str, str]] = field(default_factory=dict)  # root -> facts
    indexes: dict[str, IndexState] = field(default_factory=dict)  # "main/amd64" -> state

    def index(self, component: str, architecture: str) -> IndexState | None:
        return self.indexes.get(f"{component}/{architecture}")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)


def suite_state_path(state_dir: Path, mirror: str, suite: str) -> Path:
    return state_dir / "suites" / _safe(mirror) / f"{_safe(suite)}.json"


def load_suite_state(state_dir: Path, mirror: str, suite: str) -> SuiteState | None:
    """The recorded state of ``suite`` on ``mirror``; None when never refreshed or unreadable."""
    try:
        raw = json.loads(suite_state_path(state_dir, mirror, suite).read_text())
        indexes = {k: IndexState(**v) for k, v in raw.pop("indexes", {}).items()}
        return SuiteState(**raw, indexes=indexes)
    except (OSError, ValueError, TypeError):
        return None


def save_suite_state(state_dir: Path, state: SuiteState) -> None:
    """Replace the state file of ``state``'s suite atomically."""
    text = json.dumps(asdict(state), indent=2, sort_keys=True)
    atomic_write(suite_state_path(state_dir, state.mirror, state.suite), text.encode())


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
