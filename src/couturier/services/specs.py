"""Read a private image spec and check it against everything it names.

:func:`load_spec` reads a spec file (:func:`couturier.yamlfile.load_yaml`: bounded, keys written
twice noticed) and checks it against the rules of :mod:`couturier.core.spec`.
:func:`load_image_spec` runs the spec's own rules (:mod:`couturier.core.spec`) together with the
checks that need the outside world: every package must be in at least one release of the
starter's lines, every ``-auto`` request must name a family the starter's releases have that is
neither blocked nor dependency-only (:mod:`couturier.services.families`), and every bundle must
exist (:mod:`couturier.services.bundles`); a misspelt name is answered with the nearest ones.
All violations come back at once in one :class:`~couturier.core.spec.SpecError`, so a build
never starts on a broken spec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from couturier.core.bundle import parse_ref
from couturier.core.catalog import Catalog
from couturier.core.families import AUTO_SUFFIX, auto_family, line_labels
from couturier.core.relations import parse_request
from couturier.core.spec import (
    ImageSpec,
    SpecCheck,
    SpecError,
    Violation,
    duplicate_violations,
    parse_spec,
)
from couturier.core.starter import Starter
from couturier.core.suggest import close_names, did_you_mean
from couturier.core.yamltext import YamlProblem, YamlUnreadable
from couturier.errors import InputError
from couturier.services import bundles as bundle_service
from couturier.services import families as family_service
from couturier.services.starters import starters
from couturier.yamlfile import load_yaml

if TYPE_CHECKING:
    from couturier.services.context import CatalogContext

__all__ = ["load_image_spec", "load_spec", "spec_checks"]


def spec_checks(
    context: CatalogContext, architecture: str | None = None, tenant: int | None = None
) -> list[SpecCheck]:
    """The checks of a spec that read the catalogs (the context's) and the bundle store:

    - a package (not ``-auto``) that no release of the starter's lines has, under its name or
      as a virtual package, is refused, with the nearest names (``did you mean
      python3-requests?``); one that only some releases lack is left to the plan, which skips
      those lines;
    - an ``-auto`` request must name a family the lines offer, neither blocked nor
      dependency-only (:func:`couturier.services.families.check_autos`), an unknown one with
      the nearest families;
    - every bundle must exist in ``tenant``'s bundle store (None: the local one), a misspelt
      one with the nearest names.
    """
    settings = context.settings
    arch = architecture or settings.architectures[0]

    def packages_known(
        starter: Starter, packages: Sequence[str], bundles: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        plain = [p for p in packages if auto_family(p) is None]
        catalogs = _release_catalogs(context, starter, arch) if plain else []
        if not catalogs:  # no package, or no line this installation can read: nothing to say
            return []
        problems = []
        for request in plain:
            name = parse_request(request).name
            if any(c.versions(name) or c.providers(name) for c in catalogs):
                continue
            releases = ", ".join(c.release for c in catalogs)
            near = did_you_mean(name, _names(catalogs))
            problems.append(
                (
                    "packages",
                    request,
                    f"{name} is not in any release of the {starter.name} starter's lines "
                    f"({releases}){near}",
                )
            )
        return problems

    def autos(
        starter: Starter, packages: Sequence[str], bundles: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        requests = [p for p in packages if auto_family(p) is not None]
        if not requests:
            return []
        problems = family_service.check_autos(context, starter, requests, arch)
        if any(_UNKNOWN_FAMILY in problem for _, problem in problems):
            catalogs = _release_catalogs(context, starter, arch)
            labels = line_labels(starter)
            known: set[str] = set()
            for catalog in catalogs:
                known |= context.families.get(catalog, labels).families("")
            problems = [
                (request, _with_family_suggestion(request, problem, known))
                for request, problem in problems
            ]
        return [("packages", request, problem) for request, problem in problems]

    def bundle_refs(
        starter: Starter, packages: Sequence[str], bundles: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        if not bundles:
            return []
        problems = bundle_service.check_bundle_refs(settings, bundles, tenant)
        if problems:
            names = sorted({b.name for b in bundle_service.list_bundles(settings, tenant)})
            problems = [(ref, _with_bundle_suggestion(ref, p, names)) for ref, p in problems]
        return [("bundles", ref, problem) for ref, problem in problems]

    return [packages_known, autos, bundle_refs]


_UNKNOWN_FAMILY = "is not a package family"


def _release_catalogs(context: CatalogContext, starter: Starter, arch: str) -> list[Catalog]:
    """The catalog of each release the starter's lines are built from, in line order; a
    release the settings do not configure has none (its lines are skipped by the plan and
    the build, saying so)."""
    releases = dict.fromkeys(line.release for line in starter.lines)
    configured = context.settings.releases
    return [context.catalogs(release, arch) for release in releases if release in configured]


def _names(catalogs: Sequence[Catalog]) -> list[str]:
    """Every package name of ``catalogs``, once each, for suggestions."""
    return list(dict.fromkeys(name for catalog in catalogs for name in catalog.names()))


def _with_family_suggestion(request: str, problem: str, known: set[str]) -> str:
    """``problem`` with the nearest ``-auto`` requests added when it says the family is
    unknown (``python3-requets-auto`` → ``did you mean python3-requests-auto?``)."""
    family = auto_family(request)
    if family is None or _UNKNOWN_FAMILY not in problem:
        return problem
    near = close_names(family, sorted(known))
    if not near:
        return problem
    return problem + did_you_mean(request, [f"{name}{AUTO_SUFFIX}" for name in near])


def _with_bundle_suggestion(ref: str, problem: str, names: Sequence[str]) -> str:
    """``problem`` with the nearest bundle names when ``ref`` names no bundle."""
    try:
        name, _ = parse_ref(ref)
    except InputError:
        return problem
    missing = f"there is no bundle {name}"
    near = did_you_mean(name, names)
    if not near or not problem.startswith(missing):
        return problem
    return missing + near + problem[len(missing) :]


def load_image_spec(
    context: CatalogContext, path: Path, architecture: str | None = None
) -> ImageSpec:
    """Read the spec at ``path`` and check it, the catalogs (through ``context``) and bundles
    included, against the deployment's starters (site starters included).

    Raises :class:`~couturier.core.spec.SpecError` listing every violation, and what reading
    the file or a catalog raises.
    """
    checks = spec_checks(context, architecture)
    return load_spec(path, starters(context.settings), checks=checks)


def load_spec(
    path: Path,
    starters: Mapping[str, Starter],
    checks: Sequence[SpecCheck] = (),
) -> ImageSpec:
    """Read the YAML spec at ``path`` and check it against ``starters`` (the deployment's, site
    starters included: :func:`couturier.services.starters.starters`) and ``checks`` (see
    :func:`couturier.core.spec.parse_spec`).

    Raises :class:`InputError` when the file cannot be read; :class:`SpecError` listing every
    violation otherwise: one (field ``spec``, naming the line where it can) when the file is
    larger than :data:`~couturier.core.yamltext.MAX_YAML_BYTES`, not UTF-8, not YAML, uses an
    alias or nests too deep (:mod:`couturier.core.yamltext`); else every broken rule, keys
    written twice included.
    """
    raw, duplicates = read_spec_file(path)
    return parse_spec(
        raw,
        starters,
        source=f"spec file {path}",
        duplicates=duplicates,
        checks=checks,
    )


def read_spec_file(path: Path) -> tuple[object, list[Violation]]:
    """The YAML document of the spec file at ``path`` (a mapping when the file is a spec, any
    other value as YAML made it) and one violation per key written twice, read within the
    bounds of every YAML file Couturier reads (:mod:`couturier.core.yamltext`).

    Raises :class:`InputError` (``input-invalid``, fields ``path`` and ``reason``) when the
    file cannot be read; :class:`SpecError` with one violation of field ``spec`` when it is too
    large, not UTF-8, not YAML, uses an alias or nests too deep.
    """
    try:
        document = load_yaml(path)
    except YamlUnreadable as problem:
        raise InputError(
            f"cannot read spec file {path}: {problem.what}",
            problem.hint or "check the spec file's path",
            fields={"path": str(path), "reason": problem.what},
        ) from None
    except YamlProblem as problem:
        rule = f"{problem.what}; {problem.hint}" if problem.hint else problem.what
        raise SpecError([Violation("spec", None, rule)], f"spec file {path}") from None
    return document.data, duplicate_violations(document.data, document.duplicates)
