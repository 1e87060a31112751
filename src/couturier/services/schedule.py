"""The daily refresh's scheduler on embedded defaults: runs
:func:`couturier.services.refresh.refresh` at the times of the settings' ``refresh_schedule``
(a cron expression in UTC, read by ``croniter``) in the process that runs the jobs (``serve``).
With ``jobs: procrastinate`` the schedule is procrastinate's periodic task instead, run by the
``couturier worker`` processes (:func:`run_scheduled`; see
:func:`couturier.services.builds.run_workers`).

Each scheduled time runs once in the whole installation: the process that first records it
(a ``refresh_runs`` row whose ``scheduled_for`` is unique) runs it, so several ``serve`` or
``worker`` processes on one database never refresh twice. After downtime the times missed
are caught up *once*: the scheduler runs for the newest time due, not for each one missed.
Before any scheduled run, the times count from when the scheduler started (a new
installation does not refresh at once).

:meth:`RefreshScheduler.tick` does one check at the clock's time, so tests move a clock
instead of waiting; :meth:`RefreshScheduler.start` runs it in a thread every ``poll``
seconds until :meth:`RefreshScheduler.stop`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from croniter import croniter
from sqlalchemy.exc import IntegrityError

from couturier.store.freshness import RefreshRun, last_scheduled_run

if TYPE_CHECKING:
    from couturier.services.builds import Builds

__all__ = ["RefreshScheduler", "claim_scheduled_run", "due_time", "run_scheduled"]

log = logging.getLogger("couturier.schedule")


def due_time(expression: str, since: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The newest time of cron ``expression`` after ``since`` and at most ``now`` (both
    aware, UTC), or None when none falls in between. Cost: two croniter steps, however many
    times were missed."""
    following: dt.datetime = croniter(expression, since).get_next(dt.datetime)
    if following > now:
        return None
    # The newest time at or before now: croniter's get_prev is strictly before its start.
    newest: dt.datetime = croniter(expression, now + dt.timedelta(seconds=1)).get_prev(dt.datetime)
    return max(newest, following)


def claim_scheduled_run(builds: Builds, due: dt.datetime) -> bool:
    """Record that the refresh scheduled for ``due`` runs now (a ``refresh_runs`` row whose
    ``scheduled_for`` is unique); False when a process recorded it already (it runs there)."""
    installation = builds.installation
    try:
        with installation.store.unit(write=True) as uow:
            run = RefreshRun(scheduled_for=due, started_at=installation.clock(), scope="schedule")
            uow.session.add(run)
    except IntegrityError:  # another process runs this one
        return False
    log.info("scheduled refresh for %s", due.isoformat())
    return True


def run_scheduled(builds: Builds, due: dt.datetime, started: dt.datetime) -> bool:
    """The refresh scheduled for ``due`` (procrastinate's periodic task,
    :func:`couturier.jobs.procrastinate_queue.run_workers`, whose deferrer queues one job per
    time), unless a process ran it already, or it is a time before this worker ``started``
    in an installation that never ran a scheduled refresh (a new installation does not
    refresh at once, as :class:`RefreshScheduler`); whether it ran here."""
    from couturier.services.refresh import refresh

    if due < started:
        with builds.installation.store.unit() as uow:
            if last_scheduled_run(uow.session) is None:
                log.info("scheduled refresh for %s: before the first start, skipped", due)
                return False
    if not claim_scheduled_run(builds, due):
        return False
    refresh(builds)
    return True


class RefreshScheduler:
    """Runs ``run(scheduled_for)`` (by default the installation's refresh) at the times of
    ``expression`` (see the module docstring)."""

    def __init__(
        self,
        builds: Builds,
        expression: str,
        *,
        run: Callable[[dt.datetime], object] | None = None,
        poll: float = 30.0,
    ) -> None:
        self._builds = builds
        self._expression = expression
        self._clock = builds.installation.clock
        self._started = self._clock()
        self._run = run or self._refresh
        self._poll = poll
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _refresh(self, scheduled_for: dt.datetime) -> object:
        from couturier.services.refresh import refresh

        return refresh(self._builds)

    def tick(self) -> dt.datetime | None:
        """Run the refresh if one is due at the clock's time and no other process took it;
        the scheduled time it ran for, or None."""
        store = self._builds.installation.store
        now = self._clock()
        with store.unit() as uow:
            last = last_scheduled_run(uow.session)
        due = due_time(self._expression, last or self._started, now)
        if due is None or not claim_scheduled_run(self._builds, due):
            return None
        self._run(due)
        return due

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="refresh-schedule", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def _loop(self) -> None:
        while not self._stopping.wait(self._poll):
            try:
                self.tick()
            except Exception:  # the database gone a moment: the next poll tries again
                log.exception("scheduled refresh failed")
