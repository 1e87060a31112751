"""Tags go to created lines only: full, line, timestamp, major and latest to the newest."""

from __future__ import annotations

import datetime as dt

from couturier.core.tags import CreatedLine, plan_tags

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
