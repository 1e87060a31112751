"""Read a private image spec and check it against everything it names.

:func:`load_image_spec` runs the spec's own rules (:mod:`couturier.core.spec`) together with the
checks that need the outside world: every ``-auto`` request must name a family the starter's
releases have that is neither blocked nor dependency-only (:mod:`couturier.services.families`),
and every bundle must exist (:mod:`couturier.services.bundles`). All violations come back at
once in one :class:`~couturier.core.spec.SpecError`, so a build never starts on a broken spec.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from couturier.core.families import auto_family
from couturier.core.spec import ImageSpec, SpecCheck, load_spec
from couturier.core.starter import Starter
from couturier.debian.transport import Transport
from couturier.services import bundles as bundle_service
from couturier.services import families as family_service
from couturier.services.starters import starters
from couturier.settings import Settings

__all__ = ["load_image_spec", "spec_checks"]

Say = Callable[[str], None]


def spec_checks(
    settings: Settings,
    architecture: str | None = None,
    *,
    say: Say = lambda message: None,
    transport: Transport | None = None,
) -> list[SpecCheck]:
    """The checks of a spec that read the catalogs (``-auto`` requests) and the bundle store."""
    arch = architecture or settings.architectures[0]

    def autos(
        starter: Starter, packages: Sequence[str], bundles: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        requests = [p for p in packages if auto_family(p) is not None]
        if not requests:
            return []
        problems = family_service.check_autos(
            settings, starter, requests, arch, say=say, transport=transport
        )
        return [("packages", request, problem) for request, problem in problems]

    def bundle_refs(
        starter: Starter, packages: Sequence[str], bundles: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        if not bundles:
            return []
        problems = bundle_service.check_bundle_refs(settings, bundles)
        return [("bundles", ref, problem) for ref, problem in problems]

    return [autos, bundle_refs]


def load_image_spec(
    settings: Settings,
    path: Path,
    architecture: str | None = None,
    *,
    say: Say = lambda message: None,
    transport: Transport | None = None,
) -> ImageSpec:
    """Read the spec at ``path`` and check it, the catalogs and bundles included.

    Raises :class:`~couturier.core.spec.SpecError` listing every violation, and what reading
    the file or a catalog raises.
    """
    checks = spec_checks(settings, architecture, say=say, transport=transport)
    return load_spec(path, starters(settings), checks=checks)
