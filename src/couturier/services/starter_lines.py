"""The starter images' own lines in the service: built when a starter is first needed (after
its first private image's build, which fills the caches they are built from; a request for a
line's packages or SBOM), kept from then on, and read back by
``GET /v1/starters/{starter}/lines/{line}/sbom``. A first start builds nothing.

A starter's build is a job of its own kind (``starter``, lock key ``starter:<name>``: one at
a time per starter, on the embedded runner or a procrastinate worker alike), recorded in the
``starter_builds`` table (:class:`~couturier.store.starter_builds.StarterBuild`). Asking for
a starter whose lines are queued, building or built queues nothing (coalesced); a starter
whose last build created no line is queued again when asked for again, ten minutes after.

Where the lines are stored is chosen in one place, :func:`starter_sink`: the registry
repository ``starters/<name>`` (a name from the installation's starter files, never a user's
text), pullable by the tenants entitled to the starter.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text

from couturier.core.spec import SpecError, Violation
from couturier.core.suggest import close_names, did_you_mean
from couturier.core.tags import CreatedLine
from couturier.errors import Code, CouturierError, NotFoundError, Problem
from couturier.jobs import ClaimedJob, JobQueue
from couturier.services.build import ImageRequest, build
from couturier.services.context import build_context
from couturier.services.entitled import entitled_starter
from couturier.services.freshness import (
    BUILT,
    CHANGED,
    ImageInputs,
    image_inputs,
    planned_line,
    skipped_fingerprint,
)
from couturier.services.registry_sink import registry_sink, starter_repository
from couturier.services.signing_keys import signer_of
from couturier.services.smoke import smoke_tester
from couturier.services.starters import starters
from couturier.store import UnitOfWork
from couturier.store.starter_builds import StarterBuild

if TYPE_CHECKING:
    from couturier.core.starter import Starter
    from couturier.oci.sink import ImageSink
    from couturier.services.build import BuildResult, LineResult
    from couturier.services.installation import Installation
    from couturier.services.tokens import Principal

__all__ = [
    "KIND",
    "ask_starter_lines",
    "locked_starter_build",
    "pulled_starter",
    "queue_starter_build",
    "run_starter_build",
    "starter_build_json",
    "starter_inputs",
    "starter_line_sbom",
    "starter_sink",
    "want_starter_lines",
]

log = logging.getLogger("couturier.builds")

KIND = "starter"
_LOCK = "starter:"
MAX_ATTEMPTS = 3  # as a private image's build: a worker that died on each gives it up
RETRY_AFTER = dt.timedelta(minutes=10)  # a build that created no line is queued again after


def starter_sink(installation: Installation, name: str, trace_id: str) -> ImageSink:
    """Where starter ``name``'s lines are stored: the registry repository ``starters/<name>``
    (the blob store and its records), the one place that chooses it."""
    return registry_sink(installation, starter_repository(name), trace_id=trace_id)


def want_starter_lines(queue: JobQueue, uow: UnitOfWork, name: str, now: dt.datetime) -> bool:
    """Queue the build of starter ``name``'s lines in ``uow`` unless they are queued, being
    built or built (call ``queue.notify()`` once ``uow`` commits); whether it was queued.
    Requests at once for one starter queue one build: on PostgreSQL they take the starter's
    advisory lock in turn (a write unit on SQLite holds the database's write lock)."""
    session = uow.session
    row = locked_starter_build(uow, name)
    if row is not None and row.status != "failed":
        return False
    if row is not None and row.finished_at is not None and now - row.finished_at < RETRY_AFTER:
        return False  # failed a moment ago: each request would queue the same failure
    if row is None:
        row = StarterBuild(starter=name, lines=[])
        session.add(row)
    queue_starter_build(queue, uow, row, now)
    log.info("starter %s: its lines are queued to be built", name)
    return True


def locked_starter_build(uow: UnitOfWork, name: str) -> StarterBuild | None:
    """Starter ``name``'s build row, or None, read under the starter's lock: its advisory
    lock on PostgreSQL (a write unit on SQLite already holds the database's write lock), so
    that a request and a refresh at once queue one build."""
    session = uow.session
    if session.get_bind().dialect.name == "postgresql":
        key = _LOCK + name
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
    return session.scalars(select(StarterBuild).where(StarterBuild.starter == name)).first()


def queue_starter_build(
    queue: JobQueue, uow: UnitOfWork, row: StarterBuild, now: dt.datetime
) -> None:
    """Queue a new build of ``row``'s starter (a new trace id) in ``uow``; the caller holds
    the starter's lock (:func:`locked_starter_build`) and calls ``queue.notify()`` once
    ``uow`` commits. Lines whose ``outcome`` is ``changed`` (a refresh's) are the only ones
    built then (:func:`run_starter_build`)."""
    row.status, row.trace_id, row.attempts = "queued", uuid.uuid4().hex, 0
    row.requested_at, row.started_at, row.finished_at = now, None, None
    uow.session.flush()
    name = row.starter
    queue.enqueue(uow, kind=KIND, lock_key=_LOCK + name, tenant_id=None, build_id=None, now=now)


def ask_starter_lines(installation: Installation, queue: JobQueue, name: str) -> None:
    """:func:`want_starter_lines` in a unit of its own, then wake the workers; nothing for a
    name the installation's starter files do not have."""
    if name not in starters(installation.settings):
        return
    with installation.store.unit(write=True) as uow:
        queued = want_starter_lines(queue, uow, name, installation.clock())
    if queued:
        queue.notify()


def pulled_starter(
    installation: Installation, queue: JobQueue, tenant_id: int, repository: str
) -> None:
    """Tenant ``tenant_id`` asked the registry for ``repository`` and found nothing: when it
    is ``starters/<name>`` of a starter the tenant is entitled to, its lines are asked for
    (the pull finds them once built). Anything else asks for nothing."""
    name = repository.removeprefix(starter_repository(""))
    if name == repository:
        return
    with installation.store.unit() as uow:
        if name not in uow.installation.entitlements(tenant_id):
            return
    ask_starter_lines(installation, queue, name)


def run_starter_build(installation: Installation, job: ClaimedJob) -> None:
    """Run the ``starter`` job ``job``: build every line of its starter, as shipped, for the
    installation's architectures into :func:`starter_sink`, and record each line."""
    settings, clock = installation.settings, installation.clock
    name = (job.lock_key or "").removeprefix(_LOCK)
    with installation.store.unit(write=True) as uow:
        row = uow.session.get(StarterBuild, name)
        if row is None:
            return
        row.status, row.attempts, row.started_at = "building", job.attempts, clock()
        trace_id = row.trace_id
        before = [dict(line) for line in row.lines]
    starter = starters(settings).get(name)
    # A refresh asks for the lines whose plan changed only; the others stay as they are.
    only = [line["line"] for line in before if line.get("outcome") == CHANGED] or None
    kept = [
        CreatedLine(line["line"], line["full_version"])
        for line in before
        if only and line["line"] not in only and line["status"] == "created"
        if line.get("full_version")
    ]
    lines: list[dict[str, Any]]
    try:
        if starter is None:
            raise NotFoundError(
                f"no starter image called {name} any more", code=Code.STARTER_NOT_FOUND
            )
        if job.attempts > MAX_ATTEMPTS:
            raise CouturierError(
                f"the build's worker stopped during each of its {MAX_ATTEMPTS} attempts",
                code=Code.BUILD_INTERRUPTED,
                fields={"trace_id": trace_id, "attempts": job.attempts - 1},
            )
        context = build_context(
            settings,
            sink=starter_sink(installation, name, trace_id),
            trace_id=trace_id,
            clock=clock,
            # Starter images are signed with the installation's starter key
            # (GET /v1/signing-key?starters=true).
            signer=signer_of(installation, None),
            smoke=smoke_tester(settings),  # tested before its tags move, as private images
        )
        request = ImageRequest(starter=starter, name=starter.name)
        result = build(
            context, request, architectures=list(settings.architectures), lines=only, kept=kept
        )
        lines = _lines(request, result, clock())
    except CouturierError as error:
        problem = Problem(error.code, error.message, {**error.fields, "trace_id": trace_id})
        lines = [{"line": None, "status": "failed", "problem": problem.to_json()}]
    except Exception:  # a bug: recorded as failed, asked for again later
        log.exception("starter %s: internal error (trace %s)", name, trace_id)
        problem = Problem(Code.INTERNAL, f"internal error (trace {trace_id})", {})
        lines = [{"line": None, "status": "failed", "problem": problem.to_json()}]
    if only is not None:
        lines = _merged(before, lines, only)
    created = any(line["status"] == "created" for line in lines)
    with installation.store.unit(write=True) as uow:
        row = uow.session.get(StarterBuild, name)
        if row is not None and row.trace_id == trace_id:
            row.status, row.lines, row.finished_at = (
                ("built" if created else "failed"),
                lines,
                clock(),
            )
    log.info("starter %s: lines %s", name, "built" if created else "failed")


def _lines(request: ImageRequest, result: BuildResult, now: dt.datetime) -> list[dict[str, Any]]:
    """The stored form of ``result``'s lines, each with the ``fingerprint`` a refresh
    compares its plan with (:func:`starter_fingerprint`) and the outcome ``built``."""
    inputs = image_inputs({}, request)
    return [
        {
            "line": line.version,
            "status": line.status,
            "full_version": line.full_version or None,
            "digest": line.digest or None,
            "tags": list(line.tags),
            "problem": line.error.to_json() if line.error else None,
            "smoke": line.smoke.to_json() if line.smoke else None,
            "fingerprint": _fingerprint(inputs, line),
            "outcome": BUILT,
            "checked_at": now.isoformat(),
        }
        for line in result.lines
    ]


def _fingerprint(inputs: ImageInputs, line: LineResult) -> str | None:
    """A built line's fingerprint (as a private image's line has, from its plans), a
    skip's, or None for a failed line (a refresh then finds it changed and builds it)."""
    if line.status == "skipped" and line.error is not None:
        return skipped_fingerprint(str(line.error.code))
    if line.status != "created" or not line.plans:
        return None
    return planned_line(inputs, [plan for plan, _ in line.plans])[0]


def starter_inputs(starter: Starter) -> ImageInputs:
    """What decides a starter's lines besides their packages: its definition (a starter
    image has no spec document and no bundles)."""
    return image_inputs({}, ImageRequest(starter=starter, name=starter.name))


def _merged(
    before: list[dict[str, Any]], built: list[dict[str, Any]], only: list[str]
) -> list[dict[str, Any]]:
    """The lines after a refresh's build of the lines ``only``: the new result of each line
    it created; the previous one, outcome ``failed``, of a line it could not create (its
    tags stay on the previous digest and the next refresh tries it again); the others as
    they were."""
    new = {line["line"]: line for line in built}
    merged = []
    for line in before:
        label = line["line"]
        if label not in only:
            merged.append(line)
        elif label in new and (new[label]["status"] == "created" or line["status"] != "created"):
            merged.append(new.pop(label))
        else:
            new.pop(label, None)
            merged.append({**line, "outcome": "failed"})
    return merged + [line for line in new.values() if line["line"] is not None]


def starter_build_json(installation: Installation, name: str) -> dict[str, Any] | None:
    """The build of starter ``name``'s lines (``{status, trace_id, attempts, lines}``), or
    None when they were never asked for."""
    with installation.store.unit() as uow:
        row = uow.session.get(StarterBuild, name)
        if row is None:
            return None
        return {
            "status": row.status,
            "trace_id": row.trace_id,
            "attempts": row.attempts,
            "lines": list(row.lines),
        }


def starter_line_sbom(
    installation: Installation,
    queue: JobQueue,
    principal: Principal,
    name: str,
    label: str,
    *,
    format: str,
    arch: str | None,
) -> tuple[bytes, str]:
    """The SBOM (bytes and media type) of line ``label`` of the tenant's starter ``name`` on
    ``arch`` (the installation's first by default), from its stored build. Asks for the
    starter's lines when they are not built; raises :class:`NotFoundError` (``line-not-found``,
    with the field ``starter_build``, the status of their build) until they are, and for a
    starter the tenant is not entitled to."""
    from couturier.services.image_sboms import FORMATS, repository_sbom

    starter = entitled_starter(installation, principal, name)
    configured = installation.settings.architectures
    if arch is not None and arch not in configured:
        rule = f"must be a configured architecture: {', '.join(configured)}"
        raise SpecError([Violation("arch", arch, rule)], source="request")
    ask_starter_lines(installation, queue, starter.name)
    found = starter_build_json(installation, starter.name) or {"status": "queued", "lines": []}
    created = {
        line["line"]: line["digest"]
        for line in found["lines"]
        if line["status"] == "created" and line.get("digest")
    }
    digest = created.get(label)
    if digest is None:
        labels = [line.version for line in starter.lines]
        building = found["status"] in {"queued", "building"}
        raise NotFoundError(
            f"the starter {starter.name} has no built line {label[:40]!r}"
            + (did_you_mean(label, labels) if label not in labels else ""),
            "its lines are being built: ask again in a moment"
            if building
            else f"its lines: {', '.join(labels)}",
            code=Code.LINE_NOT_FOUND,
            fields={
                "starter": starter.name,
                "lines": [label[:40]],
                "suggestions": close_names(label, labels),
                "known": labels,
                "starter_build": found["status"],
            },
        )
    document = repository_sbom(
        installation, starter_repository(starter.name), digest, arch or configured[0], format
    )
    if document is None:
        raise NotFoundError(
            f"the starter {starter.name}'s line {label} has no {format} SBOM for "
            f"{arch or configured[0]}",
            "it is built again when its lines are next asked for",
            fields={"repository": starter_repository(starter.name), "digest": digest},
        )
    return document, FORMATS[format]
