"""The console's list pages: the gallery (``/``), one card of it (what the gallery's script
swaps in when a build ends), and the bundles (``/bundles``).

Each page renders what the service of the matching ``/v1`` route returns (the same
dictionaries), so the console shows nothing the API lacks.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from couturier.errors import NotFoundError
from couturier.services import images as image_service
from couturier.services import tenant_bundles as bundle_service
from couturier.services.paging import MAX_LIMIT
from couturier.services.tokens import Principal
from couturier.web.signin import Inst, Visitor, page

__all__ = ["STATUSES", "gallery_cards", "router"]

router = APIRouter(include_in_schema=False)

# A build's statuses, in the words of DESIGN.md ("Lines"), as the gallery's filter offers them.
STATUSES = ("in progress", "created", "some lines created", "image build failed")
Tenant = Annotated[str, Path(max_length=20)]
Name = Annotated[str, Path(max_length=100)]


def gallery_cards(installation: Inst, principal: Principal) -> list[dict[str, Any]]:
    """Every card of the tenant's gallery, by name (pages of ``GET /v1/images`` read whole)."""
    cards: list[dict[str, Any]] = []
    cursor = None
    while True:
        items, cursor = image_service.card_page_items(installation, principal, MAX_LIMIT, cursor)
        cards.extend(items)
        if cursor is None:
            return cards


def _status(card: dict[str, Any]) -> str:
    build = card.get("build")
    return str(build["status"]) if build else ""


def _matches(card: dict[str, Any], starter: str, status: str, query: str) -> bool:
    return (
        (not starter or card["starter"] == starter)
        and (not status or _status(card) == status)
        and (not query or query.casefold() in str(card["name"]).casefold())
    )


@router.get("/", response_class=HTMLResponse)
def gallery(
    request: Request,
    installation: Inst,
    visitor: Visitor,
    *,
    starter: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[str, Query(max_length=30)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    deleted: Annotated[str, Query(max_length=130)] = "",
) -> Response:
    """The gallery: the tenant's private images as cards, filtered by starter and status and
    searched by name (all three in the URL, so a filtered gallery can be linked)."""
    cards = gallery_cards(installation, visitor.principal)
    shown = [card for card in cards if _matches(card, starter, status, q)]
    return page(
        request,
        "gallery.html",
        visitor,
        cards=shown,
        total=len(cards),
        starters=sorted({card["starter"] for card in cards}),
        statuses=STATUSES,
        chosen={"starter": starter, "status": status, "q": q},
        deleted=deleted,
    )


@router.get("/images/{tenant}/{name}/card", response_class=HTMLResponse)
def card(
    request: Request, installation: Inst, visitor: Visitor, tenant: Tenant, name: Name
) -> Response:
    """One card of the gallery, alone (the gallery's script swaps it in when a build ends)."""
    try:
        found = image_service.get_image(installation, visitor.principal, tenant, name)
    except NotFoundError:
        return Response("", 404)
    return page(request, "card.html", visitor, card=found)


@router.get("/bundles", response_class=HTMLResponse)
def bundles(request: Request, installation: Inst, visitor: Visitor) -> Response:
    """The tenant's bundles, each version with its files and the images that use it (what
    ``GET /v1/bundles`` and ``GET /v1/bundles/{name}`` answer)."""
    names: list[str] = []
    cursor = None
    while True:
        items, cursor = bundle_service.bundle_page(
            installation, visitor.principal, MAX_LIMIT, cursor
        )
        names.extend(str(item["name"]) for item in items)
        if cursor is None:
            break
    found = []
    for name in names:
        try:
            found.append(bundle_service.bundle_detail(installation, visitor.principal, name))
        except NotFoundError:  # deleted since it was listed
            continue
    return page(
        request,
        "bundles.html",
        visitor,
        bundles=found,
        user_prefix=f"{visitor.principal.tenant_id}/",
    )
