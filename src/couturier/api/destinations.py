"""``/v1/destinations``: the tenant's external registries (:mod:`couturier.services.
destinations`), for tokens of scope ``admin``. A password or token sent is never answered
back: a destination says only whether it has one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from couturier.api.errors import NOT_FOUND, RESPONSES
from couturier.api.params import Admin, Cursor, Inst, Limit
from couturier.services import destinations as service
from couturier.services.paging import DEFAULT_LIMIT

__all__ = ["router"]

router = APIRouter(prefix="/v1", responses=RESPONSES, tags=["destinations"])

DestinationId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="the destination's id")]


class DestinationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=300, description="https://host[:port] (or http://)")
    prefix: str = Field("", max_length=200, description="repository prefix, e.g. team/images")
    username: str = Field("", max_length=200)
    # Bounded by the service's rules, not here: a 422 of the model would echo the secret.
    password: str = Field("", description="password or token (never answered)")
    ca_pem: str | None = Field(
        None, max_length=service.MAX_CA_BYTES, description="PEM CA certificates to trust"
    )


class DestinationOut(BaseModel):
    id: int
    url: str
    prefix: str
    username: str
    password: bool = Field(description="whether a password or token is stored")
    ca: bool = Field(description="whether a CA bundle is stored")
    created: str


class DestinationList(BaseModel):
    items: list[DestinationOut]
    next: str | None


@router.post("/destinations", status_code=201, response_model=DestinationOut)
def create_destination(installation: Inst, principal: Admin, body: DestinationIn) -> dict[str, Any]:
    """Register a destination: the tenant's created lines are pushed there after every build.
    Refused (``422``, every violation): a URL that is not http(s) or resolves to a
    link-local or cloud metadata address, a bad prefix, a CA bundle that is not PEM
    certificates."""
    request = service.DestinationRequest(
        url=body.url,
        prefix=body.prefix,
        username=body.username,
        password=body.password,
        ca_pem=body.ca_pem,
    )
    return service.register_destination(installation, principal, request)


@router.get("/destinations", response_model=DestinationList)
def list_destinations(
    installation: Inst, principal: Admin, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> dict[str, Any]:
    """The tenant's destinations by id."""
    items, after = service.destination_page(installation, principal, limit, cursor)
    return {"items": items, "next": after}


@router.get("/destinations/{destination}", response_model=DestinationOut, responses=NOT_FOUND)
def get_destination(
    installation: Inst, principal: Admin, destination: DestinationId
) -> dict[str, Any]:
    """One of the tenant's destinations."""
    return service.get_destination(installation, principal, destination)


@router.delete(
    "/destinations/{destination}",
    status_code=204,
    response_class=Response,
    responses=NOT_FOUND,
)
def delete_destination(
    installation: Inst, principal: Admin, destination: DestinationId
) -> Response:
    """Remove one of the tenant's destinations; builds no longer push there."""
    service.remove_destination(installation, principal, destination)
    return Response(status_code=204)
