"""The scale job backend: builds as procrastinate jobs on the PostgreSQL database, run by
``couturier worker`` processes on any machine that reaches the database.

Schema: procrastinate's own (``procrastinate/sql/schema.sql`` of the pinned version), applied by
:func:`ensure_schema` when a process using this backend starts, under a transaction-level
advisory lock, only when ``procrastinate_jobs`` is missing; so any number of processes may
start at once. The table is marked with the procrastinate version that made it, and a process
of another version refuses to start (an upgrade of procrastinate adds its migrations first).

Queuing happens in the caller's unit of work (procrastinate's ``procrastinate_defer_jobs_v1``
called on the same connection), so a build row and its job commit together. Each job has the
image's key as both procrastinate ``lock`` (jobs of one image run one at a time, in order) and
``queueing_lock`` (at most one *waiting* job per image: the database refuses a second, and
:meth:`ProcrastinateQueue.waiting` finds the one to coalesce onto, locking its row so that no
worker starts it before the caller's edit commits).

Killed workers: every worker beats procrastinate's heartbeat; a job whose worker has not beaten
it for ``stalled_after`` seconds (or whose worker row was pruned) is *stalled*, and the stall
sweep of any running worker (:func:`retry_stalled`) puts it back to ``todo`` with one more
attempt (procrastinate's ``retry_job``). Its queueing lock is dropped first: it is a started
build resuming, not a waiting one to coalesce onto, and another build of the image may wait.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from couturier.errors import Code, StateError
from couturier.jobs.queue import ClaimedJob, JobHandler
from couturier.store import Store, UnitOfWork

if TYPE_CHECKING:
    from procrastinate import App

__all__ = [
    "CATCH_UP_SECONDS",
    "STALLED_AFTER_SECONDS",
    "Periodic",
    "ProcrastinateQueue",
    "ensure_schema",
    "procrastinate_app",
    "retry_stalled",
    "run_workers",
]

log = logging.getLogger("couturier.jobs")

QUEUE = "builds"
STALLED_AFTER_SECONDS = 30.0
# A worker is seen when it beat its heartbeat this recently: twice the default beat interval
# and then some, so one late beat is no outage.
WORKER_SEEN_SECONDS = 2 * STALLED_AFTER_SECONDS
_SCHEMA_LOCK = 0x63707363  # "cpsc": pg_advisory_xact_lock key of applying the schema
_SWEEP_LOCK = 0x63737770  # "cswp": one stall sweep at a time, across every worker


def _version() -> str:
    return metadata.version("procrastinate")


def _refuse(message: str, hint: str) -> StateError:
    return StateError(message, hint, fields={"jobs": "procrastinate"})


def ensure_schema(store: Store) -> None:
    """Apply procrastinate's schema unless the database has it (one process at a time);
    :class:`StateError` when the database is not PostgreSQL or its procrastinate schema was
    made by another procrastinate version."""
    if store.dialect != "postgresql":
        raise _refuse(
            "the procrastinate job backend needs PostgreSQL",
            "set database_url to a postgresql:// URL, or leave jobs out",
        )
    from procrastinate.schema import SchemaManager

    version = _version()
    with store.unit(write=True) as uow:
        connection = uow.session.connection()
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        present = connection.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar()
        if present is None:
            cursor = connection.connection.cursor()
            cursor.execute(SchemaManager.get_schema())  # no parameters: one script
            cursor.execute(f"COMMENT ON TABLE procrastinate_jobs IS 'procrastinate {version}'")
            log.info("applied procrastinate %s's schema", version)
            return
        comment = connection.execute(
            text("SELECT obj_description('procrastinate_jobs'::regclass, 'pg_class')")
        ).scalar()
    if comment != f"procrastinate {version}":
        raise _refuse(
            f"the database's job tables were made by {comment or 'another procrastinate'}, "
            f"this Couturier runs procrastinate {version}",
            "run the Couturier version that made them, or apply procrastinate's migrations",
        )


class ProcrastinateQueue:
    """The :class:`~couturier.jobs.queue.JobQueue` of builds as procrastinate jobs. It queues
    only: its workers are ``couturier worker`` processes (:func:`run_workers`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def waiting(self, uow: UnitOfWork, lock_key: str) -> int | None:
        # Requests for one image queue one at a time; the waiting job's row stays locked until
        # the caller commits, so no worker starts it with the spec as it was before.
        session = uow.session
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": lock_key})
        row = session.execute(
            text(
                "SELECT args FROM procrastinate_jobs WHERE queueing_lock = :key "
                "AND status = 'todo' FOR UPDATE"
            ),
            {"key": lock_key},
        ).first()
        if row is None:
            return None
        build_id = row[0].get("build_id")
        return int(build_id) if build_id is not None else None

    def enqueue(
        self,
        uow: UnitOfWork,
        *,
        kind: str,
        lock_key: str,
        tenant_id: int | None,
        build_id: int | None,
        now: dt.datetime,
        run_after: dt.datetime | None = None,
    ) -> None:
        args = {"kind": kind, "tenant_id": tenant_id, "build_id": build_id}
        uow.session.execute(
            text(
                "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :key, "
                ":key, CAST(:args AS jsonb), CAST(:at AS timestamptz))"
                "::procrastinate_job_to_defer_v1]))"
            ),
            {
                "queue": QUEUE,
                "task": _task_name(kind),
                "key": lock_key,
                "args": json.dumps(args),
                "at": run_after,
            },
        )

    def notify(self) -> None:
        """Nothing to do: procrastinate's trigger tells the listening workers."""

    def start(self) -> None:
        """Nothing to start: ``couturier worker`` runs the jobs."""

    def check_running(self) -> None:
        """The queue's tables answer and a ``couturier worker`` beat its heartbeat in the
        last :data:`WORKER_SEEN_SECONDS` (procrastinate's ``procrastinate_workers`` rows: a
        worker beats every third of its ``--stalled-after``, 10 s by default, and removes its
        row when it stops)."""
        with self._store.unit() as uow:  # gone: database-unavailable, as /readyz's ping
            connection = uow.session.connection()
            table = connection.execute(text("SELECT to_regclass('procrastinate_workers')"))
            if table.scalar() is None:
                raise _not_running("the job queue's tables are missing", None)
            last = connection.execute(
                text("SELECT max(last_heartbeat) FROM procrastinate_workers")
            ).scalar()
            now = connection.execute(text("SELECT now()")).scalar()
        if last is None:
            raise _not_running("no worker has been seen", None)
        if (now - last).total_seconds() > WORKER_SEEN_SECONDS:
            raise _not_running(
                f"no worker has been seen since {last.isoformat(timespec='seconds')}", last
            )

    def stop(self, timeout: float = 5.0) -> bool:
        return True


def _not_running(reason: str, last_seen: dt.datetime | None) -> StateError:
    return StateError(
        reason,
        "start couturier worker on a machine that reaches the database",
        code=Code.JOBS_NOT_RUNNING,
        fields={
            "jobs": "procrastinate",
            "reason": reason,
            "last_seen": last_seen.isoformat() if last_seen is not None else None,
        },
    )


HANDLER_RETRIES = 5  # more than a build's attempts (it then records that it gives up)


def _task_name(kind: str) -> str:
    return f"couturier.{kind}"


def retry_stalled(store: Store, stalled_after: float) -> list[int]:
    """Put every job whose worker stopped beating its heartbeat ``stalled_after`` seconds ago
    back to ``todo`` with one more attempt; the ids retried. One sweep at a time across
    every process (another one sweeping: nothing done here)."""
    from procrastinate import sql

    with store.unit(write=True) as uow:
        connection = uow.session.connection()
        locked = connection.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _SWEEP_LOCK}
        ).scalar()
        if not locked:
            return []
        cursor = connection.connection.cursor()
        cursor.execute(
            sql.queries["select_stalled_jobs_by_heartbeat"],
            {"queue": QUEUE, "task_name": None, "seconds_since_heartbeat": stalled_after},
        )
        ids = [int(row[0]) for row in cursor.fetchall()]
        for job_id in ids:
            cursor.execute(
                "UPDATE procrastinate_jobs SET queueing_lock = NULL WHERE id = %(id)s",
                {"id": job_id},
            )
            cursor.execute(
                sql.queries["retry_job"],
                {
                    "job_id": job_id,
                    "retry_at": dt.datetime.now(dt.UTC),
                    "new_priority": None,
                    "new_queue_name": None,
                    "new_lock": None,
                },
            )
    for job_id in ids:
        log.warning("job %s: its worker stopped; queued again", job_id)
    return ids


def _conninfo(url: str) -> str:
    """The libpq URI of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _task(handler: JobHandler) -> Callable[..., None]:
    """The procrastinate task running ``handler`` on the job as Couturier sees it."""
    from procrastinate import JobContext

    def run(context: JobContext, /, **args: Any) -> None:
        job = context.job
        assert job.id is not None
        log.info("job %s (%s): attempt %s", job.id, job.lock, job.attempts + 1)
        handler(
            ClaimedJob(
                id=job.id,
                kind=str(args.get("kind")),
                tenant_id=args.get("tenant_id"),
                build_id=args.get("build_id"),
                lock_key=job.lock,
                attempts=job.attempts + 1,
            )
        )

    return run


@dataclass(frozen=True)
class Periodic:
    """A job run at the times of ``cron`` (a cron expression, UTC): procrastinate's periodic
    task ``couturier.<name>``, whose ``run`` gets the time it was scheduled for (aware,
    UTC)."""

    name: str
    cron: str
    run: Callable[[dt.datetime], object]


# procrastinate's periodic deferrer ``max_delay``: how late a worker that starts still queues
# the newest time due. Its default (10 minutes) drops a time missed by a longer downtime; a
# year catches every downtime up, and only once: a starting worker offers the newest time
# alone, and the database queues each (task, time) once (``procrastinate_periodic_defers``).
CATCH_UP_SECONDS = 366 * 24 * 3600


def procrastinate_app(
    database_url: str,
    handlers: Mapping[str, JobHandler],
    *,
    stalled_after: float = STALLED_AFTER_SECONDS,
    periodic: Sequence[Periodic] = (),
) -> App:
    """The procrastinate application of ``handlers`` (a task ``couturier.<kind>`` each) and
    of the ``periodic`` jobs, on the PostgreSQL database of SQLAlchemy URL ``database_url``
    (not opened)."""
    from procrastinate import App, PsycopgConnector, RetryStrategy

    app = App(
        connector=PsycopgConnector(conninfo=_conninfo(database_url)),
        periodic_defaults={"max_delay": CATCH_UP_SECONDS},
    )
    # A handler that raises could not record its own failure (the database gone a moment):
    # it runs again after a lease, as a stalled one does; its handler gives up in time.
    retry = RetryStrategy(max_attempts=HANDLER_RETRIES, wait=max(1, int(stalled_after)))
    for kind, handler in handlers.items():
        task = app.task(name=_task_name(kind), queue=QUEUE, pass_context=True, retry=retry)
        task(_task(handler))
    for job in periodic:
        # No retry: a time that failed is not run again (the next time is).
        scheduled = app.task(name=_task_name(job.name), queue=QUEUE)(_periodic_task(job))
        app.periodic(cron=job.cron, periodic_id=job.name)(scheduled)
    return app


def _periodic_task(job: Periodic) -> Callable[[int], None]:
    def run(timestamp: int) -> None:  # procrastinate's scheduled time, Unix seconds
        due = dt.datetime.fromtimestamp(timestamp, dt.UTC)
        log.info("periodic %s for %s", job.name, due.isoformat())
        job.run(due)

    return run


def run_workers(
    store: Store,
    handlers: Mapping[str, JobHandler],
    *,
    concurrency: int,
    stalled_after: float = STALLED_AFTER_SECONDS,
    ready: threading.Event | None = None,
    periodic: Sequence[Periodic] = (),
) -> None:
    """Run procrastinate workers for ``handlers`` until SIGINT or SIGTERM: ``concurrency``
    jobs at once (each in a thread), a heartbeat every third of ``stalled_after``, and a stall
    sweep as often. A stop waits for the running jobs. Each worker's periodic deferrer
    queues the ``periodic`` jobs at their times (once per time across every worker; after a
    downtime the newest time missed, once: :data:`CATCH_UP_SECONDS`)."""
    ensure_schema(store)
    # The URL with its password: str() of a SQLAlchemy URL masks it.
    url = store.engine.url.render_as_string(hide_password=False)
    app = procrastinate_app(url, handlers, stalled_after=stalled_after, periodic=periodic)
    beat = stalled_after / 3

    async def sweep() -> None:
        while True:
            try:
                await asyncio.to_thread(retry_stalled, store, stalled_after)
            except Exception as error:  # the database gone a moment: the next sweep
                log.warning("cannot retry stalled jobs: %s", error)
            await asyncio.sleep(beat)

    async def main() -> None:
        async with app.open_async():
            sweeper = asyncio.create_task(sweep())
            if ready is not None:
                ready.set()
            try:
                await app.run_worker_async(
                    queues=[QUEUE],
                    concurrency=concurrency,
                    update_heartbeat_interval=beat,
                    stalled_worker_timeout=stalled_after,
                    delete_jobs="successful",
                    fetch_job_polling_interval=min(5.0, beat),
                )
            finally:
                sweeper.cancel()

    asyncio.run(main())
