"""Streaming index reads, the parallel refresh, and the owned caches of ``debian/`` (threads)."""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import random
import re
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from couturier.debian.index import load_catalog
from couturier.debian.indexing import (
    Decompressor,
    IndexBuilder,
    IndexDownload,
    build_index,
    gzip_decompressor,
    xz_decompressor,
)
from couturier.debian.inrelease import IndexEntry
from couturier.debian.listing import ReleaseCache, inrelease_dir, state_problems
from couturier.debian.packages import iter_stanzas, parse_stanza
from couturier.debian.refresh import refresh
from couturier.debian.snapshots import SnapshotCache, SnapshotDamagedError, load_suite_state
from couturier.debian.transport import HttpTransport
from couturier.errors import Code, IntegrityError
from couturier.services.build import _SharedCatalogs
from couturier.settings import Settings
from tests.conftest import make_settings
from tests.fixture_repo import SigningKey, build_repo, sign_release

RELEASES = {"alpha": ["alpha", "alpha-updates", "alpha-security"], "beta": ["beta", "beta-updates"]}
SUITES = {
    suite: [
        {"Package": "hello", "Version": f"1.{n}", "Architecture": "amd64"},
        {"Package": f"tool-{suite}", "Version": "2.0", "Provides": "tool, tool-any (= 2.0)"},
    ]
    for n, suite in enumerate(s for suites in RELEASES.values() for s in suites)
}


@pytest.fixture(scope="module")
def suites_repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    return build_repo(tmp_path_factory.mktemp("suites") / "repo", SUITES, key=signing_key)


@pytest.fixture
def suites_settings(tmp_path: Path, suites_repo: Path, signing_key: SigningKey) -> Settings:
    return make_settings(tmp_path, suites_repo, signing_key.keyring, RELEASES, ["amd64"])


class _MeetingTransport:
    """A real transport whose InRelease requests wait until ``parties`` of them are in flight:
    a refresh that asked for one suite after another would break the barrier."""

    def __init__(self, parties: int) -> None:
        self.inner = HttpTransport(retries=0)
        self.barrier = threading.Barrier(parties, timeout=10)
        self.threads: set[int] = set()

    def get(self, url: str, limit: int | None = None) -> bytes:
        if url.endswith("/InRelease"):
            self.threads.add(threading.get_ident())
            self.barrier.wait()
        return self.inner.get(url, limit)

    def get_to(self, url: str, dest: BinaryIO, limit: int | None = None) -> int:
        return self.inner.get_to(url, dest, limit)


def test_suites_of_several_releases_are_refreshed_at_once(suites_settings: Settings) -> None:
    transport = _MeetingTransport(parties=5)
    events: list[str] = []
    report = refresh(suites_settings, transport=transport, progress=lambda e: events.append(str(e)))
    assert report.ok, report.errors
    assert len(transport.threads) == 5
    # The report keeps the configured order whatever order the threads finished in.
    assert [(s.release, s.suite) for s in report.suites] == [
        (release, suite) for release, suites in RELEASES.items() for suite in suites
    ]
    assert {s.status for s in report.suites} == {"updated"}
    for release, suites in RELEASES.items():
        catalog = load_catalog(suites_settings, release, "amd64")
        assert {p.version for p in catalog.versions("hello")} == {
            SUITES[s][0]["Version"] for s in suites
        }
        assert {p.name for p, _ in catalog.providers("tool")} == {f"tool-{s}" for s in suites}
        for suite in suites:
            assert load_suite_state(suites_settings.state_dir, "fixture", suite) is not None
    assert len([e for e in events if ": fetch InRelease" in e]) == 5
    again = refresh(suites_settings)
    assert {s.status for s in again.suites} == {"unchanged"}


def test_one_failing_suite_leaves_the_others_refreshed(
    suites_settings: Settings, suites_repo: Path, tmp_path: Path, signing_key: SigningKey
) -> None:
    copy = tmp_path / "mirror"
    shutil.copytree(suites_repo, copy)
    index = copy / "dists" / "beta" / "main" / "binary-amd64" / "Packages.gz"
    index.write_bytes(gzip.compress(gzip.decompress(index.read_bytes()).replace(b"2.0", b"6.6")))
    settings = make_settings(tmp_path, copy, signing_key.keyring, RELEASES, ["amd64"])
    report = refresh(settings, raise_errors=False)
    failed = [s for s in report.suites if s.status == "failed"]
    assert [s.suite for s in failed] == ["beta"]
    error = failed[0].error
    assert error is not None and "beta: main/binary-amd64/Packages.gz has" in error.message
    # Recompressed, the body may differ in size too: refused by its size, or its sha256.
    assert error.code in (Code.DOWNLOAD_HASH_MISMATCH, Code.DOWNLOAD_TOO_LARGE)
    assert load_suite_state(settings.state_dir, "fixture", "beta") is None
    assert all(s.status == "updated" for s in report.suites if s.suite != "beta")
    assert not [p for p in settings.snapshot_dir.iterdir() if p.name.endswith(".tmp")]


# -- streaming: IndexDownload -----------------------------------------------------------------

TEXT = b"".join(
    b"Package: p%d\nVersion: 1.%d\nArchitecture: all\nProvides: v%d\nDescription: x\n y\n\n"
    % (n, n, n % 7)
    for n in range(3000)
)


def _entry(path: str, data: bytes) -> IndexEntry:
    return IndexEntry(path, len(data), hashlib.sha256(data).hexdigest())


def _stream(
    tmp_path: Path,
    body: bytes,
    unpack: Callable[[], Decompressor] | None,
    limit: int | None = len(TEXT),
    chunk: int = 4096,
) -> tuple[IndexDownload, Path]:
    path = tmp_path / "partial"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    sink = IndexDownload(fd, unpack, limit, "suite")
    for start in range(0, len(body), chunk):
        sink.write(body[start : start + chunk])
    os.close(fd)
    return sink, path


@pytest.mark.parametrize(
    ("compress", "unpack"),
    [
        (lambda d: gzip.compress(d, mtime=0), gzip_decompressor),
        (lzma.compress, xz_decompressor),
        (lambda d: d, None),
    ],
    ids=["gz", "xz", "plain"],
)
@pytest.mark.parametrize("chunk", [1, 333, 65536])
def test_stream_writes_hashes_and_indexes_as_it_goes(
    tmp_path: Path,
    compress: Callable[[bytes], bytes],
    unpack: Callable[[], Decompressor] | None,
    chunk: int,
) -> None:
    body = compress(TEXT)
    sink, path = _stream(tmp_path, body, unpack, chunk=chunk if chunk > 1 or len(body) < 9e4 else 7)
    sink.check(_entry("x", body), _entry("Packages", TEXT))
    assert path.read_bytes() == TEXT
    assert sink.index.finish() == build_index(TEXT)


def test_stream_refuses_a_tampered_body_before_anything_else(tmp_path: Path) -> None:
    body = gzip.compress(TEXT, mtime=0)
    listed = _entry("x", body)
    tampered = bytearray(body)
    tampered[len(body) // 2] ^= 0xFF
    sink, _ = _stream(tmp_path, bytes(tampered), gzip_decompressor)
    with pytest.raises(IntegrityError, match=r"has sha256 .* \(tampered or corrupt\)") as refused:
        sink.check(listed, _entry("Packages", TEXT))
    assert refused.value.code is Code.DOWNLOAD_HASH_MISMATCH
    assert refused.value.fields["expected_sha256"] == listed.sha256


def test_stream_refuses_a_wrong_size_and_a_cut_stream(tmp_path: Path) -> None:
    body = gzip.compress(TEXT, mtime=0)
    short = body[: len(body) // 2]
    sink, _ = _stream(tmp_path, short, gzip_decompressor)
    with pytest.raises(IntegrityError, match="bytes, InRelease lists") as refused:
        sink.check(_entry("x", body), None)
    assert refused.value.fields["actual_size"] == len(short)
    # Listed as it is sent (a signed but broken Release): the stream itself is cut short.
    sink, _ = _stream(tmp_path, short, gzip_decompressor)
    with pytest.raises(IntegrityError, match="end-of-stream marker") as refused:
        sink.check(_entry("x", short), None)
    assert refused.value.code is Code.DOWNLOAD_CORRUPT


def test_stream_refuses_text_that_the_signed_listing_does_not_name(tmp_path: Path) -> None:
    other = TEXT.replace(b"p1\n", b"q1\n")
    body = gzip.compress(other, mtime=0)
    sink, _ = _stream(tmp_path, body, gzip_decompressor, limit=len(TEXT))
    with pytest.raises(IntegrityError, match=r"\(decompressed\) has sha256"):
        sink.check(_entry("x", body), _entry("Packages", TEXT))


def test_stream_reads_concatenated_members_and_starts_over_when_rewound(tmp_path: Path) -> None:
    half = len(TEXT) // 2
    body = gzip.compress(TEXT[:half], mtime=0) + gzip.compress(TEXT[half:], mtime=0)
    path = tmp_path / "partial"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    sink = IndexDownload(fd, gzip_decompressor, len(TEXT), "s")
    sink.write(body[:1000])  # an attempt cut short, then retried by the transport
    assert sink.tell() == 1000
    sink.seek(0)
    sink.truncate()
    for start in range(0, len(body), 500):
        sink.write(body[start : start + 500])
    os.close(fd)
    sink.check(_entry("x", body), _entry("Packages", TEXT))
    assert path.read_bytes() == TEXT
    assert sink.index.finish() == build_index(TEXT)


def test_refresh_stream_refuses_an_unsigned_listing(
    suites_settings: Settings, suites_repo: Path, tmp_path: Path, signing_key: SigningKey
) -> None:
    """The InRelease is checked before any index streams: an edited Release (not re-signed)
    fails its signature and nothing is stored."""
    copy = tmp_path / "mirror"
    shutil.copytree(suites_repo, copy)
    inrelease = copy / "dists" / "alpha" / "InRelease"
    inrelease.write_bytes(inrelease.read_bytes().replace(b"Suite: alpha", b"Suite: alpxa"))
    settings = make_settings(tmp_path, copy, signing_key.keyring, {"alpha": ["alpha"]}, ["amd64"])
    with pytest.raises(IntegrityError):
        refresh(settings)
    assert not settings.snapshot_dir.exists() or not any(settings.snapshot_dir.iterdir())
    sign_release(copy / "dists" / "alpha", signing_key)  # signed again: accepted
    assert refresh(settings).ok


# -- IndexBuilder: the same offsets however the text is cut -----------------------------------


_PROVIDED = re.compile(r"(?:^|,)\s*([a-z0-9][a-z0-9+.\-]*)")


def _reference(data: bytes) -> dict[str, Any]:
    """The lookup data as the whole-text reader made it before streaming."""
    names: dict[str, list[int]] = {}
    provides: dict[str, list[str]] = {}
    for offset, stanza in iter_stanzas(data):
        fields = parse_stanza(stanza)
        if "Package" not in fields or "Version" not in fields:
            continue
        name = fields["Package"]
        names.setdefault(name, []).append(offset)
        for provided in _PROVIDED.findall(fields.get("Provides", "")):
            if name not in provides.setdefault(provided, []):
                provides[provided].append(name)
    return {"names": names, "provides": provides}


_STANZAS = st.lists(
    st.sampled_from(
        [
            b"Package: a\nVersion: 1\n",
            b"Package: b\nVersion: 2\nProvides: x, y (= 1)\n",
            b"Package: a\nVersion: 3\nProvides: x\n",
            b"Version: 9\nPackage: c\n",  # not the canonical shape
            b"Package: e\n",  # no version: not indexed
            b"\n",
            b"\n\n",
            b"Package: f\nVersion: 1\nProvides: p,\n q\n",
        ]
    ),
    max_size=12,
)


@hypothesis_settings(max_examples=200, deadline=None)
@given(_STANZAS, st.randoms(use_true_random=False))
def test_index_builder_is_the_same_however_the_text_is_cut(
    stanzas: list[bytes], rnd: random.Random
) -> None:
    data = b"\n".join(stanzas)
    builder = IndexBuilder()
    position = 0
    while position < len(data):
        size = rnd.randint(1, 9)
        builder.feed(data[position : position + size])
        position += size
    streamed = builder.finish()
    whole = build_index(data)
    assert streamed == whole
    expected = _reference(data)
    unpacked_names = {k: [v] if isinstance(v, int) else list(v) for k, v in whole["names"].items()}
    assert unpacked_names == expected["names"]
    unpacked = {k: [v] if isinstance(v, str) else list(v) for k, v in whole["provides"].items()}
    assert unpacked == expected["provides"]
    assert whole["sorted_names"] == sorted(expected["names"])


# -- owned caches, shared by threads ----------------------------------------------------------


def test_release_cache_is_shared_by_threads(suites_settings: Settings) -> None:
    refresh(suites_settings)
    cache = ReleaseCache(limit=2)  # smaller than the suites: entries come and go meanwhile
    states = [
        load_suite_state(suites_settings.state_dir, "fixture", s)
        for suites in RELEASES.values()
        for s in suites
    ]

    def check(n: int) -> list[str]:
        state = states[n % len(states)]
        assert state is not None
        return state_problems(suites_settings.state_dir, state, cache=cache)

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(check, range(400))) == [[]] * 400


def test_release_cache_sees_a_changed_file(suites_settings: Settings) -> None:
    refresh(suites_settings)
    cache = ReleaseCache()
    state = load_suite_state(suites_settings.state_dir, "fixture", "alpha")
    assert state is not None
    assert state_problems(suites_settings.state_dir, state, cache=cache) == []
    [kept] = inrelease_dir(suites_settings.state_dir, "fixture", "alpha").glob("*.release")
    text = kept.read_bytes()
    sha = state.indexes["main/amd64"].sha256
    kept.write_bytes(text.replace(sha.encode(), b"0" * 64) + b"\n")
    assert state_problems(suites_settings.state_dir, state, cache=cache) != []


def test_shared_snapshot_index_warns_the_job_that_asked(suites_settings: Settings) -> None:
    """Two jobs share one SnapshotCache: a damaged search text found by the second job's search
    is said to the second job, not to the job that opened the shared index first."""
    refresh(suites_settings)
    earlier = load_catalog(suites_settings, "alpha", "amd64")  # another process, say
    assert [p.name for p in earlier.search("tool")][:1] == ["tool-alpha"]  # makes the text
    snapshot = earlier.parts[0].index.path
    search = snapshot.with_name(snapshot.name + ".search")
    data = bytearray(search.read_bytes())
    data[0] ^= 0x20
    search.write_bytes(bytes(data))
    shared = SnapshotCache()
    first: list[str] = []
    second: list[str] = []
    one = load_catalog(suites_settings, "alpha", "amd64", first.append, snapshots=shared)
    two = load_catalog(suites_settings, "alpha", "amd64", second.append, snapshots=shared)
    assert two.parts[0].index is one.parts[0].index  # shared
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(lambda _: [p.name for p in two.search("hello")], range(4)))
    assert found == [["hello"]] * 4
    assert first == []
    assert len(second) == 1 and f"search text {search}" in second[0]


def test_lines_of_one_release_share_one_catalog_load() -> None:
    calls: list[tuple[str, str]] = []
    gate = threading.Event()

    def source(release: str, architecture: str) -> Any:
        calls.append((release, architecture))
        gate.wait(5)
        if release == "broken":
            raise IntegrityError("no")
        return (release, architecture)

    shared = _SharedCatalogs(source)
    with ThreadPoolExecutor(6) as pool:
        loads = [pool.submit(shared, r, "amd64") for r in ("a", "a", "a", "b", "broken", "broken")]
        gate.set()
        results = []
        for load in loads:
            try:
                results.append(load.result())
            except IntegrityError as error:
                results.append(error.message)
    assert results == [("a", "amd64")] * 3 + [("b", "amd64"), "no", "no"]
    assert sorted(calls) == [("a", "amd64"), ("b", "amd64"), ("broken", "amd64")]


def test_refresh_hands_its_indexes_to_the_cache_and_a_changed_file_is_not_trusted(
    suites_settings: Settings,
) -> None:
    """The lookup index made while a snapshot streamed in is kept in the caller's cache (the
    catalog loaded next reads no file again); once the file changes on disk, its stamp differs
    and the snapshot is verified again, and refused."""
    cache = SnapshotCache()
    refresh(suites_settings, ["alpha"], snapshots=cache)
    state = load_suite_state(suites_settings.state_dir, "fixture", "alpha")
    assert state is not None
    path = suites_settings.snapshot_dir / state.indexes["main/amd64"].sha256
    kept = cache.get(path)
    assert kept is not None
    catalog = load_catalog(suites_settings, "alpha", "amd64", snapshots=cache)
    assert catalog.parts[0].index is kept
    assert [p.version for p in catalog.versions("hello")] == ["1.2", "1.1", "1.0"]
    text = path.read_bytes()
    path.write_bytes(text.replace(b"Version: 1.0", b"Version: 6.6"))
    with pytest.raises(SnapshotDamagedError):
        load_catalog(suites_settings, "alpha", "amd64", snapshots=cache)
    assert not path.exists()  # removed: the next refresh downloads it again
