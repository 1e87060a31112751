"""Package families and ``-auto`` packages: the naming rule over a table, and the four product
rules on a fixture repository of real, signed ``.deb`` files (no network).

The fixture ecosystem is ``lang``: a starter ``tinylang`` with line ``1.2`` (release ``oldrel``,
primary ``lang1.2-cli``) and line ``1.4`` (``newrel``, ``lang1.4-cli``). ``lang1.2-cli`` needs
exactly ``lang1.2-common`` 1.2.5-1 although 1.2.9-1 exists, so the starter holds an older
common than the release's newest: what fits the line is decided with the starter's versions
pinned, not against an empty system.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from couturier.cli.families import auto_cell, family_json, family_rows
from couturier.core.catalog import MemoryCatalog, Package
from couturier.core.families import (
    Family,
    FamilyIndex,
    FamilyIndexes,
    auto_description,
    auto_family,
    choose_member,
    dependency_only,
    ecosystem_stems,
    family_name,
    newest_line,
)
from couturier.core.relations import Relation
from couturier.core.resolver import resolve
from couturier.core.starter import Starter, parse_starter
from couturier.services.context import catalog_context
from couturier.services.families import (
    check_autos,
    families,
    families_and_total,
    near_package_names,
    starter_lines,
)
from couturier.settings import Settings
from tests.conftest import make_settings
from tests.fixture_repo import SigningKey, build_repo

PHP = ("8.2", "8.4")
PYTHON = ("3.11", "3.13", "3.14")
POSTGRES = ("15", "17", "18")
RUBY = ("3.1", "3.3")

# (package, labels, family, embedded label)
FAMILY_NAMES = [
    ("php8.2-curl", PHP, "php-curl", "8.2"),
    ("php8.4-curl", PHP, "php-curl", "8.4"),
    ("php-curl", PHP, "php-curl", None),
    ("php8.2", PHP, "php", "8.2"),
    ("php8.2-dev", PHP, "php-dev", "8.2"),
    ("libapache2-mod-php8.2", PHP, "libapache2-mod-php", "8.2"),
    ("libphp8.4-embed", PHP, "libphp-embed", "8.4"),
    ("php18.2-curl", PHP, "php18.2-curl", None),  # preceded by a digit: not a whole token
    ("php8.25-curl", PHP, "php8.25-curl", None),  # followed by a digit
    ("php8.2.1-curl", PHP, "php8.2.1-curl", None),  # followed by a dot and a digit
    ("php7.4-curl", PHP, "php7.4-curl", None),  # not a line of the starter
    ("python3.13-venv", PYTHON, "python-venv", "3.13"),
    ("python3.11", PYTHON, "python", "3.11"),
    ("libpython3.14-stdlib", PYTHON, "libpython-stdlib", "3.14"),
    ("idle-python3.11", PYTHON, "idle-python", "3.11"),
    ("python3-rsa", PYTHON, "python3-rsa", None),  # a bare "3" is not a python line label
    ("python3-requests", PYTHON, "python3-requests", None),
    ("python3.15-venv", PYTHON, "python3.15-venv", None),
    ("libqgispython3.22.16", PYTHON, "libqgispython3.22.16", None),
    ("postgresql-15-pgvector", POSTGRES, "postgresql-pgvector", "15"),
    ("postgresql-15", POSTGRES, "postgresql", "15"),
    ("postgresql-client-17", POSTGRES, "postgresql-client", "17"),
    ("postgresql-plpython3-18", POSTGRES, "postgresql-plpython3", "18"),
    ("postgresql-15-postgis-3", POSTGRES, "postgresql-postgis-3", "15"),
    ("libfoo115", POSTGRES, "libfoo115", None),
    ("foo2.15", POSTGRES, "foo2.15", None),
    ("ruby3.1-dev", RUBY, "ruby-dev", "3.1"),
    ("libruby3.3", RUBY, "libruby", "3.3"),
    ("python3.11-venv", ("3.1", "3.11"), "python-venv", "3.11"),  # the longer label wins
    ("php8.2-curl", (), "php8.2-curl", None),  # no labels, nothing embedded
]


@pytest.mark.parametrize(("package", "labels", "family", "embedded"), FAMILY_NAMES)
def test_family_name(
    package: str, labels: tuple[str, ...], family: str, embedded: str | None
) -> None:
    assert family_name(package, labels) == (family, embedded)


@pytest.mark.parametrize("labels", [PHP, PYTHON, POSTGRES, RUBY, ()])
def test_the_family_index_groups_names_as_family_name_does(labels: tuple[str, ...]) -> None:
    names = sorted({row[0] for row in FAMILY_NAMES})
    index = FamilyIndex(names, labels)
    for name in names:
        family, embedded = family_name(name, labels)
        assert (name, embedded) in index.candidates(family), name
    # A name carrying a label is a member of its family, never a family of its own.
    for name in names:
        family, embedded = family_name(name, labels)
        if embedded is not None:
            assert index.candidates(name) == ()


@pytest.mark.parametrize(
    ("request_text", "family"),
    [
        ("php-curl-auto", "php-curl"),
        ("python3-requests-auto", "python3-requests"),
        ("php-curl", None),
        ("-auto", None),
        ("php-curl-auto=1.0", None),
        ("php-curl-auto:amd64", None),
        ("php-curl-autos", None),
    ],
)
def test_auto_family(request_text: str, family: str | None) -> None:
    assert auto_family(request_text) == family


def test_auto_description_is_the_product_sentence() -> None:
    assert auto_description("php-curl") == (
        "Universal package for php-curl - automatically detects and installs a compatible version"
    )
    family = Family("php-curl", ())
    assert family.auto == "php-curl-auto"
    assert family.description == auto_description("php-curl")


def _package(name: str, section: str = "", version: str = "1.0-1") -> Package:
    fields = {"Package": name, "Version": version, "Architecture": "all"}
    if section:
        fields["Section"] = section
    return Package(fields)


# (family, (package name, section) of its members, a word of the reason or None when offered)
DEPENDENCY_ONLY = [
    ("php-common", [("php8.4-common", "php")], "-common"),
    ("php-dev", [("php8.4-dev", "php")], "-dev"),
    ("python-doc", [("python3.13-doc", "doc")], "-doc"),
    ("0ad-data", [("0ad-data", "games")], "-data"),
    ("python-dbg", [("python3.13-dbg", "debug")], "-dbg"),
    ("foo-dbgsym", [], "-dbgsym"),
    ("libphp-embed", [("libphp8.4-embed", "php")], "library"),
    ("libapache2-mod-php", [("libapache2-mod-php8.4", "httpd")], "library"),
    ("389-ds-base-libs", [("389-ds-base-libs", "libs")], "section libs"),
    ("foo-headers", [("foo-headers", "contrib/libdevel")], "section libdevel"),
    ("foo-manual", [("foo-manual", "non-free/doc")], "section doc"),
    ("fontconfig-config", [("fontconfig-config", "fonts")], "configuration"),
    ("alsa-ucm-conf", [("alsa-ucm-conf", "sound")], "configuration"),
    ("php-league-config", [("php-league-config", "php")], None),  # a PHP library, on purpose
    ("ruby-mixlib-config", [("ruby-mixlib-config", "ruby")], None),
    ("php-curl", [("php8.2-curl", "php"), ("php8.4-curl", "php")], None),
    ("python3-requests", [("python3-requests", "python")], None),
    ("php-imagick", [], None),
]


@pytest.mark.parametrize(("family", "members", "word"), DEPENDENCY_ONLY)
def test_dependency_only_is_the_one_rule(
    family: str, members: list[tuple[str, str]], word: str | None
) -> None:
    reason = dependency_only(family, [_package(name, section) for name, section in members])
    if word is None:
        assert reason is None
    else:
        assert reason is not None
        assert word in reason


def test_newest_line_compares_labels_as_versions() -> None:
    doc = {
        "name": "py",
        "description": "d",
        "packages": [],
        "lines": [
            {"version": "3.13", "release": "r", "primary": "python3.13", "eol": "2030-01-01"},
            {"version": "3.9", "release": "r", "primary": "python3.9", "eol": "2030-01-01"},
        ],
    }
    starter = parse_starter(doc, "test", releases=("r",))
    assert newest_line(starter).version == "3.13"
    assert ecosystem_stems(starter) == ("python",)


def test_the_index_is_built_once_per_catalog() -> None:
    indexes = FamilyIndexes()
    catalog = MemoryCatalog([_package("php8.2-curl")], "r", "amd64")
    assert indexes.get(catalog, PHP) is indexes.get(catalog, list(PHP))
    assert indexes.get(catalog, PHP) is not indexes.get(catalog, PYTHON)
    other = MemoryCatalog([_package("php8.2-curl")], "r", "amd64")
    assert indexes.get(other, PHP) is not indexes.get(catalog, PHP)
    # Owned, not process-wide: another owner builds its own.
    assert FamilyIndexes().get(catalog, PHP) is not indexes.get(catalog, PHP)


def test_the_indexes_are_shared_between_threads() -> None:
    """Threads asking one owner for the indexes of the same catalogs at once all get the same
    index per (catalog, labels), whichever built it first, and each matches a fresh one."""
    names = [f"php{label}-ext{n}" for label in PHP for n in range(300)] + ["php-common"]
    catalogs = [MemoryCatalog([_package(name) for name in names], "r", "amd64") for _ in range(3)]
    indexes = FamilyIndexes()
    start = threading.Barrier(8)

    def ask(worker: int) -> list[FamilyIndex]:
        start.wait()
        order = catalogs if worker % 2 else catalogs[::-1]
        return [indexes.get(catalog, PHP) for catalog in order for _ in range(20)]

    with ThreadPoolExecutor(8) as pool:
        seen = [index for found in pool.map(ask, range(8)) for index in found]
    by_catalog = {id(catalog): indexes.get(catalog, PHP) for catalog in catalogs}
    assert {id(index) for index in seen} == {id(index) for index in by_catalog.values()}
    expected = FamilyIndex(names, PHP)
    for index in by_catalog.values():
        assert index.candidates("php-ext7") == expected.candidates("php-ext7")
        assert index.families("ext1") == expected.families("ext1")


# ---------------------------------------------------------------------------------------------
# The fixture repository

RELEASES = {"oldrel": ["oldrel"], "newrel": ["newrel"]}
STARTER_DOC: dict[str, Any] = {
    "name": "tinylang",
    "description": "A fixture language starter",
    "packages": ["base-files"],
    "entrypoint": ["/usr/bin/lang"],
    "lines": [
        {"version": "1.2", "release": "oldrel", "primary": "lang1.2-cli", "eol": "2031-01-01"},
        {"version": "1.4", "release": "newrel", "primary": "lang1.4-cli", "eol": "2033-01-01"},
    ],
}


def _stanza(name: str, version: str, **fields: str) -> dict[str, str]:
    return {"Package": name, "Version": version, "Section": "interpreters", **fields}


SUITES: dict[str, list[dict[str, str]]] = {
    "oldrel": [
        _stanza("base-files", "1.0-1"),
        _stanza("lang-common", "90"),
        _stanza("lang-oldshim", "1.0-1"),
        _stanza("lang1.2-common", "1.2.5-1"),
        _stanza("lang1.2-common", "1.2.9-1"),
        _stanza(
            "lang1.2-cli",
            "1.2.5-1",
            Depends="lang1.2-common (= 1.2.5-1), lang-common, lang-oldshim",
        ),
        _stanza("lang1.2-curl", "1.2.5-1", Depends="lang1.2-common (>= 1.2)"),
        _stanza("lang-curl", "2:90", Depends="lang1.2-curl"),  # a newer version-less metapackage
        _stanza("lang1.2-imagick", "3.7.0-1", Depends="lang1.2-common (>= 1.2)"),
        _stanza("lang1.2-imagick", "3.8.0-1", Depends="lang1.2-common (>= 1.2.9)"),
        _stanza("lang1.2-dev", "1.2.5-1", Depends="lang1.2-common (= 1.2.5-1)"),
        _stanza("liblang1.2-embed", "1.2.5-1"),
        _stanza("lang-bindings", "1.0-1", Section="libs"),
        _stanza("lang1.2-xdebug", "3.0-1", Depends="lang1.2-common"),
        _stanza("lang1.2-legacy", "1.0-1"),
        _stanza("lang3-rsa", "4.8-1", Depends="lang-common"),
        # A backport of the 1.4 extension, and a metapackage that would pull it into line 1.2.
        _stanza("lang1.4-yaml", "2.0-1"),
        _stanza("lang-yaml", "2:90", Depends="lang1.4-yaml"),
    ],
    "newrel": [
        _stanza("base-files", "1.0-1"),
        _stanza("lang-common", "93"),
        _stanza("lang1.4-common", "1.4.1-1"),
        _stanza("lang1.4-cli", "1.4.1-1", Depends="lang1.4-common (= 1.4.1-1), lang-common"),
        _stanza("lang1.4-curl", "1.4.1-1", Depends="lang1.4-common"),
        _stanza("lang-curl", "2:93", Depends="lang1.4-curl"),
        _stanza("lang1.4-imagick", "3.8.0-1", Depends="lang1.4-common"),
        _stanza("lang1.4-dev", "1.4.1-1", Depends="lang1.4-common"),
        _stanza("liblang1.4-embed", "1.4.1-1"),
        _stanza(
            "lang1.4-xdebug",
            "3.1-1",
            Depends="lang1.4-common",
            Breaks="lang1.4-common (<< 1.4.9)",
        ),
        _stanza("lang1.2-legacy", "1.0-1"),  # installable here, but it is line 1.2's member
        _stanza("lang3-rsa", "4.9-2", Depends="lang-common"),
        _stanza("lang1.4-yaml", "2.1-1"),
        _stanza("lang-yaml", "2:93", Depends="lang1.4-yaml"),
    ],
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Settings:
    """Settings over the signed fixture repository; the first service call refreshes."""
    base = tmp_path_factory.mktemp("families")
    repo = build_repo(base / "repo", SUITES, key=signing_key, arch=("amd64",))
    (base / "env").mkdir()
    return make_settings(base / "env", repo, signing_key.keyring, RELEASES, ("amd64",))


@pytest.fixture(scope="module")
def starter() -> Starter:
    return parse_starter(STARTER_DOC, "test_families.py", releases=tuple(RELEASES))


@pytest.fixture(scope="module")
def listed(settings: Settings, starter: Starter) -> dict[str, Family]:
    """Every family matching "lang" (all of the fixture's but base-files), by name."""
    return {f.name: f for f in families(catalog_context(settings), starter, "lang")}


def members(family: Family) -> dict[str, tuple[str, str]]:
    return {m.line: (m.package.name, m.package.version) for m in family.members}


# Rule 1: each line gets the newest member that fits it


def test_each_line_gets_its_own_member_before_the_metapackage(listed: Mapping[str, Family]) -> None:
    curl = listed["lang-curl"]
    assert members(curl) == {
        "1.2": ("lang1.2-curl", "1.2.5-1"),
        "1.4": ("lang1.4-curl", "1.4.1-1"),
    }
    assert curl.auto == "lang-curl-auto"
    assert curl.blocked is None and curl.dependency_only is None


def test_the_newest_member_that_fits_the_starters_pinned_versions(
    settings: Settings, starter: Starter, listed: Mapping[str, Family]
) -> None:
    assert members(listed["lang-imagick"]) == {
        "1.2": ("lang1.2-imagick", "3.7.0-1"),
        "1.4": ("lang1.4-imagick", "3.8.0-1"),
    }
    # 3.8.0-1 does install on oldrel (with lang1.2-common 1.2.9-1), only not next to the
    # starter's lang1.2-common 1.2.5-1: the pins are what rules it out.
    resolved = starter_lines(catalog_context(settings), starter, "amd64")
    catalog = resolved.catalogs["1.2"]
    alone = resolve(catalog, [Relation("lang1.2-imagick", "=", "3.8.0-1")])
    assert {p.name: p.version for p in alone.packages}["lang1.2-common"] == "1.2.9-1"
    starter_versions = {p.name: p.version for p in resolved.starter_packages["1.2"]}
    assert starter_versions["lang1.2-common"] == "1.2.5-1"
    line = starter.line("1.2")
    chosen = choose_member(catalog, "lang-imagick", line, ["1.2", "1.4"], [])
    assert chosen is not None and chosen.version == "3.8.0-1"  # nothing pinned: the newest


def test_a_family_without_a_label_has_a_member_per_release(listed: Mapping[str, Family]) -> None:
    rsa = listed["lang3-rsa"]
    assert members(rsa) == {"1.2": ("lang3-rsa", "4.8-1"), "1.4": ("lang3-rsa", "4.9-2")}
    assert rsa.auto == "lang3-rsa-auto"


def test_another_lines_member_never_fits(listed: Mapping[str, Family]) -> None:
    # lang1.2-legacy installs on newrel, but it is named for line 1.2.
    assert members(listed["lang-legacy"]) == {"1.2": ("lang1.2-legacy", "1.0-1")}
    # lang-yaml on oldrel would pull in the 1.4 backport: the wrong line's member.
    assert members(listed["lang-yaml"]) == {"1.4": ("lang1.4-yaml", "2.1-1")}


# Rule 2: no -auto for families that exist to be dependencies of others


@pytest.mark.parametrize(
    ("name", "word"),
    [("lang-dev", "-dev"), ("liblang-embed", "library"), ("lang-bindings", "section libs")],
)
def test_dependency_only_families_offer_no_auto(
    listed: Mapping[str, Family], name: str, word: str
) -> None:
    family = listed[name]
    assert family.auto is None
    assert family.dependency_only is not None and word in family.dependency_only
    assert family.blocked is None
    assert family.members  # still listed with their members, for information


# Rule 3: families the starter already ships are blocked


def test_a_family_the_starter_ships_is_blocked_naming_the_newest_lines_version(
    listed: Mapping[str, Family],
) -> None:
    cli = listed["lang-cli"]
    assert cli.blocked == (
        "the tinylang starter already ships lang1.4-cli 1.4.1-1 on its newest line 1.4"
    )
    assert cli.auto is None
    # The starter ships lang1.4-common and the version-less lang-common: the reason names the
    # line's own member.
    common = listed["lang-common"]
    assert common.blocked == (
        "the tinylang starter already ships lang1.4-common 1.4.1-1 on its newest line 1.4"
    )
    assert common.dependency_only is not None


def test_a_family_only_an_older_line_ships_is_blocked_too(listed: Mapping[str, Family]) -> None:
    shim = listed["lang-oldshim"]
    assert shim.blocked == "the tinylang starter already ships lang-oldshim 1.0-1 on its line 1.2"
    assert shim.auto is None


# Rule 4: a line where no member fits gets none


def test_a_line_where_no_member_fits_has_none(listed: Mapping[str, Family]) -> None:
    # lang1.4-xdebug breaks the starter's lang1.4-common 1.4.1-1.
    xdebug = listed["lang-xdebug"]
    assert members(xdebug) == {"1.2": ("lang1.2-xdebug", "3.0-1")}
    assert xdebug.member("1.4") is None
    assert xdebug.auto == "lang-xdebug-auto"


# Listing


def test_the_default_lists_the_ecosystems_families_with_a_line_label(
    settings: Settings, starter: Starter
) -> None:
    names = [f.name for f in families(catalog_context(settings), starter)]
    assert names == [
        "lang-cli",
        "lang-common",
        "lang-curl",
        "lang-dev",
        "lang-imagick",
        "lang-legacy",
        "lang-xdebug",
        "lang-yaml",
        "liblang-embed",
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("imagick", ["lang-imagick"]),
        ("lang-imagick", ["lang-imagick"]),  # the family's name, though no package is called so
        ("lang-imagick-auto", ["lang-imagick"]),
        ("LANG1.4-IMAGICK", ["lang-imagick"]),
        ("rsa", ["lang3-rsa"]),
        ("nothing-like-it", []),
    ],
)
def test_a_query_matches_family_and_package_names(
    settings: Settings, starter: Starter, query: str, expected: list[str]
) -> None:
    assert [f.name for f in families(catalog_context(settings), starter, query)] == expected


def test_a_limit_keeps_the_closest_families_sorted_by_name(
    settings: Settings, starter: Starter
) -> None:
    names = [f.name for f in families(catalog_context(settings), starter, "curl", limit=1)]
    assert names == ["lang-curl"]
    found, total = families_and_total(catalog_context(settings), starter, "lang", limit=3)
    # The closest (shortest) names, then by name; returned sorted by name.
    assert [f.name for f in found] == ["lang-cli", "lang-curl", "lang-dev"]
    assert total == 12  # every family of the fixture but base-files


# -auto requests in a spec


def test_check_autos_names_every_auto_request_that_cannot_be_used(
    settings: Settings, starter: Starter
) -> None:
    requests = [
        "lang-curl-auto",
        "lang3-rsa-auto",
        "lang-cli-auto",
        "lang-dev-auto",
        "lang-nosuch-auto",
        "lang-common-auto",
        "lang1.2-curl",
    ]
    problems = dict(check_autos(catalog_context(settings), starter, requests, "amd64"))
    assert set(problems) == {
        "lang-cli-auto",
        "lang-dev-auto",
        "lang-nosuch-auto",
        "lang-common-auto",
    }
    assert problems["lang-cli-auto"] == (
        "lang-cli is blocked: the tinylang starter already ships lang1.4-cli 1.4.1-1 on its "
        "newest line 1.4; remove it from packages"
    )
    assert problems["lang-common-auto"].startswith("lang-common is blocked: ")
    assert "development files" in problems["lang-dev-auto"]
    assert "lang1.4-dev" in problems["lang-dev-auto"]  # a member to name instead
    nosuch = problems["lang-nosuch-auto"]
    assert "not a package family" in nosuch and "oldrel, newrel" in nosuch
    assert "package families of the tinylang starter for lang-nosuch" in nosuch


def test_check_autos_reads_nothing_without_auto_requests(
    tmp_path: Path, starter: Starter, signing_key: SigningKey
) -> None:
    # Settings over a repository that does not exist: any catalog read would fail.
    settings = make_settings(tmp_path, tmp_path / "no-repo", signing_key.keyring, RELEASES)
    assert (
        check_autos(catalog_context(settings), starter, ["lang1.2-curl", "lang3-rsa=4.8-1"]) == []
    )


# The command's table and JSON


def test_rows_show_the_member_per_line_and_the_auto_option(
    listed: Mapping[str, Family],
) -> None:
    labels = ["1.2", "1.4"]
    chosen = [listed[name] for name in ("lang-cli", "lang-dev", "lang-xdebug")]
    rows = family_rows(chosen, labels)
    assert rows[0][:3] == ["lang-cli", "lang1.2-cli 1.2.5-1", "lang1.4-cli 1.4.1-1"]
    assert rows[0][3] == "blocked: " + str(listed["lang-cli"].blocked)
    assert rows[1][3].startswith("dependency-only: lang-dev holds development files")
    assert rows[2] == ["lang-xdebug", "lang1.2-xdebug 3.0-1", "-", "lang-xdebug-auto"]
    assert auto_cell(listed["lang-curl"]) == "lang-curl-auto"


def test_json_lists_name_auto_reasons_and_members(listed: Mapping[str, Family]) -> None:
    body: Sequence[dict[str, Any]] = json.loads(
        json.dumps([family_json(listed[n]) for n in ("lang-xdebug", "lang-cli")])
    )
    assert body[0] == {
        "name": "lang-xdebug",
        "auto": "lang-xdebug-auto",
        "blocked": None,
        "dependency_only": None,
        "members": {"1.2": {"name": "lang1.2-xdebug", "version": "3.0-1"}},
    }
    assert body[1]["auto"] is None
    assert body[1]["blocked"].startswith("the tinylang starter already ships lang1.4-cli")
    assert set(body[1]["members"]) == {"1.2", "1.4"}


def test_a_query_that_matches_no_family_gets_the_nearest_package_names(
    settings: Settings, starter: Starter
) -> None:
    context = catalog_context(settings)
    assert families(context, starter, "lang1.4-curk") == []
    assert near_package_names(context, starter, "lang1.4-curk", "amd64")[0] == "lang1.4-curl"
    assert near_package_names(context, starter, "zzzzzzzz", "amd64") == []
