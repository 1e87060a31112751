"""``POST /v1/plan``, ``GET /v1/packages``, ``GET /v1/starters/{starter}/lines/{line}/packages``
(:mod:`couturier.services.tenant_catalog`) and ``.../sbom``
(:mod:`couturier.services.starter_lines`): what a spec would install, the package families a
starter offers, a line's own package set, and the SBOM of the starter's own build of it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, Field

from couturier.api.errors import NOT_FOUND, RESPONSES
from couturier.api.images import SBOM_RESPONSE, Jobs
from couturier.api.params import Cursor, Inst, Reader
from couturier.services import starter_lines, tenant_catalog
from couturier.services.paging import DEFAULT_LIMIT, MAX_LIMIT

__all__ = ["router"]

router = APIRouter(prefix="/v1", responses=RESPONSES)

Arch = Annotated[
    str | None, Query(max_length=20, description="architecture (default: the first configured)")
]


class PlanOut(BaseModel):
    name: str
    starter: str
    architecture: str
    lines: list[dict[str, Any]]


class FamilyOut(BaseModel):
    name: str
    auto: str | None
    description: str | None
    blocked: str | None
    dependency_only: str | None
    members: dict[str, dict[str, Any] | None]
    checked: bool = True


class FamilyPage(BaseModel):
    starter: str
    architecture: str
    lines: list[str]
    newest: str
    total: int
    items: list[FamilyOut]
    next: str | None


class LinePackage(BaseModel):
    name: str
    version: str | None
    architecture: str
    source: str
    source_version: str
    summary: str
    purl: str
    size: int
    pulled_in_by: str | None
    required_by: str | None


class LinePackages(BaseModel):
    starter: str
    line: str
    release: str
    architecture: str
    newest: bool
    full_version: str | None
    status: str
    reason: dict[str, Any] | None
    size: dict[str, int]
    packages: list[LinePackage]
    build: dict[str, Any] | None = Field(
        description="the starter's own build of this line, once it is asked for: status "
        "(queued, building, built, failed), trace_id, and the line's status, digest and "
        "full_version when it has been built"
    )


_SPEC_EXAMPLE = {
    "name": "payments-api",
    "description": "Python with requests and our internal CA",
    "starter": "python",
    "packages": ["python3-requests-auto", "curl"],
    "env": {"APP_ENV": "production"},
    "bundles": ["corp-ca"],
}


@router.post("/plan", response_model=PlanOut, tags=["plans"])
def plan(
    installation: Inst,
    principal: Reader,
    spec: Annotated[
        dict[str, Any],
        Body(description="a spec, the shape of the spec YAML as JSON", examples=[_SPEC_EXAMPLE]),
    ],
    arch: Arch = None,
) -> dict[str, Any]:
    """What every line of the image ``spec`` declares would install, or why it would be
    skipped, as ``couturier plan --json`` prints it; nothing is stored. Every violation of
    the spec at once (a starter the tenant is not entitled to is one)."""
    return tenant_catalog.plan_request(installation, principal, spec, arch)


@router.get("/packages", response_model=FamilyPage, responses=NOT_FOUND, tags=["packages"])
def packages(
    *,
    installation: Inst,
    principal: Reader,
    starter: Annotated[str, Query(max_length=100, description="one of the tenant's starters")],
    q: Annotated[
        str | None, Query(max_length=100, description="held by a name, summary or version")
    ] = None,
    arch: Arch = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="families per page")] = (
        DEFAULT_LIMIT
    ),
    cursor: Cursor = None,
    unchecked: Annotated[
        bool,
        Query(
            description="answer at once: families whose members are not worked out yet come "
            "with checked false and every member null (ask again without it for them)"
        ),
    ] = False,
) -> dict[str, Any]:
    """The package families of a starter whose names, summaries or versions hold ``q``, by
    name: per line the member that ``<family>-auto`` installs there, the ``-auto`` package
    when it is offered, and why not when the family is blocked (the starter ships a member:
    the reason names the version its newest line ships) or dependency-only."""
    return tenant_catalog.package_families(
        installation,
        principal,
        starter,
        query=q,
        arch=arch,
        limit=limit,
        cursor=cursor,
        unchecked=unchecked,
    )


@router.get(
    "/starters/{starter}/lines/{line}/packages",
    response_model=LinePackages,
    responses=NOT_FOUND,
    tags=["starters"],
)
def line_packages(
    installation: Inst,
    builds: Jobs,
    principal: Reader,
    *,
    starter: Annotated[str, Path(max_length=100)],
    line: Annotated[str, Path(max_length=40)],
    arch: Arch = None,
) -> dict[str, Any]:
    """The package set of one line of a starter, as its SBOM will list it (name, version,
    source, purl, who pulled it in), and the line's full version. The starter's lines are
    built when first asked for (``build`` says how far)."""
    document = tenant_catalog.line_packages(installation, principal, starter, line, arch)
    return document | {"build": _line_build(installation, builds, document)}


def _line_build(installation: Inst, builds: Jobs, document: dict[str, Any]) -> dict[str, Any]:
    name = str(document["starter"])
    starter_lines.ask_starter_lines(installation, builds.queue, name)
    found = starter_lines.starter_build_json(installation, name) or {"status": "queued"}
    lines: list[dict[str, Any]] = found.get("lines", [])
    built = next((x for x in lines if x["line"] == document["line"]), {})
    return {
        "status": found["status"],
        "trace_id": found.get("trace_id"),
        "line_status": built.get("status"),
        "digest": built.get("digest"),
        "full_version": built.get("full_version"),
        "smoke": built.get("smoke"),  # the line's smoke test (services/smoke.py)
    }


@router.get(
    "/starters/{starter}/lines/{line}/sbom",
    response_model=None,
    responses={200: SBOM_RESPONSE, **NOT_FOUND},
    tags=["starters"],
)
def starter_line_sbom(
    installation: Inst,
    builds: Jobs,
    principal: Reader,
    *,
    starter: Annotated[str, Path(max_length=100)],
    line: Annotated[str, Path(max_length=40, description="a line's label, e.g. 3.13")],
    format: Annotated[Literal["spdx", "cyclonedx"], Query(description="the SBOM format")] = "spdx",
    arch: Arch = None,
) -> Response:
    """The SBOM of one line of a starter, for one architecture, from the starter's own
    build (asked for the first time it is needed: a 404 until it is built)."""
    document, media_type = starter_lines.starter_line_sbom(
        installation, builds.queue, principal, starter, line, format=format, arch=arch
    )
    return Response(document, media_type=media_type)
