"""Each line's freshness record: its fingerprint and package set, written by the build that
creates it and compared by the refresh that re-plans it; and the change record of a rebuild.

:func:`image_inputs` says what, besides the packages, decides an image's lines (the spec, the
bundle versions, the starter's definition); :func:`planned_line` gives a line's fingerprint and
package set from its plans (:mod:`couturier.core.freshness`). After a build,
:func:`line_records` makes each created line's record, reading the CVE IDs its upgrades fix
from the changelogs of the new ``.deb`` files (fetched by the build already; the download cache
hands them back without a download), and :func:`store_line_records` writes them with the
build's lines.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from couturier.core.freshness import (
    ChangeRecord,
    PackageSet,
    change_record,
    line_fingerprint,
    package_set,
)
from couturier.errors import CouturierError
from couturier.store.freshness import LineChange, LineState, line_states

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from couturier.core.planner import LinePlan
    from couturier.debian.index import IndexCatalog
    from couturier.services.build import BuildResult, ImageRequest
    from couturier.services.context import BuildContext

__all__ = [
    "ImageInputs",
    "LineRecord",
    "image_inputs",
    "line_records",
    "planned_line",
    "skipped_fingerprint",
    "store_line_records",
]

log = logging.getLogger("couturier.freshness")

# Outcomes of a line's last refresh check (line_states.outcome; a starter's line keeps its
# own in its build's record, and ``changed`` while the rebuild a refresh asked for waits).
BUILT, UNCHANGED, END_OF_LIFE, CHANGED = "built", "unchanged", "end of life", "changed"


@dataclass(frozen=True)
class ImageInputs:
    """What decides an image's lines besides their packages: the stored ``spec`` document
    (without a build's own keys), the resolved ``bundles`` (``corp-ca@3``) and the
    ``starter``'s definition as text."""

    spec: Mapping[str, Any]
    bundles: tuple[str, ...]
    starter: str


def image_inputs(spec: Mapping[str, Any], request: ImageRequest) -> ImageInputs:
    """The :class:`ImageInputs` of image ``spec`` built as ``request``."""
    document = {k: v for k, v in spec.items() if k != "lines"}
    return ImageInputs(document, tuple(b.ref for b in request.bundles), repr(request.starter))


def planned_line(
    inputs: ImageInputs, plans: Sequence[LinePlan]
) -> tuple[str, dict[str, dict[str, str]]]:
    """The fingerprint and package set of a line planned as ``plans`` (one per
    architecture)."""
    packages = package_set(
        (plan.architecture, p.name, p.version) for plan in plans for p in plan.packages
    )
    fingerprint = line_fingerprint(packages, inputs.spec, inputs.bundles, inputs.starter)
    return fingerprint, packages


def skipped_fingerprint(code: str) -> str:
    """The fingerprint kept for a line that cannot be planned (a skip's ``code``): a refresh
    that finds it unplannable for the same reason builds nothing."""
    return f"skipped:{code}"[:64]


@dataclass(frozen=True)
class LineRecord:
    """A line's freshness after a build: ``fingerprint``, ``packages``, its image (``full
    version``, ``digest``) and, when it had an image before, the ``change`` record."""

    line: str
    fingerprint: str
    packages: PackageSet
    full_version: str
    digest: str
    change: ChangeRecord | None


def line_records(
    context: BuildContext,
    inputs: ImageInputs,
    result: BuildResult,
    previous: Mapping[str, PackageSet],
) -> list[LineRecord]:
    """The records of ``result``'s created and skipped lines; ``previous`` maps a line to
    the package set of its image before the build (lines without one get no change
    record)."""
    records = []
    for line in result.lines:
        if line.status == "skipped" and line.error is not None:
            fingerprint = skipped_fingerprint(str(line.error.code))
            records.append(LineRecord(line.version, fingerprint, {}, "", "", None))
            continue
        if line.status != "created" or not line.plans:
            continue
        fingerprint, packages = planned_line(inputs, [plan for plan, _ in line.plans])
        change = None
        old = previous.get(line.version)
        if old:
            change = change_record(old, packages, _changelogs(context, old, line.plans))
        records.append(
            LineRecord(line.version, fingerprint, packages, line.full_version, line.digest, change)
        )
    return records


def _changelogs(
    context: BuildContext,
    old: PackageSet,
    plans: Sequence[tuple[LinePlan, IndexCatalog]],
) -> dict[str, str]:
    """The changelog text of each package of ``plans`` whose version differs from ``old``'s,
    read from its ``.deb`` (one architecture is enough: a changelog is the source's)."""
    from couturier.assembly.changelog import deb_changelog

    before: dict[str, str] = {}
    for names in old.values():
        before.update(names)
    plan, catalog = plans[0]
    changed = [p for p in plan.packages if p.name in before and before[p.name] != p.version]
    if not changed:
        return {}
    texts: dict[str, str] = {}
    try:
        paths = context.fetch(changed, catalog.url_of)
        for package in changed:
            path = paths.get(package.name)
            text = deb_changelog(path, package.name) if path is not None else None
            if text:
                texts[package.name] = text
    except CouturierError as error:  # the CVE list is then empty; the build stands
        log.warning("build %s: changelogs not read: %s", context.trace_id, error.message)
    return texts


def store_line_records(
    session: Session,
    *,
    tenant_id: int,
    image_id: int,
    build_id: int,
    records: Sequence[LineRecord],
    now: dt.datetime,
) -> None:
    """Write ``records`` as the image's line states (outcome ``built``) and the build's
    change records."""
    states = line_states(session, image_id)
    for record in records:
        state = states.get(record.line)
        if state is None:
            state = LineState(tenant_id=tenant_id, image_id=image_id, line=record.line)
            session.add(state)
        state.fingerprint, state.packages = record.fingerprint, dict(record.packages)
        state.outcome, state.checked_at = BUILT, now
        if record.full_version:
            state.full_version, state.digest = record.full_version, record.digest
        if record.change is not None:
            session.add(
                LineChange(build_id=build_id, line=record.line, record=record.change.to_json())
            )


def change_records(session: Session, build_id: int) -> dict[str, dict[str, Any]]:
    """The change records of build ``build_id`` by line."""
    from sqlalchemy import select

    rows = session.scalars(select(LineChange).where(LineChange.build_id == build_id))
    return {row.line: row.record for row in rows}
