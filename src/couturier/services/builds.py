"""Builds as jobs: queuing a private image's build, running it in a worker, recording it, and
reading it back (``/v1/builds``).

:class:`Builds` is the build side of an installation: its job queue
(:class:`~couturier.jobs.queue.JobQueue`; the embedded one runs builds in threads of the
serving process) and the wake-ups of this process's followers of builds (:class:`BuildEvents`).
Whoever runs a build writes its stage events to the database
(:mod:`couturier.services.build_progress`); :func:`follow_build` reads them there, which is what
``GET /v1/builds/{trace_id}/events`` streams, whichever process runs the build.

A build is queued with its image's lock key (``image:<id>``): one build per image runs at a
time, and a build asked for while another of the image waits to run is that waiting build
(:func:`queue_build` coalesces). The worker (:func:`run_build`) builds the image's spec as it is
when the build starts, with the build's trace id, through the engine
(:func:`couturier.services.build.build`) into the image's registry repository
(:func:`couturier.services.registry_sink.registry_sink`: the blob store and the registry
records, published in one transaction that first checks the build still owns its image), and
records each line's status, problem, digest, tags and timings. A worker that dies mid-build
leaves the job to the next worker, which starts the build over with one more attempt; after
:data:`MAX_ATTEMPTS` the build is given up (each line failed with ``build-interrupted``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from couturier.core.spec import ImageSpec
from couturier.core.tags import CreatedLine
from couturier.errors import Code, CouturierError, NotFoundError, Problem
from couturier.jobs import ClaimedJob, EmbeddedQueue, JobQueue
from couturier.services import events
from couturier.services.build_progress import ProgressLog, progress_after, prune_progress
from couturier.services.freshness import LineRecord, change_records, store_line_records
from couturier.services.paging import bad_cursor, check_limit, decode_cursor, encode_cursor
from couturier.services.registry_sink import image_repository, registry_sink
from couturier.store import UnitOfWork
from couturier.store.cards import line_json
from couturier.store.freshness import line_states
from couturier.store.images import TenantImages
from couturier.store.models import Build, BuildLine, Image

if TYPE_CHECKING:
    import datetime as dt

    from couturier.services.build import BuildResult, StageEvent
    from couturier.services.installation import Installation
    from couturier.services.tokens import Principal

__all__ = [
    "MAX_ATTEMPTS",
    "BuildEvents",
    "Builds",
    "Event",
    "build_json",
    "build_page",
    "follow_build",
    "get_build",
    "queue_build",
    "run_build",
    "run_workers",
    "start_builds",
]

log = logging.getLogger("couturier.builds")

MAX_ATTEMPTS = 3
IN_PROGRESS = "in progress"
_PAGE = 500  # build events read at once by a follower


def lock_key(image_id: int) -> str:
    return f"image:{image_id}"


class BuildEvents:
    """Wakes this process's followers of builds (:func:`follow_build`) when a build's
    progress was written or a build ended here; thread-safe. The progress itself is in the
    database (:mod:`couturier.services.build_progress`): followers of a build that another
    process runs find it there at their next poll."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0

    def changed(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def seen(self) -> int:
        """A mark to :meth:`wait` from: changes after it wake the waiter."""
        with self._changed:
            return self._count

    def wait(self, seen: int, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a change after mark ``seen``."""
        with self._changed:
            self._changed.wait_for(lambda: self._count != seen, timeout)


@dataclass
class Builds:
    """An installation's builds: its job queue and the live events of this process's builds.
    Made by :func:`start_builds`."""

    installation: Installation
    queue: JobQueue
    events: BuildEvents
    stopped: bool = True  # no build of this process runs (False after a stop that left one)

    def start(self) -> None:
        self.stopped = False
        self.queue.start()

    def stop(self) -> None:
        self.stopped = self.queue.stop()


def start_builds(installation: Installation, workers: int, *, lease: float = 30.0) -> Builds:
    """The builds of ``installation`` on the queue its settings choose: the embedded one,
    run by ``workers`` threads of this process once :meth:`Builds.start` is called (0:
    queued, run elsewhere); or procrastinate's (``jobs: procrastinate``), run by ``couturier
    worker`` processes only, whatever ``workers`` says."""
    events = BuildEvents()
    holder: list[Builds] = []
    queue: JobQueue
    if installation.settings.jobs == "procrastinate":
        from couturier.jobs.procrastinate_queue import ProcrastinateQueue, ensure_schema

        ensure_schema(installation.store)
        queue = ProcrastinateQueue(installation.store)
    else:
        queue = EmbeddedQueue(installation.store, _handlers(holder), workers, lease=lease)
    builds = Builds(installation, queue, events)
    holder.append(builds)
    return builds


def _handlers(holder: list[Builds]) -> dict[str, Callable[[ClaimedJob], None]]:
    """The job kinds a worker runs: a private image's build, a starter's lines, a refresh's
    check of an image."""
    from couturier.services.refresh import REFRESH_JOB, job_handler
    from couturier.services.starter_lines import KIND, run_starter_build

    checks: list[Callable[[ClaimedJob], None]] = []

    def check(job: ClaimedJob) -> None:  # one refresh checker per worker process
        if not checks:
            checks.append(job_handler(holder[0]))
        checks[0](job)

    return {
        "build": lambda job: run_build(holder[0], job),
        KIND: lambda job: run_starter_build(holder[0].installation, job),
        REFRESH_JOB: check,
    }


# The procrastinate task of the daily refresh (``couturier.refresh-schedule``).
SCHEDULE_JOB = "refresh-schedule"


def run_workers(installation: Installation, concurrency: int, stalled_after: float) -> None:
    """Run ``concurrency`` builds at a time from the procrastinate queue of ``installation``
    until SIGINT or SIGTERM (``couturier worker``); a build whose worker has been silent for
    ``stalled_after`` seconds is taken up again (by this process or another)."""
    from couturier.jobs import procrastinate_queue
    from couturier.services.deliveries import delivery_handlers
    from couturier.services.schedule import run_scheduled

    queue = procrastinate_queue.ProcrastinateQueue(installation.store)
    builds = Builds(installation, queue, BuildEvents())
    expression = installation.settings.refresh_schedule
    # The daily refresh is procrastinate's periodic task: every worker's deferrer offers
    # each time, procrastinate queues it once (and run_scheduled runs a time once).
    started = installation.clock()
    periodic = (
        [
            procrastinate_queue.Periodic(
                SCHEDULE_JOB, expression, lambda due: run_scheduled(builds, due, started)
            )
        ]
        if expression
        else []
    )
    procrastinate_queue.run_workers(
        installation.store,
        {**_handlers([builds]), **delivery_handlers(installation)},
        concurrency=concurrency,
        stalled_after=stalled_after,
        periodic=periodic,
    )


# -- queuing -----------------------------------------------------------------------------------


def queue_build(
    builds: Builds, uow: UnitOfWork, image: Image, trigger: str, now: dt.datetime
) -> Build:
    """The build of ``image`` for ``trigger`` (``create``, ``edit``, ``rebuild``) in ``uow``:
    the build of the image that waits to run, if there is one (coalesced: an edit's trigger
    wins over a rebuild's), else a new build queued as a job. Call ``builds.queue.notify()``
    once ``uow`` is committed. The image's row is locked first (FOR UPDATE on PostgreSQL;
    a write unit on SQLite already holds the database's write lock), so that two requests
    for one image at once see each other's queued build instead of queueing two."""
    repo = TenantImages(uow.session, image.tenant_id)
    uow.session.execute(select(Image.id).where(Image.id == image.id).with_for_update())
    waiting = builds.queue.waiting(uow, lock_key(image.id))
    build = repo.build_by_id(waiting) if waiting is not None else None
    if build is not None:
        if trigger == "edit":
            build.trigger = "edit"
        build.spec = dict(image.spec)
        return build
    build = repo.add_build(
        Build(
            tenant_id=image.tenant_id,
            image_id=image.id,
            trace_id=uuid.uuid4().hex,
            status=IN_PROGRESS,
            trigger=trigger,
            attempts=0,
            spec=dict(image.spec),
            created_at=now,
        )
    )
    builds.queue.enqueue(
        uow,
        kind="build",
        lock_key=lock_key(image.id),
        tenant_id=image.tenant_id,
        build_id=build.id,
        now=now,
    )
    return build


# -- running -----------------------------------------------------------------------------------


class _Recorder:
    """The context's stage callback of one build: writes each event to the build's progress
    log and notes when each line started and finished (called from fetch threads too)."""

    def __init__(self, progress: ProgressLog, clock: Callable[[], dt.datetime]) -> None:
        self._progress, self._clock = progress, clock
        self._lock = threading.Lock()
        self.started: dict[str, dt.datetime] = {}
        self.finished: dict[str, dt.datetime] = {}

    def __call__(self, event: StageEvent) -> None:
        now = self._clock()
        with self._lock:
            if event.stage != "waiting":
                self.started.setdefault(event.label, now)
            if event.final:
                self.finished[event.label] = now
        self._progress.add(
            {
                "line": event.label,
                "release": event.release,
                "stage": event.stage,
                "detail": event.detail,
                "arch": event.arch,
            },
            final=event.final,
        )


def image_spec_of(document: Mapping[str, Any]) -> ImageSpec:
    """The :class:`ImageSpec` of a stored spec document (checked when it was stored)."""
    return ImageSpec(
        name=str(document["name"]),
        starter=str(document["starter"]),
        description=str(document.get("description", "")),
        packages=tuple(document.get("packages", ())),
        env=MappingProxyType(dict(document.get("env", {}))),
        bundles=tuple(document.get("bundles", ())),
    )


def _architecture_column(architectures: list[str]) -> str:
    joined = ",".join(architectures)
    return joined if len(joined) <= 20 else "*"


def run_build(builds: Builds, job: ClaimedJob) -> None:
    """Run the build job ``job``: build its image's current spec and record the result. A
    build or image deleted meanwhile is nothing to do. A refresh's build (trigger
    ``refresh``) builds only the lines its spec document names under ``lines`` (those whose
    plan changed), the image's other created lines kept as they are."""
    installation = builds.installation
    settings, clock = installation.settings, installation.clock
    if job.build_id is None or job.tenant_id is None:
        return
    with installation.store.unit(write=True) as uow:
        repo = TenantImages(uow.session, job.tenant_id)
        build = repo.build_by_id(job.build_id)
        image = repo.image_by_id(build.image_id) if build is not None else None
        if build is None or image is None:
            return
        spec = dict(image.spec)
        only = build.spec.get("lines") if build.trigger == "refresh" else None
        build.spec = {**spec, "lines": list(only)} if only is not None else spec
        build.attempts, build.status = job.attempts, IN_PROGRESS
        build.started_at, build.finished_at = clock(), None
        repo.replace_lines(build, [])
        trace_id, image_id = build.trace_id, image.id
        repository = image_repository(image.tenant_id, image.name)
        fresh = _freshness(uow, image.id, only)
    progress = ProgressLog(
        installation.store, job.build_id, job.attempts, clock=clock, changed=builds.events.changed
    )
    progress.begin()
    architectures = list(spec.get("architectures") or settings.architectures)
    recorder = _Recorder(progress, clock)
    try:
        result, records = _build(
            builds,
            job,
            spec=spec,
            image_id=image_id,
            repository=repository,
            trace_id=trace_id,
            architectures=architectures,
            recorder=recorder,
            fresh=fresh,
        )
        progress.flush()  # every stage written before the status says the build ended
        from couturier.services.pushes import push_build

        # The created lines go to the tenant's destinations; the outcome joins the record.
        push_build(
            installation, job.tenant_id, image_id, repository, trace_id=trace_id, lines=result.lines
        )
        _record(
            builds,
            job,
            result,
            architectures,
            recorder=recorder,
            image_id=image_id,
            trace_id=trace_id,
            records=records,
        )
    except Exception:  # e.g. the database gone while recording: never left in progress
        log.exception("build %s: internal error while running or recording it", trace_id)
        _interrupted(builds, job, trace_id=trace_id, image_id=image_id)
        return
    finally:
        progress.flush()
        builds.events.changed()
    prune_progress(installation.store, clock())
    log.info("build %s: %s (attempt %s)", trace_id, result.status, job.attempts)
    _want_starter(builds, str(spec.get("starter")))


@dataclass(frozen=True)
class _Fresh:
    """What a build needs of its image's freshness records: the ``lines`` to build (None:
    every line), the created lines it ``kept`` (their tags planned alongside) and each
    line's ``previous`` package set (for the change records)."""

    lines: list[str] | None
    kept: list[CreatedLine]
    previous: dict[str, Any]


def _freshness(uow: UnitOfWork, image_id: int, only: list[str] | None) -> _Fresh:
    states = line_states(uow.session, image_id)
    previous = {label: dict(state.packages) for label, state in states.items()}
    kept = [
        CreatedLine(label, state.full_version)
        for label, state in states.items()
        if only is not None and label not in only and state.digest and state.full_version
    ]
    return _Fresh(list(only) if only is not None else None, kept, previous)


def _want_starter(builds: Builds, starter: str) -> None:
    """The starter's own lines are needed once it has a private image: queued after that
    image's first build, which has filled the caches they are built from."""
    from couturier.services.starter_lines import ask_starter_lines

    try:
        ask_starter_lines(builds.installation, builds.queue, starter)
    except CouturierError as error:  # asked for again by the next build or request
        log.warning("cannot queue the lines of starter %s: %s", starter, error.message)


def _interrupted(builds: Builds, job: ClaimedJob, *, trace_id: str, image_id: int) -> str:
    """End the build whose handler raised: each line not finished fails with an internal
    problem naming the trace id, and the build with it. Raises when that cannot be recorded
    either (the database still gone): the job is then run again after its lease."""
    installation = builds.installation
    assert job.tenant_id is not None
    problem = Problem(Code.INTERNAL, f"internal error (trace {trace_id})", {"trace_id": trace_id})
    now = installation.clock()
    with installation.store.unit(write=True) as uow:
        repo = TenantImages(uow.session, job.tenant_id)
        build = _own_build(repo, job, trace_id=trace_id, image_id=image_id)
        if build is None:
            return "image build failed"
        rows = repo.lines([build.id]).get(build.id, [])
        for row in rows:
            if row.status == "pending":
                row.status, row.problem, row.finished_at = "failed", problem.to_json(), now
        created = any(row.status == "created" for row in rows)
        build.status = "some lines created" if created else "image build failed"
        build.finished_at = now
        return build.status


def _build(
    builds: Builds,
    job: ClaimedJob,
    *,
    spec: dict[str, Any],
    image_id: int,
    repository: str,
    trace_id: str,
    architectures: list[str],
    recorder: _Recorder,
    fresh: _Fresh,
) -> tuple[BuildResult, list[LineRecord]]:
    from couturier.services.build import BuildResult, LineResult, build, image_request
    from couturier.services.context import build_context
    from couturier.services.freshness import image_inputs, line_records
    from couturier.services.signing_keys import signer_of
    from couturier.services.smoke import smoke_tester
    from couturier.services.starters import starters

    installation = builds.installation
    settings = installation.settings
    starter = starters(settings).get(str(spec.get("starter")))
    lines = list(starter.lines) if starter is not None else []
    if fresh.lines is not None:
        lines = [line for line in lines if line.version in fresh.lines]

    def failed(problem: Problem) -> tuple[BuildResult, list[LineRecord]]:
        lines_failed = [
            LineResult(x.version, x.release, status="failed", error=problem) for x in lines
        ]
        return BuildResult(trace_id, lines_failed), []

    if job.attempts > MAX_ATTEMPTS:
        return failed(
            Problem(
                Code.BUILD_INTERRUPTED,
                f"the build's worker stopped during each of its {MAX_ATTEMPTS} attempts",
                {"trace_id": trace_id, "attempts": job.attempts - 1},
            )
        )
    _pending(builds, job, lines, architectures, trace_id=trace_id, image_id=image_id)
    try:
        sink = registry_sink(
            installation,
            repository,
            trace_id=trace_id,
            guard=lambda uow: _owns(uow, job, trace_id=trace_id, image_id=image_id),
        )
        context = build_context(
            settings,
            sink=sink,
            trace_id=trace_id,
            on_stage=recorder,
            clock=installation.clock,
            tenant=job.tenant_id,  # its bundles come from the tenant's own store
            # Every created line is signed with the tenant's key; a key that cannot be opened
            # fails the build here, before anything is published unsigned.
            signer=signer_of(installation, job.tenant_id),
            smoke=smoke_tester(settings),
        )
        request = image_request(context, image_spec_of(spec))
        result = build(
            context,
            request,
            architectures=architectures,
            lines=[line.version for line in lines] if fresh.lines is not None else None,
            kept=fresh.kept,
        )
        records = line_records(context, image_inputs(spec, request), result, fresh.previous)
        return result, records
    except CouturierError as error:
        return failed(Problem(error.code, error.message, {**error.fields, "trace_id": trace_id}))
    except Exception:  # a bug: the build ends (failed) instead of staying in progress
        log.exception("build %s: internal error", trace_id)
        message = f"internal error (trace {trace_id})"
        return failed(Problem(Code.INTERNAL, message, {"trace_id": trace_id}))


def _own_build(
    repo: TenantImages, job: ClaimedJob, *, trace_id: str, image_id: int
) -> Build | None:
    """The build ``job`` runs, found by its trace id (random, never given twice), if it still
    exists and still belongs to image ``image_id``: the image is then the one the build began
    with, since deleting an image deletes its builds. None when either is gone."""
    build = repo.build(trace_id)
    if build is None or build.id != job.build_id or build.image_id != image_id:
        return None
    return build if repo.image_by_id(image_id) is not None else None


def _owns(uow: UnitOfWork, job: ClaimedJob, *, trace_id: str, image_id: int) -> bool:
    """Whether the build ``job`` runs still belongs to image ``image_id``, asked in the unit
    that publishes its images: the image's row is locked first (FOR UPDATE on PostgreSQL; a
    write unit holds SQLite's write lock), so a delete waits for the publication or comes
    before it and is seen."""
    assert job.tenant_id is not None
    uow.session.execute(select(Image.id).where(Image.id == image_id).with_for_update())
    repo = TenantImages(uow.session, job.tenant_id)
    return _own_build(repo, job, trace_id=trace_id, image_id=image_id) is not None


def _pending(
    builds: Builds,
    job: ClaimedJob,
    lines: list[Any],
    architectures: list[str],
    *,
    trace_id: str,
    image_id: int,
) -> None:
    """Record every line of the build as pending while it runs."""
    assert job.tenant_id is not None and job.build_id is not None
    with builds.installation.store.unit(write=True) as uow:
        repo = TenantImages(uow.session, job.tenant_id)
        build = _own_build(repo, job, trace_id=trace_id, image_id=image_id)
        if build is None:
            return
        column = _architecture_column(architectures)
        rows = [
            BuildLine(line=line.version, architecture=column, status="pending", tags=[])
            for line in lines
        ]
        repo.replace_lines(build, rows)


def _record(
    builds: Builds,
    job: ClaimedJob,
    result: BuildResult,
    architectures: list[str],
    *,
    recorder: _Recorder,
    image_id: int,
    trace_id: str,
    records: list[LineRecord],
) -> None:
    """Store ``result`` as the build's lines and status, and ``records`` as its lines'
    freshness and change records, if the build (found by its trace id) still belongs to its
    image (an image deleted meanwhile had nothing published by this
    build, or had it removed with its repository)."""
    installation = builds.installation
    assert job.tenant_id is not None and job.build_id is not None
    column = _architecture_column(architectures)
    with installation.store.unit(write=True) as uow:
        repo = TenantImages(uow.session, job.tenant_id)
        build = _own_build(repo, job, trace_id=trace_id, image_id=image_id)
        if build is not None:
            rows = [
                BuildLine(
                    line=line.version,
                    architecture=column,
                    status=line.status,
                    full_version=line.full_version or None,
                    digest=line.digest or None,
                    tags=list(line.tags),
                    problem=line.error.to_json() if line.error else None,
                    started_at=recorder.started.get(line.version),
                    finished_at=recorder.finished.get(line.version),
                    smoke=line.smoke.to_json() if line.smoke else None,
                )
                for line in result.lines
            ]
            repo.replace_lines(build, rows)
            build.status, build.finished_at = result.status, installation.clock()
            store_line_records(
                uow.session,
                tenant_id=job.tenant_id,
                image_id=image_id,
                build_id=build.id,
                records=records,
                now=installation.clock(),
            )
            _emit_cves_fixed(uow, installation, build, records)
            events.build_ended(uow, installation, build)


def _emit_cves_fixed(
    uow: UnitOfWork, installation: Installation, build: Build, records: list[LineRecord]
) -> None:
    """Emit "a rebuild fixed CVEs" for each line of ``build`` whose change record names
    CVE IDs, with the upgrades that fix them."""
    image = uow.session.get(Image, build.image_id)
    if image is None:
        return
    for record in records:
        if record.change is None or not record.change.fixed:
            continue
        upgrades = [
            events.Upgrade(u.name, u.old, u.new, u.cves) for u in record.change.upgraded if u.cves
        ]
        event = events.cves_fixed(
            image,
            trace_id=build.trace_id,
            line=record.line,
            upgrades=upgrades,
            occurred=installation.clock(),
        )
        events.emit(uow, installation, event)


# -- reading -----------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def build_json(build: Build, image: str, lines: list[BuildLine]) -> dict[str, Any]:
    """A build as the API answers it; ``image`` its image's full name."""
    return {
        "trace_id": build.trace_id,
        "image": image,
        "status": build.status,
        "trigger": build.trigger,
        "attempts": build.attempts,
        "architectures": list(build.spec.get("architectures") or []),
        "created": _iso(build.created_at),
        "started": _iso(build.started_at),
        "finished": _iso(build.finished_at),
        "lines": [line_json(row) for row in lines],
    }


def build_not_found(trace_id: str) -> NotFoundError:
    return NotFoundError(
        f"no build with trace ID {trace_id[:64]!r}",
        "list the image's builds to find its trace IDs",
        code=Code.BUILD_NOT_FOUND,
        fields={"trace_id": trace_id[:64]},
    )


def full_name(image: Image) -> str:
    return f"{image.tenant_id}/{image.name}"


def get_build(installation: Installation, principal: Principal, trace_id: str) -> dict[str, Any]:
    """The tenant's build ``trace_id`` with its lines; :class:`NotFoundError` otherwise."""
    with installation.store.unit() as uow:
        repo = TenantImages(uow.session, principal.tenant_id)
        build = repo.build(trace_id)
        image = repo.image_by_id(build.image_id) if build is not None else None
        if build is None or image is None:
            raise build_not_found(trace_id)
        from couturier.services.pushes import push_records

        body = build_json(build, full_name(image), repo.lines([build.id])[build.id])
        changes = change_records(uow.session, build.id)
        for line in body["lines"]:
            line["changes"] = changes.get(line["line"])
        return {**body, "pushes": push_records(uow.session, principal.tenant_id, build.id)}


def build_page(
    installation: Installation,
    principal: Principal,
    image_id: int | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the tenant's builds (of image ``image_id`` only, unless None), newest
    first, and the next page's cursor."""
    after = decode_cursor(cursor, 1)
    limit = check_limit(limit)
    if after is not None and not after[0].isdigit():
        raise bad_cursor(cursor or "")
    with installation.store.unit() as uow:
        repo = TenantImages(uow.session, principal.tenant_id)
        page = repo.builds(image_id, limit, after)
        lines = repo.lines([b.id for b in page.items])
        names: dict[int, str] = {}
        for build in page.items:
            if build.image_id not in names:
                image = repo.image_by_id(build.image_id)
                names[build.image_id] = full_name(image) if image else ""
        items = [build_json(b, names[b.image_id], lines[b.id]) for b in page.items]
    return items, encode_cursor(page.after)


def _found(installation: Installation, tenant_id: int, trace_id: str) -> tuple[str, int] | None:
    """The status and id of the tenant's build ``trace_id``, or None."""
    with installation.store.unit() as uow:
        build = TenantImages(uow.session, tenant_id).build(trace_id)
        return (build.status, build.id) if build is not None else None


# A server-sent event: its name, its data, and its id (a build event's number) or None.
Event = tuple[str, dict[str, Any], int | None]


def follow_build(
    builds: Builds,
    principal: Principal,
    trace_id: str,
    after: int | None = None,
    poll: float = 1.0,
) -> Iterator[Event]:
    """The live events of the tenant's build ``trace_id``, whichever process runs it:
    ``("stage", {line, release, stage, detail, arch}, n)`` for each stage a line reaches
    (those reached before the call first; with ``after``, the client's ``Last-Event-ID``,
    only those numbered above it), ``("ping", {}, None)`` at each idle ``poll`` (seconds),
    and last ``("end", {trace_id, status}, None)`` once the build has ended; for a build that
    ended before, at once (after the events above ``after``, when given and still kept).
    Raises :class:`NotFoundError` (before the first event) for a build the tenant lacks."""
    found = _found(builds.installation, principal.tenant_id, trace_id)
    if found is None:
        raise build_not_found(trace_id)
    return _events(builds, principal.tenant_id, trace_id, found, after=after, poll=poll)


def _events(
    builds: Builds,
    tenant_id: int,
    trace_id: str,
    found: tuple[str, int],
    *,
    after: int | None,
    poll: float,
) -> Iterator[Event]:
    installation = builds.installation
    status, build_id = found
    last = after or 0
    while after is not None or status == IN_PROGRESS:
        mark = builds.events.seen()
        # The status first: the events written before it said "ended" are all read below.
        now = _found(installation, tenant_id, trace_id)
        status = now[0] if now is not None else "deleted"
        rows = progress_after(installation.store, build_id, last, _PAGE)
        for seq, event in rows:
            yield "stage", event, seq
            last = seq
        if len(rows) == _PAGE:
            continue
        if status != IN_PROGRESS:
            break
        if not rows:
            builds.events.wait(mark, poll)
            # A ping at each idle poll: the server learns that a client has gone only when
            # it writes, and until then this generator holds one of its worker threads (a
            # console page streaming four builds, reloaded, would hold four more each time).
            yield "ping", {}, None
    yield "end", {"trace_id": trace_id, "status": status}, None
