"""A tenant's destinations (external registries its images are pushed to) and the outcome of
each push, as tables, and the tenant-bound queries over them.

- ``destinations``: ``url`` (``scheme://host[:port]``), ``prefix`` (repository path prefix,
  may be empty), ``username``, and the sealed secrets: ``password_sealed`` (sealed with the
  installation key for ``destination:<id>:password``) and ``ca_pem`` (a public CA bundle,
  stored as is). Ids are never given again.
- ``build_pushes``: one row per build, line and destination: ``status`` ``pushed`` or
  ``failed``, the ``repository`` and ``digest`` pushed, ``problem`` ``{code, message,
  fields}``, ``report`` (what the push did), ``finished_at``. The destination's id is kept
  (set null when it is removed) with its URL at the time, so the record outlives it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from couturier.store.models import NEVER_REUSED, Base, UtcDateTime

if TYPE_CHECKING:
    from couturier.store.repositories import Page

__all__ = ["BuildPush", "Destination", "TenantDestinations"]


class Destination(Base):
    """An external OCI registry of a tenant."""

    __tablename__ = "destinations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(300))
    prefix: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str] = mapped_column(String(200), default="")
    password_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    ca_pem: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_destinations_tenant", "tenant_id", "id"), NEVER_REUSED)


class BuildPush(Base):
    """The outcome of pushing one line of a build to one destination."""

    __tablename__ = "build_pushes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"))
    destination_id: Mapped[int | None] = mapped_column(
        ForeignKey("destinations.id", ondelete="SET NULL"), nullable=True
    )
    url: Mapped[str] = mapped_column(String(300))
    repository: Mapped[str] = mapped_column(String(300))
    line: Mapped[str] = mapped_column(String(40))
    digest: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20))
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    finished_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_build_pushes_build", "build_id", "id"), NEVER_REUSED)


class TenantDestinations:
    """The destinations and push records of tenant ``tenant_id``: every query is bound to it."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session, self.tenant_id = session, tenant_id

    def add(self, destination: Destination) -> Destination:
        destination.tenant_id = self.tenant_id
        self.session.add(destination)
        self.session.flush()
        return destination

    def get(self, destination_id: int) -> Destination | None:
        found = self.session.get(Destination, destination_id)
        return found if found is not None and found.tenant_id == self.tenant_id else None

    def all(self) -> list[Destination]:
        query = select(Destination).where(Destination.tenant_id == self.tenant_id)
        return list(self.session.scalars(query.order_by(Destination.id)))

    def page(self, limit: int, after: int | None) -> Page[Destination]:
        # models.py imports this module at its end, and repositories imports models: late.
        from couturier.store.repositories import Page

        query = select(Destination).where(Destination.tenant_id == self.tenant_id)
        if after is not None:
            query = query.where(Destination.id > after)
        rows = list(self.session.scalars(query.order_by(Destination.id).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, (str(rows[-1].id),) if more and rows else None)

    def remove(self, destination: Destination) -> None:
        self.session.delete(destination)
        self.session.flush()

    def pushes(self, build_id: int) -> list[BuildPush]:
        """The push records of the tenant's build ``build_id`` (the caller checked it is the
        tenant's), in the order they were made."""
        query = select(BuildPush).where(BuildPush.build_id == build_id).order_by(BuildPush.id)
        return list(self.session.scalars(query))

    def replace_pushes(self, build_id: int, rows: list[BuildPush]) -> None:
        """The build's push records become ``rows`` (an attempt's records replace the last's)."""
        self.session.execute(delete(BuildPush).where(BuildPush.build_id == build_id))
        for row in rows:
            row.build_id = build_id
            self.session.add(row)
        self.session.flush()

    def pushed_repository(self, destination_id: int, other_than: str) -> str:
        """A repository of the destination that a push of the tenant filled last, other than
        ``other_than`` (a candidate to mount shared blobs from); empty when there is none."""
        query = (
            select(BuildPush.repository)
            .where(
                BuildPush.destination_id == destination_id,
                BuildPush.status == "pushed",
                BuildPush.repository != other_than,
            )
            .order_by(BuildPush.id.desc())
            .limit(1)
        )
        return self.session.scalars(query).first() or ""
