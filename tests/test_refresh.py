"""Refreshing index snapshots from a real, signed fixture repository (and, marked, Debian's)."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from couturier.cli.hints import error_hint
from couturier.debian.index import load_catalog
from couturier.debian.inrelease import parse_release, verify_inrelease
from couturier.debian.refresh import ProgressEvent, refresh
from couturier.debian.snapshots import load_suite_state
from couturier.debian.transport import HttpTransport
from couturier.errors import IntegrityError, NotFoundError, SourceError
from couturier.settings import Settings, load_settings
from tests.conftest import make_settings
from tests.fixture_repo import CountingTransport, SigningKey, build_repo, make_signing_key

SUITES: dict[str, list[dict[str, str]]] = {
    "testing": [
        {"Package": "hello", "Version": "2.10-3", "Architecture": "amd64"},
        {"Package": "hello", "Version": "2.10-3", "Architecture": "arm64"},
        {"Package": "hello-doc", "Version": "2.10-3"},
    ],
    "testing-updates": [
        {"Package": "hello", "Version": "2.10-3+deb1", "Architecture": "amd64"},
    ],
}


@pytest.fixture(scope="session")
def pristine_repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    return build_repo(tmp_path_factory.mktemp("pristine") / "repo", SUITES, key=signing_key)


@pytest.fixture
def repo(tmp_path: Path, pristine_repo: Path) -> Path:
    """A private copy of the fixture repository, free to tamper with."""
    target = tmp_path / "repo"
    shutil.copytree(pristine_repo, target)
    return target


@pytest.fixture
def settings(tmp_path: Path, repo: Path, signing_key: SigningKey) -> Settings:
    return make_settings(tmp_path, repo, signing_key.keyring)


@pytest.fixture
def refreshed(settings: Settings) -> Settings:
    refresh(settings, transport=HttpTransport(retries=0))
    return settings


def snapshot_files(settings: Settings) -> set[str]:
    return {p.name for p in settings.snapshot_dir.iterdir()}


def current(settings: Settings, suite: str = "testing") -> dict[str, str]:
    state = load_suite_state(settings.state_dir, "fixture", suite)
    assert state is not None
    return {key: index.sha256 for key, index in state.indexes.items()}


def test_refresh_stores_verified_snapshots(settings: Settings) -> None:
    events: list[ProgressEvent] = []
    report = refresh(settings, progress=events.append)
    assert report.ok
    assert [s.status for s in report.suites] == ["updated", "updated"]
    state = current(settings)
    assert set(state) == {"main/amd64", "main/arm64"}
    for sha in state.values():
        assert (settings.snapshot_dir / sha).is_file()
        assert (settings.snapshot_dir / f"{sha}.idx").is_file()
    assert not [p for p in settings.snapshot_dir.iterdir() if p.name.endswith(".tmp")]
    assert any(e.file.endswith("Packages.gz") and e.bytes > 0 for e in events)
    assert any("testing: fetch InRelease" in str(e) for e in events)
    catalog = load_catalog(settings, "testing", "amd64")
    assert [p.version for p in catalog.versions("hello")] == ["2.10-3+deb1", "2.10-3"]


def test_unchanged_inrelease_fetches_only_inrelease(refreshed: Settings) -> None:
    before = snapshot_files(refreshed)
    transport = CountingTransport()
    report = refresh(refreshed, transport=transport)
    assert [u.rsplit("/", 1)[-1] for u in transport.urls] == ["InRelease", "InRelease"]
    assert [s.status for s in report.suites] == ["unchanged", "unchanged"]
    assert snapshot_files(refreshed) == before


def test_changed_repo_gets_a_new_snapshot(
    refreshed: Settings, repo: Path, signing_key: SigningKey
) -> None:
    old = current(refreshed)
    changed = {"testing": [*SUITES["testing"], {"Package": "extra", "Version": "1.0"}]}
    build_repo(repo, changed, key=signing_key)
    transport = CountingTransport()
    report = refresh(refreshed, transport=transport)
    new = current(refreshed)
    assert new["main/amd64"] != old["main/amd64"]
    assert report.suites[0].status == "updated"
    assert report.suites[1].status == "unchanged"
    assert (refreshed.snapshot_dir / old["main/amd64"]).is_file()  # immutable, still there
    assert [p.name for p in load_catalog(refreshed, "testing", "arm64").versions("extra")] == [
        "extra"
    ]


def assert_unchanged(settings: Settings, state: dict[str, str], files: set[str]) -> None:
    assert current(settings) == state
    assert snapshot_files(settings) == files


def test_tampered_index_is_refused(
    refreshed: Settings, repo: Path, signing_key: SigningKey
) -> None:
    state, files = current(refreshed), snapshot_files(refreshed)
    build_repo(
        repo, {"testing": [*SUITES["testing"], {"Package": "new", "Version": "1"}]}, key=signing_key
    )
    index = repo / "dists/testing/main/binary-amd64/Packages.gz"
    text = gzip.decompress(index.read_bytes()).replace(b"new", b"evil")
    index.write_bytes(gzip.compress(text))
    with pytest.raises(IntegrityError, match=r"testing: main/binary-amd64/Packages\.gz has") as e:
        refresh(refreshed, transport=HttpTransport(retries=0))
    assert e.value.hint
    assert_unchanged(refreshed, state, files)


def test_truncated_index_is_refused(
    refreshed: Settings, repo: Path, signing_key: SigningKey
) -> None:
    state, files = current(refreshed), snapshot_files(refreshed)
    build_repo(
        repo, {"testing": [*SUITES["testing"], {"Package": "new", "Version": "1"}]}, key=signing_key
    )
    index = repo / "dists/testing/main/binary-arm64/Packages.gz"
    index.write_bytes(index.read_bytes()[:40])
    with pytest.raises(IntegrityError, match=r"Packages\.gz has 40 bytes.*truncated"):
        refresh(refreshed)
    assert_unchanged(refreshed, state, files)


def test_unknown_key_is_refused(refreshed: Settings, repo: Path, tmp_path: Path) -> None:
    state, files = current(refreshed), snapshot_files(refreshed)
    stranger = make_signing_key(tmp_path / "stranger", "Stranger <s@example.invalid>")
    try:
        build_repo(repo, {"testing": SUITES["testing"][:1]}, key=stranger)
    finally:
        stranger.close()
    with pytest.raises(IntegrityError) as e:
        refresh(refreshed)
    message = str(e.value)
    assert stranger.fingerprint[-16:] in message
    assert str(refreshed.releases["testing"].suites[0].mirror.keyring) in message
    assert "add its public key" in message
    assert_unchanged(refreshed, state, files)


def test_modified_inrelease_is_refused(refreshed: Settings, repo: Path) -> None:
    state, files = current(refreshed), snapshot_files(refreshed)
    inrelease = repo / "dists/testing/InRelease"
    inrelease.write_bytes(inrelease.read_bytes().replace(b"Codename: testing", b"Codename: evil"))
    with pytest.raises(IntegrityError, match=r"testing InRelease .* BAD signature"):
        refresh(refreshed)
    assert_unchanged(refreshed, state, files)


def test_expired_inrelease_is_refused(
    refreshed: Settings, repo: Path, signing_key: SigningKey
) -> None:
    state, files = current(refreshed), snapshot_files(refreshed)
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    build_repo(
        repo,
        {"testing": SUITES["testing"][:1]},
        key=signing_key,
        date=past,
        valid_until=past + dt.timedelta(days=7),
    )
    enforcing = _with_mirror_option(refreshed, "valid_until", "enforce")
    with pytest.raises(IntegrityError, match=r"testing InRelease .* expired on 2020-01-08"):
        refresh(enforcing)
    assert_unchanged(refreshed, state, files)


def test_expired_inrelease_is_used_with_a_warning_by_default(
    refreshed: Settings, repo: Path, signing_key: SigningKey
) -> None:
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    build_repo(
        repo,
        {"testing": SUITES["testing"][:1]},
        key=signing_key,
        date=past,
        valid_until=past + dt.timedelta(days=7),
    )
    report = refresh(refreshed)
    assert report.ok
    assert any("expired on 2020-01-08" in w and "valid_until: warn" in w for w in report.warnings)


def _with_mirror_option(settings: Settings, key: str, value: str) -> Settings:
    """The same settings with one more option on the fixture mirror."""
    path = settings.data_dir.parent / "couturier.yaml"
    body = yaml.safe_load(path.read_text())
    body["mirrors"]["fixture"][key] = value
    path.write_text(yaml.safe_dump(body))
    return load_settings(path, env={})


@pytest.mark.parametrize("url", ["file:///nonexistent/couturier-mirror", "http://127.0.0.1:9"])
def test_unreachable_mirror(refreshed: Settings, tmp_path: Path, url: str) -> None:
    state, files = current(refreshed), snapshot_files(refreshed)
    config = (tmp_path / "couturier.yaml").read_text()
    (tmp_path / "couturier.yaml").write_text(
        config.replace(
            next(line.split("url: ")[1] for line in config.splitlines() if "url: " in line), url
        )
    )
    moved = load_settings(tmp_path / "couturier.yaml", env={})
    with pytest.raises(SourceError, match=r"testing.*InRelease|127\.0\.0\.1:9/dists/testing") as e:
        refresh(moved, transport=HttpTransport(retries=1, backoff=0.01))
    assert e.value.hint
    assert_unchanged(refreshed, state, files)


def test_absent_updates_suite_is_recorded_with_a_warning(
    tmp_path: Path, repo: Path, signing_key: SigningKey
) -> None:
    settings = make_settings(
        tmp_path, repo, signing_key.keyring, {"testing": ["testing", "testing-backports"]}
    )
    report = refresh(settings)
    assert [s.status for s in report.suites] == ["updated", "absent"]
    assert "testing-backports: suite absent" in report.warnings[0]
    catalog = load_catalog(settings, "testing", "amd64")
    assert catalog.versions("hello")[0].version == "2.10-3"


def test_missing_main_suite_is_an_error(
    tmp_path: Path, repo: Path, signing_key: SigningKey
) -> None:
    settings = make_settings(tmp_path, repo, signing_key.keyring, {"nope": ["nope"]})
    with pytest.raises(SourceError, match="nope: InRelease not found") as gone:
        refresh(settings)
    assert gone.value.code == "suite-not-found" and gone.value.fields["suite"] == "nope"
    with pytest.raises(NotFoundError) as missing:
        load_catalog(settings, "nope", "amd64")
    assert missing.value.code == "index-missing"
    assert missing.value.fields["release"] == "nope"
    assert missing.value.fields["architecture"] == "amd64"
    assert error_hint(missing.value) == "run `couturier catalog refresh --release nope`"


def test_armored_keyring_and_one_architecture(
    tmp_path: Path, repo: Path, signing_key: SigningKey
) -> None:
    settings = make_settings(tmp_path, repo, signing_key.armored)
    report = refresh(settings, architectures=["arm64"])
    assert set(report.suites[0].snapshots) == {"main/arm64"}
    with pytest.raises(NotFoundError, match="amd64"):
        load_catalog(settings, "testing", "amd64")
    transport = CountingTransport()
    refresh(settings, transport=transport)  # adds amd64, InRelease unchanged
    assert any(u.endswith("binary-amd64/Packages.gz") for u in transport.urls)
    assert not any("arm64" in u for u in transport.urls)


def test_inrelease_fields(repo: Path, signing_key: SigningKey) -> None:
    raw = (repo / "dists/testing/InRelease").read_bytes()
    release = parse_release(verify_inrelease(raw, signing_key.keyring), "InRelease")
    release.check_fresh("InRelease", None)
    assert (release.suite, release.codename) == ("testing", "testing")
    assert release.architectures == ("amd64", "arm64")
    assert release.components == ("main",)
    entry = release.entry("main/binary-amd64/Packages")
    assert entry is not None
    assert entry.size == (repo / "dists/testing/main/binary-amd64/Packages").stat().st_size


@pytest.fixture
def debian_settings(tmp_path: Path) -> Iterator[Settings]:
    path = tmp_path / "couturier.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'data'}\narchitectures: [amd64]\n"
        "releases:\n  bookworm-updates:\n    suites:\n"
        "      - {mirror: debian, suite: bookworm-updates}\n"
    )
    yield load_settings(path, env={})


@pytest.mark.network
def test_refresh_from_debian(debian_settings: Settings) -> None:
    report = refresh(debian_settings)
    assert report.suites[0].status == "updated"
    catalog = load_catalog(debian_settings, "bookworm-updates", "amd64")
    assert list(catalog.names())
    transport = CountingTransport()
    refresh(debian_settings, transport=transport)
    assert [u.rsplit("/", 1)[-1] for u in transport.urls] == ["InRelease"]
