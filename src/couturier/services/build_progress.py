"""The progress of a build across processes: its stage events written to the database by
whoever runs it (:class:`ProgressLog`), and read back by any process that streams them
(:func:`progress_after`), so ``GET /v1/builds/{trace_id}/events`` shows a build's stages
whether a thread of ``serve`` or a ``couturier worker`` elsewhere runs it.

Bounded: events are written at most every :data:`FLUSH_SECONDS` (one insert for all that
came meanwhile; a line's final stage at once), an event that only updates the previous one's
detail (``fetching 12/41`` then ``13/41``) replaces it while it waits, an attempt writes at
most :data:`MAX_EVENTS` (then only final stages), and the events of a build are pruned
:data:`KEEP_AFTER_END` after it ends (by the next build to end: :func:`prune_progress`).

Each attempt of a build numbers its events from ``attempt * ATTEMPT_SPAN + 1``, so the
numbers only grow across attempts (a follower's ``Last-Event-ID`` stays meaningful) and an
attempt drops the events of those before it (their stages happened to a build started over).

Writing progress never fails a build: a database gone a moment loses those events (logged).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from couturier.errors import CouturierError
from couturier.store import Store
from couturier.store.build_events import (
    append_events,
    drop_events_before,
    events_after,
    prune_events,
)

__all__ = [
    "ATTEMPT_SPAN",
    "FLUSH_SECONDS",
    "KEEP_AFTER_END",
    "MAX_EVENTS",
    "ProgressLog",
    "progress_after",
    "prune_progress",
]

log = logging.getLogger("couturier.builds")

FLUSH_SECONDS = 0.5
MAX_EVENTS = 5_000
ATTEMPT_SPAN = 100_000  # above MAX_EVENTS: one attempt's numbers never reach the next's
KEEP_AFTER_END = dt.timedelta(minutes=10)  # for a follower that reconnects after the end


class ProgressLog:
    """The stage events of one attempt of build ``build_id`` on their way to ``store``;
    thread-safe (a build's fetch threads report too). ``changed`` is called after each write
    (to wake this process's followers at once)."""

    def __init__(
        self,
        store: Store,
        build_id: int,
        attempt: int,
        *,
        clock: Callable[[], dt.datetime],
        changed: Callable[[], None] = lambda: None,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._store, self._build, self._clock = store, build_id, clock
        self._changed, self._every = changed, flush_seconds
        self._first = attempt * ATTEMPT_SPAN + 1
        self._next = self._first
        self._pending: list[tuple[int, dict[str, Any]]] = []
        self._lock = threading.Lock()
        # Writes one at a time, in order: a follower that has read N never misses N - 1.
        self._writing = threading.Lock()
        self._written = time.monotonic() - flush_seconds
        self._timer: threading.Timer | None = None

    def begin(self) -> None:
        """Drop the events of the build's earlier attempts."""
        self._write(lambda session: drop_events_before(session, self._build, self._first))

    def add(self, event: dict[str, Any], *, final: bool) -> None:
        """Record ``event`` (``{line, release, stage, detail, arch}``); ``final`` for a line's
        last stage, which is written at once."""
        with self._lock:
            last = self._pending[-1][1] if self._pending else None
            if last is not None and not final and _same_stage(last, event):
                self._pending[-1] = (self._pending[-1][0], event)
            elif final or self._next - self._first < MAX_EVENTS:
                self._pending.append((self._next, event))
                self._next += 1
            due = final or time.monotonic() - self._written >= self._every
            if not due and self._timer is None:
                wait = self._every - (time.monotonic() - self._written)
                self._timer = threading.Timer(max(0.0, wait), self.flush)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.flush()

    def flush(self) -> None:
        """Write what waits (also called by the timer, and at the build's end)."""
        with self._writing:
            with self._lock:
                pending, self._pending = self._pending, []
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                self._written = time.monotonic()
            if pending:
                now = self._clock()
                self._write(lambda session: append_events(session, self._build, pending, now))

    def _write(self, change: Callable[[Any], None]) -> None:
        try:
            with self._store.unit(write=True) as uow:
                change(uow.session)
        except CouturierError as error:
            log.warning("build %s: progress not recorded: %s", self._build, error.message)
            return
        except Exception as error:  # e.g. the build deleted meanwhile (its key is gone)
            log.warning("build %s: progress not recorded: %s", self._build, type(error).__name__)
            return
        self._changed()


def _same_stage(earlier: dict[str, Any], later: dict[str, Any]) -> bool:
    keys = ("line", "arch", "stage")
    return all(earlier.get(key) == later.get(key) for key in keys)


def progress_after(
    store: Store, build_id: int, after: int, limit: int = 500
) -> list[tuple[int, dict[str, Any]]]:
    """The events of build ``build_id`` numbered above ``after`` (``(seq, event)``, in order,
    at most ``limit``). Raises :class:`~couturier.errors.StateError` when the database is
    gone."""
    with store.unit() as uow:
        return events_after(uow.session, build_id, after, limit)


def prune_progress(store: Store, now: dt.datetime) -> None:
    """Remove the events of the builds that ended :data:`KEEP_AFTER_END` before ``now``."""
    try:
        with store.unit(write=True) as uow:
            removed = prune_events(uow.session, now - KEEP_AFTER_END)
    except CouturierError as error:
        log.warning("cannot prune the events of ended builds: %s", error.message)
        return
    if removed:
        log.info("pruned %s events of ended builds", removed)
