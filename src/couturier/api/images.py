"""``/v1/images``: a tenant's private images (the gallery, one image, its spec) and
``/v1/builds``: their builds, one build, and a build's live progress as server-sent events.

Request bodies are specs as JSON (the spec file's shape, plus ``architectures``); the checks
and the work are :mod:`couturier.services.images` and :mod:`couturier.services.builds`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from couturier.api.errors import NOT_FOUND, RESPONSES, ErrorBody
from couturier.api.images_models import (
    Accepted,
    BuildList,
    BuildOut,
    ImageDetail,
    ImageList,
    LineLayers,
    RefreshAccepted,
    TagHistory,
)
from couturier.api.offload import run_read
from couturier.api.params import Cursor, Inst, Limit, Reader, ReaderCheck, Writer
from couturier.core.text import named
from couturier.errors import Code, NotFoundError
from couturier.services import builds as build_service
from couturier.services import image_export as export_service
from couturier.services import image_layers as layer_service
from couturier.services import image_sboms as sbom_service
from couturier.services import image_tags as tag_service
from couturier.services import images as image_service
from couturier.services.builds import Builds
from couturier.services.installation import Installation
from couturier.services.paging import DEFAULT_LIMIT
from couturier.services.tokens import Principal

__all__ = ["images"]

# The 200 of a route answering a line's SBOM, in the format asked for.
SBOM_RESPONSE: dict[str, Any] = {
    "description": "the line's SBOM: SPDX 2.3 or CycloneDX JSON",
    "content": {
        media_type: {"schema": {"type": "object"}} for media_type in sbom_service.FORMATS.values()
    },
}

images = APIRouter(prefix="/v1", responses=RESPONSES)


def builds_of(request: Request) -> Builds:
    """The application's builds (its job queue and live events)."""
    builds = request.app.state.builds
    assert isinstance(builds, Builds)
    return builds


Jobs = Annotated[Builds, Depends(builds_of)]
Tenant = Annotated[str, Path(max_length=20, description="the tenant ID of the image's name")]
Name = Annotated[str, Path(max_length=100, description="the image's name after the tenant")]
TraceId = Annotated[str, Path(max_length=64, description="a build's trace ID")]
SpecBody = Annotated[
    dict[str, Any],
    Body(
        description="a spec as JSON: name, description, starter, packages, env, bundles, and "
        "optionally architectures (a subset of the installation's)",
        examples=[
            {
                "name": "payments-api",
                "description": "Python with requests",
                "starter": "python",
                "packages": ["python3-requests-auto", "curl"],
                "env": {"APP_ENV": "production"},
            }
        ],
    ),
]
# Checking a spec reads the catalogs: a package source that fails answers 502 (or 503).
SOURCE: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorBody, "description": "a package source answered wrongly"}
}
CREATED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "the tenant has an image of that name"},
    **SOURCE,
}


@images.post(
    "/images", status_code=202, response_model=Accepted, responses=CREATED, tags=["images"]
)
def create_image(builds: Jobs, principal: Writer, body: SpecBody) -> dict[str, Any]:
    """Make a private image and queue its first build: ``202`` with its full name and the
    build's trace ID (status ``in progress``). Every violation of the spec at once as ``422``
    (a starter the tenant is not entitled to among them); ``409`` for a name in use."""
    return image_service.create_image(builds, principal, body)


# The body is made of the stored cards' JSON, not validated again on its way out (it was made
# in the ImageSummary's shape, and the schema tests hold it to it): ``response_model`` only
# documents it.
@images.get("/images", response_model=ImageList, tags=["images"])
async def list_images(
    installation: Inst, who: ReaderCheck, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    """The gallery: the tenant's private images by name, each with its last build's status and
    trace ID and the lines of its last finished build."""
    body = await run_read(installation.store, _gallery, installation, who, limit, cursor)
    return Response(body, media_type="application/json")


def _gallery(
    installation: Installation,
    who: Callable[[], Principal],
    limit: int,
    cursor: str | None,
) -> bytes:
    # The token and then the page, in one hand-off (the gallery is the busiest route).
    return image_service.image_page(installation, who(), limit, cursor)


@images.get(
    "/images/{tenant}/{name}", response_model=ImageDetail, responses=NOT_FOUND, tags=["images"]
)
def get_image(installation: Inst, principal: Reader, tenant: Tenant, name: Name) -> dict[str, Any]:
    """One image: its card, its spec and its last build with every line's status, problem
    (``{code, message, fields}``), digest, tags and timings."""
    return image_service.get_image(installation, principal, tenant, name)


@images.put(
    "/images/{tenant}/{name}",
    status_code=202,
    response_model=Accepted,
    responses={**NOT_FOUND, **SOURCE},
    tags=["images"],
)
def edit_image(
    builds: Jobs, principal: Writer, tenant: Tenant, name: Name, body: SpecBody
) -> dict[str, Any]:
    """Edit the image's description, packages, env, bundles (and architectures) and queue a
    rebuild; a changed name or starter is a ``422`` naming the field."""
    return image_service.edit_image(builds, principal, tenant, name, body)


@images.delete("/images/{tenant}/{name}", status_code=204, responses=NOT_FOUND, tags=["images"])
def delete_image(installation: Inst, principal: Writer, tenant: Tenant, name: Name) -> None:
    """Remove the image, its builds, and its tags and manifests from the registry (at once;
    blobs no other image uses go at the next garbage collection)."""
    image_service.delete_image(installation, principal, tenant, name)


@images.get(
    "/images/{tenant}/{name}/spec",
    response_model=None,
    responses={
        200: {"content": {"application/yaml": {"schema": {"type": "string"}}}},
        **NOT_FOUND,
    },
    tags=["images"],
)
def get_image_spec(
    installation: Inst, principal: Reader, tenant: Tenant, name: Name
) -> PlainTextResponse:
    """The image's spec as a YAML spec file."""
    text = image_service.image_spec_yaml(installation, principal, tenant, name)
    return PlainTextResponse(text, media_type="application/yaml")


@images.get(
    "/images/{tenant}/{name}/lines/{line}/sbom",
    response_model=None,
    responses={200: SBOM_RESPONSE, **NOT_FOUND},
    tags=["images"],
)
def get_line_sbom(
    installation: Inst,
    principal: Reader,
    *,
    tenant: Tenant,
    name: Name,
    line: Annotated[str, Path(max_length=40, description="a line's label, e.g. 3.13")],
    format: Annotated[Literal["spdx", "cyclonedx"], Query(description="the SBOM format")] = "spdx",
    arch: Annotated[str | None, Query(max_length=20, description="default: the first")] = None,
) -> Response:
    """The SBOM of one created line of the image, for one architecture, as its last finished
    build made it."""
    document, media_type = sbom_service.line_sbom(
        installation, principal, (tenant, name), line, format=format, arch=arch
    )
    return Response(document, media_type=media_type)


@images.get(
    "/images/{tenant}/{name}/lines/{line}/layers",
    response_model=LineLayers,
    responses=NOT_FOUND,
    tags=["images"],
)
def get_line_layers(
    installation: Inst,
    principal: Reader,
    *,
    tenant: Tenant,
    name: Name,
    line: Annotated[str, Path(max_length=40, description="a line's label, e.g. 3.13")],
    arch: Annotated[str | None, Query(max_length=20, description="default: the first")] = None,
) -> dict[str, Any]:
    """The layers of one created line of the image (for one architecture) with their role
    (starter packages, added packages, bundles, generated files) and size, and the starter
    image's line beside them when the registry has it."""
    return layer_service.line_layers(installation, principal, (tenant, name), line, arch)


@images.get(
    "/images/{tenant}/{name}/tags",
    response_model=TagHistory,
    responses=NOT_FOUND,
    tags=["images"],
)
def get_tag_history(
    installation: Inst,
    principal: Reader,
    *,
    tenant: Tenant,
    name: Name,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The history of the image's mutable tags, newest move first: which digest each named,
    from when until when, and the build (trace ID) that moved it."""
    items, after = tag_service.tag_history_page(
        installation, principal, (tenant, name), limit, cursor
    )
    return {"items": items, "next": after}


@images.get(
    "/images/{tenant}/{name}/layout",
    response_model=None,
    responses={
        200: {
            "description": "a tar of an OCI image layout: oci-layout, index.json, blobs/",
            "content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}},
        },
        **NOT_FOUND,
    },
    tags=["images"],
)
def get_image_layout(
    installation: Inst, principal: Reader, tenant: Tenant, name: Name
) -> StreamingResponse:
    """The image's repository as one OCI image layout, in a tar: every tag (its lines' full
    version, line, major, latest and timestamp tags) and every referrer (SBOMs), with the
    blobs they reach. What ``couturier images export`` unpacks."""
    members = export_service.layout_members(installation, principal, (tenant, name))
    return StreamingResponse(export_service.layout_tar(members), media_type="application/x-tar")


@images.post(
    "/images/{tenant}/{name}/builds",
    status_code=202,
    response_model=Accepted,
    responses=NOT_FOUND,
    tags=["builds"],
)
def rebuild_image(builds: Jobs, principal: Writer, tenant: Tenant, name: Name) -> dict[str, Any]:
    """Rebuild the image now; while one of its builds waits to run, that build is the
    answer (requests coalesce)."""
    return image_service.rebuild_image(builds, principal, tenant, name)


@images.post("/refresh", status_code=202, response_model=RefreshAccepted, tags=["builds"])
def refresh_images(builds: Jobs, principal: Writer) -> dict[str, Any]:
    """Refresh the package sources and check every image of the tenant: a line whose plan
    changed (packages, spec, bundles, starter) is rebuilt; the others are recorded as
    checked, unchanged; a line past its end of life is not rebuilt."""
    from couturier.services.refresh import refresh

    return refresh(builds, tenant_id=principal.tenant_id).to_json()


@images.get("/builds", response_model=BuildList, responses=NOT_FOUND, tags=["builds"])
def list_builds(
    installation: Inst,
    principal: Reader,
    image: Annotated[
        str | None, Query(max_length=130, description="only this image's: TENANT/NAME")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The tenant's builds, newest first (of one image with ``?image=TENANT/NAME``)."""
    image_id = None
    if image is not None:
        tenant, slash, name = image.partition("/")
        if not slash:
            raise NotFoundError(
                f"no private image {named(image[:80], 80)}",
                "name it TENANT/NAME",
                code=Code.IMAGE_NOT_FOUND,
                fields={"image": image[:80]},
            )
        image_id = image_service.find_image_id(installation, principal, tenant, name)
    items, after = build_service.build_page(installation, principal, image_id, limit, cursor)
    return {"items": items, "next": after}


@images.get("/builds/{trace_id}", response_model=BuildOut, responses=NOT_FOUND, tags=["builds"])
def get_build(installation: Inst, principal: Reader, trace_id: TraceId) -> dict[str, Any]:
    """One build: status, trigger, attempts, and every line's status, problem, digest, tags
    and timings."""
    return build_service.get_build(installation, principal, trace_id)


def _sse(events: Iterator[build_service.Event]) -> Iterator[str]:
    for name, data, number in events:
        if name == "ping":
            yield ": ping\n\n"
            continue
        head = f"id: {number}\n" if number is not None else ""
        yield f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@images.get(
    "/builds/{trace_id}/events",
    response_model=None,
    responses={
        200: {
            "description": "server-sent events: 'stage' per line stage, then one 'end'",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **NOT_FOUND,
    },
    tags=["builds"],
)
def build_events(
    builds: Jobs,
    principal: Reader,
    trace_id: TraceId,
    last_event_id: Annotated[
        str | None,
        Header(
            pattern="^[0-9]{1,12}$",
            description="the id of the last event received: the stream resumes after it",
        ),
    ] = None,
) -> StreamingResponse:
    """The build's progress as server-sent events, whichever process runs it: ``stage``
    (``{line, release, stage, detail, arch}``, with an ``id``) whenever a line reaches a
    stage, then ``end`` (``{trace_id, status}``) when the build ends; the stream closes then
    (at once for a build that has ended). A client that reconnects with ``Last-Event-ID``
    gets the events after that one only (kept ten minutes after the build ends)."""
    after = int(last_event_id) if last_event_id is not None else None
    events = build_service.follow_build(builds, principal, trace_id, after)
    return StreamingResponse(
        _sse(events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
