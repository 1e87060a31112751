"""Package families of the shipped starters on Debian's real mirror (tests marked ``network``).

Expectations that depend on what the mirror holds today (versions) are computed from the same
catalogs; the rest (which member each line gets, what is blocked or dependency-only) is what
Debian's package naming guarantees.
"""

from __future__ import annotations

import json

import pytest

from couturier.cli.main import main
from couturier.core.families import Family
from couturier.services.context import catalog_context
from couturier.services.families import check_autos, families, starter_lines
from couturier.settings import Settings
from tests.mirror import mirror_cache
from tests.starters import starter_named

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def php(mirror_settings: Settings) -> dict[str, Family]:
    """The php starter's default listing (its families with a line version in their names)."""
    return {f.name: f for f in families(catalog_context(mirror_settings), "php")}


def member_names(family: Family) -> dict[str, str]:
    return {m.line: m.package.name for m in family.members}


def test_php_extensions_get_each_lines_own_member(php: dict[str, Family]) -> None:
    assert member_names(php["php-curl"]) == {"8.2": "php8.2-curl", "8.4": "php8.4-curl"}
    assert php["php-curl"].auto == "php-curl-auto"
    imagick = php["php-imagick"]
    assert member_names(imagick) == {"8.2": "php8.2-imagick", "8.4": "php8.4-imagick"}
    assert imagick.auto == "php-imagick-auto"


def test_php_families_the_starter_ships_are_blocked_with_the_newest_lines_version(
    mirror_settings: Settings, php: dict[str, Family]
) -> None:
    resolved = starter_lines(catalog_context(mirror_settings), starter_named("php"), "amd64")
    shipped = {p.name: p.version for p in resolved.starter_packages["8.4"]}
    for family, member in (("php-common", "php8.4-common"), ("php-cli", "php8.4-cli")):
        assert php[family].blocked == (
            f"the php starter already ships {member} {shipped[member]} on its newest line 8.4"
        )
        assert php[family].auto is None


def test_php_dependency_only_families_offer_no_auto(php: dict[str, Family]) -> None:
    for name in ("php-dev", "php-common", "libapache2-mod-php", "libphp-embed"):
        assert php[name].dependency_only is not None, name
    for family in php.values():
        if family.name.endswith(("-dev", "-common")) or family.name.startswith("lib"):
            assert family.auto is None, family.name


def test_python3_requests_has_a_member_on_every_python_line(mirror_settings: Settings) -> None:
    found = {
        f.name: f for f in families(catalog_context(mirror_settings), "python", "python3-requests")
    }
    requests = found["python3-requests"]
    assert member_names(requests) == {
        "3.11": "python3-requests",
        "3.13": "python3-requests",
        "3.14": "python3-requests",
    }
    versions = {m.line: m.package.version for m in requests.members}
    assert versions["3.11"] != versions["3.13"]  # bookworm's and trixie's
    assert requests.auto == "python3-requests-auto"


def test_check_autos_on_the_php_starter(mirror_settings: Settings) -> None:
    requests = [
        "php-curl-auto",
        "php-imagick-auto",
        "php-common-auto",
        "php-dev-auto",
        "php-x-auto",
    ]
    problems = dict(check_autos(catalog_context(mirror_settings), "php", requests))
    assert set(problems) == {"php-common-auto", "php-dev-auto", "php-x-auto"}
    assert problems["php-common-auto"].startswith(
        "php-common is blocked: the php starter already ships php8.4-common "
    )
    assert problems["php-common-auto"].endswith("; remove it from packages")


def test_the_command_prints_json(
    mirror_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = mirror_cache()
    monkeypatch.delenv("COUTURIER_CONFIG", raising=False)
    monkeypatch.setenv("COUTURIER_DATA_DIR", str(cache / "data"))
    monkeypatch.setenv("COUTURIER_CACHE_DIR", str(cache / "cache"))
    assert main(["-q", "packages", "families", "--starter", "php", "imagick", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["starter"] == "php"
    assert body["lines"] == ["8.2", "8.4"]
    assert body["total"] == len(body["families"])
    imagick = next(f for f in body["families"] if f["name"] == "php-imagick")
    assert imagick["auto"] == "php-imagick-auto"
    assert {label: m["name"] for label, m in imagick["members"].items()} == {
        "8.2": "php8.2-imagick",
        "8.4": "php8.4-imagick",
    }
    assert main(["-q", "packages", "families", "--starter", "php", "php-common"]) == 0
    table = capsys.readouterr().out
    assert "blocked: the php starter already ships php8.4-common" in table
