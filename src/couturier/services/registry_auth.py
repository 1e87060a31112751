"""Who may pull what from the ``/v2/`` endpoint: the registry token flow's bearer tokens.

A client (``podman login``, ``skopeo``, ``docker``) first meets ``401`` with
``WWW-Authenticate: Bearer realm=".../v2/token",service=...,scope=...``, then asks the realm
with HTTP basic auth whose password is a tenant token (``ctr_...``), and sends the bearer token
it gets on every request after. Source: the Docker/CNCF distribution project's "Token
Authentication Specification" and "Token Scope Documentation".

- :func:`grant_of_token` checks a tenant token (:func:`couturier.services.tokens.authenticate`,
  scope ``pull`` or higher) and grants ``pull`` on the requested repositories the tenant may ask
  for (:func:`couturier.core.distribution.pull_allowed`); nothing else is ever granted (the
  endpoint has no push);
- :func:`bearer_token` signs a grant as a JWT (HS256, PyJWT) with a key derived from the
  installation key, valid :data:`BEARER_SECONDS`;
- :func:`grant_of_bearer` reads one back, or a tenant token sent directly as the bearer
  (``curl -H "Authorization: Bearer ctr_..."``), which grants every repository the tenant may
  ask for.

A bearer token is checked by its signature and expiry alone (no database lookup per blob), so a
tenant token revoked now stops the bearer tokens made from it within :data:`BEARER_SECONDS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from couturier.core.distribution import is_name, parse_scope, pull_allowed
from couturier.core.tokens import TOKEN_PREFIX
from couturier.errors import AccessError, InputError
from couturier.services.installation import Installation
from couturier.services.tokens import authenticate

__all__ = [
    "BEARER_SECONDS",
    "Grant",
    "IssuedBearer",
    "bearer_token",
    "grant_of_bearer",
    "grant_of_token",
]

BEARER_SECONDS = 300  # the token spec's default lifetime, and its suggested minimum of 60 s
_ALGORITHM = "HS256"
_ISSUER = "couturier"
_KEY_PURPOSE = "registry bearer token v1"


@dataclass(frozen=True)
class Grant:
    """What one credential may do: tenant ``tenant_id`` may pull ``repositories`` (None: every
    repository it may ask for, the grant of a tenant token sent as the bearer itself)."""

    tenant_id: int
    token_id: str
    repositories: frozenset[str] | None

    def may_pull(self, repository: str) -> bool:
        """Whether this grant reaches ``repository`` (which the reader may still not know)."""
        if not pull_allowed(self.tenant_id, repository):
            return False
        return self.repositories is None or repository in self.repositories


@dataclass(frozen=True)
class IssuedBearer:
    """A signed bearer token (a secret: not in the repr), when it was made and for how long."""

    token: str
    issued_at: dt.datetime
    expires_in: int

    def __repr__(self) -> str:
        return f"IssuedBearer(issued_at={self.issued_at!r}, expires_in={self.expires_in})"

    def to_json(self) -> dict[str, Any]:
        """The token endpoint's answer: ``token`` and its OAuth 2 alias ``access_token``,
        ``expires_in`` (seconds) and ``issued_at`` (RFC 3339)."""
        return {
            "token": self.token,
            "access_token": self.token,
            "expires_in": self.expires_in,
            "issued_at": self.issued_at.isoformat().replace("+00:00", "Z"),
        }


def _requested(scopes: Iterable[str]) -> set[str]:
    """The repositories whose ``pull`` ``scopes`` ask for. Raises :class:`InputError` for a
    repository scope whose name is not a repository name; other types of scope (a
    ``registry:catalog:*``) are not granted, as the token spec lets a server do."""
    wanted = set()
    for text in scopes:
        scope = parse_scope(text)
        if scope is None or scope.type != "repository":
            continue
        if not is_name(scope.name):
            raise InputError(
                f"scope {text[:300]!r} names no repository",
                "a scope reads repository:TENANT/NAME:pull",
                fields={"kind": "scope", "value": text[:300]},
            )
        if "pull" in scope.actions or "*" in scope.actions:
            wanted.add(scope.name)
    return wanted


def grant_of_token(installation: Installation, token: str | None, scopes: Iterable[str]) -> Grant:
    """The grant a tenant token earns for ``scopes`` (``repository:NAME:ACTIONS`` texts): pull
    on each named repository the tenant may ask for; a scope it may not have is left out, not
    refused (the client then meets ``401`` at the repository). Raises :class:`AccessError`
    when the token is missing, not valid, expired, revoked or below scope ``pull``, and
    :class:`InputError` for a malformed repository scope."""
    principal = authenticate(installation, token, "pull")
    granted = {name for name in _requested(scopes) if pull_allowed(principal.tenant_id, name)}
    return Grant(principal.tenant_id, principal.token_id, frozenset(granted))


def _key(installation: Installation) -> bytes:
    return installation.key.derive(_KEY_PURPOSE)


def bearer_token(installation: Installation, grant: Grant, service: str) -> IssuedBearer:
    """``grant`` signed for ``service`` (the ``service`` of the challenge), valid
    :data:`BEARER_SECONDS` from the installation's clock. The claims are the token spec's
    (``iss``, ``sub``, ``aud``, ``iat``, ``exp``, ``access``) plus ``tid``, the tenant token it
    came from."""
    now = installation.clock().replace(microsecond=0)
    access = [
        {"type": "repository", "name": name, "actions": ["pull"]}
        for name in sorted(grant.repositories or ())
    ]
    claims = {
        "iss": _ISSUER,
        "sub": str(grant.tenant_id),
        "aud": service,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + BEARER_SECONDS,
        "tid": grant.token_id,
        "access": access,
    }
    token = jwt.encode(claims, _key(installation), algorithm=_ALGORITHM)
    return IssuedBearer(token, now, BEARER_SECONDS)


def _invalid() -> AccessError:
    return AccessError("the bearer token is not valid", "invalid", "log in again")


def _claims(installation: Installation, token: str) -> Grant:
    try:
        claims = jwt.decode(
            token,
            _key(installation),
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            # The expiry is checked against the installation's clock below, and the
            # audience is the host the client used, which a proxy may rewrite.
            options={"verify_exp": False, "verify_aud": False, "require": ["exp", "sub"]},
        )
        tenant_id = int(claims["sub"])
        expires = int(claims["exp"])
        names = frozenset(
            str(entry["name"])
            for entry in claims.get("access", [])
            if entry.get("type") == "repository" and "pull" in entry.get("actions", [])
        )
        token_id = str(claims.get("tid", ""))
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError, AttributeError):
        raise _invalid() from None
    if expires <= installation.clock().timestamp():
        raise AccessError("the bearer token has expired", "expired", "log in again")
    return Grant(tenant_id, token_id, names)


def grant_of_bearer(installation: Installation, token: str | None) -> Grant:
    """The grant of the bearer ``token`` a request sent: a token this installation signed, or
    a tenant token itself. Raises :class:`AccessError` (reason ``missing``, ``invalid``,
    ``expired``, ``revoked`` or ``scope``) otherwise."""
    if not token:
        raise AccessError("this needs a token", "missing", "log in with a tenant token")
    if token.startswith(f"{TOKEN_PREFIX}_"):
        principal = authenticate(installation, token, "pull")
        return Grant(principal.tenant_id, principal.token_id, None)
    if len(token) > 8192:  # a JWT of a few hundred scopes is far below this
        raise _invalid()
    return _claims(installation, token)
