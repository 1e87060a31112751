"""The embedded job backend: jobs in the database's ``jobs`` table, run by threads of the
serving process (``couturier serve --workers N``), surviving a crash or a restart.

Claiming is atomic: one claim at a time (SQLite's write lock, taken at ``BEGIN IMMEDIATE``; on
PostgreSQL a transaction-level advisory lock), and a job is claimed only while no other job of
its ``lock_key`` runs, so one image never has two builds at once. A claimed job is ``running``
with the claiming worker's name (``host:pid:nonce:n``) and a heartbeat, beaten every third of
the lease by one thread of the process. A running job is *abandoned*, and claimed again with
one more attempt, when its heartbeat is older than the lease (a worker on another machine that
stopped), or at once when its worker was a process of this machine that no longer lives (the
``serve`` that was killed and is now started again). A finished job's row is deleted; a job
whose handler raised stays ``failed``.

Cost: an idle worker polls with one short write transaction per ``poll`` seconds (and is woken
at once by :meth:`EmbeddedQueue.notify` for a job queued by this process).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping

from sqlalchemy import delete, select, text, update

from couturier.errors import Code, CouturierError, StateError
from couturier.jobs.queue import ClaimedJob, JobHandler
from couturier.store import Store, UnitOfWork
from couturier.store.models import Job

__all__ = ["EmbeddedQueue"]

log = logging.getLogger("couturier.jobs")

_CLAIM_LOCK = 0x636A6F62  # "cjob": pg_advisory_xact_lock key of claims
LEASE_SECONDS = 30.0
POLL_SECONDS = 1.0


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


class EmbeddedQueue:
    """The jobs of ``store``, run by ``workers`` threads of this process with ``handlers``
    (kind → :data:`~couturier.jobs.queue.JobHandler`). ``workers`` 0 queues jobs and runs
    none (another process runs them)."""

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, JobHandler],
        workers: int,
        *,
        lease: float = LEASE_SECONDS,
        poll: float = POLL_SECONDS,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._handlers = dict(handlers)
        self._workers = workers
        self._lease = dt.timedelta(seconds=lease)
        self._poll = poll
        self._clock = clock
        self._host = socket.gethostname()[:40]
        self._pid = os.getpid()
        self._nonce = secrets.token_hex(4)
        self._names = [f"{self._host}:{self._pid}:{self._nonce}:{n}" for n in range(workers)]
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        # The jobs a worker of this process runs now: only they are kept alive by the beat.
        self._running: set[int] = set()
        self._running_lock = threading.Lock()

    # -- the port ------------------------------------------------------------------------

    def waiting(self, uow: UnitOfWork, lock_key: str) -> int | None:
        query = select(Job.build_id).where(Job.lock_key == lock_key, Job.state == "queued")
        return uow.session.scalars(query.order_by(Job.id).limit(1)).first()

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
        wall = run_after or self._clock()
        uow.session.add(
            Job(
                kind=kind,
                tenant_id=tenant_id,
                build_id=build_id,
                lock_key=lock_key,
                state="queued",
                attempts=0,
                payload={},
                created_at=now,
                run_after=wall,
            )
        )
        uow.session.flush()

    def notify(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        for name in self._names:
            thread = threading.Thread(target=self._work, args=(name,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        if self._names:
            beat = threading.Thread(target=self._beat, name="couturier-heartbeat", daemon=True)
            beat.start()
            self._threads.append(beat)

    def check_running(self) -> None:
        """With workers, every worker thread (and the heartbeat's) must be alive: one that
        ended (a bug that escaped its loop) leaves jobs unclaimed. Without workers (``serve
        --workers 0``), jobs run in another process that this one cannot see: nothing to
        check."""
        if not self._names:
            return
        alive = sum(thread.is_alive() for thread in self._threads)
        expected = len(self._names) + 1  # the workers and the heartbeat
        if alive < expected:
            reason = f"{expected - alive} of the job runner's {expected} threads stopped"
            if not self._threads:
                reason = "the job runner is stopped"
            raise StateError(
                reason,
                "restart couturier serve; its log says why a thread stopped",
                code=Code.JOBS_NOT_RUNNING,
                fields={"jobs": "embedded", "reason": reason, "threads": expected, "alive": alive},
            )

    def stop(self, timeout: float = 5.0) -> bool:
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stopped = not any(thread.is_alive() for thread in self._threads)
        self._threads = []
        return stopped

    # -- workers ---------------------------------------------------------------------------

    def _work(self, name: str) -> None:
        while not self._stopping.is_set():
            try:
                job = self.claim(name)
            except CouturierError as error:  # the database busy or gone: try again later
                log.warning("cannot claim a job: %s", error.message)
                job = None
            except Exception:  # a bug: keep the worker alive, say it
                log.exception("cannot claim a job")
                job = None
            if job is None:
                self._wake.wait(self._poll)
                self._wake.clear()
                continue
            self._run(name, job)

    def _run(self, name: str, job: ClaimedJob) -> None:
        with self._running_lock:
            self._running.add(job.id)
        try:
            self._handlers[job.kind](job)
        except Exception:
            # Left running: its heartbeat stops and it is claimed again after the lease (a
            # handler records what it can itself; this is what it could not record).
            log.exception("job %s (%s) failed; run again after the lease", job.id, job.kind)
            return
        finally:
            with self._running_lock:
                self._running.discard(job.id)
        try:
            self._finish(name, job, "done")
        except CouturierError as error:
            # Left running: its heartbeat stops and it is claimed again after the lease.
            log.warning("cannot record job %s as done: %s", job.id, error.message)

    def _finish(self, name: str, job: ClaimedJob, state: str) -> None:
        with self._store.unit(write=True) as uow:
            mine = (Job.id == job.id) & (Job.worker == name)
            if state == "done":
                uow.session.execute(delete(Job).where(mine))
            else:
                uow.session.execute(update(Job).where(mine).values(state=state))

    def _beat(self) -> None:
        every = self._lease.total_seconds() / 3
        while not self._stopping.wait(every):
            with self._running_lock:
                running = sorted(self._running)
            if not running:
                continue
            try:
                with self._store.unit(write=True) as uow:
                    uow.session.execute(
                        update(Job)
                        .where(
                            Job.id.in_(running),
                            Job.worker.in_(self._names),
                            Job.state == "running",
                        )
                        .values(heartbeat_at=self._clock())
                    )
            except CouturierError as error:
                log.warning("cannot beat the jobs' heartbeat: %s", error.message)

    # -- claiming ---------------------------------------------------------------------------

    def claim(self, name: str) -> ClaimedJob | None:
        """Take the next job this process can run for worker ``name`` (an abandoned running
        job first, then the oldest due queued one, by ``run_after`` then id, whose lock key
        runs nothing), or None."""
        now = self._clock()
        with self._store.unit(write=True) as uow:
            session = uow.session
            if self._store.dialect == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK})
            busy: set[str | None] = set()
            abandoned: list[Job] = []
            for job in session.scalars(select(Job).where(Job.state == "running").order_by(Job.id)):
                if self._abandoned(job, now):
                    abandoned.append(job)
                else:
                    busy.add(job.lock_key)
            for job in abandoned:
                if job.kind in self._handlers and not (job.lock_key and job.lock_key in busy):
                    job.state, job.worker, job.heartbeat_at = "running", name, now
                    job.attempts += 1
                    return self._claimed(
                        name,
                        job.id,
                        job.kind,
                        job.tenant_id,
                        job.build_id,
                        job.lock_key,
                        job.attempts,
                    )
            # The oldest due first, read in the order of the index on (state, run_after),
            # whose entries end with the row id: no sort of the queued jobs, however many,
            # and plain rows rather than objects for the ones passed over.
            queued = (
                select(Job.id, Job.kind, Job.tenant_id, Job.build_id, Job.lock_key, Job.attempts)
                .where(Job.state == "queued", Job.run_after <= now)
                .order_by(Job.run_after, Job.id)
                .limit(100)
            )
            for job_id, kind, tenant_id, build_id, key, attempts in session.execute(queued).all():
                if kind not in self._handlers or (key and key in busy):
                    continue
                session.execute(
                    update(Job)
                    .where(Job.id == job_id)
                    .values(state="running", worker=name, heartbeat_at=now, attempts=attempts + 1)
                )
                return self._claimed(name, job_id, kind, tenant_id, build_id, key, attempts + 1)
        return None

    @staticmethod
    def _claimed(  # noqa: PLR0917 - a claimed job's columns
        name: str,
        job_id: int,
        kind: str,
        tenant_id: int | None,
        build_id: int | None,
        lock_key: str | None,
        attempts: int,
    ) -> ClaimedJob:
        log.info("job %s (%s): attempt %s by %s", job_id, kind, attempts, name)
        return ClaimedJob(job_id, kind, tenant_id, build_id, lock_key, attempts)

    def _abandoned(self, job: Job, now: dt.datetime) -> bool:
        """Whether the running ``job``'s worker is gone: its heartbeat is older than the
        lease, or it was a process of this machine that is no longer (or no longer the same)."""
        if job.heartbeat_at is None or now - job.heartbeat_at > self._lease:
            return True
        host, _, rest = (job.worker or "").partition(":")
        pid_text, _, rest = rest.partition(":")
        nonce = rest.partition(":")[0]
        if host != self._host or not pid_text.isdigit():
            return False
        pid = int(pid_text)
        if pid == self._pid:
            return nonce != self._nonce  # an earlier process that had this pid
        return not _alive(pid)
