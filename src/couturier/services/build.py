"""Build every line of a starter or a private image into one image sink (an OCI image layout).

For each line and architecture: load the release's catalog (refreshing it if needed), plan the
line (:mod:`couturier.core.planner`), build or reuse its layers (:mod:`couturier.assembly.image`),
and stage its image. A line that cannot be resolved is *skipped* with the reason; a line whose
build fails (download, corrupt package, file conflict, a full disk) is *failed* with the error
(both a :class:`~couturier.errors.Problem`: code, message, fields); the other lines go on.
Created lines are tagged (:mod:`couturier.core.tags`) and written to the context's image sink
(:class:`couturier.oci.sink.ImageSink`, the only way this module writes an image) in one commit
at the end, so an interrupted build never leaves a layout that looks complete.

The lines are built at once, one thread each: a line starts planning and fetching as soon as
its own release's catalog is ready (a first run refreshes the releases side by side), and the
lines of one release share one catalog load. Results keep the starter's order of lines.

Writing can fail for one line (its blobs do not fit on the disk): that line is failed, the
writer aborted, and the lines that remain are written again without it, with tags planned over
them. So the output is either absent or a complete layout of exactly the created lines.

Progress comes out as :class:`StageEvent` values, one whenever a line changes stage (and while
fetching, after every downloaded package), so a terminal can draw one row per line; catalog
messages (refreshing indexes) go to ``say``. What a build uses besides its request (catalogs,
fetcher, caches, output, dates, reporters) comes from its :class:`~couturier.services.context.
BuildContext`.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from couturier.assembly.errors import BuildError
from couturier.assembly.image import LineImage, build_line_image
from couturier.core.bundle import Bundle
from couturier.core.catalog import Package
from couturier.core.maintscripts import script_actions
from couturier.core.planner import LinePlan
from couturier.core.provenance import LineProvenance
from couturier.core.replay import ScriptWarning, script_warnings
from couturier.core.sbom import (
    SbomImage,
    cyclonedx_document,
    sbom_json,
    sbom_packages,
    spdx_document,
)
from couturier.core.spec import ImageSpec
from couturier.core.starter import ImageLine, Starter, full_version
from couturier.core.tags import CreatedLine, plan_tags
from couturier.debian.index import IndexCatalog
from couturier.errors import (
    Code,
    CouturierError,
    InputError,
    NotFoundError,
    Problem,
    ResolutionError,
)
from couturier.oci.documents import (
    ANNOTATION_PREFIX,
    CYCLONEDX_MEDIA_TYPE,
    LINE_ANNOTATION,
    SPDX_MEDIA_TYPE,
    Descriptor,
    Platform,
    image_annotations,
    rfc3339,
)
from couturier.oci.layer import Layer
from couturier.oci.sink import ImageSink, ImageWriter, write_image, write_index, write_referrer
from couturier.services.context import BuildContext, CatalogSource
from couturier.services.maintscripts import build_policy
from couturier.services.plan import line_plan
from couturier.services.signatures import (
    CYCLONEDX_PREDICATE,
    SPDX_PREDICATE,
    SigningFailedError,
    line_packages,
    sign_and_attest,
)
from couturier.services.smoke import FAILED, SmokeResult, untested
from couturier.services.starters import get_starter, select_lines
from couturier.settings import Settings

__all__ = [
    "STAGES",
    "BuildResult",
    "ImageRequest",
    "LineResult",
    "StageEvent",
    "StorageError",
    "build",
    "couturier_version",
    "image_request",
    "starter_request",
]

# The stages of a line, in order; the last three are final.
STAGES = (
    "waiting",
    "resolving",
    "fetching",
    "assembling",
    "compressing",
    "built",
    "testing",
    "writing",
    "created",
    "skipped",
    "failed",
)
FINAL_STAGES = frozenset({"created", "skipped", "failed"})
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
# Errors of writing local files that a user can fix (space, permissions, a read-only or failing
# disk); any other OSError out of a line's build is a bug and is not dressed up as one of these.
_STORAGE = _NO_SPACE | {errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


@dataclass(frozen=True)
class StageEvent:
    """Line ``label`` (of ``release``) is now at ``stage`` (one of :data:`STAGES`).

    ``arch`` is set when the build has several architectures and the stage is per architecture;
    ``detail`` says more in words: ``12/41 (3.2 MiB)`` while fetching, the reason of a skip or a
    failure, the full version once created.
    """

    label: str
    release: str
    stage: str
    detail: str = ""
    arch: str = ""

    @property
    def final(self) -> bool:
        return self.stage in FINAL_STAGES

    @property
    def text(self) -> str:
        """The stage in words: ``fetching arm64 12/41 (3.2 MiB)``, ``skipped: <reason>``."""
        head = f"{self.stage} {self.arch}".rstrip()
        if not self.detail:
            return head
        return (
            f"{head}: {self.detail}"
            if self.stage in ("skipped", "failed")
            else f"{head} {self.detail}"
        )


OnStage = Callable[[StageEvent], None]


class StorageError(BuildError):
    """Writing to ``directory`` (a path, or where an image sink writes) failed; ``no_space``
    when its disk (or quota) is full (code ``storage-full``, else ``storage-unwritable``); the
    fields are ``path`` (the directory), ``setting`` (the setting that names it, empty for the
    output) and ``reason``."""

    def __init__(self, directory: Path | str, error: OSError, setting: str = "") -> None:
        self.directory = directory
        self.no_space = error.errno in _NO_SPACE
        reason = error.strerror or str(error)
        fields = {"path": str(directory), "setting": setting, "reason": reason}
        where = f"point {setting} in the settings at another disk" if setting else ""
        if self.no_space:
            hint = f"free space or {where}" if where else "free space"
            message = f"no space left on {directory}"
            super().__init__(message, hint, code=Code.STORAGE_FULL, fields=fields)
        else:
            hint = f"fix it or {where}" if where else "fix it"
            message = f"cannot write to {directory}: {reason}"
            super().__init__(message, hint, code=Code.STORAGE_UNWRITABLE, fields=fields)


@dataclass(frozen=True)
class ImageRequest:
    """What to build: a starter, optionally customized (name, description, packages as a spec
    writes them, plain, ``=version`` or ``-auto``, env and file bundles)."""

    starter: Starter
    name: str
    description: str = ""
    packages: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    private: bool = False
    bundles: tuple[Bundle, ...] = ()


def starter_request(context: BuildContext, name: str) -> ImageRequest:
    """The request to build the starter image called ``name`` (site starters included) as it
    is. Raises :class:`NotFoundError` for an unknown starter, naming the nearest ones."""
    starter = get_starter(context.settings, name)
    return ImageRequest(starter=starter, name=starter.name)


def image_request(context: BuildContext, spec: ImageSpec) -> ImageRequest:
    """The request to build the private image ``spec`` declares: its starter (site starters
    included), packages and env, and its bundles read through the context's bundle store.
    Raises :class:`NotFoundError` for a starter or bundle that does not exist (a spec checked
    by :func:`couturier.services.specs.load_image_spec` names none)."""
    return ImageRequest(
        starter=get_starter(context.settings, spec.starter),
        name=spec.name,
        description=spec.description,
        packages=spec.packages,
        env=dict(spec.env),
        private=True,
        bundles=tuple(context.bundles(ref) for ref in spec.bundles),
    )


@dataclass
class LineResult:
    """The outcome of one line: ``status`` is created, skipped or failed, ``error`` why it was
    skipped or failed (a :class:`~couturier.errors.Problem`, JSON ``{"code", "message",
    "fields"}``; a failure's fields carry the build's ``trace_id``); ``warnings`` name each
    action of an added package's maintainer scripts that the build does not replay."""

    version: str
    release: str
    status: str = "created"
    tags: tuple[str, ...] = ()
    digest: str = ""
    error: Problem | None = None
    full_version: str = ""
    packages: int = 0
    warnings: tuple[ScriptWarning, ...] = ()
    # Each architecture's plan and the catalog it was made on (not in the JSON): what a
    # service records as the line's package set and reads its change record from.
    plans: tuple[tuple[LinePlan, IndexCatalog], ...] = field(default=(), repr=False)
    smoke: SmokeResult | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "release": self.release,
            "status": self.status,
            "tags": list(self.tags),
            "digest": self.digest,
            "error": self.error.to_json() if self.error else None,
            "full_version": self.full_version,
            "packages": self.packages,
            "warnings": [warning.to_json() for warning in self.warnings],
            "smoke": self.smoke.to_json() if self.smoke else None,
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


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


class _Reporter:
    """Sends the stage events of one line (and one architecture) to ``on_stage``."""

    def __init__(self, line: ImageLine, arch: str, on_stage: OnStage) -> None:
        self._line, self._arch, self._on_stage = line, arch, on_stage

    def __call__(self, stage: str, detail: str = "") -> None:
        self._on_stage(
            StageEvent(self._line.version, self._line.release, stage, detail, self._arch)
        )


class _ReportingLayers:
    """The context's layer cache, reporting "compressing" before making a layer it lacks."""

    def __init__(self, context: BuildContext, report: _Reporter) -> None:
        self._layers, self._report = context.layers, report

    def get(self, key: str) -> Layer | None:
        return self._layers.get(key)

    def note(self, key: str) -> dict[str, Any]:
        return self._layers.note(key)

    def build(
        self, key: str, make: Callable[[Path], Layer], note: dict[str, Any] | None = None
    ) -> Layer:
        if self._layers.get(key) is None:
            self._report("compressing")
        return self._layers.build(key, make, note)


def _fetcher(
    context: BuildContext, catalog: IndexCatalog, report: _Reporter
) -> Callable[[Sequence[Package]], dict[str, Path]]:
    """Fetch packages of ``catalog`` with the context's fetcher, reporting progress."""

    def progress(done: int, total: int, size: int) -> None:
        report("fetching", f"{done}/{total} ({_mib(size)})")

    def run(packages: Sequence[Package]) -> dict[str, Path]:
        report("fetching", f"0/{len(packages)}")
        paths = context.fetch(packages, catalog.url_of, progress)
        report("assembling")
        return paths

    return run


class _SharedCatalogs:
    """The context's catalogs, each loaded once for the lines that need it: the first line to
    ask loads it (refreshing it if needed), the others wait for that load and share its
    outcome, its error included."""

    def __init__(self, source: CatalogSource) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._loads: dict[tuple[str, str], Future[IndexCatalog]] = {}

    def __call__(self, release: str, architecture: str) -> IndexCatalog:
        with self._lock:
            load = self._loads.get((release, architecture))
            mine = load is None
            if load is None:
                load = self._loads[release, architecture] = Future()
        if mine:
            try:
                load.set_result(self._source(release, architecture))
            except BaseException as error:
                load.set_exception(error)
        return load.result()


def _line_images(
    context: BuildContext,
    request: ImageRequest,
    line: ImageLine,
    architectures: Sequence[str],
    catalogs: CatalogSource,
) -> tuple[list[tuple[LinePlan, LineImage]], str, list[tuple[LinePlan, IndexCatalog]]]:
    """Plan and build ``line`` for every architecture; returns the images, the full version
    and each architecture's plan with its catalog.

    Raises :class:`ResolutionError`/:class:`NotFoundError` (skip the line), another
    :class:`CouturierError` (the line failed) or :class:`OSError` (writing a cache failed).
    """
    built: list[tuple[LinePlan, LineImage]] = []
    version = ""
    plans: list[tuple[LinePlan, IndexCatalog]] = []
    for arch in architectures:
        report = _Reporter(line, arch if len(architectures) > 1 else "", context.on_stage)
        report("resolving")
        catalog = catalogs(line.release, arch)
        plan = line_plan(catalog, request.starter, line, request.packages, context.families)
        version = version or full_version(plan.primary().version, line.version)
        image = build_line_image(
            plan,
            starter=request.starter,
            env=request.env,
            fetch=_fetcher(context, catalog, report),
            cache=_ReportingLayers(context, report),
            epoch=context.epoch,
            bundles=request.bundles,
            distro=catalog.distro,
        )
        built.append((plan, image))
        plans.append((plan, catalog))
    return built, version, plans


def _cache_error(error: OSError, settings: Settings) -> StorageError:
    """``error`` from building a line, as a :class:`StorageError` naming the settings directory
    it happened in (the cache unless the file named is under the data directory)."""
    directory = settings.cache_dir
    if error.filename:
        path = Path(os.fsdecode(error.filename))
        if path.is_relative_to(settings.data_dir):
            directory = settings.data_dir
    setting = "cache_dir" if directory == settings.cache_dir else "data_dir"
    return StorageError(directory, error, setting)


def build(
    context: BuildContext,
    request: ImageRequest,
    *,
    architectures: Sequence[str] | None = None,
    lines: Sequence[str] | None = None,
    kept: Sequence[CreatedLine] = (),
) -> BuildResult:
    """Build every line of ``request`` (or only the ``lines`` labels) for ``architectures``
    (the settings' when None) into the image sink ``context.sink``.

    ``kept`` are the created lines that this build leaves as they are (a refresh rebuilds
    only the lines that changed): the tags are planned over them too, so a mutable tag goes
    to a rebuilt line only when the tag rules give it that line among all created ones.

    The layers' file dates are clamped to ``context.epoch`` (None: each line's newest package
    date) and the tags dated by ``context.now``; nothing here reads the environment, so builds
    with different dates can run side by side. ``context.on_stage`` gets a :class:`StageEvent`
    whenever a line changes stage, ``context.say`` catalog messages.

    Never raises for a line's own failure (it is in the result, with the context's trace id),
    nor for a full disk; raises :class:`ConfigError` for unknown architectures,
    :class:`InputError` for unknown line labels, a context without a sink, or a sink that
    refuses its target (:meth:`~couturier.oci.sink.ImageSink.check`: an output that is not an
    OCI layout).
    """
    settings, on_stage = context.settings, context.on_stage
    if context.sink is None:
        raise InputError(
            "a build needs an output",
            "name the OCI image layout to write",
            code=Code.OUTPUT_UNUSABLE,
            fields={"path": None},
        )
    sink = context.sink
    archs = [settings.check_architecture(a) for a in (architectures or settings.architectures)]
    sink.check()
    result = BuildResult(trace_id=context.trace_id, lines=[])
    staged: dict[str, tuple[LineResult, list[tuple[LinePlan, LineImage]]]] = {}
    selected = select_lines(request.starter, lines)
    for line in selected:
        on_stage(StageEvent(line.version, line.release, "waiting"))
    catalogs = _SharedCatalogs(context.catalogs)

    alone = len(selected) == 1

    def build_one(
        line: ImageLine,
    ) -> tuple[LineResult, list[tuple[LinePlan, LineImage]] | None]:
        outcome = LineResult(line.version, line.release)
        images = _build_line(
            context, request, line, archs, catalogs=catalogs, outcome=outcome, alone=alone
        )
        return outcome, images

    with ThreadPoolExecutor(max(1, len(selected)), "line") as pool:
        # Every line runs to its end; an unexpected error (a bug) is raised once all did.
        futures = [pool.submit(build_one, line) for line in selected]
        built = [future.result() for future in futures]
    for line, (outcome, made) in zip(selected, built, strict=True):
        # A full disk while the lines ran side by side: which one hit it depends on timing.
        # Built again alone, in order, a line fails only if it does not fit by itself.
        images = made
        if images is None:
            images = _build_line(
                context, request, line, archs, catalogs=catalogs, outcome=outcome, alone=True
            )
        result.lines.append(outcome)
        if images:
            staged[outcome.version] = (outcome, images)
    held = _smoke_test(context, request, staged, archs)
    for label in held:
        del staged[label]
    # A held line's tags stay where they are, as a kept line's: planned over, not written.
    kept = [*kept, *(CreatedLine(v, o.full_version) for v, o in held.items())]
    _publish(context, sink, request, staged, catalogs, kept=kept)
    return result


def _smoke_test(
    context: BuildContext,
    request: ImageRequest,
    staged: Mapping[str, tuple[LineResult, list[tuple[LinePlan, LineImage]]]],
    archs: Sequence[str],
) -> dict[str, LineResult]:
    """Start each staged line once with its smoke command (:mod:`couturier.services.smoke`),
    before anything is published; the lines that failed, by label, each ``failed`` with a
    ``line-does-not-start`` problem. One line at a time, in the starter's order: the runs
    share the machine with the builds."""
    held: dict[str, LineResult] = {}
    for label, (outcome, images) in staged.items():
        command = request.starter.line(label).smoke
        if not command:
            outcome.smoke = untested("the starter declares no smoke command", archs)
            continue
        if context.smoke is None:
            outcome.smoke = untested("no container runtime is configured", archs)
            continue
        context.on_stage(StageEvent(label, outcome.release, "testing"))
        outcome.smoke = context.smoke(command, _stager(request, outcome, images), archs)
        if outcome.smoke.status == FAILED:
            _finish(outcome, "failed", outcome.smoke.problem(context.trace_id), context.on_stage)
            held[label] = outcome
    return held


def _stager(
    request: ImageRequest, outcome: LineResult, images: list[tuple[LinePlan, LineImage]]
) -> Callable[[ImageWriter, str], Descriptor]:
    """Stage one architecture's image of the line ``outcome`` exactly as it is published."""

    def stage(writer: ImageWriter, arch: str) -> Descriptor:
        mine = [(plan, image) for plan, image in images if plan.architecture == arch]
        return _stage_line(writer, request, outcome.version, outcome.full_version, mine)

    return stage


def _build_line(
    context: BuildContext,
    request: ImageRequest,
    line: ImageLine,
    archs: Sequence[str],
    *,
    catalogs: CatalogSource,
    outcome: LineResult,
    alone: bool,
) -> list[tuple[LinePlan, LineImage]] | None:
    """Build ``line`` into images (empty when it was skipped or failed, said in ``outcome``).
    Unless ``alone``, a full disk returns None and says nothing: the caller builds the line
    again once the others are done."""
    on_stage = context.on_stage
    try:
        try:
            images, version, plans = _line_images(context, request, line, archs, catalogs)
        except OSError as error:
            if error.errno not in _STORAGE:
                raise
            raise _cache_error(error, context.settings) from error
    except (ResolutionError, NotFoundError) as error:
        _finish(outcome, "skipped", error.problem, on_stage)
        return []
    except CouturierError as error:
        if not alone and error.code is Code.STORAGE_FULL:
            return None
        _finish(outcome, "failed", _traced(error, context.trace_id), on_stage)
        return []
    outcome.full_version = version
    outcome.plans = tuple(plans)
    outcome.packages = len(images[0][0].packages)
    outcome.warnings = _script_warnings(*images[0])
    on_stage(StageEvent(line.version, line.release, "built", version))
    return images


def _script_warnings(plan: LinePlan, image: LineImage) -> tuple[ScriptWarning, ...]:
    """The warnings of ``plan``'s added packages, from the scripts the build read with them
    (maintainer scripts do not differ by architecture, so one architecture's image is enough)."""
    actions = {name: script_actions(name, members) for name, members in image.scripts.items()}
    return script_warnings(actions, build_policy(plan.architecture))


def _traced(error: CouturierError, trace_id: str) -> Problem:
    """``error`` as a failed line's problem: its fields and the build's ``trace_id`` (what a
    person quotes when reporting the failure)."""
    return Problem(error.code, error.message, {**error.fields, "trace_id": trace_id})


def _finish(outcome: LineResult, status: str, problem: Problem, on_stage: OnStage) -> None:
    outcome.status, outcome.error = status, problem
    on_stage(StageEvent(outcome.version, outcome.release, status, problem.message))


def _publish(
    context: BuildContext,
    sink: ImageSink,
    request: ImageRequest,
    staged: dict[str, tuple[LineResult, list[tuple[LinePlan, LineImage]]]],
    catalogs: CatalogSource,
    *,
    kept: Sequence[CreatedLine] = (),
) -> None:
    """Write the staged lines into ``sink`` and fill in their digests and tags (planned over
    the staged lines and the ``kept`` ones, which are not written).

    A line whose smoke test failed is one of the ``kept``: a tag that would have moved to it
    (its line tag, its major, ``latest``) is not written and stays on the digest it named.

    A line whose blobs cannot be written, or (with the context's signer) whose signature
    cannot be made, is failed and the others are written again without it;
    a failure that belongs to no line (opening the writer, committing) fails them all. Raises
    what :meth:`~couturier.oci.sink.ImageSink.writer` raises besides :class:`OSError`.
    """
    on_stage = context.on_stage
    pending = dict(staged)
    while pending:
        created = [CreatedLine(v, o.full_version) for v, (o, _) in pending.items()]
        created += [line for line in kept if line.label not in pending]
        tags = plan_tags(created, context.now)
        digests: dict[str, str] = {}
        published: dict[str, tuple[str, ...]] = {}
        current = ""  # the line being staged; empty while creating or committing the writer
        try:
            writer = sink.writer(context.warn)
            try:
                for label, (outcome, images) in pending.items():
                    current = label
                    on_stage(StageEvent(label, outcome.release, "writing"))
                    sign = _line_signer(context, writer, request, label, catalogs)
                    descriptor = _stage_line(
                        writer, request, label, outcome.full_version, images, sign=sign
                    )
                    digests[label] = descriptor.digest
                    published[label] = tuple(writer.tag(tag, descriptor) for tag in tags[label])
                current = ""
                writer.commit()
            finally:
                writer.abort()  # after a commit: nothing left to drop
        except OSError as error:
            failure = _traced(StorageError(sink.location, error), context.trace_id)
            for label in [current] if current else list(pending):
                _finish(pending.pop(label)[0], "failed", failure, on_stage)
            continue
        except SigningFailedError as error:
            # Never an unsigned line: this one fails, the others are written again.
            _finish(pending.pop(current)[0], "failed", _traced(error, context.trace_id), on_stage)
            continue
        for label, (outcome, _) in pending.items():
            outcome.digest, outcome.tags = digests[label], published[label]
            on_stage(StageEvent(label, outcome.release, "created", outcome.full_version))
        return


def _stage_line(
    writer: ImageWriter,
    request: ImageRequest,
    label: str,
    version: str,
    images: list[tuple[LinePlan, LineImage]],
    *,
    sign: _Sign | None = None,
) -> Descriptor:
    """Stage one line's images (one per architecture) and, for several, an index over them;
    ``sign`` (when given) signs and attests each manifest and the index."""
    extra = {f"{ANNOTATION_PREFIX}starter": request.starter.name, LINE_ANNOTATION: label}
    if request.private:
        extra[f"{ANNOTATION_PREFIX}private-image"] = "true"
    manifests = []
    every_sbom: list[tuple[str, bytes]] = []
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
            exposed_ports=runtime.exposed_ports,
        )
        manifest = write_image(
            writer,
            Platform.for_debian(plan.architecture),
            image.layers,
            runtime=runtime,
            source_date_epoch=image.source_date_epoch,
            annotations=annotations,
            history=image.history,
        )
        sboms = _attach_sboms(
            writer,
            manifest,
            request=request,
            label=label,
            version=version,
            plan=plan,
            image=image,
        )
        if sign is not None:
            sign(manifest, [plan], image.source_date_epoch, sboms)
        every_sbom += sboms
        manifests.append(manifest)
    if len(manifests) == 1:
        return manifests[0]
    epoch = images[0][1].source_date_epoch
    index = write_index(
        writer,
        manifests,
        image_annotations(epoch, title=request.name, version=version, extra=extra),
    )
    if sign is not None:
        sign(index, [plan for plan, _ in images], epoch, every_sbom)
    return index


# Signs and attests a stored manifest or index: (subject, its plans, its epoch, its SBOMs as
# (predicate type, document) pairs).
_Sign = Callable[[Descriptor, Sequence[LinePlan], int, Sequence[tuple[str, bytes]]], None]


def _line_signer(
    context: BuildContext,
    writer: ImageWriter,
    request: ImageRequest,
    label: str,
    catalogs: CatalogSource,
) -> _Sign | None:
    """What signs line ``label``'s manifests with the context's signer (None: no signer).
    Raises :class:`SigningFailedError` when a signature cannot be made."""
    signer = context.signer
    if signer is None:
        return None
    spec = {
        "name": request.name,
        "description": request.description,
        "starter": request.starter.name,
        "packages": list(request.packages),
        "env": dict(request.env),
        "bundles": [bundle.ref for bundle in request.bundles],
    }

    def sign(
        subject: Descriptor,
        plans: Sequence[LinePlan],
        epoch: int,
        sboms: Sequence[tuple[str, bytes]],
    ) -> None:
        line = plans[0].line
        facts = LineProvenance(
            spec=spec,
            starter=request.starter.name,
            line=label,
            release=line.release,
            architectures=[plan.architecture for plan in plans],
            snapshots=[
                digest
                for plan in plans
                for digest in catalogs(line.release, plan.architecture).snapshots
            ],
            packages=line_packages(plans),
            build_date=context.now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            trace_id=context.trace_id,
            builder_version=couturier_version(),
        )
        for tag, entry in sign_and_attest(
            writer,
            signer,
            subject,
            name=request.name,
            created=rfc3339(epoch),
            provenance=facts,
            sboms=sboms,
        ):
            writer.tag(tag, entry)

    return sign


@cache  # reading the installed metadata scans sys.path: milliseconds, asked per line
def couturier_version() -> str:
    """Couturier's version, from its installed metadata (``0+unknown`` when it is not
    installed): the SBOMs' creator tool and the provenance's builder version."""
    try:
        return metadata.version("couturier")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _attach_sboms(
    writer: ImageWriter,
    manifest: Descriptor,
    *,
    request: ImageRequest,
    label: str,
    version: str,
    plan: LinePlan,
    image: LineImage,
) -> list[tuple[str, bytes]]:
    """Attach the SPDX and CycloneDX SBOMs of one architecture's image as referrers of its
    manifest (so ``Layout.referrers`` and registries' referrers API find them); the documents'
    bytes with their attestation predicate type."""
    sbom = SbomImage(
        name=request.name,
        line=label,
        full_version=version,
        release=plan.line.release,
        architecture=plan.architecture,
        image_digest=manifest.digest,
        created=image.source_date_epoch,
        packages=sbom_packages(plan, image.licenses, distro=image.distro),
        starter=request.starter.name,
        distro=image.distro,
        tool_version=couturier_version(),
    )
    created = {"org.opencontainers.image.created": rfc3339(image.source_date_epoch)}
    documents = {
        SPDX_PREDICATE: sbom_json(spdx_document(sbom)),
        CYCLONEDX_PREDICATE: sbom_json(cyclonedx_document(sbom)),
    }
    for media_type, document, suffix in (
        (SPDX_MEDIA_TYPE, documents[SPDX_PREDICATE], "spdx.json"),
        (CYCLONEDX_MEDIA_TYPE, documents[CYCLONEDX_PREDICATE], "cdx.json"),
    ):
        write_referrer(
            writer,
            manifest,
            media_type,
            document,
            media_type,
            annotations=created,
            title=f"{request.name}-{label}-{plan.architecture}.{suffix}",
        )
    return list(documents.items())
