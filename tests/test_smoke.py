"""Smoke tests before tags move: real images built by the service over the fixture repository,
started with real podman (runc, the machine's containers.conf written by the test).

The fixture package ``probe`` ships a static busybox as ``/usr/bin/busybox``; the site starter
``probe`` runs ``busybox true`` in each line. A later ``probe`` version that ships no binary
breaks line 2's command: its tags stay on the digest the first build published.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from couturier.api.app import create_app
from couturier.core.starter import parse_starter
from couturier.debian.refresh import refresh
from couturier.debian.transport import HttpTransport
from couturier.errors import ConfigError
from couturier.oci.documents import Descriptor, Platform, RuntimeConfig
from couturier.oci.runtime import Podman
from couturier.oci.sink import ImageWriter, write_image
from couturier.services import tokens as token_service
from couturier.services.installation import Installation, open_installation
from couturier.services.smoke import RuntimeSmoke, _scratch, smoke_tester
from couturier.settings import Settings, load_settings
from tests.conftest import make_settings
from tests.fixture_repo import SigningKey, build_repo
from tests.service import Clock
from tests.starters import shipped
from tests.test_action_events import _action, _queued
from tests.test_cli_starters import RELEASES
from tests.test_images_api import _published, bearer, finished

CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n'
PROBE: dict[str, Any] = {
    "name": "probe",
    "description": "A site starter whose lines are smoke-tested",
    "packages": ["base-files"],
    "entrypoint": ["/usr/bin/busybox"],
    "cmd": ["sleep", "1000"],
    "smoke": ["/usr/bin/busybox", "true"],
    "lines": [
        {"version": "1", "release": "oldrel", "primary": "probe", "eol": "2099-01-01"},
        {"version": "2", "release": "newrel", "primary": "probe", "eol": "2099-01-01"},
    ],
}
SPEC = {"name": "my-probe", "starter": "probe"}


def _suites(new_version: str) -> dict[str, list[dict[str, str]]]:
    return {
        "oldrel": [
            {"Package": "base-files", "Version": "1.0-1"},
            {"Package": "probe", "Version": "1.4-1"},
        ],
        "newrel": [
            {"Package": "base-files", "Version": "2.0-1"},
            {"Package": "probe", "Version": new_version},
        ],
    }


def _busybox() -> Path:
    found = shutil.which("busybox")
    if found is None or b"ld-linux" in Path(found).read_bytes()[:8192]:
        pytest.fail("a static busybox is needed: install busybox-static")
    return Path(found)


def _files() -> dict[str, dict[str, Path]]:
    busybox = {"/usr/bin/busybox": _busybox()}
    # probe 2.1-2 ships no binary: the smoke command of line 2 cannot start.
    return {"probe_1.4-1": busybox, "probe_2.1-1": busybox}


@pytest.fixture
def podman_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: apt-get install podman runc")
    (tmp_path / "containers.conf").write_text(CONTAINERS_CONF)
    monkeypatch.setenv("CONTAINERS_CONF", str(tmp_path / "containers.conf"))


def _installation(
    tmp_path: Path,
    key: SigningKey,
    runtime: str,
    starter: dict[str, Any] = PROBE,
    timeout: int = 60,
) -> tuple[Installation, Settings, Path]:
    repo = build_repo(tmp_path / "repo", _suites("2.1-1"), key=key, arch=("amd64",), files=_files())
    settings = make_settings(tmp_path, repo, key.keyring, RELEASES, architectures=("amd64",))
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "probe.yaml").write_text(yaml.safe_dump(starter))
    settings = replace(
        settings,
        starters_dir=tmp_path / "site",
        container_runtime=runtime,
        smoke_timeout=timeout,
    )
    installation, _ = open_installation(settings, clock=Clock())
    return installation, settings, repo


def _reset_podman(settings: Settings) -> None:
    """Remove the storage the smoke tests gave podman (its overlay mount included) and its
    run directory, so a test leaves no mount or directory behind."""
    tester = smoke_tester(settings)
    assert isinstance(tester, RuntimeSmoke) and isinstance(tester.runtime, Podman)
    podman = tester.runtime
    subprocess.run(
        [
            "podman",
            "--root",
            str(podman.root),
            "--runroot",
            str(podman.runroot),
            "system",
            "reset",
            "--force",
        ],
        capture_output=True,
        check=False,
        timeout=120,
    )
    shutil.rmtree(podman.runroot, ignore_errors=True)


@pytest.fixture
def served(
    tmp_path: Path, signing_key: SigningKey, podman_env: None
) -> Iterator[tuple[TestClient, dict[str, str], Installation, Settings, Path]]:
    installation, settings, repo = _installation(tmp_path, signing_key, "podman")
    try:
        with TestClient(create_app(installation, workers=1)) as client:
            writer = bearer(token_service.issue_token(installation, 1, "write").token)
            yield client, writer, installation, settings, repo
    finally:
        installation.close()
        _reset_podman(settings)


def _build(client: TestClient, writer: dict[str, str], method: str = "post") -> dict[str, Any]:
    if method == "post":
        answer = client.post("/v1/images", json=SPEC, headers=writer)
    else:
        answer = client.post("/v1/images/1/my-probe/builds", headers=writer)
    assert answer.status_code == 202, answer.text
    return finished(client, writer, answer.json()["build"]["trace_id"])


def test_good_lines_pass_and_a_fixture_update_that_breaks_one_keeps_its_tags(
    served: tuple[TestClient, dict[str, str], Installation, Settings, Path],
    signing_key: SigningKey,
) -> None:
    client, writer, installation, settings, repo = served
    first = _build(client, writer)
    assert first["status"] == "created", first
    old, new = first["lines"]
    for line in (old, new):
        assert line["status"] == "created"
        assert line["smoke"]["status"] == "passed", line["smoke"]
        assert line["smoke"]["architectures"] == {"amd64": "passed"}
    before = _published(installation, "1/my-probe")
    assert before["2"] == before["latest"] == new["digest"]
    assert before["1"] == old["digest"]

    _action(installation, events=["line-failed"])  # an email action of tenant 1
    # probe 2.1-2 no longer ships /usr/bin/busybox: line 2 builds, but does not start.
    build_repo(repo, _suites("2.1-2"), key=signing_key, arch=("amd64",), files=_files())
    refresh(settings, transport=HttpTransport(retries=0))
    second = _build(client, writer, "rebuild")
    assert second["status"] == "some lines created", second
    kept, broken = second["lines"]
    assert kept["status"] == "created" and kept["smoke"]["status"] == "passed"
    assert broken["status"] == "failed" and broken["smoke"]["status"] == "failed"
    assert broken["digest"] is None and broken["tags"] == []
    problem = broken["problem"]
    assert problem["code"] == "line-does-not-start"
    assert problem["message"].startswith("built but does not start: /usr/bin/busybox true")
    assert problem["fields"]["command"] == ["/usr/bin/busybox", "true"]
    assert problem["fields"]["timed_out"] is False
    assert "busybox" in problem["fields"]["output"]  # the runtime's own words about it
    assert problem["fields"]["trace_id"] == second["trace_id"]

    after = _published(installation, "1/my-probe")
    # Line 2's tags, and latest (which line 2 holds), still name the first build's digest.
    assert after["2"] == after["latest"] == before["2"]
    assert "2.1" in after and after["2.1"] == before["2.1"]
    assert after["1"] == before["1"]
    # The line-failed event reached the tenant's action, with the problem above.
    (told,) = [d.payload for d in _queued(installation) if d.event == "line-failed"]
    assert (told["line"], told["status"], told["trace_id"]) == ("2", "failed", second["trace_id"])
    assert told["problem"]["code"] == "line-does-not-start"
    card = client.get("/v1/images/1/my-probe", headers=writer).json()
    shown = {line["line"]: line for line in card["lines"]}
    assert shown["2"]["smoke"]["status"] == "failed"


def test_no_container_runtime_marks_each_line_untested(
    tmp_path: Path, signing_key: SigningKey
) -> None:
    installation, _, _ = _installation(tmp_path, signing_key, "none")
    try:
        with TestClient(create_app(installation, workers=1)) as client:
            writer = bearer(token_service.issue_token(installation, 1, "write").token)
            build = _build(client, writer)
    finally:
        installation.close()
    assert build["status"] == "created"
    for line in build["lines"]:
        assert line["smoke"]["status"] == "untested"
        assert line["smoke"]["architectures"] == {"amd64": "untested"}
        assert "no container runtime" in line["smoke"]["reason"]
        assert line["tags"]  # untested lines are published


def test_a_smoke_command_that_hangs_hits_the_time_limit(
    tmp_path: Path, signing_key: SigningKey, podman_env: None
) -> None:
    hanging = {**PROBE, "smoke": ["/usr/bin/busybox", "sleep", "600"]}
    hanging["lines"] = PROBE["lines"][1:]
    installation, settings, _ = _installation(tmp_path, signing_key, "podman", hanging, 3)
    try:
        with TestClient(create_app(installation, workers=1)) as client:
            writer = bearer(token_service.issue_token(installation, 1, "write").token)
            build = _build(client, writer)
    finally:
        installation.close()
        _reset_podman(settings)
    assert build["status"] == "image build failed"
    (line,) = build["lines"]
    assert line["status"] == "failed" and line["smoke"]["status"] == "failed"
    fields = line["problem"]["fields"]
    assert fields["timed_out"] is True and fields["exit_status"] is None
    assert "did not finish within its time limit of 3 s" in line["problem"]["message"]
    assert _published(installation, "1/my-probe") == {}


def test_the_smoke_command_runs_as_the_images_user_with_no_network(
    tmp_path: Path, signing_key: SigningKey, podman_env: None
) -> None:
    """The command passes only as uid 65532 (the starter's ``nonroot``) with no network
    interface but the loopback one (``--network=none``)."""
    box = "/usr/bin/busybox"
    check = f'test "$({box} id -u)" = 65532 && test "$({box} ls /sys/class/net)" = lo'
    probing = {**PROBE, "smoke": [box, "sh", "-c", check], "lines": PROBE["lines"][1:]}
    installation, settings, _ = _installation(tmp_path, signing_key, "podman", probing)
    try:
        with TestClient(create_app(installation, workers=1)) as client:
            writer = bearer(token_service.issue_token(installation, 1, "write").token)
            build = _build(client, writer)
    finally:
        installation.close()
        _reset_podman(settings)
    (line,) = build["lines"]
    assert line["smoke"]["status"] == "passed", line
    assert line["status"] == "created" and "latest" in line["tags"]


def test_every_shipped_starter_declares_a_smoke_command_for_every_line() -> None:
    for starter in shipped().values():
        for line in starter.lines:
            assert line.smoke, f"{starter.name} {line.version} has no smoke command"


def test_a_line_smoke_command_overrides_the_starters_and_a_bad_one_is_refused() -> None:
    raw = {**PROBE, "lines": [{**PROBE["lines"][0], "smoke": ["/usr/bin/busybox", "id"]}]}
    starter = parse_starter(raw, "probe.yaml", RELEASES)
    assert starter.lines[0].smoke == ("/usr/bin/busybox", "id")
    assert parse_starter(PROBE, "probe.yaml", RELEASES).lines[1].smoke == tuple(PROBE["smoke"])
    for bad in ([], "busybox true", [1], ["a\nb"]):
        with pytest.raises(ConfigError) as refused:
            parse_starter({**PROBE, "smoke": bad}, "probe.yaml", RELEASES)
        assert "smoke" in refused.value.message


def test_a_layout_goes_where_podman_can_name_an_image_after_its_path(tmp_path: Path) -> None:
    assert _scratch(tmp_path / "cache" / "smoke") == tmp_path / "cache" / "smoke"
    assert (tmp_path / "cache" / "smoke").is_dir()
    # ~/.cache is no repository name component: the layout goes to /var/tmp (on disk).
    assert _scratch(tmp_path / ".cache" / "smoke") == Path("/var/tmp")
    assert _scratch(tmp_path / "Cache") == Path("/var/tmp")


def test_a_runtime_that_cannot_load_the_image_leaves_the_line_untested(tmp_path: Path) -> None:
    """A missing podman is the machine's fault: the line is untested (and published), with
    the reason; an architecture other than the host's is untested without running anything."""

    def stage(writer: ImageWriter, arch: str) -> Descriptor:
        platform = Platform.for_debian(arch)
        return write_image(
            writer, platform, [], runtime=RuntimeConfig(), source_date_epoch=0, annotations={}
        )

    missing = Podman(tmp_path / "root", tmp_path / "run", program=str(tmp_path / "no-podman"))
    tester = RuntimeSmoke(missing, host="amd64", timeout=5, scratch=tmp_path / "scratch")
    result = tester(["/bin/true"], stage, ["amd64", "arm64"])
    assert result.status == "untested"
    assert result.architectures == {"amd64": "untested", "arm64": "untested"}
    assert "the container runtime failed" in result.reason and "not installed" in result.reason
    assert list((tmp_path / "scratch").iterdir()) == []  # its temporary layout is gone
    other = tester(["/bin/true"], stage, ["arm64"])
    assert other.status == "untested" and "no arm64 machine or emulation" in other.reason


def test_the_container_runtime_is_none_unless_the_settings_name_podman(tmp_path: Path) -> None:
    path = tmp_path / "couturier.yaml"
    path.write_text(f"data_dir: {tmp_path / 'd'}\ncache_dir: {tmp_path / 'c'}\n")
    plain = load_settings(path, env={})
    assert (plain.container_runtime, plain.smoke_timeout) == ("none", 60)
    assert smoke_tester(plain) is None
    chosen = load_settings(path, env={"COUTURIER_CONTAINER_RUNTIME": "podman"})
    assert isinstance(smoke_tester(chosen), RuntimeSmoke)
    path.write_text(path.read_text() + "container_runtime: podman\nsmoke_timeout: 5\n")
    tester = smoke_tester(load_settings(path, env={}))
    assert isinstance(tester, RuntimeSmoke) and tester.timeout == 5
    with pytest.raises(ConfigError) as refused:
        load_settings(path, env={"COUTURIER_CONTAINER_RUNTIME": "docker"})
    assert "container_runtime must be none or podman" in refused.value.message
    path.write_text(path.read_text().replace("smoke_timeout: 5", "smoke_timeout: 0"))
    with pytest.raises(ConfigError) as refused:
        load_settings(path, env={})
    assert "smoke_timeout" in str(refused.value)


def test_a_starters_own_lines_are_smoke_tested_too(
    served: tuple[TestClient, dict[str, str], Installation, Settings, Path],
) -> None:
    client, writer, *_ = served
    deadline = time.monotonic() + 120
    while True:
        answer = client.get("/v1/starters/probe/lines/2/packages", headers=writer)
        assert answer.status_code == 200, answer.text
        build = answer.json()["build"]
        if build["status"] not in {"queued", "building"}:
            break
        assert time.monotonic() < deadline, build
        time.sleep(0.2)
    assert (build["status"], build["line_status"]) == ("built", "created"), build
    assert build["smoke"]["status"] == "passed" and build["smoke"]["architectures"] == {
        "amd64": "passed"
    }
