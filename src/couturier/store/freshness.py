"""The freshness records of image lines: what each line was last built from, what each rebuild
changed, and when the installation was last refreshed.

- ``line_states``: per image and line, the fingerprint and package set of its current image
  (:mod:`couturier.core.freshness`), its full version and digest, and the outcome of the last
  refresh check (``built``, ``unchanged``, ``end of life``) with when it was checked. A refresh
  compares a line's new plan with this row; a build that creates the line rewrites it.
- ``line_changes``: per build and line, the change record of that rebuild (JSON of
  :meth:`couturier.core.freshness.ChangeRecord.to_json`).
- ``refresh_runs``: each refresh of the installation's sources, with the scheduled time it
  ran for (None when asked for by hand): how the scheduler knows what it missed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from couturier.store.models import NEVER_REUSED, Base, UtcDateTime

__all__ = ["LineChange", "LineState", "RefreshRun", "last_scheduled_run", "line_states"]


class LineState(Base):
    """What one line of one image was last built from, and its last refresh check."""

    __tablename__ = "line_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    line: Mapped[str] = mapped_column(String(40))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # architecture → package name → version
    packages: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    full_version: Mapped[str] = mapped_column(String(100), default="")
    digest: Mapped[str | None] = mapped_column(String(80), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))
    checked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("image_id", "line", name="uq_line_states_line"),
        Index("ix_line_states_tenant", "tenant_id", "image_id"),
        NEVER_REUSED,
    )


class LineChange(Base):
    """The change record of one line of one build."""

    __tablename__ = "line_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"))
    line: Mapped[str] = mapped_column(String(40))
    record: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        UniqueConstraint("build_id", "line", name="uq_line_changes_line"),
        NEVER_REUSED,
    )


class RefreshRun(Base):
    """One refresh of the installation's package sources."""

    __tablename__ = "refresh_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The cron time this run was due at (None: asked for by the CLI or the API).
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    scope: Mapped[str] = mapped_column(String(60))

    # One row per scheduled time: the worker that adds it runs it, the others see it taken.
    __table_args__ = (UniqueConstraint("scheduled_for", name="uq_refresh_runs_due"), NEVER_REUSED)


def line_states(session: Session, image_id: int) -> dict[str, LineState]:
    """The line states of image ``image_id`` by line label."""
    rows = session.scalars(select(LineState).where(LineState.image_id == image_id))
    return {row.line: row for row in rows}


def last_scheduled_run(session: Session) -> dt.datetime | None:
    """The newest scheduled time a refresh ran for, or None before the first."""
    query = select(RefreshRun.scheduled_for).where(RefreshRun.scheduled_for.is_not(None))
    return session.scalars(query.order_by(RefreshRun.scheduled_for.desc()).limit(1)).first()
