"""The verified ``InRelease`` kept beside a suite's state, and checking the state against it.

A suite's state file (``state/suites/<mirror>/<suite>.json``) names the current snapshot of each
component/architecture by sha256 and size. Nothing signs that file, so a refresh also keeps what
it verified the snapshots against, in ``state/suites/<mirror>/<suite>.inrelease/``::

    <sha256>            the InRelease as fetched (clear-signed; its sha256 is its name)
    <sha256>.release    its signed content, as ``gpgv --output`` wrote it when it was verified
    <sha256>.unpacked   JSON ``{"main/amd64": {"sha256", "size"}}``: for each index whose Release
                        lists only compressed ``Packages`` files (Debian's lists the plain one
                        too), the decompressed index recorded from the verified download

The *listing* of an InRelease is, per ``component/arch``, the sha256 and size of the plain
``Packages`` index: from the Release when it lists it, else from ``.unpacked``.
:func:`state_problems` compares a state with the listings of the InReleases its entries name
(cheap: no gpg; one parse per InRelease, 2 ms for Debian's bookworm, kept by the caller's
:class:`ReleaseCache` while the file is unchanged);
:func:`reverify_state` first checks each kept InRelease's signature again with ``gpgv``.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from couturier.debian.inrelease import ReleaseFile, parse_release, verify_inrelease
from couturier.debian.snapshots import (
    SuiteState,
    sha256_of,
    suite_state_path,
)
from couturier.errors import CouturierError
from couturier.integrity import FileStamp, atomic_write

__all__ = [
    "Listed",
    "ReleaseCache",
    "inrelease_dir",
    "keep_inrelease",
    "keep_unpacked",
    "listed_index",
    "prune_inreleases",
    "read_unpacked",
    "reverify_state",
    "state_problems",
]


@dataclass(frozen=True)
class Listed:
    """The sha256 and size a verified InRelease gives one plain ``Packages`` index."""

    sha256: str
    size: int


def inrelease_dir(state_dir: Path, mirror: str, suite: str) -> Path:
    """The directory of the InReleases kept for ``suite`` of ``mirror``."""
    path = suite_state_path(state_dir, mirror, suite)
    return path.with_name(path.stem + ".inrelease")


def keep_inrelease(state_dir: Path, mirror: str, suite: str, raw: bytes, signed: bytes) -> str:
    """Keep the fetched ``raw`` InRelease and its verified ``signed`` content (written only
    when missing or different); return the InRelease's sha256. Raises :class:`OSError`."""
    directory = inrelease_dir(state_dir, mirror, suite)
    sha256 = sha256_of(raw)
    for path, data in ((directory / sha256, raw), (directory / f"{sha256}.release", signed)):
        try:
            same = path.read_bytes() == data
        except OSError:
            same = False
        if not same:
            atomic_write(path, data)
    return sha256


def read_unpacked(state_dir: Path, mirror: str, suite: str, inrelease: str) -> dict[str, Listed]:
    """The decompressed indexes recorded for InRelease ``inrelease``; empty when none (or the
    record is unreadable: the indexes are then downloaded again)."""
    path = inrelease_dir(state_dir, mirror, suite) / f"{inrelease}.unpacked"
    try:
        raw = json.loads(path.read_bytes())
        return {str(k): Listed(str(v["sha256"]), int(v["size"])) for k, v in raw.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def keep_unpacked(
    state_dir: Path, mirror: str, suite: str, inrelease: str, unpacked: Mapping[str, Listed]
) -> None:
    """Add ``unpacked`` (``component/arch`` → decompressed index, from verified downloads) to
    the record of InRelease ``inrelease``. Raises :class:`OSError`."""
    if not unpacked:
        return
    merged = read_unpacked(state_dir, mirror, suite, inrelease) | dict(unpacked)
    body = {k: {"sha256": v.sha256, "size": v.size} for k, v in sorted(merged.items())}
    path = inrelease_dir(state_dir, mirror, suite) / f"{inrelease}.unpacked"
    atomic_write(path, json.dumps(body, indent=2).encode())


def listed_index(release: ReleaseFile, unpacked: Mapping[str, Listed], key: str) -> Listed | None:
    """What ``release`` (with the ``unpacked`` record of its compressed-only indexes) lists
    for ``key`` (``main/amd64``); None when neither says."""
    component, _, arch = key.partition("/")
    entry = release.entry(f"{component}/binary-{arch}/Packages")
    if entry is not None:
        return Listed(entry.sha256, entry.size)
    return unpacked.get(key)


class ReleaseCache:
    """Kept InReleases already parsed, by path: the last ``limit`` of them, each kept while its
    file's stamp (inode, size, mtime, ctime) stays the same.

    Whoever checks states often owns one (the catalog service keeps one for its process, next
    to its :class:`~couturier.debian.snapshots.SnapshotCache`). Safe to share between threads:
    a lock guards the table; a file is parsed outside it (two threads may parse one file at
    once; both get the same answer, the later one is kept).
    """

    def __init__(self, limit: int = 32) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._parsed: OrderedDict[Path, tuple[FileStamp, ReleaseFile]] = OrderedDict()

    def get(self, path: Path, stamp: FileStamp) -> ReleaseFile | None:
        """The release parsed from ``path`` when its file had ``stamp``; None otherwise."""
        with self._lock:
            cached = self._parsed.get(path)
            if cached is None or cached[0] != stamp:
                return None
            self._parsed.move_to_end(path)
            return cached[1]

    def put(self, path: Path, stamp: FileStamp, release: ReleaseFile) -> None:
        with self._lock:
            self._parsed[path] = (stamp, release)
            self._parsed.move_to_end(path)
            while len(self._parsed) > self._limit:
                self._parsed.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._parsed.clear()


def _kept_release(directory: Path, inrelease: str, cache: ReleaseCache | None) -> ReleaseFile | str:
    """The kept signed content of InRelease ``inrelease``, parsed (or taken from ``cache``);
    or what is wrong with it."""
    path = directory / f"{inrelease}.release"
    try:
        stamp = FileStamp.of(path.stat())
        cached = cache.get(path, stamp) if cache is not None else None
        if cached is not None:
            return cached
        release = parse_release(path.read_bytes(), str(path))
    except FileNotFoundError:
        return (
            f"the InRelease it was verified against ({inrelease}) is not kept in {directory} "
            "(removed, or the state was written by an earlier version)"
        )
    except OSError as error:
        return f"{path} cannot be read ({error.strerror})"
    except CouturierError as error:
        return f"{path} is damaged ({error.message})"
    if cache is not None:
        cache.put(path, stamp, release)
    return release


def state_problems(
    state_dir: Path,
    state: SuiteState,
    keys: Iterable[str] | None = None,
    cache: ReleaseCache | None = None,
) -> list[str]:
    """How the entries ``keys`` (default: all) of ``state`` differ from the listings of the
    verified InReleases they name, one line each; empty when they agree.

    Cost: per InRelease named, a ``stat`` and (unless ``cache`` holds it unchanged) one read
    and parse of its signed content (~150 KB for Debian); no gpg. Never raises.
    """
    directory = inrelease_dir(state_dir, state.mirror, state.suite)
    problems: list[str] = []
    for key in sorted(state.indexes if keys is None else keys):
        index = state.indexes.get(key)
        if index is None:
            continue
        release = _kept_release(directory, index.inrelease_sha256, cache)
        if isinstance(release, str):
            problems.append(f"{key}: {release}")
            continue
        unpacked = read_unpacked(state_dir, state.mirror, state.suite, index.inrelease_sha256)
        listed = listed_index(release, unpacked, key)
        if listed is None:
            problems.append(
                f"{key}: the verified InRelease {index.inrelease_sha256} lists no index for it"
            )
        elif (listed.sha256, listed.size) != (index.sha256, index.size):
            problems.append(
                f"{key}: the state names index {index.sha256} ({index.size:,} bytes), the "
                f"verified InRelease lists {listed.sha256} ({listed.size:,} bytes)"
            )
    return problems


def reverify_state(state_dir: Path, state: SuiteState, keyring: Path) -> list[str]:
    """:func:`state_problems` after checking each kept InRelease the state names: its sha256,
    its signature against ``keyring`` (``gpgv``), and that the kept signed content is what
    ``gpgv`` outputs. Cost: one ``gpgv`` run per InRelease named. Never raises."""
    directory = inrelease_dir(state_dir, state.mirror, state.suite)
    named = {index.inrelease_sha256 for index in state.indexes.values()}
    problems: list[str] = []
    for inrelease in sorted(named):
        path = directory / inrelease
        try:
            raw = path.read_bytes()
            if sha256_of(raw) != inrelease:
                problems.append(f"InRelease {path} has sha256 {sha256_of(raw)}")
                continue
            signed = verify_inrelease(raw, keyring, str(path))
            if (directory / f"{inrelease}.release").read_bytes() != signed:
                problems.append(f"{path}.release is not the content its signature covers")
        except FileNotFoundError as error:
            problems.append(f"{error.filename} is missing")
        except OSError as error:
            problems.append(f"{error.filename} cannot be read ({error.strerror})")
        except CouturierError as error:
            problems.append(error.message)
    return problems or state_problems(state_dir, state)


def prune_inreleases(state_dir: Path, state: SuiteState) -> None:
    """Remove the kept InReleases (and their files) that ``state`` no longer names.
    Best effort: a file that cannot be removed stays."""
    directory = inrelease_dir(state_dir, state.mirror, state.suite)
    named = {index.inrelease_sha256 for index in state.indexes.values()}
    named |= {facts.get("sha256", "") for facts in state.inreleases.values()}
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue  # a partial file: swept by the lock scheme
        if entry.name.partition(".")[0] not in named:
            try:
                entry.unlink()
            except OSError:
                continue
