"""Refreshing the index snapshots of the configured releases from their package sources.

Per suite: fetch ``InRelease``, verify it against the mirror's pinned keyring, and when every
requested component/architecture was already verified against this very ``InRelease`` stop there
(an incremental refresh costs one request per suite). Otherwise fetch each ``Packages`` index
(``.gz``, else ``.xz``, else ``.bz2``, else plain; through ``by-hash`` when the suite offers it)
and read it as its bytes arrive (:mod:`couturier.debian.indexing`): hashed, decompressed, hashed
again, written to a partial file and indexed, chunk by chunk; then check the compressed and the
decompressed size and sha256 against ``InRelease`` before the snapshot joins the store.

``.gz`` comes first because, read while it arrives, it costs less time and CPU than ``.xz`` on
any link faster than about 10 MB/s: bookworm's main index is 12.1 MB as ``.gz`` and 8.8 MB as
``.xz``, and inflating its 50 MB takes 0.15 s with ISA-L against 0.53 s for ``xz``; refreshing
bookworm, trixie and forky (amd64) from deb.debian.org took a median 2.2 s and 2.6 CPU s with
``.gz`` first against 2.6 s and 3.7 CPU s with ``.xz`` first (4 runs each, interleaved, load
average 1.5-1.9 on 2 cores; 2026-11-29).

The suites are refreshed in parallel, one thread each (the releases named, and the suites of
each release): a first run waits for the slowest suite, not for their sum.

Every download is capped: ``InRelease`` at :data:`INRELEASE_LIMIT`, an index at the size
``InRelease`` lists for it (and its decompressed text at the size listed for the plain index),
so a mirror that answers with an endless body is refused after reading at most that much.

A current snapshot is hashed again by every refresh (one read of each, about 40 ms per 50 MB)
even when ``InRelease`` is unchanged: one changed on disk is removed and downloaded again, and
the suite's status says ``repaired`` with a warning naming it. The state file is checked the
same way: the verified ``InRelease`` is kept beside it (:mod:`couturier.debian.listing`), every
entry is compared with what the ``InRelease`` just fetched lists, and an entry that disagrees
(the state was edited or damaged) has its index downloaded again (``repaired``, with a
warning); a state file that cannot be parsed is rebuilt (``repaired``, with a warning).

A suite is all or nothing: its snapshots join the store and its state file is replaced only after
every index of it verified. Any failure (unreachable, truncated, tampered, bad signature, expired)
leaves the previous state in use and is reported with the suite, the file and what failed.

A secondary suite (``-updates``, ``-security``, any suite after the first of a release) whose
``InRelease`` does not exist is recorded as absent with a warning: new releases start without one.
"""

from __future__ import annotations

import bz2
import datetime as dt
import lzma
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO, cast

from couturier.debian.indexing import Decompressor, IndexDownload, gzip_decompressor
from couturier.debian.inrelease import IndexEntry, ReleaseFile, parse_release, verify_inrelease
from couturier.debian.listing import (
    Listed,
    keep_inrelease,
    keep_unpacked,
    listed_index,
    prune_inreleases,
    read_unpacked,
)
from couturier.debian.pdiff import PdiffError, patched_index
from couturier.debian.snapshots import (
    IndexState,
    SnapshotCache,
    SnapshotStore,
    StagedSnapshot,
    SuiteState,
    SuiteStateDamagedError,
    load_suite_state,
    now_iso,
    save_suite_state,
    sha256_of,
    suite_state_path,
    sweep_snapshot_partials,
)
from couturier.debian.transport import HttpTransport, RemoteNotFoundError, Transport
from couturier.errors import (
    Code,
    ConfigError,
    CouturierError,
    IntegrityError,
    SourceError,
    StateError,
)
from couturier.settings import Settings, Suite

__all__ = ["INRELEASE_LIMIT", "ProgressEvent", "RefreshReport", "SuiteResult", "refresh"]

# Debian's largest InRelease is about 150 KB; anything near this cap is not an InRelease.
INRELEASE_LIMIT = 16 << 20


# Preferred first (see the module docstring); only variants listed in InRelease are tried.
_VARIANTS: tuple[tuple[str, Callable[[], Decompressor] | None], ...] = (
    (".gz", gzip_decompressor),
    (".xz", lzma.LZMADecompressor),
    (".bz2", bz2.BZ2Decompressor),
    ("", None),
)
# Suites refreshed at once: enough for every suite of the three default releases.
_SUITE_THREADS = 9


@dataclass(frozen=True)
class ProgressEvent:
    """Something the refresh did, for a progress display: ``str(event)`` is one readable line."""

    suite: str
    action: str  # "fetch", "patched", "unchanged", "stored", "absent", "failed"
    file: str = ""
    bytes: int = 0

    def __str__(self) -> str:
        size = f" ({self.bytes:,} bytes)" if self.bytes else ""
        target = f" {self.file}" if self.file else ""
        return f"{self.suite}: {self.action}{target}{size}"


Progress = Callable[[ProgressEvent], None]


@dataclass
class SuiteResult:
    """The outcome for one suite. ``status``: updated, repaired (a damaged snapshot was
    downloaded again, nothing else changed), unchanged, absent or failed."""

    release: str
    mirror: str
    suite: str
    status: str = "unchanged"
    snapshots: dict[str, str] = field(default_factory=dict)  # "main/amd64" -> sha256
    requests: int = 0
    bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    error: CouturierError | None = None


@dataclass
class RefreshReport:
    """Every suite's outcome, in the order refreshed."""

    suites: list[SuiteResult] = field(default_factory=list)

    @property
    def errors(self) -> list[CouturierError]:
        return [s.error for s in self.suites if s.error is not None]

    @property
    def warnings(self) -> list[str]:
        return [w for s in self.suites for w in s.warnings]

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.suites)

    @property
    def ok(self) -> bool:
        return not self.errors


def refresh(
    settings: Settings,
    releases: Iterable[str] | None = None,
    architectures: Iterable[str] | None = None,
    transport: Transport | None = None,
    progress: Progress | None = None,
    *,
    raise_errors: bool = True,
    now: dt.datetime | None = None,
    snapshots: SnapshotCache | None = None,
) -> RefreshReport:
    """Refresh the snapshots of ``releases`` (default: all) for ``architectures`` (default: all).

    Every suite is attempted, the suites at once (one thread each, at most nine); a failed
    suite keeps its previous state. Memory: per suite in flight, its InRelease (at most
    :data:`INRELEASE_LIMIT`), a decompressed chunk of 1 MiB and the lookup index being built.
    With ``raise_errors`` the first failure is raised after all suites were attempted (the
    report is then lost; pass False to inspect it instead). Raises :class:`ConfigError` for
    unknown release or architecture names, :class:`SourceError`/:class:`IntegrityError` for a
    suite that could not be refreshed. The lookup indexes of the snapshots stored are kept in
    ``snapshots`` when given (a catalog loaded next need not read them again).
    """
    if transport is None:  # one client for the whole refresh, closed at its end
        with HttpTransport() as owned:
            return refresh(
                settings,
                releases,
                architectures,
                owned,
                progress,
                raise_errors=raise_errors,
                now=now,
                snapshots=snapshots,
            )
    names = list(releases) if releases is not None else list(settings.releases)
    archs = tuple(settings.check_architecture(a) for a in (architectures or settings.architectures))
    emit = _serialized(progress or (lambda event: None))
    store = SnapshotStore(settings.snapshot_dir, cache=snapshots)
    sweep_snapshot_partials(settings.snapshot_dir)
    for directory in (settings.state_dir / "suites").glob("*"):
        sweep_snapshot_partials(directory)
        for kept in directory.glob("*.inrelease"):
            sweep_snapshot_partials(kept)
    report = RefreshReport()
    jobs: list[tuple[_SuiteRefresh, bool]] = []
    seen: set[tuple[str, str]] = set()
    for release_name in names:
        release = settings.release(release_name)
        for position, suite in enumerate(release.suites):
            if (suite.mirror.name, suite.name) in seen:
                continue
            seen.add((suite.mirror.name, suite.name))
            result = SuiteResult(release.name, suite.mirror.name, suite.name)
            job = _SuiteRefresh(
                settings=settings,
                store=store,
                suite=suite,
                archs=archs,
                transport=transport,
                emit=emit,
                result=result,
                now=now,
            )
            jobs.append((job, position > 0))
            report.suites.append(result)
    if len(jobs) == 1:
        _run(*jobs[0])
    else:
        with ThreadPoolExecutor(min(len(jobs), _SUITE_THREADS), "refresh") as pool:
            # Each job catches its own CouturierError; anything else (a bug, a full disk) is
            # raised here once every suite has finished.
            for done in [pool.submit(_run, job, optional) for job, optional in jobs]:
                done.result()
    if raise_errors and report.errors:
        raise report.errors[0]
    return report


def _run(job: _SuiteRefresh, optional: bool) -> None:
    """Refresh one suite; its failure goes into its result."""
    try:
        job.run(optional=optional)
    except CouturierError as exc:
        job.result.status = "failed"
        job.result.error = exc
        job.emit(ProgressEvent(job.suite.name, "failed", str(exc)))


def _serialized(progress: Progress) -> Progress:
    """``progress`` called by one suite's thread at a time."""
    lock = threading.Lock()

    def emit(event: ProgressEvent) -> None:
        with lock:
            progress(event)

    return emit


class _SuiteRefresh:
    """One suite's refresh: stage everything, then commit snapshots and state together."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: SnapshotStore,
        suite: Suite,
        archs: tuple[str, ...],
        transport: Transport,
        emit: Progress,
        result: SuiteResult,
        now: dt.datetime | None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.suite = suite
        self.archs = archs
        self.transport = transport
        self.emit = emit
        self.result = result
        self.now = now
        self.staged: list[StagedSnapshot] = []
        self.state_damaged = False  # the state file could not be parsed: rebuilt

    def _get(self, url: str, file: str, limit: int) -> bytes:
        """The body at ``url`` (``file`` of the suite), at most ``limit`` bytes."""
        self.result.requests += 1
        try:
            data = self.transport.get(url, limit)
        except IntegrityError as exc:
            if exc.code is not Code.DOWNLOAD_TOO_LARGE:
                raise
            reason = exc.fields.get("reason") or exc.message
            allowed = "InRelease lists" if file != "InRelease" else "Couturier accepts"
            raise IntegrityError(
                f"{self.suite.name}: {file} has more than the {limit:,} bytes {allowed} "
                f"({reason}; {url})",
                exc.hint,
                code=exc.code,
                fields={**exc.fields, "suite": self.suite.name, "file": file},
            ) from None
        self.result.bytes += len(data)
        self.emit(ProgressEvent(self.suite.name, "fetch", file, len(data)))
        return data

    def run(self, optional: bool) -> None:
        suite = self.suite
        previous = self._previous_state()
        indexes = dict(previous.indexes) if previous else {}
        inreleases = dict(previous.inreleases) if previous else {}
        roots: dict[str, list[str]] = {}
        for arch in self.archs:
            roots.setdefault(suite.mirror.url_for(arch), []).append(arch)
        changed = False
        repaired = self.state_damaged
        unpacked: dict[str, dict[str, Listed]] = {}  # InRelease sha256 -> key -> index
        try:
            for root, archs in roots.items():
                url = f"{root}/dists/{suite.name}/InRelease"
                try:
                    raw = self._get(url, "InRelease", INRELEASE_LIMIT)
                except RemoteNotFoundError as exc:
                    if not optional:
                        raise SourceError(
                            f"{suite.name}: InRelease not found at {url}",
                            f"check that suite {suite.name} exists on mirror {suite.mirror.name} "
                            "and that the mirror URL in the settings is right",
                            code=Code.SUITE_NOT_FOUND,
                            fields={"suite": suite.name, "mirror": suite.mirror.name, "url": url},
                        ) from exc
                    self._absent(previous, url)
                    return
                inrelease_sha = sha256_of(raw)
                source = f"{suite.name} InRelease ({url})"
                release, signed = self._read_inrelease(raw, source)
                self._keep(raw, signed)
                inreleases[root] = _facts(release, inrelease_sha)
                fresh = unpacked.setdefault(inrelease_sha, {})
                outcome = self._refresh_root(root, archs, release, inrelease_sha, indexes, fresh)
                changed = changed or outcome[0]
                repaired = repaired or outcome[1]
        except BaseException:
            for staged in self.staged:
                self.store.discard(staged)
            raise
        for staged in self.staged:
            self.store.commit(staged)
            self.emit(ProgressEvent(suite.name, "stored", staged.sha256, staged.size))
        state_dir = self.settings.state_dir
        for inrelease_sha, entries in unpacked.items():
            keep_unpacked(state_dir, suite.mirror.name, suite.name, inrelease_sha, entries)
        state = SuiteState(suite.mirror.name, suite.name, now_iso(), False, inreleases, indexes)
        save_suite_state(state_dir, state)
        prune_inreleases(state_dir, state)
        self.result.status = "updated" if changed else "repaired" if repaired else "unchanged"
        if not changed:
            self.emit(ProgressEvent(suite.name, self.result.status))

    def _refresh_root(  # noqa: PLR0917 - one mirror root's share of run()
        self,
        root: str,
        archs: list[str],
        release: ReleaseFile,
        inrelease_sha: str,
        indexes: dict[str, IndexState],
        fresh: dict[str, Listed],
    ) -> tuple[bool, bool]:
        """Stage the indexes of ``archs`` under ``root`` that need fetching, updating
        ``indexes`` (and ``fresh``: the decompressed compressed-only ones); return whether
        something changed, and whether something was repaired."""
        suite = self.suite
        changed = repaired = False
        recorded = read_unpacked(
            self.settings.state_dir, suite.mirror.name, suite.name, inrelease_sha
        )
        for component in suite.components:
            for arch in archs:
                key = f"{component}/{arch}"
                current = indexes.get(key)
                same = current is not None and current.inrelease_sha256 == inrelease_sha
                listed = listed_index(release, recorded, key)
                wrong = same and self._misstated(current, listed, key)
                damaged = current is not None and self._damaged(current.sha256, key)
                if (
                    current is not None
                    and same
                    and listed is not None
                    and not wrong
                    and not damaged
                    and self.store.has(current.sha256)
                ):
                    self.result.snapshots[key] = current.sha256
                    continue
                staged = None
                if current is not None and not same and not damaged:
                    staged = self._patched(root, release, f"{component}/binary-{arch}", current)
                if staged is None:
                    staged = self._fetch_index(root, release, component, arch)
                if release.entry(f"{component}/binary-{arch}/Packages") is None:
                    fresh[key] = Listed(staged.sha256, staged.size)
                indexes[key] = IndexState(
                    staged.sha256, staged.size, root, inrelease_sha, now_iso()
                )
                self.result.snapshots[key] = staged.sha256
                # Fetched again under the same InRelease: damaged, removed or misstated.
                if (
                    wrong
                    or (same and listed is not None)
                    or (current is None and self.state_damaged)
                ):
                    repaired = True
                elif current is None or current.sha256 != staged.sha256:
                    changed = True
        return changed, repaired

    def _patched(
        self, root: str, release: ReleaseFile, directory: str, current: IndexState
    ) -> StagedSnapshot | None:
        """The index of ``directory`` made from the kept one with the mirror's diffs
        (:mod:`couturier.debian.pdiff`), staged; None (said as a warning when diffs were
        offered but failed) when the whole index must be downloaded instead."""
        base = f"{directory}/Packages"
        target = release.entry(base)
        if release.entry(f"{base}.diff/Index") is None or target is None:
            return None
        suite_url = f"{root}/dists/{self.suite.name}"
        try:
            kept = self.store.path(current.sha256).read_bytes()
            data, count = patched_index(
                self._get, suite_url=suite_url, base=base, release=release, kept=kept
            )
        except (PdiffError, SourceError, OSError) as error:
            self.result.warnings.append(
                f"{self.suite.name}: {base} diffs not used ({error}); downloading it whole"
            )
            return None
        self.emit(ProgressEvent(self.suite.name, "patched", f"{base} ({count} diffs)"))
        return self._stage(data, target.sha256)

    def _previous_state(self) -> SuiteState | None:
        """The suite's state as last saved; a damaged state file is said and rebuilt."""
        suite = self.suite
        self.state_damaged = False
        try:
            return load_suite_state(self.settings.state_dir, suite.mirror.name, suite.name)
        except SuiteStateDamagedError as error:
            self.state_damaged = True
            self.result.warnings.append(f"{error.message}; rebuilt it from the signed InRelease")
            return None

    def _keep(self, raw: bytes, signed: bytes) -> None:
        """Keep the verified InRelease beside the state (see :mod:`couturier.debian.listing`)."""
        suite = self.suite
        try:
            keep_inrelease(self.settings.state_dir, suite.mirror.name, suite.name, raw, signed)
        except OSError as error:
            raise StateError(
                f"{suite.name}: cannot keep the verified InRelease in "
                f"{self.settings.state_dir}: {error.strerror or error}",
                "check that the data directory (data_dir in the settings) is writable",
                str(error.filename or self.settings.state_dir),
                fields={"suite": suite.name, "reason": error.strerror or str(error)},
            ) from error

    def _misstated(self, current: IndexState | None, listed: Listed | None, key: str) -> bool:
        """Whether the state says of ``key`` other than its verified InRelease lists (the
        state file was damaged); said in a warning."""
        if current is None or listed is None:
            return False
        if (listed.sha256, listed.size) == (current.sha256, current.size):
            return False
        path = suite_state_path(self.settings.state_dir, self.suite.mirror.name, self.suite.name)
        self.result.warnings.append(
            f"{self.suite.name}: state {path} names index {current.sha256} ({current.size:,} "
            f"bytes) for {key}, the verified InRelease lists {listed.sha256} ({listed.size:,} "
            "bytes): the state was damaged; downloaded the index again"
        )
        return True

    def _damaged(self, sha256: str, key: str) -> bool:
        """Whether current snapshot ``sha256`` (of ``key``) is in the store but changed on disk;
        such a snapshot is removed (with a warning) so that it is downloaded again."""
        try:
            problem = self.store.check(sha256)
        except OSError as error:
            problem = f"cannot be read ({error.strerror})"
        if problem is None or problem == "is missing":
            return False
        self.store.drop(sha256)
        self.result.warnings.append(
            f"{self.suite.name}: index snapshot {sha256} of {key} {problem}: it was damaged on "
            "disk; downloaded it again"
        )
        return True

    def _read_inrelease(self, raw: bytes, source: str) -> tuple[ReleaseFile, bytes]:
        """Verify and parse (also returned: the signed content); apply the mirror's
        Valid-Until policy to a stale file."""
        signed = verify_inrelease(raw, self.suite.mirror.keyring, source)
        release = parse_release(signed, source)
        policy = self.suite.mirror.valid_until
        try:
            release.check_fresh(source, self.now)
        except IntegrityError as exc:
            if policy == "enforce":
                raise
            if policy == "warn":
                self.result.warnings.append(
                    f"{exc.message}; used anyway because mirror {self.suite.mirror.name} has "
                    "valid_until: warn (set it to enforce to refuse stale indexes)"
                )
        return release, signed

    def _absent(self, previous: SuiteState | None, url: str) -> None:
        suite = self.suite
        warning = f"{suite.name}: suite absent from mirror {suite.mirror.name} (no {url})"
        if previous is not None and not previous.absent:
            warning += "; keeping its previous snapshots"
        else:
            state = SuiteState(suite.mirror.name, suite.name, now_iso(), absent=True)
            save_suite_state(self.settings.state_dir, state)
        self.result.status = "absent"
        self.result.warnings.append(warning)
        self.emit(ProgressEvent(suite.name, "absent", url))

    def _fetch_index(
        self, root: str, release: ReleaseFile, component: str, arch: str
    ) -> StagedSnapshot:
        suite = self.suite.name
        base = f"{component}/binary-{arch}/Packages"
        plain = release.entry(base)
        listed = [(release.entry(base + ext), unpack) for ext, unpack in _VARIANTS]
        candidates = [(entry, unpack) for entry, unpack in listed if entry is not None]
        if not candidates:
            if component not in release.components or arch not in release.architectures:
                raise ConfigError(
                    f"{suite}: the suite has no {component}/{arch} index (it offers components "
                    f"{' '.join(release.components)}; architectures "
                    f"{' '.join(release.architectures)})",
                    "remove that component or architecture from the settings",
                    fields={
                        "suite": suite,
                        "component": component,
                        "architecture": arch,
                        "components": list(release.components),
                        "architectures": list(release.architectures),
                    },
                )
            self.result.warnings.append(f"{suite}: InRelease lists no {base}; taken as empty")
            return self._stage(b"", sha256_of(b""))
        for number, (entry, unpack) in enumerate(candidates):
            try:
                return self._stream(root, release, entry, unpack, plain)
            except RemoteNotFoundError:
                if number + 1 < len(candidates):
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _stream(
        self,
        root: str,
        release: ReleaseFile,
        entry: IndexEntry,
        unpack: Callable[[], Decompressor] | None,
        plain: IndexEntry | None,
    ) -> StagedSnapshot:
        """Download ``entry`` into a partial file of the store, decompressed, hashed and
        indexed as it arrives; stage it once every check against InRelease passed."""
        suite = self.suite.name
        directory = entry.path.rpartition("/")[0]
        limit = plain.size if plain is not None else None
        partial = self.store.partial()
        try:
            sink = IndexDownload(partial.fd, unpack, limit, suite)
            fetched = False
            if release.acquire_by_hash:
                # by-hash names the content, so a mirror updating mid-refresh cannot mix versions.
                by_hash = f"{root}/dists/{suite}/{directory}/by-hash/SHA256/{entry.sha256}"
                try:
                    self._get_to(by_hash, entry, sink)
                    fetched = True
                except RemoteNotFoundError:
                    fetched = False
            if not fetched:
                self._get_to(f"{root}/dists/{suite}/{entry.path}", entry, sink)
            sink.check(entry, plain)
            sha256 = plain.sha256 if plain is not None else sink.text.hexdigest()
            staged = self.store.staged(partial, sha256, sink.text_size, sink.index.finish())
        except BaseException:
            partial.remove()
            raise
        self.staged.append(staged)
        return staged

    def _get_to(self, url: str, entry: IndexEntry, sink: IndexDownload) -> None:
        """Stream the body at ``url`` (``entry`` of the suite) into ``sink``, at most the
        size InRelease lists."""
        self.result.requests += 1
        try:
            size = self.transport.get_to(url, cast(BinaryIO, sink), entry.size)
        except IntegrityError as exc:
            if exc.code is not Code.DOWNLOAD_TOO_LARGE:
                raise
            reason = exc.fields.get("reason") or exc.message
            raise IntegrityError(
                f"{self.suite.name}: {entry.path} has more than the {entry.size:,} bytes "
                f"InRelease lists ({reason}; {url})",
                exc.hint,
                code=exc.code,
                fields={**exc.fields, "suite": self.suite.name, "file": entry.path},
            ) from None
        self.result.bytes += size
        self.emit(ProgressEvent(self.suite.name, "fetch", entry.path, size))

    def _stage(self, data: bytes, sha256: str) -> StagedSnapshot:
        staged = self.store.stage(data, sha256)
        self.staged.append(staged)
        return staged


def _facts(release: ReleaseFile, sha256: str) -> dict[str, str]:
    return {
        "sha256": sha256,
        "suite": release.suite,
        "codename": release.codename,
        "date": release.date.isoformat() if release.date else "",
        "valid_until": release.valid_until.isoformat() if release.valid_until else "",
        # Who the suite says it is (Debian, Ubuntu): the vendor of SBOMs and os-release.
        "origin": release.fields.get("Origin", ""),
        "version": release.fields.get("Version", ""),
    }
