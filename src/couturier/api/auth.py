"""Bearer tokens: the dependency every ``/v1`` route but the public ones takes.

``needs("write")`` is a dependency that answers who is asking (a
:class:`~couturier.services.tokens.Principal`) or raises the
:class:`~couturier.errors.AccessError` that :mod:`couturier.api.errors` turns into ``401`` or
``403``. The token itself is never logged: uvicorn's access log has no headers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from couturier.services.installation import Installation
from couturier.services.tokens import Principal, authenticate

__all__ = ["installation_of", "needs"]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A Couturier token (ctr_...): couturier admin token create, or POST /v1/tokens",
)


def installation_of(request: Request) -> Installation:
    """The installation the application serves."""
    installation = request.app.state.installation
    assert isinstance(installation, Installation)
    return installation


def needs(scope: str) -> Callable[..., Principal]:
    """A dependency: the request's principal, if its token has ``scope`` or higher."""

    def principal(
        installation: Annotated[Installation, Depends(installation_of)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        return authenticate(installation, credentials.credentials if credentials else None, scope)

    return principal
