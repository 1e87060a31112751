"""Plan a private image without building it: what every line would install, or why it is skipped.

:func:`plan_image` loads the catalog of each line's release (refreshing it when needed), plans the
line (:func:`couturier.core.planner.plan_line`: starter packages, added packages and the member
each ``-auto`` request picks) and keeps, per line, either the plan or the reason it is skipped
(a :class:`~couturier.errors.Problem`: code, message, fields). The build service plans its
lines with the same :func:`line_plan`, so ``couturier plan`` shows exactly what ``couturier
build`` will do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from couturier.core.catalog import Catalog, Package
from couturier.core.families import FamilyIndexes
from couturier.core.planner import LinePlan, plan_line, split_requests
from couturier.core.replay import ScriptWarning
from couturier.core.spec import ImageSpec
from couturier.core.starter import ImageLine, Starter, full_version
from couturier.errors import ConfigError, NotFoundError, Problem, ResolutionError
from couturier.services.context import BuildContext
from couturier.services.maintscripts import added_warnings
from couturier.services.starters import get_starter, select_lines
from couturier.settings import Settings

__all__ = [
    "ImagePlan",
    "LinePreview",
    "installed_size",
    "line_plan",
    "plan_image",
    "spec_plan",
    "unconfigured_release",
]


def line_plan(
    catalog: Catalog,
    starter: Starter,
    line: ImageLine,
    packages: Sequence[str],
    indexes: FamilyIndexes | None = None,
) -> LinePlan:
    """Plan ``line`` of ``starter`` with a spec's ``packages`` entries (plain, ``=version`` and
    ``-auto``) on ``catalog``, the family indexes kept in ``indexes`` (a job's context's).
    Raises what :func:`plan_line` raises."""
    plain, autos = split_requests(packages)
    return plan_line(catalog, starter, line, plain, autos, indexes=indexes)


def installed_size(packages: Sequence[Package]) -> int:
    """Bytes the packages take once unpacked, from their ``Installed-Size`` (KiB) fields: an
    upper bound of the image, since documentation is dropped."""
    total = 0
    for package in packages:
        text = package.fields.get("Installed-Size", "0").strip()
        total += int(text) * 1024 if text.isdigit() else 0
    return total


@dataclass(frozen=True)
class LinePreview:
    """One line's plan (``status`` "ready") or the reason it is skipped (``reason``, a
    :class:`~couturier.errors.Problem`; JSON ``{"code", "message", "fields"}``); ``warnings``
    name each action of an added package's maintainer scripts that the build does not replay."""

    line: ImageLine
    architecture: str
    plan: LinePlan | None = None
    reason: Problem | None = None
    warnings: tuple[ScriptWarning, ...] = ()

    @property
    def status(self) -> str:
        return "ready" if self.plan is not None else "skipped"

    @property
    def full_version(self) -> str:
        return full_version(self.plan.primary().version, self.line.version) if self.plan else ""

    def to_json(self) -> dict[str, object]:
        plan = self.plan
        packages: list[dict[str, object]] = []
        if plan is not None:
            starter_names = {p.name for p in plan.starter}
            packages = [
                {
                    "name": p.name,
                    "version": p.version,
                    "architecture": p.architecture,
                    "group": "starter" if p.name in starter_names else "added",
                    "pulled_in_by": plan.requested_by(p.name),
                    "size": p.size,
                }
                for p in plan.packages
            ]
        return {
            "version": self.line.version,
            "release": self.line.release,
            "architecture": self.architecture,
            "status": self.status,
            "reason": self.reason.to_json() if self.reason else None,
            "full_version": self.full_version or None,
            "packages": packages,
            "autos": dict(plan.autos) if plan is not None else {},
            "warnings": [warning.to_json() for warning in self.warnings],
            "size": {
                "installed": installed_size(plan.packages) if plan else 0,
                "download": sum(p.size for p in plan.packages) if plan else 0,
            },
        }


@dataclass(frozen=True)
class ImagePlan:
    """The plans of every line of one image on one architecture."""

    name: str
    starter: str
    architecture: str
    lines: tuple[LinePreview, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "starter": self.starter,
            "architecture": self.architecture,
            "lines": [line.to_json() for line in self.lines],
        }


def unconfigured_release(settings: Settings, release: str) -> Problem | None:
    """The problem (``release-unknown``) of a line built from ``release`` when the settings do
    not configure it (a starter's line newer than the settings); None when they do."""
    try:
        settings.release(release)
    except ConfigError as error:
        return error.problem
    return None


def plan_image(
    context: BuildContext,
    name: str,
    starter: Starter,
    packages: Sequence[str],
    architecture: str | None = None,
    *,
    lines: Sequence[str] | None = None,
) -> ImagePlan:
    """Plan every line of ``starter`` (or only the ``lines`` labels) with ``packages`` added,
    with the catalogs, settings and transport of ``context`` (catalog messages go to its
    ``say``; it needs no output).

    Each ready line carries the warnings of its added packages' maintainer scripts
    (:func:`couturier.services.maintscripts.added_warnings`: their ``.deb`` files are fetched
    into the download cache the build uses). Never raises for a line that cannot be resolved
    (it is skipped with the reason as a :class:`~couturier.errors.Problem`, as is one whose
    release the settings do not configure); raises
    :class:`ConfigError` for an unknown architecture, :class:`InputError` for an unknown line
    label, and what loading a catalog raises.
    """
    settings = context.settings
    arch = settings.check_architecture(architecture or settings.architectures[0])
    selected = select_lines(starter, lines)
    previews: list[LinePreview] = []
    for line in selected:
        unconfigured = unconfigured_release(settings, line.release)
        if unconfigured is not None:  # that line's problem, as in a build: the rest is planned
            previews.append(LinePreview(line, arch, reason=unconfigured))
            continue
        catalog = context.catalogs(line.release, arch)
        try:
            plan = line_plan(catalog, starter, line, packages, context.families)
        except (ResolutionError, NotFoundError) as error:
            previews.append(LinePreview(line, arch, reason=error.problem))
            continue
        warnings = added_warnings(context, catalog, plan)
        previews.append(LinePreview(line, arch, plan, warnings=warnings))
    return ImagePlan(name, starter.name, arch, tuple(previews))


def spec_plan(
    context: BuildContext,
    spec: ImageSpec,
    architecture: str | None = None,
    *,
    lines: Sequence[str] | None = None,
) -> ImagePlan:
    """:func:`plan_image` of the private image ``spec`` declares (its starter looked up among
    the deployment's, site starters included). Raises what :func:`plan_image` raises and
    :class:`NotFoundError` for an unknown starter."""
    starter = get_starter(context.settings, spec.starter)
    return plan_image(context, spec.name, starter, spec.packages, architecture, lines=lines)
