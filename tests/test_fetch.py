"""Fetching .deb files: parallel, verified against the index, cached by content, over file://."""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path
from typing import BinaryIO

import pytest

from couturier.assembly.fetch import cache_path, fetch
from couturier.core.catalog import Package
from couturier.debian.index import IndexCatalog, load_catalog
from couturier.debian.refresh import refresh
from couturier.debian.transport import HttpTransport
from couturier.errors import IntegrityError, NotFoundError, SourceError
from tests.conftest import make_settings
from tests.fixture_repo import CountingTransport, SigningKey, build_repo

NAMES = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa")
SUITES: dict[str, list[dict[str, str]]] = {
    "testing": [{"Package": name, "Version": "1.0-1"} for name in NAMES]
    + [{"Package": "hello", "Version": "2.10-3", "Architecture": "amd64"}],
    "testing-updates": [{"Package": "hello", "Version": "2.10-3+deb1", "Architecture": "amd64"}],
}


@pytest.fixture(scope="session")
def pristine_repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    return build_repo(tmp_path_factory.mktemp("fetch") / "repo", SUITES, key=signing_key)


@pytest.fixture
def repo(tmp_path: Path, pristine_repo: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(pristine_repo, target)
    return target


@pytest.fixture
def catalog(tmp_path: Path, repo: Path, signing_key: SigningKey) -> IndexCatalog:
    settings = make_settings(tmp_path, repo, signing_key.keyring)
    refresh(settings, transport=HttpTransport(retries=0))
    return load_catalog(settings, "testing", "amd64")


def packages(catalog: IndexCatalog, names: tuple[str, ...] = NAMES) -> list[Package]:
    return [catalog.versions(name)[0] for name in names]


def test_url_of_uses_the_root_of_the_packages_snapshot(catalog: IndexCatalog, repo: Path) -> None:
    hello = catalog.versions("hello")[0]
    assert hello.origin == "testing-updates/main"
    url = catalog.url_of(hello)
    assert url == f"{repo.resolve().as_uri()}/{hello.filename}"
    assert Path(url.removeprefix("file://")).is_file()
    stranger = Package({"Package": "x", "Version": "1", "Filename": "pool/x.deb"}, "other/main")
    with pytest.raises(NotFoundError, match="x 1"):
        catalog.url_of(stranger)


def test_parallel_fetch_verifies_and_caches(catalog: IndexCatalog, tmp_path: Path) -> None:
    transport = CountingTransport()
    events: list[tuple[int, int, int]] = []
    wanted = packages(catalog)
    paths = fetch(
        wanted,
        catalog.url_of,
        tmp_path / "cache",
        transport=transport,
        progress=lambda done, total, size: events.append((done, total, size)),
        workers=4,
    )
    assert set(paths) == set(NAMES)
    for package in wanted:
        path = paths[package.name]
        assert path == cache_path(tmp_path / "cache", package.sha256)
        assert path.parent.name == package.sha256[:2]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == package.sha256
    assert sorted(transport.urls) == sorted(catalog.url_of(p) for p in wanted)
    assert len(events) == len(NAMES)
    assert [done for done, _, _ in sorted(events)] == list(range(1, len(NAMES) + 1))
    assert max(events)[1:] == (len(NAMES), sum(p.size for p in wanted))
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_cache_hit_downloads_nothing(catalog: IndexCatalog, tmp_path: Path) -> None:
    wanted = packages(catalog)
    first = fetch(wanted, catalog.url_of, tmp_path / "cache", transport=CountingTransport())
    transport = CountingTransport()
    sizes: list[int] = []
    again = fetch(
        wanted,
        catalog.url_of,
        tmp_path / "cache",
        transport=transport,
        progress=lambda _done, _total, size: sizes.append(size),
    )
    assert again == first
    assert transport.urls == []
    assert max(sizes) == 0


def test_corrupt_cached_file_is_fetched_again(catalog: IndexCatalog, tmp_path: Path) -> None:
    wanted = packages(catalog, ("alpha", "beta"))
    paths = fetch(wanted, catalog.url_of, tmp_path / "cache", transport=CountingTransport())
    paths["alpha"].write_bytes(b"truncated")
    transport = CountingTransport()
    again = fetch(wanted, catalog.url_of, tmp_path / "cache", transport=transport)
    assert transport.urls == [catalog.url_of(wanted[0])]
    assert hashlib.sha256(again["alpha"].read_bytes()).hexdigest() == wanted[0].sha256


def test_tampered_deb_raises_integrity_error_after_one_retry(
    catalog: IndexCatalog, repo: Path, tmp_path: Path
) -> None:
    gamma = packages(catalog, ("gamma",))[0]
    deb = repo / gamma.filename
    deb.write_bytes(deb.read_bytes()[:-1] + b"X")  # same size, different content
    transport = CountingTransport()
    url = catalog.url_of(gamma)
    with pytest.raises(IntegrityError, match=r"gamma 1\.0-1") as info:
        fetch(packages(catalog), catalog.url_of, tmp_path / "cache", transport=transport)
    assert url in str(info.value)
    assert "sha256" in str(info.value)
    assert transport.urls.count(url) == 2
    assert not cache_path(tmp_path / "cache", gamma.sha256).exists()


def test_short_deb_raises_integrity_error_naming_size(
    catalog: IndexCatalog, repo: Path, tmp_path: Path
) -> None:
    beta = packages(catalog, ("beta",))[0]
    (repo / beta.filename).write_bytes(b"short")
    with pytest.raises(IntegrityError, match=r"beta 1.0-1 .* has 5 bytes"):
        fetch([beta], catalog.url_of, tmp_path / "cache", transport=CountingTransport())


def test_unreachable_url_raises_source_error(catalog: IndexCatalog, tmp_path: Path) -> None:
    alpha = packages(catalog, ("alpha",))[0]
    with pytest.raises(
        SourceError, match=r"cannot download alpha 1\.0-1 from http://127\.0\.0\.1:9/"
    ) as info:
        fetch(
            [alpha],
            lambda p: f"http://127.0.0.1:9/{p.filename}",
            tmp_path / "cache",
            transport=HttpTransport(retries=1, backoff=0, timeout=2),
        )
    assert not isinstance(info.value, IntegrityError)


def test_missing_file_raises_source_error(
    catalog: IndexCatalog, repo: Path, tmp_path: Path
) -> None:
    delta = packages(catalog, ("delta",))[0]
    (repo / delta.filename).unlink()
    with pytest.raises(SourceError, match=r"delta 1\.0-1"):
        fetch([delta], catalog.url_of, tmp_path / "cache", transport=CountingTransport())


def test_package_without_checksum_is_refused(tmp_path: Path) -> None:
    bare = Package({"Package": "bare", "Version": "1", "Filename": "pool/bare.deb"}, "x/main")
    with pytest.raises(IntegrityError, match="bare 1 has no SHA256"):
        fetch([bare], lambda p: "file:///nonexistent", tmp_path, transport=CountingTransport())


def test_nothing_to_fetch(tmp_path: Path) -> None:
    assert fetch([], lambda p: "", tmp_path, transport=CountingTransport()) == {}


def test_downloads_run_concurrently(catalog: IndexCatalog, tmp_path: Path) -> None:
    """Two downloads must be in flight at once, or the barrier breaks after its timeout."""
    barrier = threading.Barrier(2, timeout=10)
    inner = CountingTransport()

    class Rendezvous:
        def get(self, url: str, limit: int | None = None) -> bytes:
            barrier.wait()
            return inner.get(url, limit)

        def get_to(self, url: str, dest: BinaryIO, limit: int | None = None) -> int:
            barrier.wait()
            return inner.get_to(url, dest, limit)

    paths = fetch(
        packages(catalog, ("alpha", "beta")),
        catalog.url_of,
        tmp_path / "cache",
        transport=Rendezvous(),
        workers=2,
    )
    assert set(paths) == {"alpha", "beta"}
    assert len(inner.threads) == 2
