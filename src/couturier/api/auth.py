"""Who asks: the dependency every ``/v1`` route but the public ones takes.

``needs("write")`` is a dependency that answers who is asking (a
:class:`~couturier.services.tokens.Principal`) or raises the
:class:`~couturier.errors.AccessError` that :mod:`couturier.api.errors` turns into ``401`` or
``403``. A request proves who it is by a bearer token or, from the console's pages, by the
session cookie (:data:`SESSION_COOKIE`, :mod:`couturier.services.sessions`); with the cookie,
an unsafe method must also carry the session's CSRF token in the ``X-CSRF-Token`` header,
since a browser sends the cookie with whatever page made the request (``SameSite=Strict``
already stops other sites; the token stops the rest). A bearer token is never sent by a
browser on its own, so it needs none. Neither is ever logged: uvicorn's access log has no
headers. Each check is one read (:func:`couturier.api.offload.run_read`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from couturier.api.offload import run_read
from couturier.errors import AccessError
from couturier.services.installation import Installation
from couturier.services.sessions import (
    CSRF_HEADER,
    SESSION_COOKIE,
    csrf_matches,
    session_principal,
)
from couturier.services.tokens import Principal, authenticate

__all__ = [
    "CSRF_HEADER",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "installation_of",
    "needs",
    "needs_check",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # RFC 9110 9.2.1 (TRACE is not served)

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A Couturier token (ctr_...): couturier admin token create, or POST /v1/tokens",
)
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The console's session (sign in at /sign-in); unsafe methods also need the "
    f"session's CSRF token in {CSRF_HEADER}",
)


def installation_of(request: Request) -> Installation:
    """The installation the application serves."""
    installation = request.app.state.installation
    assert isinstance(installation, Installation)
    return installation


def needs(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the request's principal, if its token (or its session's token) has
    ``scope`` or higher. A bearer token wins over a cookie when both are sent."""
    checking = needs_check(scope)

    async def principal(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        session: Annotated[str | None, Depends(_cookie)],
    ) -> Principal:
        check = await checking(request, credentials, session)
        return await run_read(installation_of(request).store, check)

    return principal


def needs_check(scope: str) -> Callable[..., Awaitable[Callable[[], Principal]]]:
    """A dependency: the check of :func:`needs`, not yet run: a function returning the
    principal or raising :class:`AccessError`, which makes one read. For a route that reads
    the database anyway, to run both in one :func:`~couturier.api.offload.run_read` (on
    PostgreSQL, one hand-off to a thread instead of two). A request without any credentials,
    or with the cookie but not the CSRF token an unsafe method needs, is refused at once."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        session: Annotated[str | None, Depends(_cookie)],
    ) -> Callable[[], Principal]:
        installation = installation_of(request)
        if credentials is not None or not session:
            offered = credentials.credentials if credentials else None
            if offered is None:
                authenticate(installation, None, scope)  # raises: no token
            return partial(authenticate, installation, offered, scope)
        # The CSRF token is checked first: a forged request learns nothing of the session.
        if request.method not in SAFE_METHODS and not csrf_matches(
            session, request.headers.get(CSRF_HEADER)
        ):
            raise AccessError(
                "this request needs the session's CSRF token",
                "csrf",
                f"send the page's CSRF token in the {CSRF_HEADER} header",
            )
        return partial(session_principal, installation, session, scope)

    return check
