"""The store and the tenancy services on SQLite and on a real PostgreSQL: migrations, the first
start, tokens (hashed, expiring, revocable, scoped), tenant scoping and pages."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from couturier.core.spec import SpecError
from couturier.core.tokens import parse_token, scope_allows, secret_digest
from couturier.errors import AccessError, ConflictError, InputError, NotFoundError, StateError
from couturier.services import entitled
from couturier.services import tokens as token_service
from couturier.services.installation import (
    FirstStart,
    Installation,
    create_tenant,
    entitle,
    open_installation,
    tenants,
)
from couturier.services.starters import shipped_starters
from couturier.services.tokens import Principal
from couturier.store import Store, open_store
from couturier.store.models import Base, Build, BuildLine, Image, Job, Tenant
from tests.service import Clock, plain_settings

Installed = tuple[Installation, FirstStart]


def head_revision() -> str:
    """The newest migration of the scripts (every migration is applied at start)."""
    from alembic.script import ScriptDirectory

    from couturier.store import migrations

    head = ScriptDirectory(str(Path(migrations.__file__).parent)).get_current_head()
    assert head is not None
    return head


def admin_of(installation: Installation, tenant_id: int) -> Principal:
    issued = token_service.issue_token(installation, tenant_id, "admin")
    return token_service.authenticate(installation, issued.token, "admin")


def test_the_migrated_schema_is_the_models_schema(installed: Installed) -> None:
    installation, _ = installed
    assert installation.store.revision() == head_revision()
    with installation.store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_an_integer_id_is_never_given_again_after_its_row_is_deleted(
    installed: Installed,
) -> None:
    """Deleting the newest row of a table must not hand its id to the next row (SQLite
    reuses the largest rowid without AUTOINCREMENT): layouts and builds are named by ids."""
    installation, _ = installed
    never_reused = {"tenants", "images", "builds", "build_lines", "jobs"}
    never_reused |= {"registry_manifests", "registry_tag_history"}
    never_reused |= {"destinations", "build_pushes"}
    never_reused |= {"actions", "action_deliveries", "action_attempts"}
    never_reused |= {"line_states", "line_changes", "refresh_runs"}
    never_reused |= {"signing_keys"}
    for name in never_reused:  # the models ask for it, as the migration does
        assert Base.metadata.tables[name].dialect_kwargs.get("sqlite_autoincrement") is True
    engine = installation.store.engine
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type='table'")
            )
            made = {name for name, sql in rows if "AUTOINCREMENT" in (sql or "")}
        assert made == never_reused
    now = dt.datetime.now(dt.UTC)
    ids = []
    for _ in range(2):
        with installation.store.unit(write=True) as uow:
            tenant = Tenant(name=f"t{len(ids)}", created_at=now)
            uow.session.add(tenant)
            uow.session.flush()
            image = Image(
                tenant_id=tenant.id,
                name="x",
                starter="s",
                description="",
                spec={},
                created_at=now,
                updated_at=now,
            )
            uow.session.add(image)
            uow.session.flush()
            build = Build(
                tenant_id=tenant.id,
                image_id=image.id,
                trace_id=f"{len(ids):032x}",
                status="s",
                trigger="create",
                attempts=0,
                spec={},
                created_at=now,
            )
            uow.session.add(build)
            uow.session.flush()
            line = BuildLine(build_id=build.id, line="1", architecture="a", status="s", tags=[])
            job = Job(
                kind="build", state="queued", attempts=0, payload={}, created_at=now, run_after=now
            )
            uow.session.add_all([line, job])
            uow.session.flush()
            ids.append((tenant.id, image.id, build.id, line.id, job.id))
            for row in (job, line, build, image, tenant):
                uow.session.delete(row)
                uow.session.flush()
    first, second = ids
    assert all(b > a for a, b in zip(first, second, strict=True)), ids


def test_the_first_start_makes_tenant_1_with_every_starter_and_a_write_token(
    installed: Installed, tmp_path: Path, database_url: str
) -> None:
    installation, first = installed
    assert first.tenant_id == 1
    assert "token=<hidden>" in repr(first) and first.token not in repr(first)
    (default,) = tenants(installation)
    assert (default.id, default.name) == (1, "default")
    assert set(default.starters) == set(shipped_starters())
    principal = token_service.authenticate(installation, first.token, "write")
    assert (principal.tenant_id, principal.scope) == (1, "write")

    # Opening it again (a restart, or an admin command beside serve) makes nothing.
    again, second = open_installation(plain_settings(tmp_path, database_url))
    try:
        assert second is None
        assert [t.id for t in tenants(again)] == [1]
    finally:
        again.close()


def test_two_processes_starting_at_once_set_up_one_tenant(
    tmp_path: Path, database_url: str
) -> None:
    settings = plain_settings(tmp_path, database_url)
    results: list[FirstStart | None] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            installation, first = open_installation(settings)
            installation.close()
            results.append(first)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(first is not None for first in results) == 1
    installation, _ = open_installation(settings)
    try:
        assert [t.name for t in tenants(installation)] == ["default"]
    finally:
        installation.close()


def test_a_database_from_a_newer_couturier_is_refused(installed: Installed) -> None:
    installation, _ = installed
    with installation.store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StateError, match="newer Couturier"):
        installation.store.prepare(lambda uow: None)


def test_tenants_entitlements_and_their_mistakes(installed: Installed) -> None:
    installation, _ = installed
    acme = create_tenant(installation, "acme")
    assert acme.id == 2
    with pytest.raises(ConflictError, match="exists already"):
        create_tenant(installation, "acme")
    with pytest.raises(InputError):
        create_tenant(installation, "a\u200bb")
    assert entitle(installation, acme.id, ["python", "php", "python"]) == ["python", "php"]
    assert entitle(installation, acme.id, ["python", "node"]) == ["node"]
    with pytest.raises(NotFoundError, match="did you mean python"):
        entitle(installation, acme.id, ["pyhton"])
    with pytest.raises(NotFoundError, match="no tenant 7"):
        entitle(installation, 7, ["python"])
    assert [t.starters for t in tenants(installation)][1] == ("node", "php", "python")

    admin = admin_of(installation, acme.id)
    items, after = entitled.starter_page(installation, admin, 2, None)
    assert [s["name"] for s in items] == ["node", "php"] and after is not None
    items, after = entitled.starter_page(installation, admin, 2, after)
    assert [s["name"] for s in items] == ["python"] and after is None
    with pytest.raises(NotFoundError, match="did you mean php"):
        entitled.entitled_starter(installation, admin, "ph")
    with pytest.raises(NotFoundError):  # offered, but not to this tenant
        entitled.entitled_starter(installation, admin, "ruby")


def test_entitling_a_tenant_to_one_starter_from_many_processes_at_once_adds_it_once(
    installed: Installed,
) -> None:
    """``couturier admin entitle`` run twice at once (as scripts provisioning a tenant do):
    one adds the starter, the others find it there; none fails on the unique constraint."""
    installation, _ = installed
    acme = create_tenant(installation, "acme")
    many = 6
    # One store each, as separate processes have (one store queues its own writers).
    stores = [open_store(str(installation.store.engine.url)) for _ in range(many)]
    start = threading.Barrier(many)
    added: list[list[str]] = []
    errors: list[BaseException] = []

    def run(store: Store) -> None:
        start.wait(30)
        try:
            added.append(entitle(replace(installation, store=store), acme.id, ["python", "php"]))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for store in stores:
        store.close()
    assert errors == []
    assert sorted(name for names in added for name in names) == ["php", "python"]
    assert [t.starters for t in tenants(installation)][1] == ("php", "python")


def test_a_token_secret_is_stored_only_as_its_digest(installed: Installed, tmp_path: Path) -> None:
    installation, _ = installed
    issued = token_service.issue_token(installation, 1, "pull", description="ci")
    parts = parse_token(issued.token)
    assert parts is not None and parts.secret not in repr(parts)
    assert issued.token not in repr(issued)
    with installation.store.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM tokens")).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert parts.secret not in stored
    assert secret_digest(parts.secret) in stored
    if installation.store.dialect == "sqlite":
        files = [p for p in (tmp_path / "data").iterdir() if p.name.startswith("couturier.db")]
        assert files
        for path in files:
            assert parts.secret.encode() not in path.read_bytes()
            assert path.stat().st_mode & 0o077 == 0, path


def test_expiry_revocation_and_scope(installed: Installed, clock: Clock) -> None:
    installation, _ = installed
    issued = token_service.issue_token(installation, 1, "write", expires_days=2)
    assert token_service.authenticate(installation, issued.token, "pull").scope == "write"
    with pytest.raises(AccessError) as refused:
        token_service.authenticate(installation, issued.token, "admin")
    assert refused.value.reason == "scope"
    clock.advance(days=2)
    with pytest.raises(AccessError) as refused:
        token_service.authenticate(installation, issued.token, "pull")
    assert refused.value.reason == "expired"

    admin = admin_of(installation, 1)
    other = token_service.issue_token(installation, 1, "pull")
    revoked = token_service.revoke_token(installation, admin, other.info.id)
    assert revoked.revoked == clock.now
    with pytest.raises(AccessError) as refused:
        token_service.authenticate(installation, other.token, "pull")
    assert refused.value.reason == "revoked"

    wrong_secret = other.token[:-4] + ("0000" if not other.token.endswith("0000") else "1111")
    for text_ in (None, "", "ctr_nope", wrong_secret, "x" * 10_000):
        with pytest.raises(AccessError) as refused:
            token_service.authenticate(installation, text_, "pull")
        assert refused.value.reason in ("missing", "invalid")


def test_token_requests_are_checked_all_at_once(installed: Installed) -> None:
    installation, _ = installed
    with pytest.raises(SpecError) as refused:
        token_service.issue_token(installation, 1, "root", expires_days=0, description="d" * 201)
    assert [v.field for v in refused.value.violations] == ["scope", "expires_days", "description"]


def test_a_tenant_never_sees_another_tenants_tokens(installed: Installed) -> None:
    installation, _ = installed
    other = create_tenant(installation, "other")
    mine = admin_of(installation, 1)
    theirs = admin_of(installation, other.id)
    secret = token_service.issue_token(installation, 1, "pull")
    with pytest.raises(NotFoundError):
        token_service.get_token(installation, theirs, secret.info.id)
    with pytest.raises(NotFoundError):
        token_service.revoke_token(installation, theirs, secret.info.id)
    listed, _ = token_service.token_page(installation, theirs, 500, None)
    assert secret.info.id not in {t.id for t in listed}
    assert token_service.get_token(installation, mine, secret.info.id).revoked is None


def test_token_pages_give_every_token_once_in_order(installed: Installed, clock: Clock) -> None:
    installation, _ = installed
    admin = admin_of(installation, 1)
    made = {admin.token_id}
    for index in range(6):
        if index % 2:
            clock.advance(seconds=1)  # some share a timestamp: the id breaks the tie
        made.add(token_service.issue_token(installation, 1, "pull").info.id)
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = token_service.token_page(installation, admin, 3, cursor)
        seen += [t.id for t in page]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8  # the first start's token too
    assert made <= set(seen)
    with pytest.raises(SpecError, match="cursor"):
        token_service.token_page(installation, admin, 3, "not-a-cursor")
    with pytest.raises(SpecError, match="limit"):
        token_service.token_page(installation, admin, 501, None)


def test_scopes_are_ordered() -> None:
    assert scope_allows("admin", "write") and scope_allows("write", "pull")
    assert not scope_allows("pull", "write") and not scope_allows("root", "pull")


def test_the_store_reports_a_database_it_cannot_reach(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody@/db?host=/nonexistent&port=1"
    settings = plain_settings(tmp_path, url)
    with pytest.raises(StateError, match="cannot be reached"):
        open_installation(settings)


def test_timestamps_come_back_in_utc(installed: Installed, clock: Clock) -> None:
    installation, _ = installed
    issued = token_service.issue_token(installation, 1, "pull", expires_days=1)
    admin = admin_of(installation, 1)
    got = token_service.get_token(installation, admin, issued.info.id)
    assert got.created == clock.now and got.created.tzinfo == dt.UTC
    assert got.expires == clock.now + dt.timedelta(days=1)
