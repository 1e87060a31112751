"""Repositories over one transaction: the installation's and one tenant's.

:class:`UnitOfWork` is what :meth:`couturier.store.database.Store.unit` yields. Its
:attr:`~UnitOfWork.installation` repository manages tenants and entitlements (what
``couturier admin`` does) and finds a token by id (how a request learns its tenant);
:meth:`~UnitOfWork.tenant` gives a :class:`TenantRepository` bound to one tenant, whose every
query filters on that tenant: a row of another tenant is not found, exactly as a row that does
not exist. Lists are pages in keyset order (:class:`Page`), never an offset.

Rows are returned as the models of :mod:`couturier.store.models`; they stay readable after the
unit ends (nothing is expired on commit) but changes to them are saved only inside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Row as ResultRow
from sqlalchemy.orm import Session

from couturier.store.models import Build, Entitlement, Image, Job, Tenant, Token

__all__ = ["InstallationRepository", "Page", "TenantRepository", "UnitOfWork", "token_check"]

Row = TypeVar("Row")


@dataclass(frozen=True)
class Page(Generic[Row]):
    """At most ``limit`` rows, and the key after which the next page starts (None on the last
    page)."""

    items: Sequence[Row]
    after: tuple[str, ...] | None


# id, tenant_id, scope, secret_sha256, expires_at, revoked_at
TokenCheck = ResultRow[str, int, str, str, dt.datetime | None, dt.datetime | None]


# Made once: building a statement costs more than running this one on SQLite.
_TOKEN_CHECK = select(
    Token.id,
    Token.tenant_id,
    Token.scope,
    Token.secret_sha256,
    Token.expires_at,
    Token.revoked_at,
).where(Token.id == bindparam("token_id"))


def token_check(connection: Connection, token_id: str) -> TokenCheck | None:
    """What checking a request's token ``token_id`` needs, of whatever tenant: its
    ``tenant_id``, ``scope``, ``secret_sha256``, ``expires_at`` and ``revoked_at`` (one
    statement by primary key, no ORM object: every request of the API makes it)."""
    return connection.execute(_TOKEN_CHECK, {"token_id": token_id}).first()


class InstallationRepository:
    """Tenants and entitlements: the installation's own rows (no tenant scope)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def has_tenants(self) -> bool:
        return self._session.scalars(select(Tenant.id).limit(1)).first() is not None

    def add_tenant(self, name: str, now: dt.datetime) -> Tenant:
        tenant = Tenant(name=name, created_at=now)
        self._session.add(tenant)
        self._session.flush()  # gives it its id
        return tenant

    def tenant(self, tenant_id: int) -> Tenant | None:
        return self._session.get(Tenant, tenant_id)

    def tenant_named(self, name: str) -> Tenant | None:
        return self._session.scalars(select(Tenant).where(Tenant.name == name)).first()

    def tenants(self) -> list[Tenant]:
        return list(self._session.scalars(select(Tenant).order_by(Tenant.id)))

    def entitle(self, tenant_id: int, starters: Iterable[str], now: dt.datetime) -> list[str]:
        """Entitle the tenant to ``starters``; the ones it was not entitled to yet. The tenant's
        row is locked first (FOR UPDATE on PostgreSQL; a write unit on SQLite holds the
        database's write lock), so two entitlements of one tenant at once see each other's
        rows instead of both adding one and the second breaking the unique constraint."""
        self._session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
        held = set(self.entitlements(tenant_id))
        added = [name for name in dict.fromkeys(starters) if name not in held]
        self._session.add_all(
            Entitlement(tenant_id=tenant_id, starter=name, created_at=now) for name in added
        )
        self._session.flush()
        return added

    def entitlements(self, tenant_id: int) -> list[str]:
        query = select(Entitlement.starter).where(Entitlement.tenant_id == tenant_id)
        return sorted(self._session.scalars(query))

    def token(self, token_id: str) -> Token | None:
        """The token ``token_id`` of whatever tenant: how a request finds its tenant. Nothing
        else reads across tenants but the counts of the installation's metrics below."""
        return self._session.get(Token, token_id)

    def build_counts(self) -> dict[str, int]:
        """How many builds there are, by status, over every tenant (for ``/metrics``)."""
        query = select(Build.status, func.count()).group_by(Build.status)
        return {str(status): int(count) for status, count in self._session.execute(query)}

    def job_counts(self) -> dict[str, int]:
        """How many jobs there are, by state, over every tenant (``queued`` is the queue's
        depth)."""
        query = select(Job.state, func.count()).group_by(Job.state)
        return {str(state): int(count) for state, count in self._session.execute(query)}


class TenantRepository:
    """One tenant's rows; every query is filtered on :attr:`tenant_id`."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self._session = session
        self.tenant_id = tenant_id

    def entitlements(self) -> list[str]:
        query = select(Entitlement.starter).where(Entitlement.tenant_id == self.tenant_id)
        return sorted(self._session.scalars(query))

    def add_token(self, token: Token) -> Token:
        if token.tenant_id != self.tenant_id:
            raise ValueError("a token is added by its own tenant's repository")
        self._session.add(token)
        self._session.flush()
        return token

    def token(self, token_id: str) -> Token | None:
        query = select(Token).where(Token.tenant_id == self.tenant_id, Token.id == token_id)
        return self._session.scalars(query).first()

    def tokens(self, limit: int, after: tuple[str, ...] | None = None) -> Page[Token]:
        """A page of the tenant's tokens, oldest first (revoked ones included), after the key
        ``(created ISO timestamp, id)`` of the previous page."""
        query = select(Token).where(Token.tenant_id == self.tenant_id)
        if after is not None:
            created, token_id = dt.datetime.fromisoformat(after[0]), after[1]
            query = query.where(
                or_(
                    Token.created_at > created,
                    and_(Token.created_at == created, Token.id > token_id),
                )
            )
        rows = list(
            self._session.scalars(query.order_by(Token.created_at, Token.id).limit(limit + 1))
        )
        more = len(rows) > limit
        rows = rows[:limit]
        key = (rows[-1].created_at.isoformat(), rows[-1].id) if more and rows else None
        return Page(rows, key)

    def bundle_users(self) -> list[tuple[str, list[Any]]]:
        """(what, the ``bundles`` entries of its spec) for each of the tenant's images (what:
        its name) and each of its builds still in progress (what: ``build TRACE_ID``), whose
        spec names bundles: what a bundle version must not be deleted under."""
        found: list[tuple[str, list[Any]]] = []
        images = select(Image.name, Image.spec).where(Image.tenant_id == self.tenant_id)
        for name, spec in self._session.execute(images.order_by(Image.name)):
            found.append((name, _bundles_of(spec)))
        builds = select(Build.trace_id, Build.spec).where(
            Build.tenant_id == self.tenant_id, Build.status == "in progress"
        )
        for trace_id, spec in self._session.execute(builds.order_by(Build.id)):
            found.append((f"build {trace_id}", _bundles_of(spec)))
        return [(what, refs) for what, refs in found if refs]


def _bundles_of(spec: Any) -> list[Any]:
    refs = spec.get("bundles") if isinstance(spec, dict) else None
    return list(refs) if isinstance(refs, list) else []


class UnitOfWork:
    """The repositories of one transaction (see :meth:`couturier.store.database.Store.unit`)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.installation = InstallationRepository(session)

    def tenant(self, tenant_id: int) -> TenantRepository:
        """The repository of tenant ``tenant_id`` (which need not exist: it then finds
        nothing)."""
        return TenantRepository(self.session, tenant_id)
