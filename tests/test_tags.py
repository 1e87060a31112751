"""Tags go to created lines only: full, line, timestamp, major and latest to the newest."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from couturier.core.tags import (
    CreatedLine,
    expired_timestamp_tags,
    free_timestamp_tag,
    is_timestamp_tag,
    plan_tags,
    timestamp_tag,
)

WHEN = dt.datetime(2026, 11, 23, 18, 6, 0, tzinfo=dt.UTC)


def test_every_line_gets_full_line_and_timestamp_and_newest_gets_major_and_latest() -> None:
    tags = plan_tags(
        [CreatedLine("3.11", "3.11.2"), CreatedLine("3.13", "3.13.5"), CreatedLine("3.9", "3.9.2")],
        WHEN,
    )
    assert tags["3.11"] == ("3.11.2", "3.11", "3.11.2-20261123180600")
    assert tags["3.9"] == ("3.9.2", "3.9", "3.9.2-20261123180600")
    assert tags["3.13"] == ("3.13.5", "3.13", "3.13.5-20261123180600", "3", "latest")


def test_major_tags_per_major_and_latest_follow_the_created_lines() -> None:
    # node 18 and 20 created, 24 skipped: latest and 20 move to the 20 line.
    tags = plan_tags([CreatedLine("18", "18.19.0"), CreatedLine("20", "20.19.2")], WHEN)
    assert tags["18"] == ("18.19.0", "18", "18.19.0-20261123180600")
    assert tags["20"] == ("20.19.2", "20", "20.19.2-20261123180600", "latest")
    php = plan_tags([CreatedLine("8.2", "8.2.29"), CreatedLine("7.4", "7.4.33")], WHEN)
    assert "8" in php["8.2"] and "7" in php["7.4"] and "latest" in php["8.2"]


def test_no_created_line_no_tags() -> None:
    assert plan_tags([], WHEN) == {}


def test_a_timestamp_tag_taken_by_another_digest_gets_the_next_free_suffix() -> None:
    tag = timestamp_tag("3.13.5", WHEN)
    assert is_timestamp_tag(tag) and is_timestamp_tag(f"{tag}-2")
    assert not any(is_timestamp_tag(t) for t in ("3.13.5", "3.13", "latest", f"{tag}-1"))
    assert free_timestamp_tag(tag, "sha256:a", {}) == tag
    assert free_timestamp_tag(tag, "sha256:a", {tag: "sha256:a"}) == tag  # already there
    taken = {tag: "sha256:a", f"{tag}-2": "sha256:b"}
    assert free_timestamp_tag(tag, "sha256:c", taken) == f"{tag}-3"
    assert free_timestamp_tag(tag, "sha256:b", taken) == f"{tag}-2"


@given(
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 4)), unique=True, max_size=40),
    st.integers(1, 50),
)
def test_only_the_newest_timestamp_tags_are_kept(stamps: list[tuple[int, int]], keep: int) -> None:
    def tag(seconds: int, n: int) -> str:
        plain = timestamp_tag("2.1", WHEN + dt.timedelta(seconds=seconds))
        return plain if n == 1 else f"{plain}-{n}"

    tags = [tag(s, n) for s, n in stamps] + ["2.1", "2", "latest"]
    expired = expired_timestamp_tags(tags, keep)
    kept = sorted(set(tags) - set(expired) - {"2.1", "2", "latest"})
    assert len(kept) == min(keep, len(stamps))
    assert set(expired).isdisjoint({"2.1", "2", "latest"})
    newest = sorted(stamps)[len(stamps) - len(kept) :]
    assert kept == sorted(tag(s, n) for s, n in newest)
