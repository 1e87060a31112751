"""The examples of issue 8 through the real command, in a process of its own: each ends with
exit status 1 and one line on stderr (several for a refused bundle: its heading and one line per
violation), never a traceback, in little memory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile import alias_bomb, huge_tar, lying_zip
from tests.test_bundles import T, make_tar

ROOT = Path(__file__).resolve().parent.parent

# (arguments, files to make, what stderr must say); {d} is the test's directory.
Case = tuple[list[str], Callable[[Path], object], str]


def _spec(text: str) -> Callable[[Path], object]:
    return lambda d: (d / "spec.yaml").write_text(text)


def _settings(text: str) -> Callable[[Path], object]:
    return lambda d: (d / "couturier.yaml").write_text(text)


CASES: dict[str, Case] = {
    "zip-bomb": (
        ["bundle", "create", "app", "--type", "files", "--target", "/srv", "{d}/bomb.zip"],
        lambda d: lying_zip(d / "bomb.zip"),
        "bomb.zip:bomb.bin: could not be read (it is damaged: Bad CRC-32",
    ),
    "tar-xz-16-gib": (
        ["bundle", "create", "app", "--type", "files", "--target", "/srv", "{d}/big.tar.xz"],
        lambda d: huge_tar(d / "big.tar.xz"),
        "big.tar.xz:big.bin: has more than 1,048,576 bytes",
    ),
    "links-escaping-together": (
        ["bundle", "create", "app", "--type", "files", "--target", "/etc/myapp", "{d}/l.tar"],
        lambda d: (
            make_tar(
                d / "l.tar",
                [T("a/s", "sym", link=".."), T("a/s/y", "sym", link=".."), T("a/s/y/passwd")],
            )
            and None
        ),
        "a/s/y/passwd: lands at /etc/passwd",
    ),
    "alias-bomb-plan": (
        ["plan", "{d}/spec.yaml"],
        _spec(alias_bomb(10)),
        "line 5 uses the YAML alias *a0",
    ),
    "trailing-newline-name": (
        ["plan", "{d}/spec.yaml"],
        _spec('name: "payments-api\\n"\nstarter: base\nenv: {"TRAIL\\n": x, V: "a\\0b"}\n'),
        "3 problems",
    ),
    "settings-mirrors-list": (
        ["--config", "{d}/couturier.yaml", "bundle", "list"],
        _settings("mirrors: [1, 2]\n"),
        "mirrors must be a mapping of name → mirror, got a list",
    ),
    "settings-data-dir-list": (
        ["--config", "{d}/couturier.yaml", "bundle", "list"],
        _settings("data_dir: [1]\n"),
        "data_dir must be a directory path, got a list",
    ),
    "settings-suite-missing": (
        ["--config", "{d}/couturier.yaml", "bundle", "list"],
        _settings("releases: {noble: {suites: [{mirror: debian}]}}\n"),
        "releases.noble.suites[0].suite is required",
    ),
    "data-dir-is-a-file": (
        ["--config", "{d}/couturier.yaml", "bundle", "list"],
        lambda d: ((d / "file").write_text("x"), _settings(f"data_dir: {d}/file\n")(d)),
        "is not a directory",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_through_the_command(case: str, tmp_path: Path) -> None:
    arguments, make, expected = CASES[case]
    make(tmp_path)
    env = {
        **os.environ,
        "COUTURIER_DATA_DIR": str(tmp_path / "data"),
        "COUTURIER_CACHE_DIR": str(tmp_path / "cache"),
    }
    env.pop("COUTURIER_CONFIG", None)
    env.pop("COUTURIER_DEBUG", None)
    if "--config" in arguments:
        env.pop("COUTURIER_DATA_DIR")
    command = [sys.executable, "-m", "couturier.cli.main", "-q"]
    command += [a.format(d=tmp_path) for a in arguments]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert expected in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    if arguments[0] != "bundle" or arguments[1] != "create":
        assert len(lines) == 1 and len(lines[0]) < 2000, done.stderr
