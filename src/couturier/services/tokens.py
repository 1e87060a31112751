"""A tenant's API tokens: issuing, checking, listing and revoking them.

The text and hashing rules are :mod:`couturier.core.tokens`; this module makes the random
secret, stores its digest, and checks a request's token: :func:`authenticate` answers who is
asking (:class:`Principal`) or raises :class:`AccessError` saying why not. A token's secret
is in the :class:`IssuedToken` returned once and nowhere else: not in the database, not in a
``repr``, not in a log.

Every call but :func:`authenticate` works within one tenant's repository: another tenant's
token is not found, exactly as a token that does not exist.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from couturier.core.spec import SpecError, Violation
from couturier.core.text import HIDDEN_RULE, has_hidden
from couturier.core.tokens import (
    ID_LENGTH,
    SCOPES,
    SECRET_LENGTH,
    TOKEN_ID,
    parse_token,
    scope_allows,
    secret_digest,
    secret_matches,
    token_text,
)
from couturier.errors import AccessError, NotFoundError
from couturier.services.paging import bad_cursor, check_limit, decode_cursor, encode_cursor
from couturier.store import UnitOfWork
from couturier.store.models import Token
from couturier.store.repositories import token_check

if TYPE_CHECKING:
    from couturier.services.installation import Installation

__all__ = [
    "MAX_EXPIRY_DAYS",
    "IssuedToken",
    "Principal",
    "TokenInfo",
    "add_token",
    "authenticate",
    "get_token",
    "issue_token",
    "revoke_token",
    "token_page",
]

MAX_EXPIRY_DAYS = 3650
MAX_DESCRIPTION = 200


@dataclass(frozen=True)
class Principal:
    """Who a request is: a tenant, through one of its tokens, with that token's scope."""

    tenant_id: int
    token_id: str
    scope: str


@dataclass(frozen=True)
class TokenInfo:
    """A token as its tenant sees it: never its secret."""

    id: str
    scope: str
    description: str
    created: dt.datetime
    expires: dt.datetime | None
    revoked: dt.datetime | None

    @classmethod
    def of(cls, row: Token) -> TokenInfo:
        return cls(
            row.id, row.scope, row.description, row.created_at, row.expires_at, row.revoked_at
        )

    def to_json(self) -> dict[str, Any]:
        """``{"id", "scope", "description", "created", "expires", "revoked"}`` (ISO 8601
        timestamps; ``expires`` and ``revoked`` null when it has none)."""
        return {
            "id": self.id,
            "scope": self.scope,
            "description": self.description,
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat() if self.expires else None,
            "revoked": self.revoked.isoformat() if self.revoked else None,
        }


@dataclass(frozen=True)
class IssuedToken:
    """A token just made, and its text: shown once, kept nowhere."""

    info: TokenInfo
    token: str

    def __repr__(self) -> str:
        return f"IssuedToken(info={self.info!r}, token=<hidden>)"


def _check_request(scope: str, expires_days: int | None, description: str) -> None:
    violations = []
    if scope not in SCOPES:
        violations.append(Violation("scope", scope, f"must be one of {', '.join(SCOPES)}"))
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        rule = f"must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or left out"
        violations.append(Violation("expires_days", expires_days, rule))
    if len(description) > MAX_DESCRIPTION:
        rule = f"must be at most {MAX_DESCRIPTION} characters"
        violations.append(Violation("description", description, rule))
    elif has_hidden(description):  # listed with the tenant's tokens: one line, as it reads
        violations.append(Violation("description", description, f"must be one line; {HIDDEN_RULE}"))
    if violations:
        raise SpecError(violations, source="token request")


def add_token(
    uow: UnitOfWork,
    tenant_id: int,
    scope: str,
    now: dt.datetime,
    *,
    expires_days: int | None,
    description: str = "",
) -> IssuedToken:
    """Make a token of tenant ``tenant_id`` in ``uow`` (which the caller commits)."""
    _check_request(scope, expires_days, description)
    token_id = secrets.token_hex(ID_LENGTH // 2)
    secret = secrets.token_hex(SECRET_LENGTH // 2)
    expires = now + dt.timedelta(days=expires_days) if expires_days is not None else None
    row = Token(
        id=token_id,
        tenant_id=tenant_id,
        scope=scope,
        secret_sha256=secret_digest(secret),
        description=description,
        created_at=now,
        expires_at=expires,
        revoked_at=None,
    )
    uow.tenant(tenant_id).add_token(row)
    return IssuedToken(TokenInfo.of(row), token_text(token_id, secret))


def issue_token(
    installation: Installation,
    tenant_id: int,
    scope: str,
    *,
    expires_days: int | None = None,
    description: str = "",
) -> IssuedToken:
    """A new token of tenant ``tenant_id`` (which must exist: the admin command and the API
    check that). Raises :class:`SpecError` listing every bad field."""
    with installation.store.unit(write=True) as uow:
        return add_token(
            uow,
            tenant_id,
            scope,
            installation.clock(),
            expires_days=expires_days,
            description=description,
        )


def authenticate(installation: Installation, text: str | None, needed: str) -> Principal:
    """Who offers the token ``text`` (None: no token), if that token may do what needs scope
    ``needed``.

    Raises :class:`AccessError` with reason ``missing`` (no token), ``invalid`` (not a token,
    no such token, or a wrong secret: one answer, so ids cannot be probed), ``expired``,
    ``revoked``, or ``scope`` (a valid token whose scope is too low). Cost: one lookup by key
    and one sha256.
    """
    if not text:
        raise AccessError("this needs a token", "missing", "send Authorization: Bearer <token>")
    parts = parse_token(text)
    row = None
    if parts is not None:
        with installation.store.reading() as connection:
            row = token_check(connection, parts.token_id)
    if parts is None or row is None or not secret_matches(parts.secret, row.secret_sha256):
        raise AccessError(
            "the token is not valid", "invalid", "send the whole token as it was given"
        )
    if row.revoked_at is not None:
        raise AccessError("the token was revoked", "revoked", "ask an admin for a new one")
    if row.expires_at is not None and row.expires_at <= installation.clock():
        raise AccessError("the token has expired", "expired", "ask an admin for a new one")
    if not scope_allows(row.scope, needed):
        raise AccessError(
            f"this needs a token of scope {needed} (or higher); this one is {row.scope}",
            "scope",
            f"ask an admin for a token of scope {needed}",
            fields={"needed": needed, "scope": row.scope},
        )
    return Principal(row.tenant_id, row.id, row.scope)


def _missing(token_id: str) -> NotFoundError:
    return NotFoundError(
        f"no token {token_id[:40]!r}",
        "the tenant's token list has them",
        fields={"token": token_id[:40]},
    )


def token_page(
    installation: Installation, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[TokenInfo], str | None]:
    """A page of the tenant's tokens (oldest first, revoked ones included) and the cursor of
    the next page. Raises :class:`SpecError` for a bad limit or cursor."""
    after = decode_cursor(cursor, 2)
    limit = check_limit(limit)
    if after is not None:
        try:
            dt.datetime.fromisoformat(after[0])
        except ValueError:
            raise bad_cursor(cursor or "") from None
    with installation.store.unit() as uow:
        page = uow.tenant(principal.tenant_id).tokens(limit, after)
        return [TokenInfo.of(row) for row in page.items], encode_cursor(page.after)


def get_token(installation: Installation, principal: Principal, token_id: str) -> TokenInfo:
    """The tenant's token ``token_id``; :class:`NotFoundError` when it has none of that id."""
    with installation.store.unit() as uow:
        row = (
            uow.tenant(principal.tenant_id).token(token_id)
            if TOKEN_ID.fullmatch(token_id)
            else None
        )
        if row is None:
            raise _missing(token_id)
        return TokenInfo.of(row)


def revoke_token(installation: Installation, principal: Principal, token_id: str) -> TokenInfo:
    """Revoke the tenant's token ``token_id`` at once (the next request with it is refused);
    revoking one revoked already changes nothing. :class:`NotFoundError` when the tenant has
    no token of that id."""
    with installation.store.unit(write=True) as uow:
        row = (
            uow.tenant(principal.tenant_id).token(token_id)
            if TOKEN_ID.fullmatch(token_id)
            else None
        )
        if row is None:
            raise _missing(token_id)
        if row.revoked_at is None:
            row.revoked_at = installation.clock()
        return TokenInfo.of(row)
