"""The command line never shows a traceback: an error of Couturier, an OSError from bad local
state and a bug each end in one line on stderr and exit status 1; COUTURIER_DEBUG=1 adds the
traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from couturier.cli.main import main
from couturier.services import bundles as bundle_service


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUTURIER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUTURIER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COUTURIER_CONFIG", raising=False)
    monkeypatch.delenv("COUTURIER_DEBUG", raising=False)


def _raise(error: BaseException) -> object:
    def fail(*args: object, **kwargs: object) -> object:
        raise error

    return fail


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            PermissionError(13, "Permission denied", "/srv/data/bundles"),
            "couturier: error: /srv/data/bundles: Permission denied (check that",
        ),
        (RuntimeError("boom\nsecond line"), "couturier: internal error: RuntimeError: boom second"),
        (KeyError("x"), "couturier: internal error: KeyError: 'x' (a bug in Couturier"),
    ],
)
def test_unexpected_errors_are_one_line(
    error: BaseException,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(bundle_service, "bundle_versions", _raise(error))
    assert main(["-q", "bundle", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(expected), err
    assert err.count("\n") == 1 and "Traceback" not in err

    monkeypatch.setenv("COUTURIER_DEBUG", "1")
    assert main(["-q", "bundle", "list"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["packages", "families", "--starter", "php", "curl", "--limit", "0"], "is not a limit"),
        (["packages", "search", "curl", "--limit", "-5"], "is not a limit (1 to 1000000)"),
        (["packages", "search", "curl", "--limit", "²"], "is not a limit"),
        (["admin", "token", "create", "--tenant", "1", "--scope", "pull", "--expires", "0"], "'0'"),
        (["admin", "token", "create", "--tenant", "1", "--scope", "pull", "--expires", "3651"], ""),
    ],
)
def test_counts_out_of_range_are_usage_errors(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --limit of 0 listed nothing and said "no package family matching" for what matched; an
    --expires of 0 reached the token service and came back as a spec's violation. Both are
    usage errors now (exit 2), before anything is read."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err


def test_build_names_what_is_wrong_with_its_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A spec and --starter together were refused as if neither had been given. Both, or
    neither, and plan with two --arch are usage errors: exit 2 with the command's usage, as
    every other usage mistake (the README's exit statuses)."""
    output = str(tmp_path / "out")
    cases = [
        (["build", "spec.yaml", "--starter", "base", "--output", output], "not both"),
        (["build", "--output", output], "build needs either a spec file or --starter NAME"),
        (["plan", "spec.yaml", "--arch", "amd64", "--arch", "arm64"], "plan takes one --arch"),
    ]
    for argv, expected in cases:
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"usage: couturier {argv[0]} "), err
        assert f"couturier {argv[0]}: error: " in err and expected in err
        assert "Traceback" not in err
    # One --arch named twice is still one.
    assert main(["plan", str(tmp_path / "missing.yaml"), "--arch", "amd64", "--arch", "amd64"]) == 1
