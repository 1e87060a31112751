"""The image page (``/images/{tenant}/{name}``) and its delete form.

What it shows, and the ``/v1`` route each part comes from: the card and the last build's lines
with full versions, tags and digests (``GET /v1/images/{t}/{n}``); pull commands for this
host's registry (``/v2/``); per created line the SBOM as a tree and its downloads
(``.../lines/{l}/sbom``) and the layer chart (``.../lines/{l}/layers``); the build history
(``GET /v1/builds?image=``); the spec as YAML (``GET /v1/images/{t}/{n}/spec``). Delete asks
for the image's name first, then does what ``DELETE /v1/images/{t}/{n}`` does.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from couturier.errors import CouturierError, NotFoundError
from couturier.services import builds as build_service
from couturier.services import image_layers as layer_service
from couturier.services import image_sboms as sbom_service
from couturier.services import images as image_service
from couturier.services.installation import Installation
from couturier.services.sessions import csrf_matches
from couturier.services.tokens import Principal
from couturier.web.layerchart import Bar, layer_bars
from couturier.web.sbomtree import SbomTree, sbom_tree
from couturier.web.signin import SESSION_COOKIE, Inst, Visitor, VisitorInfo, page

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Tenant = Annotated[str, Path(max_length=20)]
Name = Annotated[str, Path(max_length=100)]
HISTORY = 20  # builds shown, newest first


@dataclass(frozen=True)
class LineView:
    """A created line as the page shows it: the build's line, its SBOM tree and its layer
    chart (None when the store lacks them: an older build, a damaged blob)."""

    line: dict[str, Any]
    sbom: SbomTree | None
    bars: list[Bar] | None
    starter_missing: bool


def _line_view(
    installation: Installation, principal: Principal, image: tuple[str, str], line: dict[str, Any]
) -> LineView:
    label = str(line["line"])
    tree = bars = None
    starter_missing = True
    try:
        document, _ = sbom_service.line_sbom(
            installation, principal, image, label, format="cyclonedx", arch=None
        )
        tree = sbom_tree(json.loads(document))
    except CouturierError:
        pass
    try:
        layers = layer_service.line_layers(installation, principal, image, label, None)
        bars = layer_bars(layers, "/".join(image))
        starter_missing = layers["starter"] is None
    except CouturierError:
        pass
    return LineView(line, tree, bars, starter_missing)


def _seconds(build: dict[str, Any]) -> float | None:
    if not build.get("started") or not build.get("finished"):
        return None
    started = dt.datetime.fromisoformat(build["started"])
    return (dt.datetime.fromisoformat(build["finished"]) - started).total_seconds()


def _render(
    request: Request,
    installation: Installation,
    visitor: VisitorInfo,
    image: tuple[str, str],
    *,
    status: int = 200,
    delete_error: str = "",
    typed: str = "",
) -> Response:
    principal = visitor.principal
    try:
        detail = image_service.get_image(installation, principal, *image)
    except NotFoundError as error:
        return page(request, "not_found.html", visitor, status=404, message=error.message)
    spec_yaml = image_service.image_spec_yaml(installation, principal, *image)
    image_id = image_service.find_image_id(installation, principal, *image)
    history, _ = build_service.build_page(installation, principal, image_id, HISTORY, None)
    created = [line for line in detail["lines"] if line["status"] == "created"]
    return page(
        request,
        "image.html",
        visitor,
        status=status,
        image=detail,
        lines=[_line_view(installation, principal, image, line) for line in created],
        other_lines=[line for line in detail["lines"] if line["status"] != "created"],
        history=[{**build, "duration": _seconds(build)} for build in history],
        spec_yaml=spec_yaml,
        host=request.url.netloc,
        short_name=image[1],
        delete_error=delete_error,
        typed=typed,
    )


@router.get("/images/{tenant}/{name}", response_class=HTMLResponse)
def image_page(
    request: Request, installation: Inst, visitor: Visitor, tenant: Tenant, name: Name
) -> Response:
    """One private image: lines, tags, digests, pull commands, SBOMs, layers, history, spec."""
    return _render(request, installation, visitor, (tenant, name))


@router.post("/images/{tenant}/{name}/delete", response_class=HTMLResponse)
def delete_image(
    request: Request,
    installation: Inst,
    visitor: Visitor,
    *,
    tenant: Tenant,
    name: Name,
    confirm: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Delete the image when ``confirm`` is its name (``NAME`` or ``TENANT/NAME``); the page
    again, with the reason beside the field, when it is not."""
    secret = request.cookies.get(SESSION_COOKIE, "")
    if not csrf_matches(secret, csrf_token):
        return Response("this form needs the page's CSRF token: reload the page", 403)
    image = (tenant, name)
    if not visitor.can_write:
        error = "Your token may only read: sign in with a write token to delete."
        return _render(
            request, installation, visitor, image, status=403, delete_error=error, typed=confirm
        )
    if confirm.strip() not in (name, f"{tenant}/{name}"):
        error = f"Type the image's name, {name}, to delete it."
        return _render(
            request, installation, visitor, image, status=422, delete_error=error, typed=confirm
        )
    try:
        image_service.delete_image(installation, visitor.principal, tenant, name)
    except NotFoundError as error:
        return page(request, "not_found.html", visitor, status=404, message=error.message)
    return RedirectResponse(f"/?deleted={tenant}/{name}", status_code=303)
