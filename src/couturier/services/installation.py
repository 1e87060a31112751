"""An installation of the service: its database, its key, its tenants and their entitlements.

:func:`open_installation` is what ``couturier serve`` and every ``couturier admin`` command do
first: make the data directory, read (or on first start make) the installation key, open the
database of the settings, apply the migrations it lacks and, on the very first start, create
tenant 1 ("default") entitled to every starter, with a ``write`` token that the caller shows
once. Whichever of ``serve`` or ``admin`` comes first does it; the other finds it done.

The installation itself (tenants, entitlements) is managed here, by ``couturier admin`` on the
server's machine; no API token reaches it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from couturier.core.suggest import close_names, did_you_mean
from couturier.core.text import has_hidden, shown
from couturier.errors import Code, ConflictError, InputError, NotFoundError
from couturier.services import tokens as token_service
from couturier.services.catalog_keep import KeptCatalogs
from couturier.services.family_memo import FamilyMemo
from couturier.services.starters import get_starter, starters
from couturier.settings import Settings
from couturier.store import InstallationKey, Store, UnitOfWork, load_or_create_key, open_store

__all__ = [
    "DEFAULT_TENANT",
    "FirstStart",
    "Installation",
    "TenantInfo",
    "create_tenant",
    "entitle",
    "known_tenant",
    "open_installation",
    "tenants",
]

DEFAULT_TENANT = "default"
MAX_TENANT_NAME = 100
Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Installation:
    """The settings, database and key one process serves; made by :func:`open_installation`.
    ``families`` keeps the package families ``GET /v1/packages`` worked out (while their
    snapshots stay the same), ``catalogs`` the catalogs, family indexes and starter lines
    its requests read (the same way)."""

    settings: Settings
    store: Store
    key: InstallationKey
    clock: Clock = _utc_now
    families: FamilyMemo = field(default_factory=FamilyMemo, compare=False, repr=False)
    catalogs: KeptCatalogs = field(default_factory=KeptCatalogs, compare=False, repr=False)

    def close(self) -> None:
        self.store.close()


@dataclass(frozen=True)
class FirstStart:
    """What the first start made: tenant 1 and its ``write`` token (to show once)."""

    tenant_id: int
    token: str = ""

    def __repr__(self) -> str:
        return f"FirstStart(tenant_id={self.tenant_id}, token=<hidden>)"


@dataclass(frozen=True)
class TenantInfo:
    id: int
    name: str
    created: dt.datetime
    starters: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created": self.created.isoformat(),
            "starters": list(self.starters),
        }


def open_installation(
    settings: Settings, clock: Clock = _utc_now
) -> tuple[Installation, FirstStart | None]:
    """The installation of ``settings``, migrated, and what its first start made (None when
    it had been started before).

    Raises :class:`StateError` (one line) when the installation key is unreadable, not private
    or damaged, when the database cannot be reached or was made by a newer Couturier.
    """
    key, _ = load_or_create_key(settings.data_dir)
    store = open_store(settings.database)
    try:
        first = store.prepare(lambda uow: _first_start(uow, settings, clock(), key))
    except BaseException:
        store.close()
        raise
    return Installation(settings, store, key, clock), first


def _first_start(
    uow: UnitOfWork, settings: Settings, now: dt.datetime, key: InstallationKey
) -> FirstStart | None:
    from couturier.services.signing_keys import ensure_key

    if uow.installation.has_tenants():
        return None
    tenant = uow.installation.add_tenant(DEFAULT_TENANT, now)
    # The first tenant's signing key, and the installation's starter key.
    ensure_key(uow, key, tenant.id, now)
    ensure_key(uow, key, None, now)
    uow.installation.entitle(tenant.id, sorted(starters(settings)), now)
    issued = token_service.add_token(
        uow, tenant.id, "write", now, expires_days=None, description="made on first start"
    )
    return FirstStart(tenant.id, issued.token)


def _tenant_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_TENANT_NAME or has_hidden(name):
        raise InputError(
            f"tenant name {shown(name)} cannot be used",
            f"a tenant name is 1 to {MAX_TENANT_NAME} visible characters",
            fields={"kind": "tenant-name", "value": name[:200]},
        )
    return name


def create_tenant(installation: Installation, name: str) -> TenantInfo:
    """A new tenant called ``name``, entitled to nothing yet (``couturier admin entitle``).
    Raises :class:`InputError` for an empty or hidden-character name, :class:`ConflictError`
    when a tenant has that name already. Its signing key is made with it."""
    from couturier.services.signing_keys import ensure_key

    name = _tenant_name(name)
    with installation.store.unit(write=True) as uow:
        existing = uow.installation.tenant_named(name)
        if existing is not None:
            raise ConflictError(
                f"a tenant called {shown(name)} exists already (ID {existing.id})",
                "choose another name, or use that tenant's ID",
                fields={"tenant": name, "id": existing.id},
            )
        tenant = uow.installation.add_tenant(name, installation.clock())
        # Its signing key is made with it: every image it builds is signed.
        ensure_key(uow, installation.key, tenant.id, installation.clock())
        return TenantInfo(tenant.id, tenant.name, tenant.created_at, ())


def known_tenant(uow: UnitOfWork, tenant_id: int) -> None:
    """Raise :class:`NotFoundError` (``tenant-not-found``, naming the nearest IDs) unless
    tenant ``tenant_id`` exists."""
    if uow.installation.tenant(tenant_id) is None:
        known = [str(t.id) for t in uow.installation.tenants()]
        raise NotFoundError(
            f"no tenant {tenant_id}{did_you_mean(str(tenant_id), known)}",
            "",
            code=Code.TENANT_NOT_FOUND,
            fields={"tenant": tenant_id, "suggestions": close_names(str(tenant_id), known)},
        )


def entitle(installation: Installation, tenant_id: int, names: Sequence[str]) -> list[str]:
    """Entitle tenant ``tenant_id`` to the starters ``names``; the ones it was not entitled to
    before. Raises :class:`NotFoundError` for an unknown tenant, or a starter the
    installation does not offer (naming the nearest ones)."""
    for name in names:
        get_starter(installation.settings, name)
    with installation.store.unit(write=True) as uow:
        known_tenant(uow, tenant_id)
        return uow.installation.entitle(tenant_id, names, installation.clock())


def tenants(installation: Installation) -> list[TenantInfo]:
    """Every tenant, by ID, with the starters it is entitled to."""
    with installation.store.unit() as uow:
        return [
            TenantInfo(t.id, t.name, t.created_at, tuple(uow.installation.entitlements(t.id)))
            for t in uow.installation.tenants()
        ]


def check_tenant(installation: Installation, tenant_id: int) -> None:
    """Raise :class:`NotFoundError` unless tenant ``tenant_id`` exists."""
    with installation.store.unit() as uow:
        known_tenant(uow, tenant_id)


def ready(installation: Installation) -> None:
    """Raise :class:`StateError` unless the database answers."""
    installation.store.ping()
