"""The console's sign-in sessions: one row per signed-in browser.

A session is opened with a tenant's token and lives until it expires, is closed (sign-out),
or its token is revoked or expires (the token row is read with the session, and deleting a
token deletes its sessions). Only the sha256 of the session's random secret is stored, as for
tokens: a copy of the database signs no one in.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from couturier.store.models import Base, Token, UtcDateTime

__all__ = ["ConsoleSession", "SessionRepository"]


class ConsoleSession(Base):
    """A signed-in browser: the digest of its cookie's secret, the token it signed in with."""

    __tablename__ = "console_sessions"

    secret_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    token_id: Mapped[str] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_console_sessions_expires", "expires_at"),)


class SessionRepository:
    """The sessions of every tenant, found by their secret's digest (how a request with a
    cookie learns its tenant, as :meth:`InstallationRepository.token` does for a token)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, row: ConsoleSession) -> None:
        self._session.add(row)
        self._session.flush()

    def find(self, secret_sha256: str) -> tuple[ConsoleSession, Token] | None:
        """The session of that digest and its token, or None."""
        query = (
            select(ConsoleSession, Token)
            .join(Token, Token.id == ConsoleSession.token_id)
            .where(ConsoleSession.secret_sha256 == secret_sha256)
        )
        row = self._session.execute(query).first()
        return (row[0], row[1]) if row else None

    def remove(self, secret_sha256: str) -> None:
        self._session.execute(
            delete(ConsoleSession).where(ConsoleSession.secret_sha256 == secret_sha256)
        )

    def remove_expired(self, now: dt.datetime) -> int:
        """Forget the sessions expired at ``now``; how many there were."""
        done = self._session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
        return int(getattr(done, "rowcount", 0) or 0)
