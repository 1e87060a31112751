"""The starters a tenant is entitled to: what ``GET /v1/starters`` and
``GET /v1/starters/{starter}`` answer.

A starter the tenant is not entitled to is not found, as a starter that does not exist (the
suggestions name only entitled ones). An entitlement to a starter the installation no longer
offers (a site starter file removed) is skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from couturier.core.spec import SpecError, Violation
from couturier.core.starter import Starter
from couturier.core.suggest import close_names, did_you_mean
from couturier.core.text import shown
from couturier.errors import Code, NotFoundError
from couturier.services.context import catalog_context
from couturier.services.paging import check_limit, decode_cursor, encode_cursor
from couturier.services.starters import line_versions, starter_document, starter_summary, starters

if TYPE_CHECKING:
    from couturier.services.installation import Installation
    from couturier.services.tokens import Principal

__all__ = ["entitled_starter", "entitled_starters", "starter_detail", "starter_page"]


def entitled_starters(installation: Installation, principal: Principal) -> dict[str, Starter]:
    """The starters the tenant is entitled to that the installation offers, by name."""
    return _entitled(installation, principal)


def _entitled(installation: Installation, principal: Principal) -> dict[str, Starter]:
    offered = starters(installation.settings)
    with installation.store.unit() as uow:
        names = uow.tenant(principal.tenant_id).entitlements()
    return {name: offered[name] for name in names if name in offered}


def starter_page(
    installation: Installation, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the tenant's starters by name, each as
    :func:`~couturier.services.starters.starter_summary`, and the next page's cursor."""
    after = decode_cursor(cursor, 1)
    limit = check_limit(limit)
    entitled = sorted(_entitled(installation, principal).items())
    if after is not None:
        entitled = [(name, s) for name, s in entitled if name > after[0]]
    page = entitled[:limit]
    more = len(entitled) > limit
    return [starter_summary(s) for _, s in page], encode_cursor((page[-1][0],) if more else None)


def entitled_starter(installation: Installation, principal: Principal, name: str) -> Starter:
    """The starter ``name`` if the tenant is entitled to it; :class:`NotFoundError` (naming
    the nearest entitled ones) otherwise."""
    entitled = _entitled(installation, principal)
    if name not in entitled:
        raise NotFoundError(
            f"no starter image called {shown(name)}{did_you_mean(name, entitled)}",
            f"your starters: {', '.join(sorted(entitled)) or 'none (ask an admin)'}",
            code=Code.STARTER_NOT_FOUND,
            fields={
                "starter": name,
                "suggestions": close_names(name, entitled),
                "known": sorted(entitled),
            },
        )
    return entitled[name]


def starter_detail(
    installation: Installation, principal: Principal, name: str, arch: str | None
) -> dict[str, Any]:
    """The tenant's starter ``name`` with what each line's release offers on ``arch`` (the
    first configured architecture by default), as
    :func:`~couturier.services.starters.starter_document`. Reads the catalogs (refreshing a
    release that has no snapshot yet). Raises :class:`NotFoundError` for a starter the tenant
    is not entitled to, :class:`SpecError` for an architecture not configured."""
    starter = entitled_starter(installation, principal, name)
    configured = installation.settings.architectures
    if arch is not None and arch not in configured:
        rule = f"must be a configured architecture: {', '.join(configured)}"
        raise SpecError([Violation("arch", arch, rule)], source="request")
    arch = arch or configured[0]
    lines = line_versions(
        catalog_context(installation.settings, kept=installation.catalogs), starter, arch
    )
    return starter_document(starter, lines, arch)
