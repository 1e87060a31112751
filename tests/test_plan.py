"""``couturier plan``: every line's install list, auto members and skip reasons, without a build.

The fixture repository is test_build's (a tiny starter over ``oldrel`` and ``newrel``) plus a
versioned family: ``tool1-ext`` exists only in ``oldrel`` (for line 1) and ``tool2-ext`` only in
``newrel`` (for line 2), each pulling in a helper library, so ``tool-ext-auto`` picks a different
member per line; ``tool-gui`` exists in neither release's version for line 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from couturier.cli.main import main
from couturier.core.starter import Starter, parse_starter
from couturier.services.context import build_context
from couturier.services.plan import plan_image
from couturier.settings import Settings, load_settings
from tests.debs import Content, build_suites
from tests.fixture_repo import SigningKey, build_repo
from tests.test_build import (
    PACKAGES,
    RELEASES,
    STARTER_DATE,
    STARTER_DOC,
    _copyright,
    settings_in,
)

EXT: dict[str, list[tuple[dict[str, str], dict[str, Content]]]] = {
    "oldrel": [
        (
            {"Package": "tool1-ext", "Version": "1.0-1", "Depends": "tool (>= 1.4), libext"},
            {"usr/lib/tool/ext1.so": b"ext for tool 1\n", **_copyright("tool1-ext")},
        ),
        ({"Package": "libext", "Version": "1.0-1"}, {"usr/lib/libext.so.1": b"libext\n"}),
        # A family member that cannot fit line 1: it needs tool 2.
        (
            {"Package": "tool2-ext", "Version": "2.0-1", "Depends": "tool (>= 2)"},
            {"usr/lib/tool/ext2.so": b"ext for tool 2\n"},
        ),
        ({"Package": "tool-gui", "Version": "1.0-1"}, {"usr/bin/tool-gui": b"gui\n"}),
    ],
    "newrel": [
        (
            {"Package": "tool2-ext", "Version": "2.0-1", "Depends": "tool (>= 2), libext"},
            {"usr/lib/tool/ext2.so": b"ext for tool 2\n", **_copyright("tool2-ext")},
        ),
        ({"Package": "libext", "Version": "1.1-1"}, {"usr/lib/libext.so.1": b"libext 1.1\n"}),
    ],
}


@pytest.fixture(scope="module")
def plan_repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    root = tmp_path_factory.mktemp("plan-repo") / "repo"
    packages = {
        suite: [(c, f, STARTER_DATE) for c, f, _ in PACKAGES[suite]]
        + [(c, f, STARTER_DATE) for c, f in EXT[suite]]
        for suite in RELEASES
    }
    return build_repo(root, build_suites(root / "pool" / "main", packages), key=signing_key)


@pytest.fixture(scope="module")
def starter() -> Starter:
    return parse_starter(STARTER_DOC, "test_plan.py", releases=tuple(RELEASES))


@pytest.fixture
def settings(tmp_path: Path, plan_repo: Path, signing_key: SigningKey) -> Settings:
    """Settings over the fixture repository, with the tiny starter as a site-local starter (so
    the command line finds it as a user's own starter would be found)."""
    settings_in(tmp_path / "env", plan_repo, signing_key)
    starters = tmp_path / "env" / "starters"
    starters.mkdir()
    (starters / "tiny.yaml").write_text(yaml.safe_dump(STARTER_DOC))
    config = tmp_path / "env" / "couturier.yaml"
    body = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**body, "starters_dir": "starters"}))
    return load_settings(config, env={})


def lines_by_label(plan_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["version"]: line for line in plan_json["lines"]}


def test_plan_shows_each_line_with_auto_members_and_who_pulled_what(
    settings: Settings, starter: Starter
) -> None:
    plan = plan_image(build_context(settings), "tiny-ext", starter, ["tool-ext-auto"]).to_json()
    lines = lines_by_label(plan)
    assert [line["status"] for line in plan["lines"]] == ["ready", "ready"]
    assert lines["1"]["autos"] == {"tool-ext-auto": "tool1-ext"}
    assert lines["2"]["autos"] == {"tool-ext-auto": "tool2-ext"}
    packages = {p["name"]: p for p in lines["1"]["packages"]}
    assert packages["tool1-ext"]["group"] == "added"
    assert packages["tool1-ext"]["pulled_in_by"] == "tool-ext-auto"
    assert packages["libext"]["pulled_in_by"] == "tool-ext-auto"
    assert packages["libext"]["version"] == "1.0-1"
    assert packages["tool"]["group"] == "starter"
    assert packages["tool"]["pulled_in_by"] is None
    assert {p["name"]: p["version"] for p in lines["2"]["packages"]}["libext"] == "1.1-1"
    assert lines["1"]["full_version"] == "1.4"
    assert lines["1"]["size"]["download"] == sum(p["size"] for p in lines["1"]["packages"])


def test_a_line_without_the_package_is_skipped_with_the_reason(
    settings: Settings, starter: Starter
) -> None:
    plan = plan_image(build_context(settings), "tiny-gui", starter, ["tool-gui", "extra"]).to_json()
    lines = lines_by_label(plan)
    assert lines["1"]["status"] == "ready"
    assert lines["2"]["status"] == "skipped"
    assert lines["2"]["packages"] == []
    reason = lines["2"]["reason"]
    assert reason["code"] == "package-not-found"
    assert reason["fields"]["package"] == "tool-gui" and reason["fields"]["release"] == "newrel"
    assert reason["message"] == "tool-gui is not in newrel"
    assert lines["1"]["reason"] is None


def test_an_exact_version_the_line_lacks_names_what_the_release_has(
    settings: Settings, starter: Starter
) -> None:
    plan = plan_image(build_context(settings), "tiny", starter, ["libext=1.1-1"]).to_json()
    lines = lines_by_label(plan)
    assert lines["1"]["status"] == "skipped"
    reason = lines["1"]["reason"]
    assert reason["code"] == "version-not-in-release"
    assert reason["fields"] == {
        "package": "libext",
        "release": "oldrel",
        "architecture": "amd64",
        "operator": "=",
        "version": "1.1-1",
        "available": ["1.0-1"],
    }
    assert lines["2"]["status"] == "ready"


def write_spec(path: Path, body: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(body))
    return path


def test_plan_command_prints_json_and_a_readable_table(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "env" / "couturier.yaml"
    spec = write_spec(
        tmp_path / "spec.yaml",
        {"name": "tiny-ext", "starter": "tiny", "packages": ["tool-ext-auto", "tool-gui"]},
    )
    assert main(["--config", str(config), "-q", "plan", str(spec), "--json"]) == 0
    lines = lines_by_label(json.loads(capsys.readouterr().out))
    assert lines["1"]["autos"] == {"tool-ext-auto": "tool1-ext"}
    assert lines["2"]["status"] == "skipped"

    assert main(["--config", str(config), "-q", "plan", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "tool-ext-auto -> tool1-ext" in out
    assert "2 (newrel): skipped: tool-gui is not in newrel" in out
    assert "PULLED IN BY" in out


def test_plan_refuses_a_spec_with_every_mistake_listed(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "env" / "couturier.yaml"
    spec = write_spec(
        tmp_path / "spec.yaml",
        {
            "name": "Bad_Name",
            "starter": "tiny",
            "packages": ["nosuch-family-auto", "extra"],
            "env": {"LANG": "de_DE", "EMPTY": ""},
            "bundles": ["no-such-bundle"],
        },
    )
    assert main(["--config", str(config), "plan", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "5 problems" in err
    for needle in ("name 'Bad_Name'", "packages[0]", "env.LANG", "env.EMPTY", "bundles[0]"):
        assert needle in err


def test_misspelt_names_in_a_spec_get_the_nearest_ones(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A package no release of the starter's lines has, an ``-auto`` of an unknown family and
    a missing bundle are spec violations naming the nearest names; nothing is planned."""
    from couturier.services.bundles import create_bundle

    (tmp_path / "corp.conf").write_text("x=1\n")
    create_bundle(settings, "corp-ca", "files", [tmp_path / "corp.conf"], target="/etc/corp")
    config = tmp_path / "env" / "couturier.yaml"
    spec = write_spec(
        tmp_path / "spec.yaml",
        {
            "name": "tiny-typos",
            "starter": "tiny",
            "packages": ["libex", "tool-exts-auto", "tool-gui"],
            "bundles": ["corp-c"],
        },
    )
    assert main(["--config", str(config), "-q", "plan", str(spec), "--json"]) == 1
    captured = capsys.readouterr()
    assert "3 problems" in captured.err
    assert "libex is not in any release of the tiny starter's lines (oldrel, newrel)" in (
        captured.err
    )
    assert "did you mean libext?" in captured.err
    assert "did you mean tool-ext-auto?" in captured.err
    assert "there is no bundle corp-c; did you mean corp-ca?" in captured.err
    error = json.loads(captured.out)["error"]
    assert error["code"] == "spec-invalid" and error["retryable"] is False
    assert error["fields"] == {"source": f"spec file {spec}", "violations": 3}
    assert [v["field"] for v in error["violations"]] == ["packages[0]", "packages[1]", "bundles[0]"]
    assert error["violations"][0]["value"] == "libex"
    assert error["hint"]


def test_a_package_only_some_lines_lack_still_just_skips_them(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "env" / "couturier.yaml"
    spec = write_spec(
        tmp_path / "spec.yaml", {"name": "tiny-gui", "starter": "tiny", "packages": ["tool-gui"]}
    )
    assert main(["--config", str(config), "-q", "plan", str(spec), "--json"]) == 0
    lines = lines_by_label(json.loads(capsys.readouterr().out))
    assert lines["1"]["status"] == "ready"
    assert lines["2"]["status"] == "skipped"


def test_plan_refuses_more_than_one_architecture(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan is for one architecture: two --arch are refused, not narrowed to one, as a
    usage error (exit 2 with the command's usage, as argparse's own; no JSON, like them)."""
    config = tmp_path / "env" / "couturier.yaml"
    spec = write_spec(tmp_path / "spec.yaml", {"name": "tiny-one", "starter": "tiny"})
    command = ["--config", str(config), "-q", "plan", str(spec), "--arch", "amd64"]
    with pytest.raises(SystemExit) as exited:
        main([*command, "--arch", "arm64", "--json"])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert "plan takes one --arch, got amd64, arm64" in captured.err
    assert captured.out == ""
    assert main([*command, "--arch", "amd64"]) == 0  # the same one twice is one


def test_plan_json_gives_a_skipped_line_its_reason_as_code_message_fields(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``plan --json``: a skipped line's ``reason`` is ``{"code", "message", "fields"}`` (the
    README documents it), a ready line's is null; the human output words the same reason with
    the facts beside it (what the release has instead)."""
    config = tmp_path / "env" / "couturier.yaml"
    spec = write_spec(
        tmp_path / "spec.yaml", {"name": "tiny", "starter": "tiny", "packages": ["libext=1.1-1"]}
    )
    assert main(["--config", str(config), "-q", "plan", str(spec), "--json"]) == 0
    lines = lines_by_label(json.loads(capsys.readouterr().out))
    assert lines["2"]["reason"] is None
    assert lines["1"]["reason"] == {
        "code": "version-not-in-release",
        "message": "libext 1.1-1 is not in oldrel",
        "fields": {
            "package": "libext",
            "release": "oldrel",
            "architecture": "amd64",
            "operator": "=",
            "version": "1.1-1",
            "available": ["1.0-1"],
        },
    }
    assert main(["--config", str(config), "-q", "plan", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "1 (oldrel): skipped: libext 1.1-1 is not in oldrel; oldrel has libext 1.0-1" in out


def test_build_json_gives_a_skipped_line_its_error_as_code_message_fields(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``build --json``: a line's ``error`` is ``{"code", "message", "fields"}`` (null for a
    created line), as the README documents; the table below words it."""
    config = tmp_path / "env" / "couturier.yaml"
    spec = write_spec(
        tmp_path / "spec.yaml", {"name": "tiny-gui", "starter": "tiny", "packages": ["tool-gui"]}
    )
    command = ["--config", str(config), "-q", "build", str(spec), "--arch", "amd64"]
    assert main([*command, "--output", str(tmp_path / "a"), "--json"]) == 0
    lines = lines_by_label(json.loads(capsys.readouterr().out))
    assert lines["1"]["status"] == "created" and lines["1"]["error"] is None
    assert lines["2"]["status"] == "skipped"
    assert lines["2"]["error"] == {
        "code": "package-not-found",
        "message": "tool-gui is not in newrel",
        "fields": {
            "package": "tool-gui",
            "release": "newrel",
            "architecture": "amd64",
            "suggestions": [],
        },
    }
    assert main([*command, "--output", str(tmp_path / "b")]) == 0
    assert "\n2: tool-gui is not in newrel\n" in capsys.readouterr().out


def test_resolve_json_without_a_solution_is_the_typed_error_and_its_explanation(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit status 3: ``{"error": {"code": "no-installable-set", ...}, "explanation"}``."""
    config = tmp_path / "env" / "couturier.yaml"
    command = ["--config", str(config), "-q", "packages", "resolve", "--release", "oldrel"]
    assert main([*command, "--arch", "amd64", "tool2-ext", "--json"]) == 3
    document = json.loads(capsys.readouterr().out)
    error = document["error"]
    assert error["code"] == "no-installable-set" and error["retryable"] is False
    assert error["fields"]["explanation"] == document["explanation"]
    assert any(step.get("package") == "tool2-ext" for step in document["explanation"])
