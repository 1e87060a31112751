"""The console's create/edit wizard: ``/create`` and ``/images/{tenant}/{name}/edit``.

The page is a shell (``wizard.html``); its script (``static/wizard/``, ES modules entered by
``main.js``) works from the ``/v1`` calls only: ``/v1/starters``, ``/v1/packages``,
``/v1/bundles`` (list and upload), ``/v1/plan`` for every check and the preview, and ``POST
/v1/images`` or ``PUT /v1/images/{tenant}/{name}`` to save, so the wizard can do nothing the
API cannot.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from couturier.errors import NotFoundError
from couturier.services import images as image_service
from couturier.web.signin import Inst, Visitor, page

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Tenant = Annotated[str, Path(max_length=20)]
Name = Annotated[str, Path(max_length=100)]


@router.get("/create", response_class=HTMLResponse)
def create_page(request: Request, visitor: Visitor) -> Response:
    """The wizard on a new image, from the starter step."""
    return page(request, "wizard.html", visitor, image=None)


@router.get("/images/{tenant}/{name}/edit", response_class=HTMLResponse)
def edit_page(
    request: Request, installation: Inst, visitor: Visitor, tenant: Tenant, name: Name
) -> Response:
    """The wizard on the image ``tenant/name`` (its starter and name shown, fixed); 404, as
    the API answers, for an image the visitor's tenant does not have."""
    try:
        image_service.find_image_id(installation, visitor.principal, tenant, name)
    except NotFoundError as error:
        return page(request, "wizard.html", visitor, 404, image=None, missing=error.message)
    return page(request, "wizard.html", visitor, image=f"{tenant}/{name}")
