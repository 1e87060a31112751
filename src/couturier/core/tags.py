"""Tags of the created lines of one build.

Every created line gets its full version (``3.13.5``), its line label (``3.13``) and an immutable
timestamp tag (``3.13.5-20261123180600``). The major tag (``3``) goes to the most advanced created
line of that major, ``latest`` to the most advanced created line overall; "most advanced" compares
line labels as Debian versions, so ``3.13`` beats ``3.9``. Skipped and failed lines get nothing,
so mutable tags may move to another line than in the starter image; that is intended.

Pure: the caller supplies the timestamp.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from couturier.core.version import sort_key

__all__ = ["CreatedLine", "plan_tags", "timestamp_tag"]


@dataclass(frozen=True)
class CreatedLine:
    """A line that was built: its label (``3.13``) and full version (``3.13.5``)."""

    label: str
    full_version: str


def timestamp_tag(full_version: str, when: dt.datetime) -> str:
    """The immutable tag of one build of a line: ``<full version>-<UTC yyyymmddHHMMSS>``."""
    return f"{full_version}-{when.astimezone(dt.UTC):%Y%m%d%H%M%S}"


def _major(label: str) -> str:
    return label.split(".", 1)[0]


def plan_tags(lines: Sequence[CreatedLine], when: dt.datetime) -> Mapping[str, tuple[str, ...]]:
    """Map each created line's label to its tags, in the order full, line, timestamp, major,
    latest. Labels must be unique; cost O(n log n).
    """
    ordered = sorted(lines, key=lambda line: sort_key(line.label))
    tags: dict[str, list[str]] = {
        line.label: [line.full_version, line.label, timestamp_tag(line.full_version, when)]
        for line in ordered
    }
    newest_of_major: dict[str, str] = {}
    for line in ordered:  # ascending: the last one seen of a major is its most advanced
        newest_of_major[_major(line.label)] = line.label
    for major, label in newest_of_major.items():
        if major not in tags[label]:
            tags[label].append(major)
    if ordered:
        tags[ordered[-1].label].append("latest")
    return {label: tuple(dict.fromkeys(values)) for label, values in tags.items()}
