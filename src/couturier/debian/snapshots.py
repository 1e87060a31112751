"""The immutable index snapshot store and the per-suite refresh state.

On disk (``settings.snapshot_dir`` and ``settings.state_dir``)::

    snapshots/<sha256>          a verified, decompressed Packages file, named by its sha256
    snapshots/<sha256>.idx      derived lookup index (marshal): name -> stanza offsets, provides
    snapshots/<sha256>.search   derived search text: "name\\0version\\0summary\\n" per stanza,
                                lowercase, sorted by name; made by the first search
    snapshots/<sha256>.search.sha256
                                the sha256 of that search text (hex), checked when it is mapped
    state/suites/<mirror>/<suite>.json
                                which snapshot is current per component/arch, the InRelease it
                                was verified from, when it was refreshed
    state/suites/<mirror>/<suite>.inrelease/
                                the verified InReleases the state names, to check it against
                                (see :mod:`couturier.debian.listing`)

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
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from couturier.core.catalog import Package
from couturier.debian.indexing import INDEX_FORMAT, build_index
from couturier.debian.packages import iter_stanzas, parse_stanza, stanza_core
from couturier.errors import Code, IntegrityError, NotFoundError, StateError
from couturier.integrity import (
    FileStamp,
    Partial,
    atomic_write,
    file_problem,
    fsync_directory,
    is_partial_of,
    sweep_partials,
    verified_with_stamp,
)

__all__ = [
    "DERIVED_SUFFIXES",
    "IndexState",
    "SnapshotCache",
    "SnapshotDamagedError",
    "SnapshotIndex",
    "SnapshotStore",
    "StagedSnapshot",
    "SuiteState",
    "SuiteStateDamagedError",
    "load_suite_state",
    "save_suite_state",
    "suite_state_path",
    "sweep_snapshot_partials",
]

_INDEX_FORMAT = INDEX_FORMAT
DERIVED_SUFFIXES = (".idx", ".search", ".search.sha256", ".stamp")
_OTHER_FORMAT = "is of another format"  # written by another version: rebuilt, not damaged
Warn = Callable[[str], None]


def sweep_snapshot_partials(directory: Path) -> list[Path]:
    """Remove the temporary files in ``directory`` (the snapshot store, a state directory) that
    no running process holds; return them. Cost: one ``listdir`` and a lock attempt each."""
    return sweep_partials(directory, is_partial_of)


class SnapshotDamagedError(IntegrityError):
    """A stored snapshot no longer matches its sha256; it was removed from the store."""

    default_code = Code.SNAPSHOT_DAMAGED

    def __init__(self, sha256: str, problem: str, root: Path) -> None:
        super().__init__(
            f"index snapshot {sha256} in {root} {problem}: it was damaged and was removed",
            "refresh the catalog to download it again",
            fields={"sha256": sha256, "path": str(root), "problem": problem},
        )
        self.sha256 = sha256


@dataclass(frozen=True)
class StagedSnapshot:
    """A verified index written to a temporary file, not yet part of the store; the temporary
    file is held (locked) by ``partial`` until committed or discarded."""

    sha256: str
    size: int
    temp: Path | None  # None when the store already holds this snapshot
    partial: Partial | None = None
    index: dict[str, Any] | None = None  # its lookup data, when made while it was read


class SnapshotIndex:
    """One snapshot opened for lookups: stanzas are read from the mmapped file on demand.

    ``names`` maps a package name to the byte offset of its stanza (a tuple of offsets when there
    are several), ``provides`` a provided name to the package name(s) providing it (a tuple when
    several), ``sorted_names`` is every name in order. Single values are stored bare because
    loading 63k small lists costs twice as much as loading ints.

    Shared by the jobs of a process (through a :class:`SnapshotCache`): it keeps no job's
    callback; whoever reads the search text says where its warnings go.
    """

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.sha256 = path.name
        self.names: dict[str, int | tuple[int, ...]] = data["names"]
        self.provides: dict[str, str | tuple[str, ...]] = data["provides"]
        self.sorted_names: list[str] = data["sorted_names"]
        self.stamp: FileStamp | None = None  # the snapshot file as it was when opened
        self._lock = threading.Lock()
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

    def search_text(self, warn: Warn | None = None) -> mmap.mmap | bytes:
        """The lowercase UTF-8 search text (see the module docstring), mapped on first use and
        checked against the sha256 kept beside it; made by the first search (a build never
        needs it) and made again when damaged, said to ``warn`` (the asking job's).

        Cost: the first time for a snapshot, one pass over it (about 0.4 s for bookworm's
        main index); then a hash of the text when a process maps it. Thread-safe.
        """
        with self._lock:
            if self._search is None:
                self._search = _search_file(self.path, warn or (lambda message: None))
            return self._search


def _search_file(snapshot: Path, warn: Warn) -> mmap.mmap | bytes:
    """The search text of ``snapshot``, from its ``.search`` file when that matches the sha256
    kept in ``.search.sha256``; else made again (and ``warn`` told, unless it was missing)."""
    path = snapshot.with_name(snapshot.name + ".search")
    problem = _search_problem(path)
    if problem is None:
        try:
            return _map(path)
        except OSError:
            problem = "is missing"
    if problem != "is missing":
        warn(f"search text {path} {problem}: it was damaged; rebuilt it")
    text = _search_text(snapshot.read_bytes()).encode()
    atomic_write(path, text)
    atomic_write(path.with_name(path.name + ".sha256"), sha256_of(text).encode())
    return text


def _search_problem(path: Path) -> str | None:
    """What is wrong with search text ``path`` (``is missing`` when it or its sha256 is);
    None when it matches the sha256 kept beside it."""
    try:
        expected = path.with_name(path.name + ".sha256").read_text().strip()
    except FileNotFoundError:
        return "is missing"
    except (OSError, UnicodeDecodeError):
        expected = ""
    if not _HEX64.fullmatch(expected):
        return "has no sound checksum beside it" if path.exists() else "is missing"
    try:
        return file_problem(path, expected)
    except OSError as error:
        return f"cannot be read ({error.strerror})"


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


class SnapshotCache:
    """Snapshot indexes already opened, by path: the last ``limit`` of them, each kept while
    its file's stamp (inode, size, mtime, ctime) stays the same.

    Whoever loads catalogs owns one and hands it to :class:`SnapshotStore` (the catalog service
    keeps one for its process). Safe to share between threads: a lock guards the table; an
    index is opened outside it, so two threads may open the same snapshot at once (both get a
    sound index; the later one is kept).
    """

    def __init__(self, limit: int = 32) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._opened: OrderedDict[Path, SnapshotIndex] = OrderedDict()

    def get(self, path: Path) -> SnapshotIndex | None:
        """The index opened from ``path`` if its file has not changed since; None otherwise."""
        with self._lock:
            opened = self._opened.get(path)
            if opened is None:
                return None
            try:
                unchanged = opened.stamp == FileStamp.of(path.stat())
            except OSError:
                unchanged = False
            if unchanged:
                self._opened.move_to_end(path)
                return opened
            del self._opened[path]
            return None

    def put(self, path: Path, index: SnapshotIndex) -> None:
        """Keep ``index`` (opened from ``path``), forgetting the least recently used beyond the
        limit."""
        with self._lock:
            self._opened[path] = index
            self._opened.move_to_end(path)
            while len(self._opened) > self._limit:
                self._opened.popitem(last=False)

    def drop(self, path: Path) -> None:
        """Forget the index of ``path`` (its snapshot was removed)."""
        with self._lock:
            self._opened.pop(path, None)

    def clear(self) -> None:
        with self._lock:
            self._opened.clear()


class SnapshotStore:
    """Content-addressed snapshots under ``root`` (``settings.snapshot_dir``).

    ``warn`` receives one line for each damaged derived file rebuilt while opening snapshots;
    ``cache`` keeps the indexes opened (none kept without one).
    """

    def __init__(
        self, root: Path, warn: Warn | None = None, cache: SnapshotCache | None = None
    ) -> None:
        self.root = root
        self._warn = warn or (lambda message: None)
        self._cache = cache

    def path(self, sha256: str) -> Path:
        return self.root / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def check(self, sha256: str) -> str | None:
        """How snapshot ``sha256`` differs from its name (``is missing``, ``has sha256 ...``);
        None when sound. Always a full read and hash (no stamp): for a refresh, which repairs.
        Raises :class:`OSError` for an unreadable file."""
        return file_problem(self.path(sha256), sha256)

    def check_derived(self, sha256: str) -> dict[Path, str]:
        """The derived files of snapshot ``sha256`` that are damaged, each with what is wrong
        (a missing one is not: it is built when needed). Cost: reading the ``.idx`` and the
        search text once."""
        index_path = self.path(sha256 + ".idx")
        data, problem = _load_index(index_path, sha256)
        found: dict[Path, str] = {}
        if data is None and problem not in ("is missing", _OTHER_FORMAT):
            found[index_path] = problem
        search = self.path(sha256 + ".search")
        search_problem = _search_problem(search)
        if search_problem not in (None, "is missing"):
            found[search] = search_problem
        return found

    def drop(self, sha256: str) -> None:
        """Remove snapshot ``sha256`` and its derived files (e.g. once found damaged)."""
        path = self.path(sha256)
        if self._cache is not None:
            self._cache.drop(path)
        path.unlink(missing_ok=True)
        for suffix in DERIVED_SUFFIXES:
            path.with_name(sha256 + suffix).unlink(missing_ok=True)

    def partial(self) -> Partial:
        """A new partial file in the store, for an index being downloaded into it."""
        return Partial.file(self.root, ".index.", ".tmp")

    def staged(
        self, partial: Partial, sha256: str, size: int, index: dict[str, Any] | None
    ) -> StagedSnapshot:
        """``partial`` (holding verified text of ``sha256``, with its lookup data ``index``)
        fsynced and staged; removed when the store already holds that snapshot. Raises
        :class:`OSError`."""
        if self.has(sha256):
            partial.remove()
            return StagedSnapshot(sha256, size, None)
        os.fsync(partial.fd)
        return StagedSnapshot(sha256, size, partial.path, partial, index)

    def stage(self, data: bytes, sha256: str) -> StagedSnapshot:
        """Write verified ``data`` (whose sha256 the caller checked) to a temp file, fsynced."""
        if self.has(sha256):
            return StagedSnapshot(sha256, len(data), None)
        self.root.mkdir(parents=True, exist_ok=True)
        partial = Partial.file(self.root, f".{sha256}.", ".tmp")
        try:
            partial.write(data)
        except BaseException:
            partial.remove()
            raise
        return StagedSnapshot(sha256, len(data), partial.path, partial)

    def commit(self, staged: StagedSnapshot) -> Path:
        """Move a staged snapshot into the store and write its lookup index (made while it
        was read, and then kept in the store's cache: the snapshot was hashed as it was
        written; else by opening it)."""
        target = self.path(staged.sha256)
        if staged.temp is not None:
            if staged.index is not None:  # written first: never a snapshot without its index
                _write_index(self.path(staged.sha256 + ".idx"), staged.sha256, staged.index)
            staged.temp.replace(target)
            if staged.partial is not None:
                staged.partial.close()
            with contextlib.suppress(OSError):
                fsync_directory(self.root)
            if staged.index is not None:
                if self._cache is not None:
                    # Hashed as it was written: the index is handed to the cache, kept while
                    # the file's stamp stays the one it has now.
                    index = SnapshotIndex(target, staged.index)
                    index.stamp = FileStamp.of(target.stat())
                    self._cache.put(target, index)
                return target
        self.open(staged.sha256)
        return target

    @staticmethod
    def discard(staged: StagedSnapshot) -> None:
        if staged.partial is not None:
            staged.partial.remove()
        elif staged.temp is not None:
            staged.temp.unlink(missing_ok=True)

    def open(self, sha256: str) -> SnapshotIndex:
        """Open snapshot ``sha256`` for lookups, verified, (re)building its ``.idx`` when needed.

        Snapshots are immutable, so an index opened once is kept in the store's
        :class:`SnapshotCache` (when it has one) while its file's stamp stays the same: a
        command that reads a release twice (checking a spec, then planning it) loads it once.
        Raises :class:`NotFoundError` when the snapshot file is not in the store and
        :class:`SnapshotDamagedError` when it no longer matches its sha256 (it is removed).
        """
        path = self.path(sha256)
        if self._cache is None:
            return self._open(path, sha256)
        opened = self._cache.get(path)
        if opened is not None:
            return opened
        index = self._open(path, sha256)
        self._cache.put(path, index)
        return index

    def _open(self, path: Path, sha256: str) -> SnapshotIndex:
        try:
            before = FileStamp.of(path.stat())
            problem = verified_with_stamp(path, sha256, path.with_name(sha256 + ".stamp"))
        except FileNotFoundError:
            problem = "is missing"
        except OSError as error:
            problem = f"cannot be read ({error.strerror})"
        if problem == "is missing":
            raise NotFoundError(
                f"index snapshot {sha256} is missing from {self.root}",
                "refresh the catalog to download it again",
                code=Code.SNAPSHOT_DAMAGED,
                fields={"sha256": sha256, "path": str(self.root), "problem": "is missing"},
            )
        if problem is not None:
            self.drop(sha256)
            raise SnapshotDamagedError(sha256, problem, self.root)
        index_path = path.with_name(sha256 + ".idx")
        data, idx_problem = _load_index(index_path, sha256)
        if data is None:
            if idx_problem not in ("is missing", _OTHER_FORMAT):
                self._warn(f"derived index {index_path} {idx_problem}: it was damaged; rebuilt it")
            content = path.read_bytes()
            if sha256_of(content) != sha256:  # changed since it was verified a moment ago
                self.drop(sha256)
                raise SnapshotDamagedError(sha256, "changed while it was read", self.root)
            data = _write_index(index_path, sha256, build_index(content))
        index = SnapshotIndex(path, data)
        index.stamp = before
        return index


def _write_index(path: Path, sha256: str, data: dict[str, Any]) -> dict[str, Any]:
    """Write the ``.idx`` of snapshot ``sha256``: marshal of ``data`` (with the snapshot's
    sha256 added) followed by the 32-byte sha256 of that marshal; return ``data``."""
    data["snapshot"] = sha256
    body = marshal.dumps(data)
    atomic_write(path, body + hashlib.sha256(body).digest())
    return data


def _load_index(path: Path, sha256: str) -> tuple[dict[str, Any] | None, str]:
    """The ``.idx`` data when sound and derived from snapshot ``sha256``, else None and why
    (``is missing``, ``fails its checksum``, ``is of another format``...)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, "is missing"
    except OSError as error:
        return None, f"cannot be read ({error.strerror})"
    body, trailer = raw[:-32], raw[-32:]
    if len(raw) < 32 or hashlib.sha256(body).digest() != trailer:
        with contextlib.suppress(EOFError, ValueError, TypeError):
            older = marshal.loads(raw)  # written by an earlier version: no checksum yet
            if isinstance(older, dict) and older.get("format") != _INDEX_FORMAT:
                return None, _OTHER_FORMAT
        return None, "fails its checksum"
    try:
        data = _load_marshal(body)
    except (EOFError, ValueError, TypeError):
        return None, "cannot be parsed"
    if not isinstance(data, dict) or data.get("format") != _INDEX_FORMAT:
        return None, _OTHER_FORMAT
    if data.get("snapshot") != sha256:
        return None, "belongs to another snapshot"
    return data, ""


def _load_marshal(body: bytes) -> Any:
    # Unmarshalling ~100k containers triggers the cyclic GC again and again; none of them can be
    # part of a cycle, so pausing it halves the load time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return marshal.loads(body)
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


class SuiteStateDamagedError(StateError):
    """A suite's state file cannot be parsed, or disagrees with the verified InRelease kept
    beside it (:mod:`couturier.debian.listing`); a refresh rebuilds it. ``damage`` says what is
    wrong with it (the field ``problem``)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"suite state {path} is damaged: {problem}",
            "refresh the catalog to rebuild it from the signed InRelease",
            str(path),
            code=Code.SUITE_STATE_DAMAGED,
            fields={"problem": problem},
        )
        self.damage = problem


_HEX64 = re.compile(r"[0-9a-f]{64}")


def _index_state(key: object, value: object) -> IndexState:
    """One ``indexes`` entry of a state file; :class:`ValueError` when it is not one."""
    if not isinstance(key, str) or key.count("/") != 1 or not isinstance(value, dict):
        raise ValueError(f"entry {key!r} is not a component/architecture and its index")
    index = IndexState(**value)
    text = (index.root, index.refreshed)
    if not (
        _HEX64.fullmatch(str(index.sha256))
        and _HEX64.fullmatch(str(index.inrelease_sha256))
        and type(index.size) is int
        and index.size >= 0
        and all(isinstance(t, str) for t in text)
    ):
        raise ValueError(f"entry {key} has a malformed sha256, size, root or date")
    return index


def load_suite_state(state_dir: Path, mirror: str, suite: str) -> SuiteState | None:
    """The recorded state of ``suite`` on ``mirror``; None when never refreshed.

    Checks the file's shape only (what it says is checked against the kept InRelease by
    :func:`couturier.debian.listing.state_problems`). Cost: one small JSON read. Raises
    :class:`SuiteStateDamagedError` for a file that cannot be read or parsed (truncated,
    edited, of the wrong shape).
    """
    path = suite_state_path(state_dir, mirror, suite)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise SuiteStateDamagedError(path, f"cannot be read ({error.strerror})") from error
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("it is not a JSON object")
        indexes = {k: _index_state(k, v) for k, v in dict(raw.pop("indexes", {})).items()}
        state = SuiteState(**raw, indexes=indexes)
        names = (_safe(str(state.mirror)), _safe(str(state.suite)))
        if names != (_safe(mirror), _safe(suite)) or not isinstance(state.absent, bool):
            raise ValueError(f"it records suite {state.suite!r} of mirror {state.mirror!r}")
        if not isinstance(state.inreleases, dict):
            raise ValueError("its inreleases are not a mapping")
    except (ValueError, TypeError, AttributeError, RecursionError) as error:
        raise SuiteStateDamagedError(path, f"it cannot be parsed ({error})") from error
    return state


def save_suite_state(state_dir: Path, state: SuiteState) -> None:
    """Replace the state file of ``state``'s suite atomically."""
    text = json.dumps(asdict(state), indent=2, sort_keys=True)
    atomic_write(suite_state_path(state_dir, state.mirror, state.suite), text.encode())


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
