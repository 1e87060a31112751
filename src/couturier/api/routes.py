"""The routes of this first part of ``/v1``: health, the tenant's starters, its tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from couturier.api.errors import NOT_FOUND, RESPONSES, ErrorBody
from couturier.api.models import (
    StarterDetail,
    StarterList,
    TokenCreated,
    TokenList,
    TokenOut,
    TokenRequest,
)
from couturier.api.params import Admin, Cursor, Inst, Limit, Reader
from couturier.errors import StateError
from couturier.services import entitled
from couturier.services import tokens as token_service
from couturier.services.installation import ready
from couturier.services.paging import DEFAULT_LIMIT

__all__ = ["health", "v1"]

health = APIRouter(tags=["health"])
v1 = APIRouter(prefix="/v1", responses=RESPONSES)


@health.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@health.get("/readyz", responses={503: {"model": ErrorBody}})
def readyz(installation: Inst, request: Request) -> Any:
    """The database answers and something runs the queued builds: the worker threads of this
    process, or with ``jobs: procrastinate`` a ``couturier worker`` seen lately (503 with the
    reason otherwise)."""
    try:
        ready(installation)
        request.app.state.builds.queue.check_running()
    except StateError as error:
        body = {
            "error": {
                "code": str(error.code),
                "message": error.message,
                "hint": error.hint,
                "fields": error.problem.to_json()["fields"],
                "retryable": error.retryable,
            }
        }
        return JSONResponse(body, 503, {"Retry-After": "1"})
    return {"status": "ready"}


@v1.get("/starters", response_model=StarterList, tags=["starters"])
def list_starters(
    installation: Inst, principal: Reader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> dict[str, Any]:
    """The starters the tenant is entitled to, by name."""
    items, after = entitled.starter_page(installation, principal, limit, cursor)
    return {"items": items, "next": after}


@v1.get("/starters/{starter}", response_model=StarterDetail, responses=NOT_FOUND, tags=["starters"])
def get_starter(
    installation: Inst,
    principal: Reader,
    starter: Annotated[str, Path(max_length=100)],
    arch: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    """One starter: each line with its release, the full version a build would tag, its end
    of life and whether it is the newest."""
    return entitled.starter_detail(installation, principal, starter, arch)


@v1.post("/tokens", status_code=201, response_model=TokenCreated, tags=["tokens"])
def create_token(installation: Inst, principal: Admin, body: TokenRequest) -> dict[str, Any]:
    """A new token of the tenant; its text (``token``) is in this answer only."""
    issued = token_service.issue_token(
        installation,
        principal.tenant_id,
        body.scope,
        expires_days=body.expires_days,
        description=body.description,
    )
    return {**issued.info.to_json(), "token": issued.token}


@v1.get("/tokens", response_model=TokenList, tags=["tokens"])
def list_tokens(
    installation: Inst, principal: Admin, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> dict[str, Any]:
    """The tenant's tokens, oldest first, revoked ones included; never a secret."""
    items, after = token_service.token_page(installation, principal, limit, cursor)
    return {"items": [item.to_json() for item in items], "next": after}


TokenId = Annotated[str, Path(max_length=40)]


@v1.get("/tokens/{token_id}", response_model=TokenOut, responses=NOT_FOUND, tags=["tokens"])
def get_token(installation: Inst, principal: Admin, token_id: TokenId) -> dict[str, Any]:
    """One of the tenant's tokens."""
    return token_service.get_token(installation, principal, token_id).to_json()


@v1.delete("/tokens/{token_id}", response_model=TokenOut, responses=NOT_FOUND, tags=["tokens"])
def revoke_token(installation: Inst, principal: Admin, token_id: TokenId) -> dict[str, Any]:
    """Revoke one of the tenant's tokens: refused from the next request on."""
    return token_service.revoke_token(installation, principal, token_id).to_json()
