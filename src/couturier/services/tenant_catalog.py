"""What the service answers about plans and packages, for one tenant: ``POST /v1/plan``,
``GET /v1/packages`` and ``GET /v1/starters/{starter}/lines/{line}/packages``.

Each takes only the starters the tenant is entitled to: another is not found (or, in a spec, a
violation of the field ``starter``), exactly as one that does not exist. The work is that of
the command line: a plan is :func:`couturier.services.plan.spec_plan` after the spec's checks
(:func:`couturier.services.specs.spec_checks`, bundles looked up in the tenant's own store), the
families are those of ``couturier packages families`` (:mod:`couturier.services.families`), a
line's package set is the starter's plan of that line with its SBOM rows
(:func:`couturier.core.sbom.sbom_packages`). Nothing is stored, but what the catalogs and the
download cache keep (a release refreshed the first time it is read, the ``.deb`` files of
added packages whose maintainer scripts a plan reads).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from couturier.core.catalog import Catalog
from couturier.core.families import (
    Family,
    LabelFinder,
    families_named,
    line_labels,
    newest_line,
)
from couturier.core.planner import plan_line
from couturier.core.sbom import sbom_packages
from couturier.core.spec import SpecError, Violation, parse_spec
from couturier.core.starter import Starter, full_version
from couturier.debian.index import IndexCatalog
from couturier.errors import ConfigError, NotFoundError, ResolutionError
from couturier.services import families as family_service
from couturier.services.context import build_context, catalog_context
from couturier.services.entitled import entitled_starter, entitled_starters
from couturier.services.family_memo import inputs_key
from couturier.services.paging import check_limit, decode_cursor, encode_cursor
from couturier.services.plan import installed_size, spec_plan
from couturier.services.specs import spec_checks
from couturier.services.starters import select_lines

if TYPE_CHECKING:
    from couturier.services.context import CatalogContext
    from couturier.services.installation import Installation
    from couturier.services.tokens import Principal

__all__ = ["family_json", "line_packages", "package_families", "plan_request"]

# Packages whose summary or version holds the query, per release, that are looked at for
# families: a query matching more is too wide to be a search.
_SEARCH_CAP = 500


def _architecture(installation: Installation, arch: str | None) -> str:
    configured = installation.settings.architectures
    if arch is not None and arch not in configured:
        rule = f"must be a configured architecture: {', '.join(configured)}"
        raise SpecError([Violation("arch", arch, rule)], source="request")
    return arch or configured[0]


def plan_request(
    installation: Installation, principal: Principal, raw: Any, arch: str | None = None
) -> dict[str, Any]:
    """The per-line plan of the spec ``raw`` (the spec's shape, as JSON) on ``arch``, as
    ``couturier plan --json`` prints it. Raises :class:`SpecError` listing every violation
    (a starter the tenant is not entitled to among them, as the field ``starter``)."""
    arch = _architecture(installation, arch)
    context = build_context(installation.settings, tenant=principal.tenant_id)
    checks = spec_checks(context, arch, principal.tenant_id)
    spec = parse_spec(
        raw, entitled_starters(installation, principal), source="request", checks=checks
    )
    return spec_plan(context, spec, arch).to_json()


def family_json(family: Family, labels: Sequence[str], *, checked: bool = True) -> dict[str, Any]:
    """``{"name", "auto", "description", "blocked", "dependency_only", "members",
    "checked"}``: ``members`` maps each line label to the member installed there (``{"name",
    "version", "summary"}``, null when none fits); ``auto`` is ``<family>-auto`` when it is
    offered, ``blocked`` says (naming the version the starter's newest line ships) why not.
    ``checked`` False says the members were not worked out yet (all null: not known, rather
    than none fitting)."""
    members: dict[str, Any] = dict.fromkeys(labels)
    for member in family.members:
        package = member.package
        members[member.line] = {
            "name": package.name,
            "version": package.version,
            "summary": package.summary,
        }
    return {
        "name": family.name,
        "auto": family.auto,
        "description": family.description if family.auto else None,
        "blocked": family.blocked,
        "dependency_only": family.dependency_only,
        "members": members,
        "checked": checked,
    }


def _matching(
    lines: family_service.StarterLines,
    query: str | None,
    context: CatalogContext,
) -> set[str]:
    """Every family name matching ``query``: by a package name (as ``packages families``),
    or by a package's summary or version (the catalog's search) in a line's release."""
    starter = lines.starter
    names = family_service.matching_name_set(context, lines, query)
    if query and query.strip():
        finder = LabelFinder(line_labels(starter))
        catalogs = {catalog.release: catalog for catalog in lines.catalogs.values()}
        for catalog in catalogs.values():
            for name in _search_names(catalog, query.strip()):
                names.add(finder.family_name(name)[0])
    return names


def _search_names(catalog: Catalog, query: str) -> list[str]:
    """Names of packages of ``catalog`` whose name, summary or version holds ``query``: from
    the snapshots' search text alone for an index catalog (no stanza parsed: a search as you
    type asks at every keystroke), through the catalog's search otherwise."""
    if isinstance(catalog, IndexCatalog):
        return catalog.search_names(query, _SEARCH_CAP)
    return [package.name for package in catalog.search(query, _SEARCH_CAP)]


def package_families(
    installation: Installation,
    principal: Principal,
    starter_name: str,
    *,
    query: str | None,
    arch: str | None,
    limit: int,
    cursor: str | None,
    unchecked: bool = False,
) -> dict[str, Any]:
    """A page of the package families of the tenant's starter ``starter_name`` whose package
    names, summaries or versions hold ``query`` (the ecosystem's versioned families when it
    is empty), by name: ``{"starter", "architecture", "lines", "newest", "total", "items",
    "next"}``, each item as :func:`family_json`. With ``unchecked``, the families whose
    members are not worked out yet come at once with ``checked`` False (a search as you type
    shows them and asks again: choosing members costs a resolution per line and family).
    Raises :class:`NotFoundError` for a starter the tenant is not entitled to,
    :class:`SpecError` for a bad architecture or cursor."""
    starter = entitled_starter(installation, principal, starter_name)
    arch = _architecture(installation, arch)
    after = decode_cursor(cursor, 1)
    limit = check_limit(limit)
    context = catalog_context(installation.settings, kept=installation.catalogs)
    lines = installation.catalogs.starter_lines(context, starter, arch)
    names = _matching(lines, query, context)
    total = len(names)
    later = names if after is None else (n for n in names if n > after[0])
    # The page's names and one more (is there a next page?), without sorting every match: a
    # one-letter query matches tens of thousands of families.
    first = heapq.nsmallest(limit + 1, later)
    page, more = first[:limit], len(first) > limit
    labels = [line.version for line in starter.lines]
    items = _family_answers(
        installation, lines, page, arch=arch, context=context, choose=not unchecked
    )
    return {
        "starter": starter.name,
        "architecture": arch,
        "lines": labels,
        "newest": _newest(starter),
        "total": total,
        "items": items,
        "next": encode_cursor((page[-1],) if more and page else None),
    }


def _family_answers(
    installation: Installation,
    lines: family_service.StarterLines,
    names: Sequence[str],
    *,
    arch: str,
    context: CatalogContext,
    choose: bool = True,
) -> list[dict[str, Any]]:
    """:func:`family_json` of each family of ``names``, in that order: the ones the
    installation's memo holds for these snapshots from there, the others worked out (a
    resolution per line and candidate tried) and kept; with ``choose`` False, the others
    unchecked (no member chosen, nothing kept)."""
    labels = [line.version for line in lines.starter.lines]
    inputs = inputs_key(lines, arch)
    memo = installation.families
    answers: dict[str, dict[str, Any] | None] = {}
    if inputs is not None:
        answers = {name: memo.get(inputs, name) for name in names}
    missing = [name for name in names if answers.get(name) is None]
    found = families_named(
        lines.starter,
        lines.catalogs,
        lines.starter_packages,
        missing,
        indexes=context.families,
        choose=choose,
    )
    for family in found:
        answer = family_json(family, labels, checked=choose)
        answers[family.name] = answer
        if inputs is not None and choose:
            memo.put(inputs, family.name, answer)
    return [kept for name in names if (kept := answers.get(name)) is not None]


def _newest(starter: Starter) -> str:
    return newest_line(starter).version


def line_packages(
    installation: Installation,
    principal: Principal,
    starter_name: str,
    label: str,
    arch: str | None,
) -> dict[str, Any]:
    """The package set of line ``label`` of the tenant's starter ``starter_name`` on ``arch``
    (the first configured by default): what its SBOM will list, ``{"starter", "line",
    "release", "architecture", "full_version", "status", "reason", "size", "packages"}``.
    A line whose starter packages cannot be resolved now is ``skipped`` with the ``reason``
    (``{"code", "message", "fields"}``) and no packages. Licenses are read from the packages'
    files when a line is built, so the preview has none. Raises :class:`NotFoundError` for a
    starter the tenant is not entitled to or a line it does not have."""
    starter = entitled_starter(installation, principal, starter_name)
    arch = _architecture(installation, arch)
    (line,) = select_lines(starter, [label])
    context = catalog_context(installation.settings, kept=installation.catalogs)
    document: dict[str, Any] = {
        "starter": starter.name,
        "line": line.version,
        "release": line.release,
        "architecture": arch,
        "newest": line.version == _newest(starter),
    }
    try:
        # A release the settings no longer configure is the line's problem, as starters show
        # says it: the other lines are still answered.
        catalog = context.catalogs(line.release, arch)
        plan = plan_line(catalog, starter, line)
    except (ConfigError, ResolutionError, NotFoundError) as error:
        return document | {
            "full_version": None,
            "status": "skipped",
            "reason": error.problem.to_json(),
            "size": {"installed": 0, "download": 0},
            "packages": [],
        }
    sizes = {p.name: p.size for p in plan.packages}
    rows = sbom_packages(plan, {}, distro=catalog.distro)
    return document | {
        "full_version": full_version(plan.primary().version, line.version),
        "status": "ready",
        "reason": None,
        "size": {
            "installed": installed_size(plan.packages),
            "download": sum(sizes.values()),
        },
        "packages": [_row(row, sizes) for row in rows],
    }


def _row(row: Any, sizes: Mapping[str, int]) -> dict[str, Any]:
    return {
        "name": row.name,
        "version": row.version,
        "architecture": row.architecture,
        "source": row.source,
        "source_version": row.source_version,
        "summary": row.summary,
        "purl": row.purl,
        "size": sizes.get(row.name, 0),
        "pulled_in_by": row.pulled_in_by,
        "required_by": row.required_by,
    }
