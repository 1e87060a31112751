"""A tenant's actions, their deliveries and each delivery's attempts.

- ``actions``: a rule *When* (``events``: event kinds) *If* (``filters``: image name glob,
  starter, line, package) *Then* (``target_kind`` and its settings in ``target``; its secret,
  a webhook's signing secret, a Slack webhook URL or a GitHub token, sealed with the
  installation key in ``secret``). ``(tenant_id, name)`` unique.
- ``action_deliveries``: one event to deliver to one action: its ``uid`` (the
  ``X-Couturier-Delivery`` header, the same on every retry), event kind and payload, ``state``
  ``pending``/``delivered``/``failed``, ``attempts`` made, when the next is due, the last
  reason it failed.
- ``action_attempts``: each attempt: when, the receiver's status code (SMTP's reply code for
  email), its duration in milliseconds and its error.

:class:`TenantActions` works within one transaction and one tenant: every query filters on
the tenant (attempts through their delivery), so another tenant's action or delivery is not
found, exactly as one that does not exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from couturier.store.models import NEVER_REUSED, Base, UtcDateTime
from couturier.store.repositories import Page

__all__ = ["Action", "Delivery", "DeliveryAttempt", "TenantActions"]


class Action(Base):
    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    events: Mapped[list[str]] = mapped_column(JSON)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    target_kind: Mapped[str] = mapped_column(String(20))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)  # sealed
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_actions_tenant_name"),
        NEVER_REUSED,
    )


class Delivery(Base):
    __tablename__ = "action_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_action_deliveries_action", "tenant_id", "action_id", "id"),
        NEVER_REUSED,
    )


class DeliveryAttempt(Base):
    __tablename__ = "action_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("action_deliveries.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_action_attempts_delivery", "delivery_id", "number"),
        NEVER_REUSED,
    )


class TenantActions:
    """Tenant ``tenant_id``'s actions and deliveries in ``session``."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self._session = session
        self.tenant_id = tenant_id

    # -- actions ---------------------------------------------------------------------------

    def action(self, action_id: int) -> Action | None:
        query = select(Action).where(Action.tenant_id == self.tenant_id, Action.id == action_id)
        return self._session.scalars(query).first()

    def action_named(self, name: str) -> Action | None:
        query = select(Action).where(Action.tenant_id == self.tenant_id, Action.name == name)
        return self._session.scalars(query).first()

    def add_action(self, action: Action) -> Action:
        if action.tenant_id != self.tenant_id:
            raise ValueError("an action is added by its own tenant's repository")
        self._session.add(action)
        self._session.flush()
        return action

    def remove_action(self, action: Action) -> None:
        if action.tenant_id == self.tenant_id:
            self._session.delete(action)
            self._session.flush()

    def actions(self, limit: int, after: int | None = None) -> Page[Action]:
        """A page of the tenant's actions, oldest first."""
        query = select(Action).where(Action.tenant_id == self.tenant_id)
        if after is not None:
            query = query.where(Action.id > after)
        rows = list(self._session.scalars(query.order_by(Action.id).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, (str(rows[-1].id),) if more else None)

    def listening(self, event: str) -> list[Action]:
        """The tenant's actions whose *When* holds ``event`` (filtered here: JSON containment
        is written differently on each database, and a tenant has few actions)."""
        query = select(Action).where(Action.tenant_id == self.tenant_id).order_by(Action.id)
        return [a for a in self._session.scalars(query) if event in (a.events or [])]

    # -- deliveries ------------------------------------------------------------------------

    def add_delivery(self, delivery: Delivery) -> Delivery:
        if delivery.tenant_id != self.tenant_id:
            raise ValueError("a delivery is added by its own tenant's repository")
        self._session.add(delivery)
        self._session.flush()
        return delivery

    def delivery(self, delivery_id: int) -> Delivery | None:
        query = select(Delivery).where(
            Delivery.tenant_id == self.tenant_id, Delivery.id == delivery_id
        )
        return self._session.scalars(query).first()

    def deliveries(self, action_id: int, limit: int, before: int | None = None) -> Page[Delivery]:
        """A page of one action's deliveries, newest first."""
        query = select(Delivery).where(
            Delivery.tenant_id == self.tenant_id, Delivery.action_id == action_id
        )
        if before is not None:
            query = query.where(Delivery.id < before)
        rows = list(self._session.scalars(query.order_by(Delivery.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, (str(rows[-1].id),) if more else None)

    def attempts(self, delivery_ids: Sequence[int]) -> dict[int, list[DeliveryAttempt]]:
        """The attempts of the tenant's deliveries ``delivery_ids``, in order, by delivery."""
        found: dict[int, list[DeliveryAttempt]] = {}
        if not delivery_ids:
            return found
        query = (
            select(DeliveryAttempt)
            .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
            .where(Delivery.tenant_id == self.tenant_id, Delivery.id.in_(delivery_ids))
            .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.number)
        )
        for row in self._session.scalars(query):
            found.setdefault(row.delivery_id, []).append(row)
        return found

    def add_attempt(self, delivery: Delivery, attempt: DeliveryAttempt) -> None:
        if delivery.tenant_id != self.tenant_id:
            raise ValueError("an attempt is added by its delivery's tenant's repository")
        attempt.delivery_id = delivery.id
        self._session.add(attempt)
        self._session.flush()
