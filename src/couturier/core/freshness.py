"""Freshness of image lines: a line's fingerprint, and the change record of a rebuild.

A refresh re-plans every line and rebuilds the ones whose *fingerprint* changed
(:func:`line_fingerprint`): the sha256 of the planned package set (name, version, architecture
of every package on every architecture), the spec the line was built from, the versions of its
file bundles and the starter's definition. Anything else (a new index that changes nothing
the line installs) leaves the fingerprint, and so the line's image, as it is.

A rebuild's :class:`ChangeRecord` compares the package sets before and after (added, removed,
upgraded with old → new version; a downgrade counts as an upgrade with the versions as they
are) and lists the CVE IDs that the new versions' Debian changelogs name in the entries after
the old version (:func:`fixed_cves`), the way ``apt-listchanges`` reads the same files.

Pure: the caller hands over the plans' package sets and the changelogs' text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from couturier.core.version import compare

__all__ = [
    "ChangeRecord",
    "PackageSet",
    "Upgrade",
    "change_record",
    "changelog_entries",
    "fixed_cves",
    "line_fingerprint",
    "package_set",
]

# architecture → package name → version: what one line installs.
PackageSet = Mapping[str, Mapping[str, str]]

# A changelog entry's first line: "name (version) distributions; urgency=..." (Debian Policy
# 4.4, "debian/changelog").
_HEADER = re.compile(r"^(?P<name>[a-z0-9][a-z0-9+.-]*) \((?P<version>[^()\s]+)\)", re.MULTILINE)
# The CVE ID syntax (cve.mitre.org, "CVE ID Syntax Change", 2014): four-digit year, then four
# or more digits.
_CVE = re.compile(r"\bCVE-[0-9]{4}-[0-9]{4,}\b")


def package_set(packages: Iterable[tuple[str, str, str]]) -> dict[str, dict[str, str]]:
    """The :data:`PackageSet` of ``(architecture, name, version)`` triples (of every
    architecture a line is built for)."""
    result: dict[str, dict[str, str]] = {}
    for architecture, name, version in packages:
        result.setdefault(architecture, {})[name] = version
    return {arch: dict(sorted(names.items())) for arch, names in sorted(result.items())}


def line_fingerprint(
    packages: PackageSet,
    spec: Mapping[str, Any],
    bundles: Sequence[str],
    starter: str,
) -> str:
    """The hex sha256 of what decides a line's image: its planned ``packages``, the image's
    ``spec`` document (JSON values), its ``bundles`` as resolved references (``corp-ca@3``)
    and ``starter``, a text that changes whenever the starter's definition does (its repr).
    The same inputs give the same fingerprint in every process (keys sorted)."""
    document = {
        "packages": {arch: dict(sorted(names.items())) for arch, names in packages.items()},
        "spec": spec,
        "bundles": sorted(bundles),
        "starter": hashlib.sha256(starter.encode()).hexdigest(),
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Upgrade:
    """One package whose version changed on one line: ``old`` → ``new``, and the CVE IDs
    the new version's changelog says it fixes (sorted)."""

    name: str
    old: str
    new: str
    cves: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "old": self.old, "new": self.new, "cves": list(self.cves)}


@dataclass(frozen=True)
class ChangeRecord:
    """What a rebuild of one line changed: package names ``added`` and ``removed`` (sorted,
    with their versions), ``upgraded`` (sorted by name) and the CVE IDs ``fixed`` by the new
    versions (sorted, each once)."""

    added: tuple[tuple[str, str], ...] = ()
    removed: tuple[tuple[str, str], ...] = ()
    upgraded: tuple[Upgrade, ...] = ()
    fixed: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.upgraded)

    def to_json(self) -> dict[str, Any]:
        """``{"added": [{name, version}], "removed": [...], "upgraded": [{name, old, new}],
        "cves": [...]}``."""
        return {
            "added": [{"name": n, "version": v} for n, v in self.added],
            "removed": [{"name": n, "version": v} for n, v in self.removed],
            "upgraded": [u.to_json() for u in self.upgraded],
            "cves": list(self.fixed),
        }


def _merged(packages: PackageSet) -> dict[str, str]:
    """name → version over every architecture (an ``all`` package is the same on each; an
    arch-specific one is, in Debian, built from one source version everywhere)."""
    merged: dict[str, str] = {}
    for names in packages.values():
        merged.update(names)
    return merged


def change_record(
    old: PackageSet, new: PackageSet, changelogs: Mapping[str, str] | None = None
) -> ChangeRecord:
    """The change from package set ``old`` to ``new``; ``changelogs`` maps an upgraded or
    added package's name to its new version's ``changelog.Debian`` text (missing: no CVEs
    known for it). Cost: linear in the sets and the changelogs' size."""
    before, after = _merged(old), _merged(new)
    added = tuple((n, after[n]) for n in sorted(after.keys() - before.keys()))
    removed = tuple((n, before[n]) for n in sorted(before.keys() - after.keys()))
    upgraded = []
    for name in sorted(before.keys() & after.keys()):
        if before[name] != after[name]:
            text = (changelogs or {}).get(name)
            fixed = fixed_cves(text, before[name], after[name]) if text else []
            upgraded.append(Upgrade(name, before[name], after[name], tuple(fixed)))
    cves = {cve for upgrade in upgraded for cve in upgrade.cves}
    return ChangeRecord(added, removed, tuple(upgraded), tuple(sorted(cves)))


def changelog_entries(text: str) -> list[tuple[str, str]]:
    """The entries of a ``debian/changelog`` text, newest first: ``(version, body)`` where the
    body runs from the header line to the next header."""
    headers = list(_HEADER.finditer(text))
    entries = []
    for i, match in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        entries.append((match["version"], text[match.start() : end]))
    return entries


def fixed_cves(text: str, old: str, new: str) -> list[str]:
    """The CVE IDs named by the entries of changelog ``text`` whose version is above ``old``
    and at most ``new`` (Debian version order), sorted, each once. A downgrade fixes
    nothing."""
    found: set[str] = set()
    for version, body in changelog_entries(text):
        try:
            inside = compare(version, old) > 0 and compare(version, new) <= 0
        except ValueError:  # a malformed version in an old entry says nothing about fixes
            continue
        if inside:
            found.update(_CVE.findall(body))
    return sorted(found)
