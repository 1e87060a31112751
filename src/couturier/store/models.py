"""The service's tables, as SQLAlchemy 2 typed models.

Everything a tenant owns carries ``tenant_id``; the repositories of
:mod:`couturier.store.repositories` add it to every query they make. Timestamps are UTC and
come back timezone-aware on SQLite too (:class:`UtcDateTime`).

The schema itself is made by the Alembic migrations of :mod:`couturier.store.migrations`, not
by ``create_all``: a change here needs a new migration (tests/test_store.py checks that the
migrated schema and these models agree).

Tables for what comes next (images, builds, build lines, jobs) are here already, shaped after
the REST API of issue 10, so that the first release's migration holds them:

- ``images``: a tenant's private image; ``(tenant_id, name)`` unique; the spec as JSON.
- ``builds``: one attempt to build every line; ``trace_id`` unique; ``status`` one of
  ``in progress``, ``created``, ``some lines created``, ``image build failed``; ``trigger``
  ``create``/``edit``/``rebuild``/``refresh``; ``attempts`` counts restarts after a crash.
- ``build_lines``: per line and architecture: status ``pending``/``created``/``skipped``/
  ``failed``, full version, tags, digest, the reason or error as ``{code, message, fields}``.
- ``jobs``: the embedded runner's queue (procrastinate keeps its own tables): ``state``
  ``queued``/``running``/``done``/``failed``, ``lock_key`` (one running job per image),
  ``attempts``, ``heartbeat_at`` (a worker that stops beating has died; its job is taken up
  again).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "Build",
    "BuildLine",
    "Entitlement",
    "Image",
    "Job",
    "Tenant",
    "Token",
    "UtcDateTime",
]


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A UTC timestamp: aware datetimes in, aware UTC datetimes out, on every database (SQLite
    keeps no zone, so it stores naive UTC and gets the zone back here)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# An integer id is never given again once its row is deleted: on SQLite a rowid table without
# AUTOINCREMENT gives a deleted newest row's id to the next row, and an image's layout
# directory (images/<id>/), its builds and a build still running elsewhere are named by ids.
# PostgreSQL's sequences never go back. The migrations pass the same option.
NEVER_REUSED: dict[str, Any] = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    __table_args__ = (NEVER_REUSED,)


class Entitlement(Base):
    """A starter a tenant may build on."""

    __tablename__ = "entitlements"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    starter: Mapped[str] = mapped_column(String(100), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Token(Base):
    """An API token: only the sha256 of its secret (see :mod:`couturier.core.tokens`)."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(10))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    __table_args__ = (Index("ix_tokens_tenant_created", "tenant_id", "created_at", "id"),)


class Image(Base):
    """A tenant's private image: its spec (as JSON) and when it was made and changed."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    starter: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_images_tenant_name"),
        NEVER_REUSED,
    )


class Build(Base):
    """One attempt to build every line of an image."""

    __tablename__ = "builds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    trace_id: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(30))
    trigger: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # what this build was asked to build
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    __table_args__ = (
        Index("ix_builds_tenant_image_created", "tenant_id", "image_id", "id"),
        NEVER_REUSED,
    )


class BuildLine(Base):
    """The result of one line (and architecture) of a build."""

    __tablename__ = "build_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"))
    line: Mapped[str] = mapped_column(String(40))
    architecture: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    full_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    digest: Mapped[str | None] = mapped_column(String(80), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The skip reason or error: {"code", "message", "fields"}.
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The smoke test of a built line: {"status", "architectures", "reason", "seconds"}
    # (services/smoke.py); None for a line never built (pending, skipped, failed before).
    smoke: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (
        UniqueConstraint("build_id", "line", "architecture", name="uq_build_lines_line"),
        NEVER_REUSED,
    )


class Job(Base):
    """A queued unit of work of the embedded runner (a build, later a refresh or delivery)."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(30))
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True
    )
    build_id: Mapped[int | None] = mapped_column(
        ForeignKey("builds.id", ondelete="CASCADE"), nullable=True
    )
    # Jobs with one lock key run one at a time (``image:<id>``); queued ones coalesce.
    lock_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(100), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    run_after: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    __table_args__ = (Index("ix_jobs_state_run_after", "state", "run_after"), NEVER_REUSED)


# The registry's, the destinations', the console sessions' and the gallery cards' tables share
# Base: imported here so that the metadata is complete wherever the models are (the
# migrations' check, create_all in tests).
from couturier.store import cards as _cards  # noqa: E402,F401
from couturier.store import destinations as _destinations  # noqa: E402,F401
from couturier.store import freshness as _freshness  # noqa: E402,F401
from couturier.store import registry as _registry  # noqa: E402,F401
from couturier.store import sessions as _sessions  # noqa: E402,F401
from couturier.store import signing_keys as _signing_keys  # noqa: E402,F401
