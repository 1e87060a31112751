"""Tags of the created lines of one build.

Every created line gets its full version (``3.13.5``), its line label (``3.13``) and an immutable
timestamp tag (``3.13.5-20261123180600``). The major tag (``3``) goes to the most advanced created
line of that major, ``latest`` to the most advanced created line overall; "most advanced" compares
line labels as Debian versions, so ``3.13`` beats ``3.9``. Skipped and failed lines get nothing,
so mutable tags may move to another line than in the starter image; that is intended.

Where tags are published (a registry repository), an immutable tag is never moved: a timestamp
tag that already names another digest is published as ``<tag>-2`` (``-3``, ...) instead
(:func:`free_timestamp_tag`), and only the newest timestamp tags of a line are kept
(:func:`expired_timestamp_tags`).

Pure: the caller supplies the timestamp and the tags that exist.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from couturier.core.version import sort_key

__all__ = [
    "TAG_PATTERN",
    "CreatedLine",
    "expired_timestamp_tags",
    "free_timestamp_tag",
    "is_timestamp_tag",
    "plan_tags",
    "timestamp_tag",
]

# The tag grammar of the OCI distribution specification ("Pulling manifests": a tag is at most
# 128 characters of [a-zA-Z0-9_.-], not starting with '.' or '-').
TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# <full version>-<yyyymmddHHMMSS>, with the -N a collision added.
_TIMESTAMPED = re.compile(r".+-(?P<when>[0-9]{14})(?:-(?P<n>[2-9]|[1-9][0-9]+))?")


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


def is_timestamp_tag(tag: str) -> bool:
    """Whether ``tag`` is an immutable timestamp tag (``3.13.5-20261123180600``, or one with
    the ``-2`` suffix of a collision)."""
    return _TIMESTAMPED.fullmatch(tag) is not None


def free_timestamp_tag(tag: str, digest: str, taken: Mapping[str, str]) -> str:
    """The name under which the timestamp tag ``tag`` can point at ``digest`` without moving
    an existing immutable tag: ``tag`` itself when it is free or names ``digest`` already,
    else the first of ``tag-2``, ``tag-3``, ... that is. ``taken`` maps existing tags to the
    digests they name. Cost O(k) for k suffixes already taken."""
    candidate, n = tag, 1
    while taken.get(candidate, digest) != digest:
        n += 1
        candidate = f"{tag}-{n}"
    return candidate


def _timestamp_order(tag: str) -> tuple[str, int, str]:
    found = _TIMESTAMPED.fullmatch(tag)
    if found is None:
        return ("", 0, tag)
    return (found["when"], int(found["n"] or 1), tag)


def expired_timestamp_tags(tags: Iterable[str], keep: int) -> list[str]:
    """The timestamp tags of one line to remove so that the newest ``keep`` remain, by the
    time in their names (a ``-2`` after its plain tag); ties go by name. ``keep`` >= 1."""
    ordered = sorted((t for t in tags if is_timestamp_tag(t)), key=_timestamp_order)
    return ordered[: max(0, len(ordered) - max(1, keep))]
