"""Events: what happened to a tenant's images, turned into deliveries of its actions.

Another service calls :func:`emit` inside its own unit of work with an :class:`Event` made by
one of the constructors here; each of the tenant's actions that listens for the event's kind
and whose filters match gets a delivery, queued as a job in the same unit (so an event and its
deliveries commit with the change that caused them, or not at all). Nothing is sent here: the
delivery job does that (:mod:`couturier.services.deliveries`), so an event never waits for a
receiver.

The kinds (``docs/actions.md`` has each payload's JSON Schema):

- ``line-new-digest``: a build created a line whose digest differs from the one the image's
  previous build made for it (:func:`new_digest`; emitted by :func:`build_ended`);
- ``line-failed``: a build's line failed or was skipped (:func:`line_failed`; idem);
- ``cves-fixed``: a rebuild's new package versions fix CVEs (:func:`cves_fixed`; for the
  refresh and its change records);
- ``line-end-of-life``: a line reaches its end of life within an action's
  ``end_of_life_days`` (:func:`end_of_life`; for the daily refresh: call it each day for
  every line of every image; each action is told once per image, line and date);
- ``image-deleted``: an image was deleted (:func:`image_deleted`).

Filters (an action's *If*, all that are set must hold): ``image`` is a glob
(:func:`fnmatch.fnmatchcase`: ``*``, ``?``, ``[...]``) of the image's name without its tenant;
``starter`` and ``line`` are exact; ``package`` is a package name the event concerns (an
event that names no package, such as ``image-deleted``, does not match a package filter).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from couturier.store import UnitOfWork
from couturier.store.actions import Action, Delivery, TenantActions
from couturier.store.models import Build, BuildLine, Image

if TYPE_CHECKING:
    from couturier.services.installation import Installation

__all__ = [
    "EVENT_KINDS",
    "TEST_EVENT",
    "Event",
    "Upgrade",
    "build_ended",
    "cves_fixed",
    "emit",
    "end_of_life",
    "image_deleted",
    "line_failed",
    "matches",
    "new_digest",
]

EVENT_KINDS: Mapping[str, str] = {
    "line-new-digest": "a line got a new digest",
    "line-failed": "a line failed or was skipped",
    "cves-fixed": "a rebuild fixed CVEs",
    "line-end-of-life": "a line reaches its end of life within N days",
    "image-deleted": "an image was deleted",
}
TEST_EVENT = "test"


@dataclass(frozen=True)
class Event:
    """One event of tenant ``tenant_id``: its ``kind``, the ``payload`` a receiver gets (the
    webhook's body), and what filters match on: the image's ``name`` (without its tenant),
    ``starter``, ``line`` and the ``packages`` it concerns."""

    kind: str
    tenant_id: int
    name: str
    starter: str
    payload: Mapping[str, Any]
    line: str | None = None
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Upgrade:
    """A package a rebuild upgraded and the CVE IDs its new version fixes."""

    package: str
    old_version: str
    new_version: str
    cves: tuple[str, ...] = field(default_factory=tuple)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _head(kind: str, image: Image, occurred: dt.datetime) -> dict[str, Any]:
    return {
        "event": kind,
        "occurred": _iso(occurred),
        "tenant": image.tenant_id,
        "image": f"{image.tenant_id}/{image.name}",
        "starter": image.starter,
    }


def _event(kind: str, image: Image, payload: dict[str, Any], **match: Any) -> Event:
    return Event(kind, image.tenant_id, image.name, image.starter, payload, **match)


def new_digest(
    image: Image,
    *,
    trace_id: str,
    line: str,
    full_version: str | None,
    digest: str,
    previous_digest: str | None,
    tags: Sequence[str],
    occurred: dt.datetime,
    packages: Sequence[str] = (),
) -> Event:
    """Line ``line`` of ``image`` now has ``digest`` (``previous_digest``: None on its first
    build); ``packages``: the packages whose change made it, when known (a refresh's change
    record), for package filters."""
    payload = {
        **_head("line-new-digest", image, occurred),
        "trace_id": trace_id,
        "line": line,
        "full_version": full_version,
        "digest": digest,
        "previous_digest": previous_digest,
        "tags": list(tags),
        "packages": sorted(set(packages)),
    }
    return _event("line-new-digest", image, payload, line=line, packages=tuple(packages))


def line_failed(
    image: Image,
    *,
    trace_id: str,
    line: str,
    status: str,
    problem: Mapping[str, Any] | None,
    occurred: dt.datetime,
) -> Event:
    """Line ``line`` of ``image``'s build ``trace_id`` ended ``failed`` or ``skipped`` with
    ``problem`` (``{code, message, fields}``)."""
    payload = {
        **_head("line-failed", image, occurred),
        "trace_id": trace_id,
        "line": line,
        "status": status,
        "problem": dict(problem) if problem is not None else None,
    }
    packages: tuple[str, ...] = ()
    if problem is not None and isinstance(problem.get("fields"), Mapping):
        named = problem["fields"].get("package")
        packages = (named,) if isinstance(named, str) else ()
    return _event("line-failed", image, payload, line=line, packages=packages)


def cves_fixed(
    image: Image,
    *,
    trace_id: str,
    line: str,
    upgrades: Sequence[Upgrade],
    occurred: dt.datetime,
) -> Event:
    """The rebuild ``trace_id`` of ``image``'s line ``line`` upgraded ``upgrades``, which fix
    CVEs (for the refresh: emit it when a change record names at least one CVE)."""
    cves = sorted({cve for upgrade in upgrades for cve in upgrade.cves})
    payload = {
        **_head("cves-fixed", image, occurred),
        "trace_id": trace_id,
        "line": line,
        "cves": cves,
        "packages": [
            {
                "name": u.package,
                "old_version": u.old_version,
                "new_version": u.new_version,
                "cves": sorted(u.cves),
            }
            for u in upgrades
        ],
    }
    packages = tuple(u.package for u in upgrades)
    return _event("cves-fixed", image, payload, line=line, packages=packages)


def end_of_life(image: Image, *, line: str, date: dt.date, occurred: dt.datetime) -> Event:
    """Line ``line`` of ``image`` ends its life on ``date`` (``days_left`` counted from
    ``occurred``'s UTC day; negative once past)."""
    payload = {
        **_head("line-end-of-life", image, occurred),
        "line": line,
        "end_of_life": date.isoformat(),
        "days_left": (date - occurred.astimezone(dt.UTC).date()).days,
    }
    return _event("line-end-of-life", image, payload, line=line)


def image_deleted(image: Image, *, occurred: dt.datetime) -> Event:
    """``image`` was deleted."""
    return _event("image-deleted", image, _head("image-deleted", image, occurred))


# -- matching and queuing ----------------------------------------------------------------------


def matches(action: Action, event: Event) -> bool:
    """Whether ``action`` is told of ``event``: it listens for the kind and every filter it
    sets holds (for ``line-end-of-life``, also: the days left are within its
    ``end_of_life_days``)."""
    if event.kind not in (action.events or []):
        return False
    filters = action.filters or {}
    image = filters.get("image")
    if image and not fnmatch.fnmatchcase(event.name, str(image)):
        return False
    if filters.get("starter") and filters["starter"] != event.starter:
        return False
    if filters.get("line") and filters["line"] != event.line:
        return False
    if filters.get("package") and filters["package"] not in event.packages:
        return False
    if event.kind == "line-end-of-life":
        within = int(filters.get("end_of_life_days") or 30)
        return int(event.payload.get("days_left", 0)) <= within
    return True


def _told(uow: UnitOfWork, action: Action, event: Event) -> bool:
    """Whether ``action`` was already told of this end of life (image, line and date)."""
    if event.kind != "line-end-of-life":
        return False
    query = select(Delivery.payload).where(
        Delivery.tenant_id == action.tenant_id,
        Delivery.action_id == action.id,
        Delivery.event == "line-end-of-life",
    )
    keys = ("image", "line", "end_of_life")
    wanted = tuple(event.payload.get(k) for k in keys)
    return any(tuple(p.get(k) for k in keys) == wanted for p in uow.session.scalars(query))


def emit(uow: UnitOfWork, installation: Installation, event: Event) -> list[Delivery]:
    """Queue a delivery of ``event`` to each of its tenant's actions that it matches, in
    ``uow`` (the jobs exist once it commits; workers find them at their next poll). The
    deliveries queued."""
    from couturier.services.deliveries import queue_delivery

    repo = TenantActions(uow.session, event.tenant_id)
    queued = []
    for action in repo.listening(event.kind):
        if matches(action, event) and not _told(uow, action, event):
            queued.append(
                queue_delivery(uow, installation, action, event.kind, dict(event.payload))
            )
    return queued


def _previous_digests(uow: UnitOfWork, build: Build) -> dict[str, str]:
    """Each line's digest as the image's newest earlier build that created it made it."""
    query = (
        select(BuildLine.line, BuildLine.digest)
        .join(Build, Build.id == BuildLine.build_id)
        .where(
            Build.tenant_id == build.tenant_id,
            Build.image_id == build.image_id,
            Build.id < build.id,
            BuildLine.status == "created",
            BuildLine.digest.is_not(None),
        )
        .order_by(Build.id)
    )
    return {line: digest for line, digest in uow.session.execute(query) if digest}


def build_ended(uow: UnitOfWork, installation: Installation, build: Build) -> None:
    """Emit the events of ``build``, whose lines were just recorded in ``uow``: a new digest
    for each created line whose digest changed, a failure for each failed or skipped line."""
    image = uow.session.get(Image, build.image_id)
    if image is None or image.tenant_id != build.tenant_id:
        return
    rows = uow.session.scalars(
        select(BuildLine).where(BuildLine.build_id == build.id).order_by(BuildLine.id)
    )
    before = _previous_digests(uow, build)
    now = installation.clock()
    for row in rows:
        if row.status == "created" and row.digest and row.digest != before.get(row.line):
            event = new_digest(
                image,
                trace_id=build.trace_id,
                line=row.line,
                full_version=row.full_version,
                digest=row.digest,
                previous_digest=before.get(row.line),
                tags=row.tags or [],
                occurred=now,
            )
        elif row.status in ("failed", "skipped"):
            event = line_failed(
                image,
                trace_id=build.trace_id,
                line=row.line,
                status=row.status,
                problem=row.problem,
                occurred=now,
            )
        else:
            continue
        emit(uow, installation, event)
