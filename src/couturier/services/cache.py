"""Checking everything Couturier reuses from disk, and repairing what it can.

:func:`verify_cache` hashes every file of the package cache, the layer cache, the index
snapshots (and their derived files) and the bundle stores (the command line's and every
tenant's) against what names or records it, checks each suite's state file against the
verified ``InRelease`` kept beside it (whose signature is checked again with ``gpgv``), and
removes the partial files no running process holds. What is damaged and can be made again is
removed: a package is downloaded again, a layer rebuilt, a derived file rebuilt the next time it
is needed; a damaged snapshot is removed and the next refresh (or the next command that needs
it) downloads it again; a damaged state file is removed, and the next refresh rebuilds it from
the signed ``InRelease``. A damaged bundle cannot be made again from anything Couturier has: it
is reported, not repaired.

Cost: one full read of every file checked (no stamp is trusted: this is what catches damage
that bypassed the file system, such as bit rot).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from couturier.assembly.fetch import sweep_downloads
from couturier.assembly.layercache import sweep_layer_partials
from couturier.debian.listing import reverify_state, state_problems
from couturier.debian.snapshots import (
    SnapshotStore,
    SuiteStateDamagedError,
    load_suite_state,
    suite_state_path,
    sweep_snapshot_partials,
)
from couturier.integrity import file_problem, sweep_partials
from couturier.services.bundles import bundle_tenants, bundle_versions, store_root, sweep_staging
from couturier.services.catalog import Say
from couturier.settings import Settings

__all__ = ["CacheReport", "Finding", "verify_cache"]
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Finding:
    """One damaged file: what it is (``kind``: package, layer, state, snapshot, derived,
    bundle),
    where, what is wrong, and what was done (``action``; empty when it could not be repaired,
    then ``hint`` says what the user can do)."""

    kind: str
    path: str
    problem: str
    action: str = ""
    hint: str = ""

    @property
    def repaired(self) -> bool:
        return bool(self.action)

    def to_json(self) -> dict[str, str]:
        body = {"kind": self.kind, "path": self.path, "problem": self.problem}
        return body | ({"action": self.action} if self.action else {"hint": self.hint})

    def __str__(self) -> str:
        then = self.action if self.action else f"not repaired: {self.hint}"
        return f"{self.kind} {self.path} {self.problem}; {then}"


@dataclass
class CacheReport:
    """Files checked, the damaged ones (:class:`Finding`) and the partial files removed."""

    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    swept: list[Path] = field(default_factory=list)

    @property
    def repaired(self) -> list[Finding]:
        return [f for f in self.findings if f.repaired]

    @property
    def unrepaired(self) -> list[Finding]:
        return [f for f in self.findings if not f.repaired]

    @property
    def ok(self) -> bool:
        """Everything is sound or was repaired."""
        return not self.unrepaired

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "damaged": [f.to_json() for f in self.findings],
            "repaired": [f.to_json() for f in self.repaired],
            "unrepaired": [f.to_json() for f in self.unrepaired],
            "partial_files_removed": [str(p) for p in self.swept],
        }


def verify_cache(settings: Settings, say: Say | None = None) -> CacheReport:
    """Check and repair the package cache, layer cache, snapshots and bundle stores (the
    command line's and every tenant's) of ``settings``; ``say`` gets a line per area as it
    starts. Never raises for a damaged file (it is in the report); raises :class:`OSError`
    only for a directory that cannot be listed.
    """
    say = say or (lambda message: None)
    report = CacheReport()
    report.swept += sweep_downloads(settings.cache_dir)
    report.swept += sweep_layer_partials(settings.cache_dir / "layers")
    report.swept += sweep_snapshot_partials(settings.snapshot_dir)
    # Leftovers of earlier versions, which wrote temporary files beside the final ones.
    for directory in sorted((settings.cache_dir / "debs").glob("??")):
        report.swept += sweep_snapshot_partials(directory)
    for name in ("blobs", "keys"):
        directory = settings.cache_dir / "layers" / name
        report.swept += sweep_partials(directory, lambda entry: entry.startswith(".partial-"))
    for owner in (None, *bundle_tenants(settings)):
        report.swept += sweep_staging(settings, owner)
    for directory in sorted((settings.state_dir / "suites").glob("*")):
        report.swept += sweep_snapshot_partials(directory)
        for kept in sorted(directory.glob("*.inrelease")):
            report.swept += sweep_snapshot_partials(kept)
    say("checking the package cache")
    _check_packages(settings.cache_dir / "debs", report)
    say("checking the layer cache")
    _check_layers(settings.cache_dir / "layers", report)
    say("checking the suite states and index snapshots")
    _check_snapshots(settings, report)
    say("checking the bundle store")
    _check_bundles(settings, report)
    return report


def _problem(path: Path, sha256: str, size: int | None = None) -> str | None:
    try:
        return file_problem(path, sha256, size)
    except OSError as error:
        return f"cannot be read ({error.strerror})"


def _remove(path: Path) -> str:
    """Remove ``path``; empty when that failed (the finding then stays unrepaired)."""
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        return f"cannot be removed ({error.strerror})"
    return ""


def _removed(report: CacheReport, kind: str, path: Path, problem: str, then: str) -> None:
    failure = _remove(path)
    if failure:
        report.findings.append(
            Finding(kind, str(path), f"{problem}, and {failure}", hint=f"remove {path} by hand")
        )
    else:
        report.findings.append(Finding(kind, str(path), problem, f"removed: {then}"))


def _check_packages(debs: Path, report: CacheReport) -> None:
    for path in sorted(debs.glob("??/*")):
        if not _HEX.fullmatch(path.name) or path.parent.name != path.name[:2]:
            continue
        report.checked += 1
        problem = _problem(path, path.name)
        if problem is not None:
            _removed(report, "package", path, problem, "downloaded again when next needed")


def _check_layers(root: Path, report: CacheReport) -> None:
    referenced: set[str] = set()
    for key_path in sorted((root / "keys").glob("*.json")):
        report.checked += 1
        try:
            meta = json.loads(key_path.read_text())
            digest, size = str(meta["digest"]), int(meta["size"])
        except (OSError, ValueError, KeyError, TypeError):
            _removed(
                report, "layer", key_path, "is unreadable", "the layer is rebuilt when next needed"
            )
            continue
        blob = root / "blobs" / digest.removeprefix("sha256:")
        referenced.add(blob.name)
        problem = _problem(blob, blob.name, size)
        if problem is None:
            continue
        if problem != "is missing":
            _remove(blob)
        _removed(report, "layer", blob, problem, "rebuilt when next needed")
        _remove(key_path)
    for blob in sorted((root / "blobs").glob("*")):
        if blob.name in referenced or not _HEX.fullmatch(blob.name):
            continue
        report.checked += 1
        problem = _problem(blob, blob.name)
        if problem is not None:
            _removed(report, "layer", blob, problem, "no layer descriptor names it")


def _keyrings(settings: Settings) -> dict[tuple[str, str], Path]:
    """The keyring of every configured suite, by (mirror, suite) as their state paths name
    them."""
    found: dict[tuple[str, str], Path] = {}
    for release in settings.releases.values():
        for suite in release.suites:
            path = suite_state_path(settings.state_dir, suite.mirror.name, suite.name)
            found[(path.parent.name, path.stem)] = suite.mirror.keyring
    return found


def _check_states(settings: Settings, report: CacheReport) -> set[str]:
    """Check every suite state file: that it parses, that the InReleases kept beside it still
    carry a good signature (``gpgv`` with the suite's keyring, when the settings still name
    the suite), and that it names what they list. A damaged state is removed (the next refresh
    rebuilds it). Returns the snapshots the sound states name."""
    keyrings = _keyrings(settings)
    current: set[str] = set()
    then = "the next refresh (or command that needs it) rebuilds it from the signed InRelease"
    for state_path in sorted((settings.state_dir / "suites").glob("*/*.json")):
        report.checked += 1
        mirror, suite = state_path.parent.name, state_path.stem
        try:
            state = load_suite_state(settings.state_dir, mirror, suite)
        except SuiteStateDamagedError as error:
            _removed(report, "state", state_path, error.damage, then)
            continue
        if state is None or state.absent:
            continue
        keyring = keyrings.get((mirror, suite))
        problems = (
            reverify_state(settings.state_dir, state, keyring)
            if keyring is not None
            else state_problems(settings.state_dir, state)
        )
        if problems:
            _removed(report, "state", state_path, "; ".join(problems), then)
            continue
        current.update(index.sha256 for index in state.indexes.values())
    return current


def _check_snapshots(settings: Settings, report: CacheReport) -> None:
    store = SnapshotStore(settings.snapshot_dir)
    current = _check_states(settings, report)
    present = {p.name for p in settings.snapshot_dir.glob("*") if _HEX.fullmatch(p.name)}
    for sha256 in sorted(present | current):
        path = store.path(sha256)
        report.checked += 1
        problem = _problem(path, sha256)
        then = (
            "the next refresh (or command that needs it) downloads it again"
            if sha256 in current
            else "no suite uses it any more"
        )
        if problem is not None:
            try:
                store.drop(sha256)
                action = f"removed: {then}" if problem != "is missing" else then
                report.findings.append(Finding("snapshot", str(path), problem, action))
            except OSError as error:
                report.findings.append(
                    Finding(
                        "snapshot",
                        str(path),
                        f"{problem}, and it cannot be removed ({error.strerror})",
                        hint=f"remove {path} by hand, then refresh the catalog",
                    )
                )
            continue
        for derived, derived_problem in store.check_derived(sha256).items():
            report.checked += 1
            _removed(report, "derived", derived, derived_problem, "rebuilt when next needed")


def _check_bundles(settings: Settings, report: CacheReport) -> None:
    for owner in (None, *bundle_tenants(settings)):
        _check_bundle_store(settings, owner, report)


def _check_bundle_store(settings: Settings, tenant: int | None, report: CacheReport) -> None:
    root = store_root(settings, tenant)
    for stored in bundle_versions(settings, tenant):
        hint = f"create bundle {stored.name} again"
        report.checked += 1
        if stored.bundle is None:
            where = root / stored.name / str(stored.version) / "bundle.json"
            report.findings.append(Finding("bundle", str(where), stored.problem, hint=hint))
            continue
        for file in stored.bundle.files:
            if file.source is None:
                continue
            report.checked += 1
            problem = _problem(file.source, file.sha256, file.size)
            if problem is not None:
                what = f"({stored.ref}: {file.path}) {problem}"
                report.findings.append(Finding("bundle", str(file.source), what, hint=hint))
