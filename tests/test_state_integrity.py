"""A suite's state file is checked against the signed InRelease it was verified from.

On a signed fixture repository of two releases (``oldrel``: curl 7.88; ``newrel`` + its
``newrel-updates``: curl 8.14): a state file of ``newrel`` edited to name ``oldrel``'s index (its
sha256 and size) is caught when a catalog is loaded (then repaired by a refresh), by
``catalog refresh`` though ``InRelease`` is unchanged (``repaired``, with a warning) and by
``cache verify`` (which removes it, so the next refresh rebuilds it). A truncated state file is
damage, not "never refreshed". A repository whose Release lists only compressed indexes is
checked against the decompressed index recorded from the verified download.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from couturier.cli import main as cli_main
from couturier.cli.hints import error_hint
from couturier.cli.main import main
from couturier.cli.output import Progress
from couturier.debian import listing
from couturier.debian.index import load_catalog
from couturier.debian.listing import inrelease_dir
from couturier.debian.refresh import refresh
from couturier.debian.snapshots import (
    SuiteStateDamagedError,
    load_suite_state,
    suite_state_path,
)
from couturier.debian.transport import HttpTransport
from couturier.services import catalog as catalog_service
from couturier.settings import Settings
from tests.conftest import make_settings
from tests.fixture_repo import CountingTransport, SigningKey, build_repo, sign_release

SUITES: dict[str, list[dict[str, str]]] = {
    "oldrel": [{"Package": "curl", "Version": "7.88.1-10", "Architecture": "amd64"}],
    "newrel": [{"Package": "curl", "Version": "8.14.1-2", "Architecture": "amd64"}],
    "newrel-updates": [{"Package": "tzdata", "Version": "2025b-1"}],
}
RELEASES = {"oldrel": ["oldrel"], "newrel": ["newrel", "newrel-updates"]}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    return build_repo(tmp_path_factory.mktemp("state-repo") / "repo", SUITES, key=signing_key)


@pytest.fixture
def repo(tmp_path: Path, pristine: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(pristine, target)
    return target


@pytest.fixture
def settings(tmp_path: Path, repo: Path, signing_key: SigningKey) -> Settings:
    settings = make_settings(tmp_path, repo, signing_key.keyring, RELEASES, ("amd64",))
    assert refresh(settings, transport=HttpTransport(retries=0)).ok
    return settings


@pytest.fixture
def stderr_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    # Progress binds sys.stderr when its module is imported; show it the captured one.
    monkeypatch.setattr(cli_main, "Progress", lambda quiet=False: Progress(sys.stderr, quiet))


def state_file(settings: Settings, suite: str) -> Path:
    return suite_state_path(settings.state_dir, "fixture", suite)


def misstate(settings: Settings) -> dict[str, object]:
    """Make ``newrel``'s state name ``oldrel``'s amd64 index, as the tester did; return
    ``newrel``'s true entry."""
    old = json.loads(state_file(settings, "oldrel").read_text())["indexes"]["main/amd64"]
    path = state_file(settings, "newrel")
    body = json.loads(path.read_text())
    true = dict(body["indexes"]["main/amd64"])
    body["indexes"]["main/amd64"].update(sha256=old["sha256"], size=old["size"])
    path.write_text(json.dumps(body))
    return true


def newrel_index(settings: Settings) -> str:
    state = load_suite_state(settings.state_dir, "fixture", "newrel")
    assert state is not None
    return state.indexes["main/amd64"].sha256


def test_misstated_state_is_damage_when_a_catalog_is_loaded(settings: Settings) -> None:
    misstate(settings)
    with pytest.raises(SuiteStateDamagedError, match="main/amd64: the state names index") as e:
        load_catalog(settings, "newrel", "amd64")
    assert str(state_file(settings, "newrel")) in e.value.message
    assert e.value.code == "suite-state-damaged"
    assert e.value.fields["path"] == str(state_file(settings, "newrel"))
    assert "catalog refresh" in error_hint(e.value)


def test_resolve_never_answers_from_another_releases_index(
    settings: Settings, capsys: pytest.CaptureFixture[str], stderr_progress: None
) -> None:
    true = misstate(settings)
    config = settings.data_dir.parent / "couturier.yaml"
    command = ["--config", str(config), "packages", "resolve", "--release", "newrel"]
    assert main([*command, "--arch", "amd64", "--json", "curl"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["packages"][0]["version"] == "8.14.1-2"
    assert "warning: suite state" in captured.err and "is damaged" in captured.err
    assert newrel_index(settings) == true["sha256"]


def test_refresh_repairs_a_misstated_state_though_inrelease_is_unchanged(
    settings: Settings,
) -> None:
    true = misstate(settings)
    transport = CountingTransport()
    report = refresh(settings, ["newrel"], transport=transport)
    assert [s.status for s in report.suites] == ["repaired", "unchanged"]
    assert any("the state was damaged; downloaded the index again" in w for w in report.warnings)
    assert any(u.endswith("binary-amd64/Packages.gz") for u in transport.urls)
    assert newrel_index(settings) == true["sha256"]
    assert load_catalog(settings, "newrel", "amd64").versions("curl")[0].version == "8.14.1-2"
    again = refresh(settings, ["newrel"], transport=CountingTransport())
    assert [s.status for s in again.suites] == ["unchanged", "unchanged"]


def test_cache_verify_removes_a_misstated_state_and_it_comes_back(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    true = misstate(settings)
    config = settings.data_dir.parent / "couturier.yaml"
    assert main(["--config", str(config), "-q", "cache", "verify", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [finding] = report["damaged"]
    assert finding["kind"] == "state" and finding["path"] == str(state_file(settings, "newrel"))
    assert "the state names index" in finding["problem"]
    assert "rebuilds it" in finding["action"]
    assert not state_file(settings, "newrel").exists()
    found = catalog_service.catalog(settings, "newrel", "amd64", lambda line: None)
    assert found.versions("curl")[0].version == "8.14.1-2"
    assert newrel_index(settings) == true["sha256"]
    assert main(["--config", str(config), "-q", "cache", "verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["damaged"] == []


def test_cache_verify_checks_the_kept_inrelease_signature(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = inrelease_dir(settings.state_dir, "fixture", "oldrel")
    [kept] = [p for p in directory.iterdir() if "." not in p.name]
    release = kept.with_name(kept.name + ".release")
    # The signed content and the listing both edited: only the signature can tell.
    release.write_bytes(release.read_bytes().replace(b"Codename: oldrel", b"Codename: evilrl"))
    config = settings.data_dir.parent / "couturier.yaml"
    assert main(["--config", str(config), "-q", "cache", "verify", "--json"]) == 0
    [finding] = json.loads(capsys.readouterr().out)["damaged"]
    assert finding["kind"] == "state"
    assert "is not the content its signature covers" in finding["problem"]
    assert not state_file(settings, "oldrel").exists()


@pytest.mark.parametrize("text", ['{"absent": fal', "[]", '{"mirror": "fixture"}', ""])
def test_unparseable_state_is_damage_not_never_refreshed(
    settings: Settings, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = state_file(settings, "newrel")
    path.write_text(text)
    with pytest.raises(SuiteStateDamagedError, match="cannot be parsed"):
        load_suite_state(settings.state_dir, "fixture", "newrel")
    said: list[str] = []
    found = catalog_service.catalog(settings, "newrel", "amd64", said.append)
    assert found.versions("curl")[0].version == "8.14.1-2"
    assert any(line.startswith(f"warning: suite state {path} is damaged") for line in said)
    path.write_text(text)
    report = refresh(settings, ["newrel"], transport=CountingTransport())
    assert report.suites[0].status == "repaired"
    assert any("rebuilt it from the signed InRelease" in w for w in report.warnings)
    path.write_text(text)
    config = settings.data_dir.parent / "couturier.yaml"
    assert main(["--config", str(config), "-q", "cache", "verify", "--json"]) == 0
    [finding] = json.loads(capsys.readouterr().out)["damaged"]
    assert finding["kind"] == "state" and "cannot be parsed" in finding["problem"]
    assert not path.exists()


def test_a_removed_secondary_suite_state_is_refreshed_when_needed(settings: Settings) -> None:
    state_file(settings, "newrel-updates").unlink()
    said: list[str] = []
    found = catalog_service.catalog(settings, "newrel", "amd64", said.append)
    assert [p.name for p in found.versions("tzdata")] == ["tzdata"]
    assert found.missing_suites == ()
    assert any("no indexes for newrel-updates/main" in line for line in said)


def test_release_listing_only_compressed_indexes(
    tmp_path: Path, repo: Path, signing_key: SigningKey
) -> None:
    """Debian lists the plain ``Packages`` even when it serves only ``.xz``; a repository that
    lists only compressed files is checked against the decompressed index recorded from the
    verified download."""
    for suite in SUITES:
        suite_dir = repo / "dists" / suite
        lines = (suite_dir / "Release").read_text().splitlines()
        kept = [line for line in lines if not line.endswith("/Packages")]
        (suite_dir / "Release").write_text("\n".join(kept) + "\n")
        sign_release(suite_dir, signing_key)
    settings = make_settings(tmp_path, repo, signing_key.keyring, RELEASES, ("amd64",))
    assert refresh(settings, transport=CountingTransport()).ok
    state = load_suite_state(settings.state_dir, "fixture", "newrel")
    assert state is not None
    inrelease = state.indexes["main/amd64"].inrelease_sha256
    recorded = listing.read_unpacked(settings.state_dir, "fixture", "newrel", inrelease)
    assert recorded["main/amd64"].sha256 == state.indexes["main/amd64"].sha256
    again = refresh(settings, transport=CountingTransport())
    assert [s.status for s in again.suites] == ["unchanged"] * 3
    true = misstate(settings)
    with pytest.raises(SuiteStateDamagedError, match="the state names index"):
        load_catalog(settings, "newrel", "amd64")
    report = refresh(settings, ["newrel"], transport=CountingTransport())
    assert report.suites[0].status == "repaired"
    assert newrel_index(settings) == true["sha256"]
