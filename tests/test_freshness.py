"""The pure freshness rules: line fingerprints, change records and the CVE IDs read from
Debian changelogs between two versions (Debian version order); and the changelog read from
a real ``.deb`` built with ``dpkg-deb``."""

from __future__ import annotations

from pathlib import Path

import pytest

from couturier.assembly.changelog import deb_changelog
from couturier.core.freshness import (
    change_record,
    changelog_entries,
    fixed_cves,
    line_fingerprint,
    package_set,
)
from tests.fixture_repo import _build_deb

CHANGELOG = """\
openssl (3.0.15-1~deb12u1) bookworm-security; urgency=medium

  * New upstream release, fixing CVE-2024-5535 and CVE-2024-9143.

 -- Maintainer <m@example.invalid>  Mon, 28 Oct 2024 10:00:00 +0000

openssl (3.0.14-1~deb12u2) bookworm; urgency=medium

  * Fix CVE-2024-4741.
  * Mention CVE-2024-4741 again (once in the record).

 -- Maintainer <m@example.invalid>  Mon, 01 Jul 2024 10:00:00 +0000

openssl (3.0.11-1~deb12u2) bookworm-security; urgency=medium

  * Fix CVE-2023-5678.

 -- Maintainer <m@example.invalid>  Mon, 01 Jan 2024 10:00:00 +0000
"""


def test_changelog_entries_are_newest_first_with_their_bodies() -> None:
    entries = changelog_entries(CHANGELOG)
    assert [v for v, _ in entries] == ["3.0.15-1~deb12u1", "3.0.14-1~deb12u2", "3.0.11-1~deb12u2"]
    assert "CVE-2023-5678" in entries[2][1] and "CVE-2023-5678" not in entries[1][1]


@pytest.mark.parametrize(
    ("old", "new", "cves"),
    [
        (
            "3.0.11-1~deb12u2",
            "3.0.15-1~deb12u1",
            ["CVE-2024-4741", "CVE-2024-5535", "CVE-2024-9143"],
        ),
        ("3.0.14-1~deb12u2", "3.0.15-1~deb12u1", ["CVE-2024-5535", "CVE-2024-9143"]),
        # ~ sorts before anything: 3.0.14-1~deb12u2 is above 3.0.14-1~deb12u1.
        ("3.0.14-1~deb12u1", "3.0.14-1~deb12u2", ["CVE-2024-4741"]),
        ("3.0.15-1~deb12u1", "3.0.11-1~deb12u2", []),  # a downgrade fixes nothing
        ("3.0.15-1~deb12u1", "3.0.15-1~deb12u1", []),
    ],
)
def test_fixed_cves_are_those_of_the_entries_after_the_old_version(
    old: str, new: str, cves: list[str]
) -> None:
    assert fixed_cves(CHANGELOG, old, new) == cves


def test_a_change_record_lists_added_removed_upgraded_and_the_cves() -> None:
    old = package_set([("amd64", "openssl", "3.0.14-1~deb12u2"), ("amd64", "zlib1g", "1:1.2.13")])
    new = package_set([("amd64", "openssl", "3.0.15-1~deb12u1"), ("amd64", "libzstd1", "1.5.4")])
    record = change_record(old, new, {"openssl": CHANGELOG})
    assert record.to_json() == {
        "added": [{"name": "libzstd1", "version": "1.5.4"}],
        "removed": [{"name": "zlib1g", "version": "1:1.2.13"}],
        "upgraded": [
            {
                "name": "openssl",
                "old": "3.0.14-1~deb12u2",
                "new": "3.0.15-1~deb12u1",
                "cves": ["CVE-2024-5535", "CVE-2024-9143"],
            }
        ],
        "cves": ["CVE-2024-5535", "CVE-2024-9143"],
    }
    assert change_record(old, old).empty


def test_the_fingerprint_changes_with_each_input_and_only_then() -> None:
    packages = package_set([("amd64", "tool", "1.0"), ("arm64", "tool", "1.0")])
    spec = {"name": "x", "starter": "tiny", "packages": ["tool"]}
    base = line_fingerprint(packages, spec, ["corp-ca@1"], "Starter(...)")
    assert base == line_fingerprint(
        dict(reversed(packages.items())), dict(spec), ["corp-ca@1"], "Starter(...)"
    )
    changed = [
        line_fingerprint(
            package_set([("amd64", "tool", "1.1"), ("arm64", "tool", "1.0")]),
            spec,
            ["corp-ca@1"],
            "Starter(...)",
        ),
        line_fingerprint(
            package_set([("amd64", "tool", "1.0")]), spec, ["corp-ca@1"], "Starter(...)"
        ),
        line_fingerprint(packages, {**spec, "env": {"A": "b"}}, ["corp-ca@1"], "Starter(...)"),
        line_fingerprint(packages, spec, ["corp-ca@2"], "Starter(...)"),
        line_fingerprint(packages, spec, ["corp-ca@1"], "Starter(changed)"),
    ]
    assert base not in changed and len(set(changed)) == len(changed)


def test_the_changelog_is_read_from_a_real_deb(tmp_path: Path) -> None:
    with_log = _build_deb(
        tmp_path, {"Package": "libfoo", "Version": "1.1-1", "Changelog": CHANGELOG}
    )
    without = _build_deb(tmp_path, {"Package": "libbar", "Version": "1.0-1"})
    assert deb_changelog(with_log, "libfoo") == CHANGELOG
    assert deb_changelog(without, "libbar") is None
    assert deb_changelog(with_log, "other") is None
