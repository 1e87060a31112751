"""The spec file: every rule is checked and every violation is reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from couturier.core.spec import ImageSpec, SpecError, Violation, parse_spec
from couturier.errors import InputError
from tests.starters import check_spec, read_spec

GOOD = """\
name: payments-api
description: Python with requests and our internal CA
starter: python
packages:
  - python3-requests-auto
  - curl
  - python3-rsa=4.9-2
env:
  APP_ENV: production
  WORKERS: "4"
bundles:
  - corp-ca
  - app-config@3
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_good_spec(tmp_path: Path) -> None:
    spec = read_spec(write(tmp_path, GOOD))
    assert spec == ImageSpec(
        name="payments-api",
        description="Python with requests and our internal CA",
        starter="python",
        packages=("python3-requests-auto", "curl", "python3-rsa=4.9-2"),
        env={"APP_ENV": "production", "WORKERS": "4"},
        bundles=("corp-ca", "app-config@3"),
    )
    with pytest.raises(TypeError):
        spec.env["X"] = "y"  # type: ignore[index]


def test_minimal_spec() -> None:
    spec = check_spec({"name": "ab", "starter": "base"})
    assert (spec.packages, dict(spec.env), spec.bundles, spec.description) == ((), {}, (), "")


@pytest.mark.parametrize("name", ["ab", "my-python", "a1-b", "x" * 40, "a--b"])
def test_valid_names(name: str) -> None:
    assert check_spec({"name": name, "starter": "base"}).name == name


@pytest.mark.parametrize("name", ["a", "x" * 41, "1ab", "ab1", "-ab", "ab-", "My-python", "a_b", 7])
def test_invalid_names(name: object) -> None:
    with pytest.raises(SpecError) as info:
        check_spec({"name": name, "starter": "base"})
    assert [v.field for v in info.value.violations] == ["name"]


def test_many_mistakes_are_reported_together(tmp_path: Path) -> None:
    text = """\
name: My_Image
starter: cobol
colour: red
packages:
  - curl
  - "Bad Name"
  - curl=7.88.1-10
  - python3:amd64
  - 42
  - openssl=1:!
env:
  1BAD: x
  EMPTY: ""
  KEYONLY:
  OK: fine
  OK: twice
  FLAG: true
bundles:
  - corp-ca
  - corp-ca@2
  - ../etc
"""
    with pytest.raises(SpecError) as info:
        read_spec(write(tmp_path, text))
    error = info.value
    assert isinstance(error, InputError)
    found = {(v.field, v.rule.split(" ")[0]) for v in error.violations}
    assert found == {
        ("env.OK", "is"),
        ("colour", "is"),
        ("name", "must"),
        ("starter", "is"),
        ("packages[2]", "repeats"),
        ("packages[1]", "must"),
        ("packages[3]", "must"),
        ("packages[4]", "must"),
        ("packages[5]", "must"),
        ("env.1BAD", "is"),
        ("env.EMPTY", "needs"),
        ("env.KEYONLY", "needs"),
        ("env.FLAG", "must"),
        ("bundles[1]", "repeats"),
        ("bundles[2]", "must"),
    }
    assert len(error.violations) == 15
    assert "15 problems" in error.message
    for violation in error.violations:
        assert violation.field in error.message
    assert str(tmp_path / "spec.yaml") in error.message
    duplicate = next(v for v in error.violations if v.field == "env.OK")
    assert "more than once (line 16)" in duplicate.rule


def test_missing_required_fields() -> None:
    with pytest.raises(SpecError) as info:
        check_spec({"description": "nothing else"})
    assert info.value.violations == [
        Violation("name", None, "is required"),
        Violation("starter", None, "is required"),
    ]
    assert "name: is required; starter: is required" in info.value.message


def test_env_may_not_repeat_a_starter_key() -> None:
    with pytest.raises(SpecError) as info:
        check_spec({"name": "pg", "starter": "postgres", "env": {"PATH": "/x", "PGDATA": "/d"}})
    assert {v.field for v in info.value.violations} == {"env.PATH", "env.PGDATA"}
    assert "set by the postgres starter" in info.value.message
    # a key the starter does not set is fine
    assert check_spec({"name": "pg", "starter": "postgres", "env": {"TZ": "UTC"}}).env == {
        "TZ": "UTC"
    }


def test_at_most_100_packages() -> None:
    names = [f"pkg{i}" for i in range(101)]
    with pytest.raises(SpecError) as info:
        check_spec({"name": "big", "starter": "base", "packages": names})
    assert info.value.violations == [
        Violation("packages", 101, "at most 100 packages may be added")
    ]
    assert (
        len(check_spec({"name": "big", "starter": "base", "packages": names[:100]}).packages) == 100
    )


def test_wrong_shapes() -> None:
    with pytest.raises(SpecError) as info:
        check_spec(
            {"name": "ab", "starter": "base", "packages": "curl", "env": ["A=b"], "bundles": "x"}
        )
    assert [v.field for v in info.value.violations] == ["packages", "env", "bundles"]
    with pytest.raises(SpecError, match="must be a mapping"):
        check_spec(["name"])


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        read_spec(write(tmp_path, GOOD + "name: other-name\n"))
    assert [v.field for v in info.value.violations] == ["name"]
    assert "more than once" in info.value.violations[0].rule


def test_bad_yaml_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not valid YAML"):
        read_spec(write(tmp_path, "name: [oops\n"))
    with pytest.raises(Exception, match="cannot read spec file"):
        read_spec(tmp_path / "absent.yaml")


def test_custom_starters_are_used() -> None:
    with pytest.raises(SpecError, match="is not a starter"):
        parse_spec({"name": "ab", "starter": "python"}, starters={})


def test_the_generic_hint_of_violations_fits_every_request() -> None:
    """Specs, API requests and token requests share :class:`SpecError`: its hint said "apply
    the spec again" for a token's --expires too, and no command is called apply."""
    for source in ("spec file x.yaml", "request", "token request"):
        error = SpecError([Violation("expires_days", 0, "must be 1 to 3650")], source)
        assert error.hint == "fix each one and try again"
