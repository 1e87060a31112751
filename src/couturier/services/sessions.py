"""The console's sign-in sessions: opened with a tenant's token, carried by a cookie.

:func:`open_session` checks a token exactly as the API does (:func:`~couturier.services.tokens.
authenticate`) and makes a session of it: a random secret (256 bits) that the browser keeps in
a cookie, of which only the sha256 is stored (:mod:`couturier.store.sessions`).
:func:`session_principal` answers who a cookie's session is, with its token's scope, or raises
:class:`AccessError`: a session ends when it expires, on sign-out (:func:`close_session`), or
when its token is revoked or expires.

The session's CSRF token (:func:`csrf_token`) is an HMAC of the session's secret, so it is
stored nowhere and cannot be made without the cookie, which scripts cannot read (``HttpOnly``):
a page carries it in its forms and its ``X-CSRF-Token`` headers (the synchronizer token
pattern of OWASP's CSRF prevention cheat sheet, without a stored token).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from couturier.core.tokens import scope_allows, secret_digest
from couturier.errors import AccessError
from couturier.services.tokens import Principal, authenticate
from couturier.store.sessions import ConsoleSession, SessionRepository

if TYPE_CHECKING:
    from couturier.services.installation import Installation

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "OpenedSession",
    "close_session",
    "csrf_matches",
    "csrf_token",
    "open_session",
    "session_principal",
]

# The cookie that carries a session's secret, and the header that carries its CSRF token: the
# console's pages set and send them, the API reads them (couturier.api.auth).
SESSION_COOKIE = "couturier_session"
CSRF_HEADER = "X-CSRF-Token"
# A working day: a console left open overnight asks for the token again.
SESSION_LIFETIME = dt.timedelta(hours=12)
_SECRET = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class OpenedSession:
    """A session just opened: its cookie's secret (kept only by the browser), who it is, and
    when it expires (the earlier of its lifetime and its token's expiry)."""

    secret: str
    principal: Principal
    expires: dt.datetime

    def __repr__(self) -> str:
        return f"OpenedSession(principal={self.principal!r}, expires={self.expires!r})"


def open_session(installation: Installation, token: str) -> OpenedSession:
    """Sign in with ``token`` (any scope): a new session. Raises :class:`AccessError` as
    :func:`authenticate` does (``missing``, ``invalid``, ``expired``, ``revoked``)."""
    principal = authenticate(installation, token.strip() or None, "pull")
    now = installation.clock()
    secret = secrets.token_hex(32)
    with installation.store.unit(write=True) as uow:
        sessions = SessionRepository(uow.session)
        sessions.remove_expired(now)  # sign-ins sweep the table: no job needed for that
        token_row = uow.installation.token(principal.token_id)
        expires = now + SESSION_LIFETIME
        if token_row is not None and token_row.expires_at is not None:
            expires = min(expires, token_row.expires_at)
        sessions.add(
            ConsoleSession(
                secret_sha256=secret_digest(secret),
                tenant_id=principal.tenant_id,
                token_id=principal.token_id,
                created_at=now,
                expires_at=expires,
            )
        )
    return OpenedSession(secret, principal, expires)


def session_principal(installation: Installation, secret: str | None, needed: str) -> Principal:
    """Who the session of cookie value ``secret`` is, if its token's scope allows ``needed``.

    Raises :class:`AccessError`: ``missing`` (no cookie), ``invalid`` (no such session: signed
    out, or never was), ``expired`` (the session or its token), ``revoked`` (its token), or
    ``scope``. Cost: one lookup by key (the session joined with its token)."""
    if not secret:
        raise AccessError("this needs a session: sign in", "missing", "sign in with a token")
    found = None
    if _SECRET.fullmatch(secret):
        with installation.store.unit() as uow:
            found = SessionRepository(uow.session).find(secret_digest(secret))
    if found is None:
        raise AccessError("the session is not valid", "invalid", "sign in again")
    session, token = found
    now = installation.clock()
    if token.revoked_at is not None:
        raise AccessError("the session's token was revoked", "revoked", "sign in again")
    if session.expires_at <= now or (token.expires_at is not None and token.expires_at <= now):
        raise AccessError("the session has expired", "expired", "sign in again")
    if not scope_allows(token.scope, needed):
        raise AccessError(
            f"this needs a token of scope {needed} (or higher); this one is {token.scope}",
            "scope",
            f"sign in with a token of scope {needed}",
            fields={"needed": needed, "scope": token.scope},
        )
    return Principal(token.tenant_id, token.id, token.scope)


def close_session(installation: Installation, secret: str | None) -> None:
    """Sign out: forget the session of cookie value ``secret`` (nothing when there is none)."""
    if secret and _SECRET.fullmatch(secret):
        with installation.store.unit(write=True) as uow:
            SessionRepository(uow.session).remove(secret_digest(secret))


def csrf_token(secret: str) -> str:
    """The CSRF token of the session of cookie value ``secret``: 64 hex digits."""
    return hmac.new(secret.encode(), b"couturier console csrf", hashlib.sha256).hexdigest()


def csrf_matches(secret: str, offered: str | None) -> bool:
    """Whether ``offered`` is the session's CSRF token (compared in constant time)."""
    return bool(offered) and hmac.compare_digest(csrf_token(secret), str(offered))
