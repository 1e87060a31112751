"""Plan one image line: which packages the starter brings and which the additions bring.

The starter's set is resolved alone first (its base packages, the line's primary package and the
line's extra packages); then the added packages are resolved *with every starter package pinned
to the version the starter chose*, so the starter's packages, and therefore its layer, are the
same in every private image of that line. Only when no such solution exists are the starter's
versions let go (the plan says so, and its starter layer will differ from the starter image's).

Pure: reads the catalog handed to it. Raises what :func:`resolve` raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from couturier.core.catalog import Catalog, Package
from couturier.core.resolver import resolve
from couturier.core.starter import ImageLine, Starter
from couturier.debian.relations import Relation, parse_request
from couturier.errors import ResolutionError

__all__ = ["LinePlan", "plan_line"]


@dataclass(frozen=True)
class LinePlan:
    """The resolved packages of one line on one architecture.

    ``starter`` and ``added`` are disjoint and sorted by name; ``reasons`` maps every package to
    the package that pulled it in (None for a request); ``pinned`` tells whether the starter's
    versions were kept.
    """

    line: ImageLine
    architecture: str
    starter: tuple[Package, ...]
    added: tuple[Package, ...]
    reasons: Mapping[str, str | None]
    pinned: bool = True

    @property
    def packages(self) -> tuple[Package, ...]:
        return self.starter + self.added

    def primary(self) -> Package:
        """The line's primary package (its version names the line's full version)."""
        for package in self.starter:
            if package.name == self.line.primary:
                return package
        raise AssertionError(f"{self.line.primary} is not in the plan")  # resolve guarantees it


def starter_requests(starter: Starter, line: ImageLine) -> list[Relation]:
    """What the starter asks for on ``line``: base packages, primary package, line packages."""
    names = [*starter.packages, line.primary, *line.packages]
    return [parse_request(name) for name in dict.fromkeys(names)]


def plan_line(
    catalog: Catalog, starter: Starter, line: ImageLine, added: Sequence[Relation] = ()
) -> LinePlan:
    """Resolve ``line`` of ``starter`` with the ``added`` requests on ``catalog``.

    Cost: two resolutions. Raises :class:`ResolutionError` / :class:`NotFoundError` when the
    starter set or the additions cannot be installed; the message names the package.
    """
    base = resolve(catalog, starter_requests(starter, line))
    if not added:
        return LinePlan(line, catalog.architecture, base.packages, (), base.reasons)
    pins = [Relation(p.name, "=", p.version) for p in base.packages]
    pinned = True
    try:
        full = resolve(catalog, [*pins, *added])
    except ResolutionError:
        # Perhaps an addition needs a newer starter package: let the versions go, but explain
        # the additions' own failure if even that does not help.
        full = resolve(catalog, [*starter_requests(starter, line), *added])
        pinned = False
    starter_names = {p.name for p in base.packages}
    ours = tuple(p for p in full.packages if p.name in starter_names)
    theirs = tuple(p for p in full.packages if p.name not in starter_names)
    reasons = dict(full.reasons)
    for package in ours:  # a pin is not a request of the user's; keep the starter's reasons
        reasons[package.name] = base.reasons.get(package.name)
    return LinePlan(line, catalog.architecture, ours, theirs, reasons, pinned)
