"""The ``starter_builds`` table: the installation's builds of its starter images' lines, made
when a starter is first needed and kept from then on (one row per starter).

``status`` is ``queued`` (a job waits), ``building``, ``built`` (at least one line created) or
``failed`` (none: asked for again, it is queued again); ``lines`` is the last build's result,
one ``{line, status, full_version, digest, tags, problem}`` per line; ``attempts`` counts the
runs of the current build (more than one when its worker died).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from couturier.store.models import Base, UtcDateTime

__all__ = ["StarterBuild"]


class StarterBuild(Base):
    """The build of one starter's lines."""

    __tablename__ = "starter_builds"

    starter: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    trace_id: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
