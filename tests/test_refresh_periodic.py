"""The daily refresh as procrastinate's periodic task (``jobs: procrastinate``): which
scheduled times procrastinate's own periodic deferrer queues, asked under a controlled clock
(its ``get_previous_tasks(at=...)``) for the application Couturier's workers run
(:func:`couturier.jobs.procrastinate_queue.procrastinate_app`). The database's part (each time
queued once across workers) and the run itself are tested with real workers in
``tests/test_refresh_workers.py``."""

from __future__ import annotations

import datetime as dt

from procrastinate.app import App
from procrastinate.periodic import PeriodicDeferrer

from couturier.jobs.procrastinate_queue import Periodic, procrastinate_app

URL = "postgresql+psycopg://couturier@/unused?host=/nonexistent"  # never connected to


def _at(day: int, hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=dt.UTC)


def app_of(cron: str) -> App:
    return procrastinate_app(URL, {}, periodic=[Periodic("refresh-schedule", cron, print)])


def deferred(deferrer: PeriodicDeferrer, at: dt.datetime) -> list[dt.datetime]:
    """The times the deferrer queues when it wakes at ``at``."""
    return [
        dt.datetime.fromtimestamp(timestamp, dt.UTC)
        for _, timestamp in deferrer.get_previous_tasks(at=at.timestamp())
    ]


def test_a_worker_started_after_days_of_downtime_queues_the_newest_time_once() -> None:
    app = app_of("30 4 * * *")
    (task,) = app.periodic_registry.periodic_tasks.values()
    assert (task.task.name, task.cron) == ("couturier.refresh-schedule", "30 4 * * *")

    # Down from 2 November to 5 November 09:00 UTC: three times missed, one is queued, the
    # newest, although it is hours late (procrastinate's default drops it after 10 minutes).
    worker = PeriodicDeferrer(app.periodic_registry, **app.periodic_defaults)
    assert deferred(worker, _at(5, 9, 0)) == [_at(5, 4, 30)]
    assert deferred(worker, _at(5, 9, 1)) == []
    # Running on: the next day's time when it comes, in UTC.
    assert deferred(worker, _at(6, 4, 29, 59)) == []
    assert deferred(worker, _at(6, 4, 30, 1)) == [_at(6, 4, 30)]

    # Another worker starting then offers the same time: the database queues it once
    # (procrastinate_periodic_defers is unique by task and time).
    other = PeriodicDeferrer(app.periodic_registry, **app.periodic_defaults)
    assert deferred(other, _at(6, 4, 31)) == [_at(6, 4, 30)]


def test_without_a_schedule_no_periodic_task_is_registered() -> None:
    app = procrastinate_app(URL, {})
    assert app.periodic_registry.periodic_tasks == {}
