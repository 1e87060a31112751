"""A serving process keeps the catalogs, family indexes and starter lines its requests read
(:mod:`couturier.services.catalog_keep`): a catalog reading the same snapshots is the one
kept, caches warm; once a refresh brings a new index, the new catalog replaces it and the
starter lines follow. In process, over tests.console_fixture's source, no network."""

from __future__ import annotations

from pathlib import Path

from couturier.core.families import family_names_matching
from couturier.debian.refresh import refresh
from couturier.services.context import catalog_context
from couturier.services.families import matching_name_set
from couturier.services.installation import Installation
from couturier.services.starters import get_starter
from tests.console_fixture import CONSOLE_REPO
from tests.fixture_repo import SigningKey, build_repo
from tests.test_family_memo import repo, site

__all__ = ["repo", "site"]  # fixtures of test_family_memo, used here


def test_a_catalog_is_kept_while_its_snapshots_stay_and_replaced_by_a_new_index(
    site: Installation, repo: Path, signing_key: SigningKey
) -> None:
    kept = site.catalogs
    context = catalog_context(site.settings, kept=kept)
    first = context.catalogs("forky", "amd64")
    assert catalog_context(site.settings, kept=kept).catalogs("forky", "amd64") is first
    assert context.families is kept.families
    # Another process's context (no keeper) loads its own.
    assert catalog_context(site.settings).catalogs("forky", "amd64") is not first

    starter = get_starter(site.settings, "python")
    lines = kept.starter_lines(context, starter, "amd64")
    assert kept.starter_lines(context, starter, "amd64") is lines
    assert lines.catalogs["3.14"] is first

    newer = [
        {**stanza, "Version": "2.33.0-1"} if stanza["Package"] == "python3-requests" else stanza
        for stanza in CONSOLE_REPO["forky"]
    ]
    build_repo(repo, {"forky": newer}, key=signing_key, arch=("amd64",))
    refresh(site.settings, releases=["forky"], architectures=["amd64"])

    assert len(kept._lines) == 1
    after = context.catalogs("forky", "amd64")
    assert len(kept._lines) == 0  # worked out on the replaced catalog: dropped with it
    assert after is not first
    assert after.snapshots != first.snapshots
    assert after.versions("python3-requests")[0].version == "2.33.0-1"
    relined = kept.starter_lines(context, starter, "amd64")
    assert relined is not lines
    assert relined.catalogs["3.14"] is after
    # The other releases read the same snapshots: still the kept ones.
    assert relined.catalogs["3.13"] is lines.catalogs["3.13"]


def test_family_names_match_by_family_and_by_member_name(site: Installation) -> None:
    context = catalog_context(site.settings, kept=site.catalogs)
    starter = get_starter(site.settings, "python")
    lines = site.catalogs.starter_lines(context, starter, "amd64")
    found = matching_name_set(context, lines, "requests")
    assert "python3-requests" in found
    assert matching_name_set(context, lines, "REQUESTS-auto") == found
    assert matching_name_set(context, lines, "no-such-thing") == set()
    assert matching_name_set(context, lines, "a\tb") == set()
    # The kept lines carry their catalogs' names merged: the same matches as each catalog's.
    assert lines.names is not None
    for query in ("p", "py", "python3", "php", "8.4", "curl", "c"):
        each = family_names_matching(starter, lines.catalogs, query, context.families)
        assert matching_name_set(context, lines, query) == each, query
