"""Parsing Packages indexes, and the index-backed catalog over refreshed fixture snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from couturier.core.catalog import MemoryCatalog
from couturier.debian.index import IndexCatalog, load_catalog, versions_across
from couturier.debian.packages import iter_stanzas, parse_packages, parse_stanza
from couturier.debian.refresh import refresh
from couturier.debian.snapshots import SnapshotStore
from couturier.settings import Settings
from tests.conftest import make_settings
from tests.fixture_repo import SigningKey, build_repo

TEXT = b"""Package: alpha
Version: 1.0-1
Architecture: amd64
Depends: libc6 (>= 2.34), beta | gamma
Description: the first letter
 A longer description
 .
 with a blank paragraph line.
Tag: role::program,
 use::testing

Package: beta
Version: 2:0.9~rc1
Architecture: all
Provides: gamma (= 1.0), delta
Description:   spaced out summary<SP>
Odd:value without space
Trailing: value<SP>

\n
Version: 3
Package: late-name
Description: stanza not starting with Package
""".replace(b"<SP>", b"   ")


def test_parser_fields_continuations_and_spacing() -> None:
    alpha, beta, late = parse_packages(TEXT, "test/main")
    assert (alpha.name, alpha.version, alpha.architecture, alpha.origin) == (
        "alpha",
        "1.0-1",
        "amd64",
        "test/main",
    )
    assert alpha.fields["Description"] == (
        "the first letter\n A longer description\n .\n with a blank paragraph line."
    )
    assert alpha.summary == "the first letter"
    assert alpha.fields["Tag"] == "role::program,\n use::testing"
    depends = alpha.relations("Pre-Depends") + alpha.relations("Depends")
    assert [[r.name for r in dep] for dep in depends] == [["libc6"], ["beta", "gamma"]]
    assert beta.fields["Description"] == "spaced out summary"
    assert beta.fields["Odd"] == "value without space"
    assert beta.fields["Trailing"] == "value"
    assert beta.fields.get("Missing") is None and "Provides" in beta.fields
    assert dict(beta.fields) == parse_stanza(TEXT.split(b"\n\n")[1])
    assert (late.name, late.version, late.architecture) == ("late-name", "3", "all")


def test_stanza_offsets_point_at_stanzas() -> None:
    for offset, stanza in iter_stanzas(TEXT):
        assert TEXT[offset:].startswith(stanza)
    assert len(list(iter_stanzas(TEXT))) == 3


def test_parser_matches_python_debian() -> None:
    deb822 = pytest.importorskip("debian.deb822")
    ours = [dict(p.fields) for p in parse_packages(TEXT)]
    theirs = [dict(s) for s in deb822.Packages.iter_paragraphs(TEXT.decode(), use_apt_pkg=False)]
    assert [d["Package"] for d in ours] == [d["Package"] for d in theirs]
    assert ours[0]["Description"] == theirs[0]["Description"]


SUITES: dict[str, list[dict[str, str]]] = {
    "stable": [
        {
            "Package": "python3-rsa",
            "Version": "4.8-1",
            "Description": "pure-Python RSA implementation\n This is a long line.",
            "Provides": "python3-rsa-api (= 4.8)",
        },
        {
            "Package": "mta-a",
            "Version": "1.0",
            "Architecture": "amd64",
            "Provides": "mail-transport-agent",
        },
        {
            "Package": "mta-b",
            "Version": "2.0",
            "Architecture": "arm64",
            "Provides": "mail-transport-agent",
        },
        {
            "Package": "curl",
            "Version": "7.88.1-10",
            "Architecture": "amd64",
            "Description": "command line tool for transferring data with URL syntax",
        },
        {
            "Package": "curl",
            "Version": "7.88.1-10",
            "Architecture": "arm64",
            "Description": "command line tool for transferring data with URL syntax",
        },
        {
            "Package": "libcurl4",
            "Version": "7.88.1-10",
            "Architecture": "amd64",
            "Description": "easy-to-use client-side URL transfer library",
        },
    ],
    "stable-security": [
        {
            "Package": "curl",
            "Version": "7.88.1-10+deb12u5",
            "Architecture": "amd64",
            "Description": "command line tool for transferring data with URL syntax",
        },
        {
            "Package": "python3-rsa",
            "Version": "4.8-1",
            "Description": "pure-Python RSA implementation\n This is a long line.",
            "Provides": "python3-rsa-api (= 4.8)",
        },
    ],
    "next": [
        {"Package": "python3-rsa", "Version": "4.9-2", "Provides": "python3-rsa-api (= 4.9)"},
    ],
}


@pytest.fixture(scope="module")
def catalog_settings(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Settings:
    root = tmp_path_factory.mktemp("catalog")
    repo = build_repo(root / "repo", SUITES, key=signing_key)
    settings = make_settings(
        root, repo, signing_key.keyring, {"stable": ["stable", "stable-security"], "next": ["next"]}
    )
    refresh(settings)
    return settings


@pytest.fixture(scope="module")
def amd64(catalog_settings: Settings) -> IndexCatalog:
    return load_catalog(catalog_settings, "stable", "amd64")


def test_versions_newest_first_across_suites(amd64: IndexCatalog) -> None:
    curl = amd64.versions("curl")
    assert [(p.version, p.origin) for p in curl] == [
        ("7.88.1-10+deb12u5", "stable-security/main"),
        ("7.88.1-10", "stable/main"),
    ]
    assert [p.version for p in amd64.versions("python3-rsa")] == ["4.8-1"]  # deduplicated
    assert amd64.versions("nothing") == []
    assert curl[0].sha256 and curl[0].filename.startswith("pool/main/")


def test_arch_filter(catalog_settings: Settings, amd64: IndexCatalog) -> None:
    arm64 = load_catalog(catalog_settings, "stable", "arm64")
    assert "mta-b" not in set(amd64.names())
    assert "libcurl4" not in set(arm64.names())
    assert {p.architecture for p in arm64.versions("curl")} == {"arm64"}


def test_providers_including_versioned(amd64: IndexCatalog) -> None:
    assert [(p.name, r.op) for p, r in amd64.providers("mail-transport-agent")] == [("mta-a", None)]
    [(package, relation)] = amd64.providers("python3-rsa-api")
    assert (package.name, relation.op, relation.version) == ("python3-rsa", "=", "4.8")
    assert relation.allows("4.8") and not relation.allows("4.9")
    assert amd64.providers("nothing") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("curl", ["curl", "libcurl4"]),
        ("CURL", ["curl", "libcurl4"]),
        ("url transfer", ["libcurl4"]),
        ("deb12u5", ["curl"]),
        ("7.88.1-10", ["curl", "libcurl4"]),
        ("rsa impl", ["python3-rsa"]),
        ("long line", []),  # only the summary is searched
        ("", ["curl", "libcurl4", "mta-a", "python3-rsa"]),
        # The search text separates its fields with these: a query holding one finds nothing
        # (no name, version or one-line summary holds one), not every package.
        ("\0", []),
        ("cu\0rl", []),
        ("\n", []),
        ("curl\n", []),
    ],
)
def test_search_matches_memory_catalog(
    amd64: IndexCatalog, query: str, expected: list[str]
) -> None:
    found = amd64.search(query)
    assert [p.name for p in found] == expected
    everything = [p for name in amd64.names() for p in amd64.versions(name)]
    reference = MemoryCatalog(everything, "stable", "amd64").search(query)
    assert found == reference
    assert [p.name for p in amd64.search(query, limit=1)] == expected[:1]
    # The names alone, no stanza parsed: the same, in the same order.
    assert amd64.search_names(query) == expected
    assert amd64.search_names(query, limit=1) == expected[:1]


def test_versions_across_releases(catalog_settings: Settings, amd64: IndexCatalog) -> None:
    catalogs = [
        amd64,
        load_catalog(catalog_settings, "stable", "arm64"),
        load_catalog(catalog_settings, "next", "amd64"),
    ]
    across = versions_across(catalogs, "python3-rsa")
    assert {r: [p.version for p in v] for r, v in across.items()} == {
        "stable": ["4.8-1"],
        "next": ["4.9-2"],
    }
    assert versions_across(catalogs, "curl")["next"] == []


def test_derived_index_is_rebuilt_when_corrupt(catalog_settings: Settings) -> None:
    catalog = load_catalog(catalog_settings, "next", "amd64")
    sha = catalog.snapshots[0]
    assert not (catalog_settings.snapshot_dir / f"{sha}.search").exists()  # made by a search
    assert [p.name for p in catalog.search("rsa")] == ["python3-rsa"]
    index_file = catalog_settings.snapshot_dir / f"{sha}.idx"
    index_file.write_bytes(b"garbage")
    (catalog_settings.snapshot_dir / f"{sha}.search").unlink()
    again = load_catalog(catalog_settings, "next", "amd64")
    assert [p.version for p in again.versions("python3-rsa")] == ["4.9-2"]
    assert [p.name for p in again.search("rsa")] == ["python3-rsa"]
    # A damaged search text is made again, not trusted, for a search of names alone too.
    (catalog_settings.snapshot_dir / f"{sha}.search").write_bytes(b"zzz rsa\0\0\n")
    third = load_catalog(catalog_settings, "next", "amd64")
    assert third.search_names("rsa") == ["python3-rsa"]
    assert third.search_names("zzz") == []
    assert SnapshotStore(catalog_settings.snapshot_dir).open(sha).names == {"python3-rsa": 0}


def test_load_catalog_unknown_names(catalog_settings: Settings) -> None:
    from couturier.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown release"):
        load_catalog(catalog_settings, "nope", "amd64")
    with pytest.raises(ConfigError, match="unknown architecture"):
        load_catalog(catalog_settings, "stable", "s390x")


def test_unused_path_helper(tmp_path: Path) -> None:
    assert not SnapshotStore(tmp_path).has("0" * 64)
