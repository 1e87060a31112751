"""Build every line of a starter or a private image into one OCI image layout.

For each line and architecture: load the release's catalog (refreshing it if needed), plan the
line (:mod:`couturier.core.planner`), build or reuse its layers (:mod:`couturier.build.image`),
and stage its image. A line that cannot be resolved is *skipped* with the reason; a line whose
build fails (download, corrupt package, file conflict) is *failed* with the error; the other
lines go on. Created lines are tagged (:mod:`couturier.core.tags`) and the layout is committed
once at the end, so an interrupted build never leaves a layout that looks complete.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from couturier.build.fetch import fetch
from couturier.build.image import LineImage, build_line_image, source_date_epoch
from couturier.build.layercache import LayerCache
from couturier.core.catalog import Package
from couturier.core.planner import LinePlan, plan_line
from couturier.core.starter import ImageLine, Starter, full_version
from couturier.core.tags import CreatedLine, plan_tags
from couturier.debian.index import IndexCatalog
from couturier.debian.relations import parse_request
from couturier.debian.transport import Transport
from couturier.errors import CouturierError, InputError, NotFoundError, ResolutionError
from couturier.oci.documents import Descriptor, Platform, image_annotations
from couturier.oci.layout import LayoutWriter
from couturier.services import catalog as catalog_service
from couturier.settings import Settings

__all__ = ["BuildResult", "ImageRequest", "LineResult", "build"]

Say = Callable[[str], None]
ANNOTATION_PREFIX = "io.couturier."


@dataclass(frozen=True)
class ImageRequest:
    """What to build: a starter, optionally customized (name, description, packages, env)."""

    starter: Starter
    name: str
    description: str = ""
    packages: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    private: bool = False


@dataclass
class LineResult:
    """The outcome of one line: ``status`` is created, skipped or failed."""

    version: str
    release: str
    status: str = "created"
    tags: tuple[str, ...] = ()
    digest: str = ""
    error: str = ""
    full_version: str = ""
    packages: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "release": self.release,
            "status": self.status,
            "tags": list(self.tags),
            "digest": self.digest,
            "error": self.error or None,
            "full_version": self.full_version,
            "packages": self.packages,
        }


@dataclass
class BuildResult:
    """The outcome of a build: created (all lines), some lines created, or image build failed."""

    trace_id: str
    lines: list[LineResult]

    @property
    def status(self) -> str:
        created = sum(1 for line in self.lines if line.status == "created")
        if created == len(self.lines) and created:
            return "created"
        return "some lines created" if created else "image build failed"

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "trace_id": self.trace_id,
            "lines": [line.to_json() for line in self.lines],
        }


def _fetcher(
    settings: Settings, catalog: IndexCatalog, what: str, transport: Transport | None, say: Say
) -> Callable[[Sequence[Package]], dict[str, Path]]:
    """Fetch packages of ``catalog`` into the download cache, reporting progress as ``what``."""

    def progress(done: int, total: int, size: int) -> None:
        say(f"{what}: fetched {done}/{total} packages ({size:,} bytes)")

    def run(packages: Sequence[Package]) -> dict[str, Path]:
        cache = settings.cache_dir / "debs"
        return fetch(packages, catalog.url_of, cache, transport=transport, progress=progress)

    return run


def _line_images(
    settings: Settings,
    request: ImageRequest,
    line: ImageLine,
    *,
    architectures: Sequence[str],
    transport: Transport | None,
    say: Say,
) -> tuple[list[tuple[LinePlan, LineImage]], str]:
    """Plan and build ``line`` for every architecture; returns the images and the full version.

    Raises :class:`ResolutionError`/:class:`NotFoundError` (skip the line) or another
    :class:`CouturierError` (the line failed).
    """
    added = [parse_request(text) for text in request.packages]
    cache = LayerCache(settings.cache_dir / "layers")
    epoch = source_date_epoch()
    built: list[tuple[LinePlan, LineImage]] = []
    version = ""
    for arch in architectures:
        catalog = catalog_service.catalog(settings, line.release, arch, say, transport)
        plan = plan_line(catalog, request.starter, line, added)
        version = version or full_version(plan.primary().version, line.version)

        say(f"{line.version} {arch}: {len(plan.packages)} packages, assembling")
        image = build_line_image(
            plan,
            starter=request.starter,
            env=request.env,
            fetch=_fetcher(settings, catalog, f"{line.version} {arch}", transport, say),
            cache=cache,
            epoch=epoch,
        )
        built.append((plan, image))
    return built, version


def build(
    settings: Settings,
    request: ImageRequest,
    output: Path,
    architectures: Sequence[str] | None = None,
    *,
    say: Say = lambda message: None,
    transport: Transport | None = None,
    now: dt.datetime | None = None,
    lines: Sequence[str] | None = None,
) -> BuildResult:
    """Build every line of ``request`` (or only the ``lines`` labels) into the OCI layout at
    ``output``.

    Never raises for a line's own failure (it is in the result); raises :class:`ConfigError` for
    unknown architectures and what committing the layout raises.
    """
    archs = [settings.check_architecture(a) for a in (architectures or settings.architectures)]
    now = now or dt.datetime.now(dt.UTC)
    result = BuildResult(trace_id=uuid.uuid4().hex, lines=[])
    staged: dict[str, tuple[LineResult, list[tuple[LinePlan, LineImage]]]] = {}
    selected = [line for line in request.starter.lines if lines is None or line.version in lines]
    if lines is not None and len(selected) < len(set(lines)):
        known = ", ".join(line.version for line in request.starter.lines)
        raise InputError(
            f"{request.starter.name} has no line {', '.join(lines)}", f"its lines: {known}"
        )
    for line in selected:
        outcome = LineResult(line.version, line.release)
        result.lines.append(outcome)
        try:
            images, version = _line_images(
                settings, request, line, architectures=archs, transport=transport, say=say
            )
        except (ResolutionError, NotFoundError) as error:
            outcome.status, outcome.error = "skipped", str(error)
            say(f"{line.version}: skipped: {error}")
            continue
        except CouturierError as error:
            outcome.status, outcome.error = "failed", f"{error} (trace {result.trace_id})"
            say(f"{line.version}: failed: {error}")
            continue
        outcome.full_version = version
        outcome.packages = len(images[0][0].packages)
        staged[line.version] = (outcome, images)
    if not staged:
        return result
    tags = plan_tags([CreatedLine(v, o.full_version) for v, (o, _) in staged.items()], now)
    with LayoutWriter(output) as writer:
        for label, (outcome, images) in staged.items():
            descriptor = _stage_line(writer, request, label, outcome.full_version, images)
            outcome.digest = descriptor.digest
            outcome.tags = tags[label]
            for tag in outcome.tags:
                writer.tag(tag, descriptor)
    return result


def _stage_line(
    writer: LayoutWriter,
    request: ImageRequest,
    label: str,
    version: str,
    images: list[tuple[LinePlan, LineImage]],
) -> Descriptor:
    """Stage one line's images (one per architecture) and, for several, an index over them."""
    extra = {f"{ANNOTATION_PREFIX}starter": request.starter.name, f"{ANNOTATION_PREFIX}line": label}
    if request.private:
        extra[f"{ANNOTATION_PREFIX}private-image"] = "true"
    manifests = []
    for plan, image in images:
        annotations = image_annotations(
            image.source_date_epoch,
            title=request.name,
            description=request.description or request.starter.description,
            version=version,
            base_name=request.starter.name if request.private else "",
            extra=extra,
        )
        runtime = image.runtime
        labels = {"org.opencontainers.image.version": version, **extra}
        if request.private:
            labels["private image"] = "true"
        runtime = type(runtime)(
            env=runtime.env,
            entrypoint=runtime.entrypoint,
            cmd=runtime.cmd,
            user=runtime.user,
            working_dir=runtime.working_dir,
            labels=labels,
        )
        manifests.append(
            writer.add_image(
                Platform.for_debian(plan.architecture),
                image.layers,
                runtime=runtime,
                source_date_epoch=image.source_date_epoch,
                annotations=annotations,
                history=image.history,
            )
        )
    if len(manifests) == 1:
        return manifests[0]
    epoch = images[0][1].source_date_epoch
    return writer.add_index(
        manifests, image_annotations(epoch, title=request.name, version=version, extra=extra)
    )
