"""Hostile specs: alias bombs, deep nesting, huge or binary files, control characters and
trailing newlines in names, keys and values. Each is one clear error, never a traceback, and
nothing of it reaches an image configuration."""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path

import pytest

from couturier.cli.main import main
from couturier.core.spec import SpecError, Violation
from couturier.core.yamltext import MAX_DEPTH, MAX_YAML_BYTES
from couturier.errors import InputError
from tests.hostile import alias_bomb
from tests.starters import check_spec, read_spec


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "spec.yaml"
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path


def test_alias_bomb_is_refused_naming_its_line(tmp_path: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for levels in (9, 10):
        with pytest.raises(SpecError) as error:
            read_spec(write(tmp_path, alias_bomb(levels)))
        assert error.value.violations == [
            Violation("spec", None, "line 5 uses the YAML alias *a0; write the value out instead")
        ]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 32 * 1024


def test_plan_of_an_alias_bomb_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COUTURIER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUTURIER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COUTURIER_CONFIG", raising=False)
    assert main(["-q", "plan", str(write(tmp_path, alias_bomb(10)))]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and len(captured.err) < 300, captured.err
    assert "uses the YAML alias" in captured.err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: " + "[" * 10_000, f"line 1 nests more than {MAX_DEPTH} levels deep"),
        ("name: " + "{a: " * 100, f"line 1 nests more than {MAX_DEPTH} levels deep"),
        ("name: &x ab\nstarter: *x\n", "line 2 uses the YAML alias *x"),
        (b"name: \xff\xfe\n", "is not UTF-8 text"),
        ("name: [oops\n", "is not valid YAML"),
        ("name: ab\nstarter: base\nwhen: 2024-13-45\n", "holds a value YAML cannot read"),
        ("x: " + "a" * MAX_YAML_BYTES, f"has more than {MAX_YAML_BYTES:,} bytes"),
        # A megabyte of tiny values took PyYAML 20 s and 350 MB.
        ("packages: [" + "1," * 400_000 + "]", "line 1 holds more than 10,000 values"),
    ],
)
def test_unreadable_specs_are_one_error(tmp_path: Path, text: str | bytes, expected: str) -> None:
    with pytest.raises(InputError) as error:
        read_spec(write(tmp_path, text))
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_special_files_are_read_within_the_limit(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=f"has more than {MAX_YAML_BYTES:,} bytes"):
        read_spec(Path("/dev/zero"))  # never ends: the read stops at the limit
    with pytest.raises(InputError, match=r"cannot read spec file .*: Is a directory"):
        read_spec(tmp_path)
    fifo = tmp_path / "spec.fifo"
    os.mkfifo(fifo)  # a pipe is read, as <(command) gives one
    writer = threading.Thread(target=lambda: fifo.write_text("name: ab\nstarter: base\n"))
    writer.start()
    assert read_spec(fifo).name == "ab"
    writer.join()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"name": "payments-api\n"}, "name"),
        ({"name": "payments-api\r"}, "name"),
        ({"env": {"TRAIL\n": "x"}}, "env.TRAIL\n"),
        ({"env": {"OK": "a\0b"}}, "env.OK"),
        ({"env": {"OK": "line\nnext"}}, "env.OK"),
        ({"env": {"OK": "del\x7f"}}, "env.OK"),
        ({"description": "one\nand two"}, "description"),
        ({"description": "bell\a"}, "description"),
        ({"bundles": ["corp-ca\n"]}, "bundles[0]"),
        ({"bundles": ["corp-ca@2\n"]}, "bundles[0]"),
        ({"bundles": ["corp-ca@1" + "0" * 5000]}, "bundles[0]"),  # int() refuses 4300 digits
        ({"packages": ["curl=7.88\x00"]}, "packages[0]"),
        ({"packages": ["curl\x00"]}, "packages[0]"),
    ],
)
def test_control_characters_and_trailing_newlines_are_refused(
    raw: dict[str, object], field: str
) -> None:
    spec = {"name": "payments-api", "starter": "base", **raw}
    with pytest.raises(SpecError) as error:
        check_spec(spec)
    assert [v.field for v in error.value.violations] == [field]
    assert "\n" not in error.value.message and "\0" not in error.value.message


@pytest.mark.parametrize(
    "raw",
    [
        {"name": 10**5000, "starter": "base"},
        {"name": "ab", "starter": "base", "env": {"A": 10**5000}},
        {"name": "ab", "starter": "base", "env": {10**5000: "x"}},
        {10**5000: 1, "name": "ab", "starter": "base"},
        {"name": "ab", "starter": 10**5000, "packages": [10**5000], "bundles": [10**5000]},
    ],
)
def test_numbers_too_long_to_print_are_violations(raw: dict[object, object]) -> None:
    # int() and repr() refuse more than 4300 digits: a JSON body may hold such a number.
    with pytest.raises(SpecError) as error:
        check_spec(raw)
    assert "too long to show" in error.value.message


def test_a_description_block_may_end_with_a_newline(tmp_path: Path) -> None:
    text = "name: ab\nstarter: base\ndescription: |\n  One line.\n"
    assert read_spec(write(tmp_path, text)).description == "One line."


def test_long_values_and_many_violations_stay_short() -> None:
    env = {f"K{n}": "" for n in range(5000)}
    with pytest.raises(SpecError) as error:
        check_spec({"name": "x" * 100_000, "starter": "base", "env": env})
    assert len(error.value.violations) == 5001
    assert len(error.value.message) < 10_000
    assert "and 4951 more" in error.value.message
    assert str(Violation("name", "x" * 1000, "rule")).endswith("xxx…: rule")


def test_a_yaml_syntax_error_names_its_line_in_one_plain_sentence(tmp_path: Path) -> None:
    """PyYAML's own text (``in "<unicode string>", line 2, column 7`` and ``^`` markers under
    a copy of the line) is not what a user reads: the error names the line, what the parser
    expected and where the construct it was reading began."""
    with pytest.raises(InputError) as error:
        read_spec(write(tmp_path, "name: [oops\n"))
    said = str(error.value)
    assert (
        "line 2 is not valid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence from line 1, column 7)"
    ) in said
    assert "<unicode string>" not in said and "^" not in said
