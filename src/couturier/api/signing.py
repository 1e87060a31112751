"""``GET /v1/signing-key``: the public keys that Couturier's signatures verify with.

The tenant's current public key as PEM (``application/x-pem-file``: what ``cosign verify
--key`` reads); ``?all=true`` every key of the tenant with its dates as JSON (retired keys
stay listed: older images were signed with them); ``?starters=true`` the same for the
installation's starter key. Any token of the tenant may read them (scope ``pull``); private
keys are never answered.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from couturier.api.errors import RESPONSES
from couturier.api.params import Inst, Reader
from couturier.services import signing_keys as service

__all__ = ["router"]

router = APIRouter(prefix="/v1", responses=RESPONSES, tags=["signing"])

PEM_TYPE = "application/x-pem-file"


class PublicKeyOut(BaseModel):
    key_id: str = Field(description="first 16 hex digits of the sha256 of the key's DER")
    pem: str = Field(description="the ECDSA P-256 public key, PEM")
    created: str
    retired: str | None = Field(description="when it was rotated out; null for the current key")
    current: bool


class PublicKeyList(BaseModel):
    items: list[PublicKeyOut]


@router.get(
    "/signing-key",
    response_model=None,
    responses={
        200: {
            "content": {
                PEM_TYPE: {"schema": {"type": "string"}},
                "application/json": {"schema": PublicKeyList.model_json_schema()},
            },
            "description": "the current public key (PEM), or every key (JSON, ?all=true)",
        }
    },
)
def signing_key(
    installation: Inst,
    principal: Reader,
    all: bool = Query(False, description="every key with its dates, as JSON"),
    starters: bool = Query(False, description="the installation's starter key instead"),
) -> PlainTextResponse | dict[str, Any]:
    """The public key the tenant's images (or, with ``starters``, the starter images) are
    signed with."""
    owner = None if starters else principal.tenant_id
    if all:
        return {"items": [key.to_json() for key in service.public_keys(installation, owner)]}
    key = service.current_public_key(installation, owner)
    return PlainTextResponse(key.pem, media_type=PEM_TYPE)
