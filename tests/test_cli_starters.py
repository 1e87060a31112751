"""The conventions users look for first: ``--version``, ``starters list`` / ``starters show``, and
"did you mean" for a misspelt starter, release, architecture, line, package or family.

Run through :func:`couturier.cli.main.main` on a signed fixture repository (two releases,
``oldrel`` and ``newrel``) with a site starter ``tiny`` beside the shipped ones.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from couturier.cli.main import main
from couturier.core.suggest import close_names, did_you_mean
from couturier.errors import ConfigError, InputError, NotFoundError
from couturier.services.starters import get_starter, select_lines
from couturier.settings import Settings
from tests.conftest import make_settings
from tests.fixture_repo import SigningKey, build_repo
from tests.starters import shipped

RELEASES = {"oldrel": ["oldrel"], "newrel": ["newrel"]}
TINY: dict[str, Any] = {
    "name": "tiny",
    "description": "A tiny site starter",
    "packages": ["base-files"],
    "entrypoint": ["/usr/bin/tool"],
    "cmd": ["--serve"],
    "env": {"LANG": "C.UTF-8"},
    "ports": [8080],
    "lines": [
        {"version": "1", "release": "oldrel", "primary": "tool", "eol": "2020-01-01"},
        {
            "version": "2",
            "release": "newrel",
            "primary": "tool",
            "eol": "2099-01-01",
            "env": {"TOOL_HOME": "/usr/lib/tool2"},
        },
    ],
}
STANZAS = {
    "oldrel": [
        {"Package": "base-files", "Version": "1.0-1"},
        {"Package": "tool", "Version": "1.4.2-1+deb1u1"},
    ],
    "newrel": [
        {"Package": "base-files", "Version": "2.0-1"},
        {"Package": "tool", "Version": "1:2.1-3"},
    ],
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    root = tmp_path_factory.mktemp("starters-repo") / "repo"
    return build_repo(root, STANZAS, key=signing_key, arch=("amd64",))


@pytest.fixture
def config(tmp_path: Path, repo: Path, signing_key: SigningKey) -> str:
    """A settings file over the fixture repository, with ``tiny`` in its starters_dir."""
    make_settings(tmp_path, repo, signing_key.keyring, RELEASES, architectures=("amd64",))
    path = tmp_path / "couturier.yaml"
    body = yaml.safe_load(path.read_text())
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    path.write_text(yaml.safe_dump({**body, "starters_dir": "site"}))
    return str(path)


@pytest.fixture
def settings(tmp_path: Path, repo: Path, signing_key: SigningKey) -> Settings:
    return make_settings(tmp_path, repo, signing_key.keyring, RELEASES, architectures=("amd64",))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# -- --version -------------------------------------------------------------------------------------


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"couturier {metadata.version('couturier')}\n"


# -- starters list / show --------------------------------------------------------------------------


def test_starters_list_shows_shipped_and_site_starters(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "--config", config, "starters", "list")
    assert status == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == {*shipped(), "tiny"}
    assert rows["tiny"].split()[1:5] == ["1,", "2", "2", "A"]
    assert rows["python"].split()[1:5] == ["3.11,", "3.13,", "3.14", "3.14"]

    status, out, _ = run(capsys, "--config", config, "starters", "list", "--json")
    assert status == 0
    listed = {s["name"]: s for s in json.loads(out)["starters"]}
    assert listed["tiny"] == {
        "name": "tiny",
        "description": "A tiny site starter",
        "lines": ["1", "2"],
        "newest": "2",
    }
    assert listed["php"]["lines"] == ["8.2", "8.4"]


def test_starters_show_gives_full_versions_from_the_catalog(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "-q", "--config", config, "starters", "show", "tiny", "--json")
    assert status == 0
    shown = json.loads(out)
    assert {k: v for k, v in shown.items() if k != "lines"} == {
        "name": "tiny",
        "description": "A tiny site starter",
        "packages": ["base-files"],
        "entrypoint": ["/usr/bin/tool"],
        "cmd": ["--serve"],
        "user": "nonroot",
        "uid": 65532,
        "workdir": "/home/nonroot",
        "ports": ["8080/tcp"],
        "env": {"LANG": "C.UTF-8"},
        "newest": "2",
        "architecture": "amd64",
    }
    old, new = shown["lines"]
    assert old == {
        "label": "1",
        "release": "oldrel",
        "primary": "tool",
        "packages": [],
        "env": {},
        "primary_version": "1.4.2-1+deb1u1",
        "full_version": "1.4.2",
        "eol": "2020-01-01",
        "ended": True,
        "newest": False,
        "problem": None,
    }
    assert (new["primary_version"], new["full_version"]) == ("1:2.1-3", "2.1")
    assert (new["ended"], new["newest"], new["env"]) == (
        False,
        True,
        {"TOOL_HOME": "/usr/lib/tool2"},
    )

    status, out, _ = run(capsys, "-q", "--config", config, "starters", "show", "tiny")
    assert status == 0
    assert "tiny: A tiny site starter" in out
    assert "base packages: base-files" in out
    assert "entrypoint:    /usr/bin/tool" in out
    assert "user:          nonroot (65532)" in out
    assert "ports:         8080/tcp" in out
    assert "    LANG=C.UTF-8" in out
    table = {
        line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("1 ", "2 "))
    }
    assert table["1"][:6] == ["1", "oldrel", "1.4.2", "tool", "1.4.2-1+deb1u1", "2020-01-01"]
    assert "(ended)" in " ".join(table["1"])
    assert table["2"][:3] == ["2", "(newest)", "newrel"]
    assert "2: env TOOL_HOME=/usr/lib/tool2" in out


def test_a_line_whose_release_is_not_configured_still_shows(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The shipped python starter's releases are not in these settings: its lines say why.
    status, out, _ = run(capsys, "-q", "--config", config, "starters", "show", "python", "--json")
    assert status == 0
    lines = json.loads(out)["lines"]
    assert [line["full_version"] for line in lines] == [None, None, None]
    problem = lines[0]["problem"]
    assert problem["code"] == "release-unknown"
    assert problem["fields"]["release"] == "bookworm"
    assert problem["message"].startswith("unknown release 'bookworm'")


# -- did you mean ----------------------------------------------------------------------------------


def test_suggestions_pick_the_nearest_names() -> None:
    known = ["base", "jre", "nginx", "node", "php", "postgres", "python", "ruby"]
    assert close_names("pyhton", known) == ["python"]
    assert did_you_mean("pyhton", known) == "; did you mean python?"
    assert did_you_mean("posgtres", known) == "; did you mean postgres?"
    assert did_you_mean("zzzzzz", known) == ""
    assert did_you_mean("3.12", ["3.11", "3.13", "3.14"]) == "; did you mean 3.11, 3.13 or 3.14?"
    assert close_names("python", known) == []  # the name itself is no suggestion


def test_a_misspelt_starter_suggests_the_nearest(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "--config", config, "starters", "show", "pyhton")
    assert status == 1
    assert "no starter image called 'pyhton'; did you mean python?" in err
    assert "starters: base, jre" in err
    status, _, err = run(capsys, "--config", config, "build", "--starter", "tinny", "--output", "x")
    assert status == 1
    assert "no starter image called 'tinny'; did you mean tiny?" in err


def test_a_misspelt_release_or_architecture_suggests_the_nearest(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"unknown release 'oldrle'; did you mean oldrel\?"):
        settings.release("oldrle")
    with pytest.raises(ConfigError, match=r"unknown architecture 'amd46'; did you mean amd64\?"):
        settings.check_architecture("amd46")


def test_a_misspelt_line_suggests_the_nearest(settings: Settings) -> None:
    python = get_starter(settings, "python")
    with pytest.raises(InputError, match=r"python has no line 3\.12; did you mean 3\.1"):
        select_lines(python, ["3.12"])
    with pytest.raises(InputError) as several:
        select_lines(python, ["3.13", "3.99", "4"])
    assert several.value.message == "python has no line 3.99, 4"
    assert [line.version for line in select_lines(python, ["3.14", "3.11"])] == ["3.11", "3.14"]
    with pytest.raises(NotFoundError, match=r"no line '3\.133'; did you mean 3\.13, "):
        python.line("3.133")


def test_a_misspelt_package_suggests_the_nearest(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["-q", "--config", config, "packages", "resolve", "--release", "oldrel"]
    status, _, err = run(capsys, *args, "--arch", "amd64", "tol")
    assert status == 1
    assert "tol is not in oldrel (did you mean tool? check the spelling" in err
    status, _, err = run(capsys, *args, "--arch", "amd46", "tool")
    assert "unknown architecture 'amd46'; did you mean amd64?" in err


def test_a_family_query_that_matches_nothing_suggests_package_names(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["-q", "--config", config, "packages", "families", "--starter", "tiny", "tooll"]
    status, _, err = run(capsys, *args)
    assert status == 0
    assert "no package family of tiny matching 'tooll'; did you mean tool?" in err


def test_a_stray_yaml_in_starters_dir_breaks_only_the_commands_that_need_starters(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A settings file kept in the starters directory is no starter: the commands that load
    starters refuse it, naming the file; the others do not read the directory at all."""
    stray = Path(config).parent / "site" / "couturier.yaml"
    stray.write_text("starters_dir: .\n")
    status, out, err = run(
        capsys,
        "-q",
        "--config",
        config,
        "packages",
        "resolve",
        "--release",
        "oldrel",
        "--arch",
        "amd64",
        "tool",
    )
    assert status == 0 and "tool" in out, err
    assert run(capsys, "-q", "--config", config, "catalog", "refresh")[0] == 0
    with pytest.raises(SystemExit) as exited:
        main(["--config", config, "--version"])
    assert exited.value.code == 0
    capsys.readouterr()
    for argv in (["starters", "list"], ["starters", "show", "tiny"]):
        status, _, err = run(capsys, "-q", "--config", config, *argv)
        assert status == 1
        assert f"starter file {stray}: starters_dir is not a known field" in err
        assert "every *.yaml file in" in err
