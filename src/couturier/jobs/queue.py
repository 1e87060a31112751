"""The job port: what the services ask of a job backend.

A job has a ``kind`` (``build``), the row it works on (``build_id``) and a ``lock_key``
(``image:<id>``): jobs with one lock key run one at a time, and a job asked for while another
of its key is still *waiting* is not queued again (the caller coalesces onto the waiting one,
:meth:`JobQueue.waiting`). Queuing happens inside the caller's unit of work, so the job and the
rows it works on are committed together or not at all.

A backend runs each job at least once: a worker that dies mid-job (a crash, SIGKILL, a lost
machine) leaves a job that is taken up again, its :attr:`ClaimedJob.attempts` one higher; a
handler must therefore start its work over from the stored rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from couturier.store import UnitOfWork

__all__ = ["ClaimedJob", "JobHandler", "JobQueue"]


@dataclass(frozen=True)
class ClaimedJob:
    """A job as the worker running it sees it; ``attempts`` counts this run (1 the first
    time, 2 after one interrupted run, ...)."""

    id: int
    kind: str
    tenant_id: int | None
    build_id: int | None
    lock_key: str | None
    attempts: int


# Runs one job to its end; what it raises is logged and fails the job (no retry: a retry is
# for a worker that died, not for a handler that refused).
JobHandler = Callable[[ClaimedJob], None]


class JobQueue(Protocol):
    """A job backend (embedded: :class:`~couturier.jobs.embedded.EmbeddedQueue`)."""

    def waiting(self, uow: UnitOfWork, lock_key: str) -> int | None:
        """The ``build_id`` of the job of ``lock_key`` that waits to run (not yet running), or
        None: a new request for that key coalesces onto it."""
        ...

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
        """Queue a job in ``uow`` (it exists once ``uow`` commits; call :meth:`notify` then),
        to run at once or, with ``run_after``, not before then (a delivery's retry)."""
        ...

    def notify(self) -> None:
        """Tell idle workers of this process that a job was queued (else they find it at
        their next poll)."""
        ...

    def start(self) -> None:
        """Start this process's workers (none for a backend whose workers run elsewhere)."""
        ...

    def check_running(self) -> None:
        """Raise :class:`~couturier.errors.StateError` (``jobs-not-running``, with a
        ``reason``) unless something runs the queued jobs now: this process's workers, or
        for a backend whose workers run elsewhere, a worker seen lately (``/readyz``)."""
        ...

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop taking jobs and wait up to ``timeout`` seconds for running ones; whether every
        one ended. A job still running then is taken up again by the next worker to start."""
        ...
