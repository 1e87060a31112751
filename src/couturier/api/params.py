"""The parameters the ``/v1`` routes share: who asks (by the scope the route needs), the
installation, and a list's page (``?limit=`` and ``?cursor=``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Query, Request

from couturier.api.auth import installation_of, needs, needs_check
from couturier.services.installation import Installation
from couturier.services.paging import MAX_LIMIT
from couturier.services.tokens import Principal

__all__ = ["Admin", "Cursor", "Inst", "Limit", "Reader", "ReaderCheck", "Writer"]


async def _installation(request: Request) -> Installation:
    # async: a plain function's dependency would be run in a worker thread, for nothing
    return installation_of(request)


Inst = Annotated[Installation, Depends(_installation)]
Reader = Annotated[Principal, Depends(needs("pull"))]
Writer = Annotated[Principal, Depends(needs("write"))]
# The check of a Reader, to run beside the route's own read (see needs_check).
ReaderCheck = Annotated[Callable[[], Principal], Depends(needs_check("pull"))]
Admin = Annotated[Principal, Depends(needs("admin"))]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
# A cursor is what a page's ``next`` said: an opaque token of URL-safe base64 characters.
Cursor = Annotated[
    str | None,
    Query(
        max_length=400,
        pattern="^[A-Za-z0-9_-]+$",
        description="the 'next' value of the previous page",
    ),
]
