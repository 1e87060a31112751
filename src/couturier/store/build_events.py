"""The ``build_events`` table: the progress of running builds, written by whoever runs a build
(a thread of ``serve``, a ``couturier worker`` on another machine) and read by the processes
that stream it (``GET /v1/builds/{trace_id}/events``).

A row is one stage event of one build: ``(build_id, seq)`` is its key, ``seq`` growing within
the build, so a follower that has seen ``seq`` N asks for the rows after N (the server-sent
events' ``Last-Event-ID``). ``data`` is the event as the stream sends it (``{line, release,
stage, detail, arch}``). Rows go with their build (``ON DELETE CASCADE``) and are pruned a
while after it ends (:func:`prune_events`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from couturier.store.models import Base, Build, UtcDateTime

__all__ = ["BuildEvent", "append_events", "drop_events_before", "events_after", "prune_events"]


class BuildEvent(Base):
    """One stage event of a build."""

    __tablename__ = "build_events"

    build_id: Mapped[int] = mapped_column(
        ForeignKey("builds.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


def append_events(
    session: Session, build_id: int, events: Sequence[tuple[int, dict[str, Any]]], now: dt.datetime
) -> None:
    """Add ``events`` (``(seq, data)`` pairs, seq not used yet for the build) in one insert."""
    session.add_all(
        BuildEvent(build_id=build_id, seq=seq, created_at=now, data=data) for seq, data in events
    )


def events_after(
    session: Session, build_id: int, after: int, limit: int
) -> list[tuple[int, dict[str, Any]]]:
    """At most ``limit`` events of build ``build_id`` whose seq is above ``after``, in order."""
    query = (
        select(BuildEvent.seq, BuildEvent.data)
        .where(BuildEvent.build_id == build_id, BuildEvent.seq > after)
        .order_by(BuildEvent.seq)
        .limit(limit)
    )
    return [(seq, data) for seq, data in session.execute(query)]


def drop_events_before(session: Session, build_id: int, seq: int) -> None:
    """Remove the events of build ``build_id`` below ``seq`` (an earlier attempt's)."""
    session.execute(delete(BuildEvent).where(BuildEvent.build_id == build_id, BuildEvent.seq < seq))


def prune_events(session: Session, ended_before: dt.datetime) -> int:
    """Remove the events of every build that ended before ``ended_before``; how many."""
    ended = select(Build.id).where(Build.finished_at < ended_before)
    result = session.execute(delete(BuildEvent).where(BuildEvent.build_id.in_(ended)))
    return int(getattr(result, "rowcount", 0) or 0)
