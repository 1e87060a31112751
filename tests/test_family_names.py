"""FamilyNames merges the family indexes of a starter's catalogs and matches a query as the
indexes would together, narrowing to the last query's matches when the next one extends it
(typing) and scanning everything again when it does not. Pure: names only."""

from __future__ import annotations

import pytest

from couturier.core.families import FamilyIndex
from couturier.core.family_names import FamilyNames

LABELS = ("8.2", "8.4")
BOOKWORM = ["php8.2-curl", "php8.2-cli", "curl", "libcurl4", "python3-requests", "php-curl"]
TRIXIE = ["php8.4-curl", "php8.4-cli", "curl", "libcurl4t64", "python3-requests-toolbelt"]


def together(query: str) -> set[str]:
    return FamilyIndex(BOOKWORM, LABELS).families(query) | FamilyIndex(TRIXIE, LABELS).families(
        query
    )


@pytest.mark.parametrize(
    "typed",
    [
        ["c", "cu", "cur", "curl"],  # typing a word: each extends the last
        ["curl", "c", "requests", "re", "req"],  # shorter, another word, then typing again
        ["8.4", "8.4-c", "php8.4", "tool", "php"],
        ["l", "li", "z", "lib", "libcurl4t"],
    ],
)
def test_matching_finds_what_the_indexes_find_together_in_any_typing_order(
    typed: list[str],
) -> None:
    names = FamilyNames([FamilyIndex(BOOKWORM, LABELS), FamilyIndex(TRIXIE, LABELS)])
    for query in typed:
        assert names.matching(query) == together(query), query


def test_a_family_is_found_by_its_name_or_a_member_and_entries_are_merged() -> None:
    names = FamilyNames([FamilyIndex(BOOKWORM, LABELS), FamilyIndex(TRIXIE, LABELS)])
    assert names.matching("php8.4-curl") == {"php-curl"}  # a member's name: its family
    assert names.matching("php-curl") == {"php-curl"}  # the family's own name
    assert names.matching("toolbelt") == {"python3-requests-toolbelt"}
    assert names.matching("no-such") == set()
    assert names.matching("a\tb") == set()
    # "curl" is in both catalogs: one entry.
    assert len(names) < len(FamilyIndex(BOOKWORM, LABELS).searchable) + len(
        FamilyIndex(TRIXIE, LABELS).searchable
    )
