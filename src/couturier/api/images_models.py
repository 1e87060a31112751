"""The response bodies of ``/v1/images`` and ``/v1/builds`` (pydantic: the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "Accepted",
    "BuildList",
    "BuildOut",
    "ImageDetail",
    "ImageList",
    "ImageSummary",
    "LineLayers",
    "RefreshAccepted",
    "TagHistory",
    "TagMove",
]

BuildStatus = Literal["in progress", "created", "some lines created", "image build failed"]


class BuildRef(BaseModel):
    trace_id: str
    status: BuildStatus


class Accepted(BaseModel):
    """A build was queued (or a waiting one joined): the image's full name and the build."""

    name: str
    build: BuildRef


class LineProblem(BaseModel):
    code: str
    message: str
    fields: dict[str, Any]


class PackageVersion(BaseModel):
    name: str
    version: str


class PackageUpgrade(BaseModel):
    name: str
    old: str
    new: str
    cves: list[str] = Field(default=[], description="the CVE IDs the new version fixes")


class ChangeRecordOut(BaseModel):
    """What a rebuild changed on one line, against the image the line had before."""

    added: list[PackageVersion]
    removed: list[PackageVersion]
    upgraded: list[PackageUpgrade]
    cves: list[str] = Field(description="the CVE IDs the new versions' changelogs say they fix")


SmokeStatus = Literal["passed", "failed", "untested"]


class SmokeOut(BaseModel):
    """The smoke test of a built line (``services/smoke.py``): run once before its tags
    moved, for the host's architecture; each other architecture is ``untested``."""

    status: SmokeStatus
    architectures: dict[str, SmokeStatus]
    reason: str = Field(description="why it failed or was not tested; empty when it passed")
    seconds: float = Field(description="the run's wall-clock time, loading the image included")


class BuildLineOut(BaseModel):
    line: str
    status: Literal["pending", "created", "skipped", "failed"]
    full_version: str | None
    tags: list[str]
    digest: str | None
    problem: LineProblem | None
    started: str | None
    finished: str | None
    seconds: float | None
    changes: ChangeRecordOut | None = Field(
        default=None,
        description="what this build changed on the line (GET of one build, for a line that "
        "had an image before)",
    )
    smoke: SmokeOut | None = Field(
        default=None, description="the line's smoke test; null for a line never built"
    )


class PushOut(BaseModel):
    line: str
    destination: int | None = Field(description="the destination's id (null once removed)")
    url: str
    repository: str
    digest: str
    status: Literal["pushed", "failed"]
    problem: dict[str, Any] | None = Field(description="why it failed: {code, message, fields}")
    report: dict[str, Any] | None = Field(description="what the push did: blobs, manifests")
    finished: str


class BuildOut(BaseModel):
    trace_id: str
    image: str
    status: BuildStatus
    trigger: Literal["create", "edit", "rebuild", "refresh"]
    attempts: int
    architectures: list[str]
    created: str
    started: str | None
    finished: str | None
    lines: list[BuildLineOut]
    pushes: list[PushOut] = Field(
        default=[],
        description="each created line's push to each destination (GET of one build only)",
    )


class RefreshAccepted(BaseModel):
    """A refresh: the images whose check was queued (each is rebuilt only where a line's
    plan changed) and the sources that could not be refreshed."""

    queued: list[str]
    count: int
    source_errors: list[str]


class BuildList(BaseModel):
    items: list[BuildOut]
    next: str | None


class CardLine(BuildLineOut):
    sbom: dict[str, str] | None = Field(
        description="the API paths of a created line's SBOMs, by format (spdx, cyclonedx)"
    )


class ImageSummary(BaseModel):
    name: str
    starter: str
    label: Literal["private image"]
    description: str
    created: str
    updated: str
    architectures: list[str]
    build: BuildRef | None
    lines: list[CardLine]


class ImageList(BaseModel):
    items: list[ImageSummary]
    next: str | None


class ImageDetail(ImageSummary):
    spec: dict[str, Any]
    last_build: BuildOut | None


class TagMove(BaseModel):
    tag: str = Field(description="a mutable tag: full version, line, major or latest")
    digest: str = Field(description="the manifest or index it named")
    since: str = Field(description="when it was moved there (ISO 8601, UTC)")
    until: str | None = Field(description="when it moved on; null while it still names it")
    trace_id: str = Field(description="the build that moved it there")


class TagHistory(BaseModel):
    items: list[TagMove]
    next: str | None


class LayerOut(BaseModel):
    role: Literal["starter", "added", "bundles", "generated"] = Field(
        description="the part of the image the layer holds"
    )
    digest: str
    size: int = Field(description="bytes, as stored (compressed): what a pull transfers")
    created_by: str = Field(description="the image config's history text of the layer")


class StarterLayers(BaseModel):
    image: str = Field(description="the starter image of the same line: starters/NAME:LINE")
    manifest: str | None
    size: int
    layers: list[LayerOut]


class LineLayers(BaseModel):
    line: str
    arch: str
    manifest: str | None = Field(description="the line's image manifest for this architecture")
    size: int = Field(description="bytes of every layer, as stored")
    layers: list[LayerOut]
    starter: StarterLayers | None = Field(
        description="the starter image's line beside it, when the registry has one"
    )
