"""What a user types, refused whole and echoed safely: YAML's silent conversions, versions,
invisible characters, names in messages, settings paths and names, pipes, dates, ``--json``
errors and outputs checked before a build.

Each test stands for a kind of mistake a tester met, not only the example they tried. No
catalog is read (the spec checks that need one are in ``test_plan.py``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from couturier.cli.main import main
from couturier.core.bundle import BundleError, check_target, member_path
from couturier.core.relations import parse_request
from couturier.core.spec import SpecError
from couturier.core.text import has_hidden, named, shown
from couturier.core.version import is_valid
from couturier.core.yamltext import YamlProblem, YamlUnreadable, parse_yaml
from couturier.errors import ConfigError, InputError, StateError
from couturier.oci.layout import LayoutSink
from couturier.settings import load_settings
from couturier.yamlfile import load_yaml
from tests.starters import DEFAULT_RELEASES, check_spec, read_spec


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def violations(error: SpecError) -> dict[str, str]:
    return {v.field: v.rule for v in error.violations}


# -- 1. values YAML converts -------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    ["010", "1.10", "12:30:00", "0x1F", ".inf", "1", "-0", "6.02e+23", "yes", "2024-01-01"],
)
def test_env_values_yaml_would_convert_are_refused(tmp_path: Path, written: str) -> None:
    """``OCT: 010`` would be 8, ``VER: 1.10`` 1.1, ``TIME: 12:30:00`` 45000: every value that
    is not text as written is refused with the same words, numbers included."""
    text = f"name: my-image\nstarter: base\nenv:\n  VALUE: {written}\n"
    with pytest.raises(SpecError) as info:
        read_spec(spec_file(tmp_path, text))
    assert violations(info.value) == {
        "env.VALUE": "must be a text value (quote it, numbers included)"
    }


def test_quoted_values_are_kept_as_written(tmp_path: Path) -> None:
    text = 'name: my-image\nstarter: base\nenv: {OCT: "010", VER: "1.10", TIME: "12:30:00"}\n'
    spec = read_spec(spec_file(tmp_path, text))
    assert dict(spec.env) == {"OCT": "010", "VER": "1.10", "TIME": "12:30:00"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 12),
        ("description", 0),
        ("description", False),
        ("starter", 3),
        ("packages", [1.1]),
        ("bundles", [10]),
    ],
)
def test_no_other_field_takes_a_number_for_text(field: str, value: Any) -> None:
    raw = {"name": "my-image", "starter": "base", field: value}
    with pytest.raises(SpecError) as info:
        check_spec(raw)
    assert any(v.field.startswith(field) for v in info.value.violations)


def test_a_name_yaml_reads_as_a_decimal_number_is_refused(tmp_path: Path) -> None:
    """``suite: 12.10`` would be the suite 12.1; a whole number (``12``) is the name it says."""
    path = tmp_path / "couturier.yaml"
    path.write_text("releases:\n  r:\n    suites:\n      - {mirror: debian, suite: 12.10}\n")
    with pytest.raises(ConfigError, match=r"suite must be a suite name.*got the number 12\.1"):
        load_settings(path, env={})


@pytest.mark.parametrize("key", ["data_dir", "cache_dir", "starters_dir"])
def test_a_settings_path_must_be_text(tmp_path: Path, key: str) -> None:
    path = tmp_path / "couturier.yaml"
    path.write_text(f"{key}: 5\n")
    with pytest.raises(ConfigError, match=f"{key} must be a directory path, got the number 5"):
        load_settings(path, env={})
    assert not (tmp_path / "5").exists()


# -- 2. misspelt starter -----------------------------------------------------------------------


def test_a_misspelt_starter_gets_the_nearest_one() -> None:
    with pytest.raises(SpecError) as info:
        check_spec({"name": "my-image", "starter": "pyhton"})
    assert "is not a starter; did you mean python?" in violations(info.value)["starter"]


# -- 3. versions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "valid"),
    [
        ("1:", False),
        ("1:2.0-1", True),
        ("2.0:1", False),
        ("a1", False),
        ("1:1.0-", False),
        ("3.11.2-6+deb12u1", True),
        ("1:2:3-1", True),
        ("0", True),
    ],
)
def test_a_colon_belongs_to_an_epoch(version: str, valid: bool) -> None:
    assert is_valid(version) is valid


def test_requests_with_a_malformed_version_are_refused() -> None:
    with pytest.raises(InputError, match="is not a Debian version"):
        parse_request("curl=1:")


def test_spec_refuses_bad_versions_and_versioned_auto_packages() -> None:
    raw = {
        "name": "my-image",
        "starter": "python",
        "packages": ["curl=1:", "python3-requests-auto=1", "python3-rsa=4.9-2"],
    }
    with pytest.raises(SpecError) as info:
        check_spec(raw)
    found = violations(info.value)
    assert set(found) == {"packages[0]", "packages[1]"}
    assert found["packages[0]"].startswith("must be NAME=VERSION with a Debian version")
    assert "-auto package takes no version" in found["packages[1]"]


def test_packages_resolve_refuses_a_bad_version_with_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit status 1 with --json prints the error document on stdout as well."""
    config = settings_file(tmp_path)
    command = ["--config", str(config), "packages", "resolve", "--json"]
    assert main([*command, "--release", "trixie", "--arch", "amd64", "curl=1:"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("couturier: error: '1:' is not a Debian version")
    error = json.loads(captured.out)["error"]
    assert error["code"] == "input-invalid" and error["retryable"] is False
    assert error["fields"] == {"kind": "version", "value": "1:"}
    assert error["message"] == "'1:' is not a Debian version"
    assert "upstream" in error["hint"]


# -- 5. --json errors --------------------------------------------------------------------------


def settings_file(tmp_path: Path) -> Path:
    config = tmp_path / "couturier.yaml"
    config.write_text(yaml.safe_dump({"data_dir": "data", "cache_dir": "cache"}))
    return config


def test_plan_json_carries_every_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = settings_file(tmp_path)
    spec = spec_file(
        tmp_path, "name: Bad_Name\nstarter: pyhton\nenv: {N: 1, I: .inf, D: 2024-01-01}\n"
    )
    assert main(["--config", str(config), "-q", "plan", str(spec), "--json"]) == 1
    captured = capsys.readouterr()
    assert len(captured.err.splitlines()) == 1
    error = json.loads(captured.out, parse_constant=pytest.fail)["error"]
    assert error["code"] == "spec-invalid"
    assert {v["field"]: v["value"] for v in error["violations"]} == {
        "name": "Bad_Name",
        "starter": "pyhton",
        "env.N": 1,
        "env.I": "inf",
        "env.D": "datetime.date(2024, 1, 1)",
    }


# -- 6. names in messages ----------------------------------------------------------------------


def test_user_text_in_messages_is_escaped_and_cut() -> None:
    assert shown("ab\ncd") == "'ab\\ncd'"
    assert shown("\u202eevil") == "'\\u202eevil'"
    long = shown("x" * 300)
    assert len(long) < 70 and long.endswith("…")
    assert named("corp-ca") == "corp-ca"
    assert named("ab\ncd") == "'ab\\ncd'"


def test_a_refused_bundle_name_is_printed_escaped_and_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = settings_file(tmp_path)
    (tmp_path / "a.conf").write_text("x\n")
    for name, printed in [("ab\ncd", "'ab\\ncd'"), ("a" * 300, "'" + "a" * 60 + "…")]:
        command = ["--config", str(config), "-q", "bundle", "create", name, "--type", "files"]
        assert main([*command, "--target", "/etc/x", str(tmp_path / "a.conf"), "--json"]) == 1
        captured = capsys.readouterr()
        first = captured.err.splitlines()[0]
        assert first.startswith(f"couturier: error: bundle {printed} refused (1 problem")
        assert len(first) < 200
        assert json.loads(captured.out)["error"]["violations"][0]["field"] == "name"


def test_an_unknown_line_is_cut_in_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = settings_file(tmp_path)
    line = "3." + "1" * 5000
    command = ["--config", str(config), "-q", "build", "--starter", "base"]
    assert main([*command, "--output", str(tmp_path / "out"), "--line", line]) == 1
    assert len(capsys.readouterr().err) < 1000


# -- 7. invisible characters -------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\ufeff", "\u2028", "\x85", "\x7f", "\n"])
def test_invisible_characters_are_refused_everywhere(tmp_path: Path, char: str) -> None:
    assert has_hidden(f"a{char}b")
    raw = {
        "name": "my-image",
        "starter": "base",
        "description": f"evil{char}text",
        "env": {"APP": f"x{char}y"},
    }
    with pytest.raises(SpecError) as info:
        check_spec(raw)
    assert set(violations(info.value)) == {"description", "env.APP"}
    assert member_path(f"conf{char}.d/a")[0] is None
    assert check_target("files", f"/etc/a{char}b")
    path = tmp_path / "couturier.yaml"
    path.write_text(yaml.safe_dump({"mirrors": {"m": {"url": f"http://x{char}y"}}}))
    with pytest.raises(ConfigError, match="must not hold control characters"):
        load_settings(path, env={})


def test_plain_unicode_text_is_welcome() -> None:
    spec = check_spec(
        {"name": "my-image", "starter": "base", "description": "Café 日本 — ok", "env": {"A": "é"}}
    )
    assert spec.description == "Café 日本 — ok"


# -- 4. bundle targets the runtime hides -------------------------------------------------------


@pytest.mark.parametrize("target", ["/proc", "/sys/kernel", "/dev/shm", "/run/app", "/var/run/x"])
def test_targets_the_runtime_mounts_over_are_refused(target: str) -> None:
    rules = [v.rule for v in check_target("files", target)]
    assert len(rules) == 1
    assert "container runtimes mount their own" in rules[0]


def test_files_placed_below_a_root_target_into_proc_are_refused(tmp_path: Path) -> None:
    from couturier.services.bundles import create_bundle

    settings = load_settings(settings_file(tmp_path), env={})
    (tmp_path / "in" / "proc").mkdir(parents=True)
    (tmp_path / "in" / "proc" / "x").write_text("x\n")
    (tmp_path / "in" / "etc").mkdir()
    (tmp_path / "in" / "etc" / "ok").write_text("x\n")
    with pytest.raises(BundleError) as info:
        create_bundle(settings, "rootfs", "files", [tmp_path / "in"], target="/")
    assert [v.rule for v in info.value.violations] == [
        "would land in /proc, which container runtimes mount over"
    ]


# -- 8. settings paths and names ---------------------------------------------------------------


def test_relative_settings_paths_are_taken_from_the_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "couturier.yaml"
    config.write_text("data_dir: data\ncache_dir: ../cache\nstarters_dir: starters\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(config, env={})
    assert settings.data_dir == tmp_path / "conf" / "data"
    assert settings.cache_dir == tmp_path / "conf" / ".." / "cache"
    assert settings.starters_dir == tmp_path / "conf" / "starters"
    env = {"COUTURIER_DATA_DIR": "elsewhere"}  # the environment's stay the caller's
    assert load_settings(config, env=env).data_dir == Path("elsewhere")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"releases": {"../up": {"suites": [{"mirror": "debian", "suite": "x"}]}}}, "releases"),
        ({"releases": {"Big": {"suites": [{"mirror": "debian", "suite": "x"}]}}}, "releases"),
        (
            {"releases": {"r": {"suites": [{"mirror": "debian", "suite": "a/b"}]}}},
            "releases.r.suites[0].suite must be a name such as bookworm",
        ),
        (
            {"releases": {"r": {"suites": [{"mirror": "debian", "suite": "a..b"}]}}},
            "releases.r.suites[0].suite",
        ),
        (
            {
                "releases": {
                    "r": {"components": ["ma/in"], "suites": [{"mirror": "debian", "suite": "x"}]}
                }
            },
            "releases.r.components[0]",
        ),
        ({"mirrors": {"m": {"url": "ftp://x"}}}, "must be an http://, https:// or file:// URL"),
        ({"mirrors": {"m": {"url": "javascript:x"}}}, "mirrors.m.url must be an http://"),
        (
            {"mirrors": {"m": {"url": "http://x", "arch_urls": {"arm64": "x"}}}},
            "mirrors.m.arch_urls.arm64 must be an http://",
        ),
    ],
)
def test_release_and_suite_names_and_mirror_urls_are_checked(
    tmp_path: Path, body: dict[str, Any], expected: str
) -> None:
    path = tmp_path / "couturier.yaml"
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert expected in str(info.value)


# -- 9. pipes ----------------------------------------------------------------------------------


def test_a_named_pipe_nobody_writes_to_is_given_up_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("couturier.yamlfile.PIPE_WAIT", 0.3)
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    with pytest.raises(YamlUnreadable, match="no data came from it"):
        load_yaml(fifo)
    with pytest.raises(InputError, match="cannot read spec file"):
        read_spec(fifo)


def test_a_pipe_with_a_writer_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)

    def write() -> None:
        time.sleep(0.2)
        with fifo.open("w") as handle:
            handle.write("name: my-image\nstarter: base\n")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert read_spec(fifo).name == "my-image"
    finally:
        writer.join()


# -- 10. see test_plan.py (more than one --arch) ------------------------------------------------
# -- 11. outputs -------------------------------------------------------------------------------


def test_an_output_that_cannot_take_a_layout_is_refused_before_building(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("x")
    for output in ("file", "full"):
        with pytest.raises(InputError, match=f"output {tmp_path / output}"):
            LayoutSink(tmp_path / output).check()
    (tmp_path / "empty").mkdir()
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "oci-layout").write_text("{}")
    (tmp_path / "damaged" / "index.json").write_text("{not json")
    for output in ("file", "full", "file/new", "file/new/deeper"):
        with pytest.raises(InputError, match=f"output {tmp_path / output}"):
            LayoutSink(tmp_path / output).check()
    with pytest.raises(StateError, match=r"index\.json cannot be parsed"):
        LayoutSink(tmp_path / "damaged").check()
    (tmp_path / "layout").mkdir()
    (tmp_path / "layout" / "oci-layout").write_text("{}")
    (tmp_path / "layout" / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    for fine in ("missing", "empty", "layout"):  # an empty directory becomes the layout
        LayoutSink(tmp_path / fine).check()
    config = settings_file(tmp_path)
    command = ["--config", str(config), "-q", "build", "--starter", "base", "--json"]
    assert main([*command, "--output", str(tmp_path / "file")]) == 1
    captured = capsys.readouterr()
    assert "exists and is not a directory" in captured.err
    error = json.loads(captured.out)["error"]
    assert error["code"] == "output-unusable"
    assert error["fields"] == {"path": str(tmp_path / "file")}
    assert "--output" in error["hint"]  # the CLI's advice names its flag
    assert not (tmp_path / "data" / "snapshots").exists()
    # below a file: refused before anything is built, not after every line was
    assert main([*command, "--output", str(tmp_path / "file" / "new")]) == 1
    captured = capsys.readouterr()
    assert f"{tmp_path / 'file'} is not a directory" in captured.err
    assert json.loads(captured.out)["error"]["code"] == "output-unusable"
    assert not (tmp_path / "data" / "snapshots").exists()


# -- 12. values YAML cannot construct ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: 1\neol: 2030-13-45\n", 2), ("x:\n  - 1\n  - {d: 2999-02-30}\n", 3)],
)
def test_impossible_dates_name_their_line(text: str, line: int) -> None:
    with pytest.raises(YamlProblem) as info:
        parse_yaml(text)
    assert info.value.what.startswith(f"line {line} holds a value YAML cannot read")
    assert "quote it" in info.value.what


def test_an_impossible_date_in_a_spec_or_a_site_starter_is_one_violation(tmp_path: Path) -> None:
    from couturier.services.starters import load_starters

    with pytest.raises(SpecError) as info:
        read_spec(spec_file(tmp_path, "name: my-image\nstarter: base\ndescription: 2024-02-30\n"))
    assert "line 3 holds a value YAML cannot read" in str(info.value)
    site = tmp_path / "starters"
    site.mkdir()
    shipped = Path(__file__).parent.parent / "src/couturier/starters/base.yaml"
    text = shipped.read_text().replace("2028-06-30", "2030-13-45")
    (site / "base.yaml").write_text(text)
    bad = next(n for n, line in enumerate(text.splitlines(), 1) if "2030-13-45" in line)
    with pytest.raises(ConfigError, match=f"line {bad} holds a value YAML cannot read"):
        load_starters(site, DEFAULT_RELEASES)
