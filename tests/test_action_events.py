"""Events and actions' rules, against the real database: what each event's payload is (the
JSON Schemas of docs/actions.md), which actions an event reaches (kinds, filters, tenants),
the events a recorded build and a deleted image emit, and what registering an action refuses
(every violation at once, a secret never echoed, stored sealed, never returned)."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from couturier.api.app import create_app
from couturier.services import events
from couturier.services.installation import Installation, create_tenant, open_installation
from couturier.settings import NotifySettings
from couturier.store.actions import Action, Delivery
from couturier.store.images import TenantImages
from couturier.store.models import Build, BuildLine, Image
from tests.receivers import Receiver
from tests.service import Clock, plain_settings
from tests.test_actions import DIGEST_A, DIGEST_B, SECRET, Installed, bearer, valid

DAY = dt.timedelta(days=1)


def _image(installation: Installation, tenant: int = 1, name: str = "payments-api") -> Image:
    now = installation.clock()
    with installation.store.unit(write=True) as uow:
        spec = {"name": name, "starter": "python", "description": ""}
        return TenantImages(uow.session, tenant).add_image(
            Image(
                tenant_id=tenant,
                name=name,
                starter="python",
                description="",
                spec=spec,
                created_at=now,
                updated_at=now,
            )
        )


def _action(installation: Installation, tenant: int = 1, **body: Any) -> int:
    from couturier.services import actions as action_service
    from couturier.services.tokens import Principal

    document = {
        "name": "all",
        "events": list(events.EVENT_KINDS),
        "then": {"kind": "email", "to": "ops@example.org"},
        **body,
    }
    made = action_service.create_action(installation, Principal(tenant, "t", "admin"), document)
    return int(made["id"])


def _queued(installation: Installation, tenant: int = 1) -> list[Delivery]:
    with installation.store.unit() as uow:
        query = select(Delivery).where(Delivery.tenant_id == tenant).order_by(Delivery.id)
        return list(uow.session.scalars(query))


def _emit(installation: Installation, event: events.Event) -> list[Delivery]:
    with installation.store.unit(write=True) as uow:
        return events.emit(uow, installation, event)


def test_every_events_payload_is_valid_by_its_schema_in_docs(installed: Installed) -> None:
    installation, _ = installed
    image = _image(installation)
    _action(installation)
    now = installation.clock()
    made = [
        events.new_digest(
            image,
            trace_id="t" * 32,
            line="3.13",
            full_version="3.13.5",
            digest=DIGEST_A,
            previous_digest=None,
            tags=["3.13.5", "3.13", "latest"],
            occurred=now,
        ),
        events.line_failed(
            image,
            trace_id="t" * 32,
            line="3.12",
            status="skipped",
            problem={
                "code": "package-not-found",
                "message": "no foo",
                "fields": {"package": "foo"},
            },
            occurred=now,
        ),
        events.cves_fixed(
            image,
            trace_id="t" * 32,
            line="3.13",
            upgrades=[events.Upgrade("openssl", "3.0.15-1", "3.0.16-1", ("CVE-2024-13176",))],
            occurred=now,
        ),
        events.end_of_life(image, line="3.9", date=(now + 10 * DAY).date(), occurred=now),
        events.image_deleted(image, occurred=now),
    ]
    for event in made:
        assert len(_emit(installation, event)) == 1, event.kind
    payloads = [valid(d.payload) for d in _queued(installation)]
    assert [p["event"] for p in payloads] == list(events.EVENT_KINDS)
    assert payloads[0]["image"] == "1/payments-api" and payloads[0]["starter"] == "python"
    assert payloads[2]["cves"] == ["CVE-2024-13176"]
    assert payloads[3]["days_left"] == 10


def test_an_event_reaches_the_actions_whose_kind_and_filters_match_and_no_other_tenants(
    installed: Installed,
) -> None:
    installation, _ = installed
    other = create_tenant(installation, "other")
    image = _image(installation)
    theirs = _image(installation, other.id, "payments-api")
    ids = {
        "all": _action(installation),
        "glob": _action(installation, name="glob", **{"if": {"image": "pay*"}}),
        "other-glob": _action(installation, name="other-glob", **{"if": {"image": "web-*"}}),
        "line": _action(installation, name="line", **{"if": {"line": "3.12", "starter": "python"}}),
        "package": _action(installation, name="package", **{"if": {"package": "openssl"}}),
        "deleted-only": _action(installation, name="deleted-only", events=["image-deleted"]),
        "eol-soon": _action(installation, name="eol-soon", end_of_life_days=7),
    }
    _action(installation, other.id)  # tenant 2's, listening for everything
    now = installation.clock()
    upgrade = events.Upgrade("openssl", "3.0.15-1", "3.0.16-1", ("CVE-2024-13176",))

    def reached(event: events.Event) -> set[str]:
        found = {d.action_id for d in _emit(installation, event)}
        return {name for name, action_id in ids.items() if action_id in found}

    cves = events.cves_fixed(image, trace_id="t", line="3.13", upgrades=[upgrade], occurred=now)
    assert reached(cves) == {"all", "glob", "package", "eol-soon"}
    failed = events.line_failed(
        image, trace_id="t", line="3.12", status="failed", problem=None, occurred=now
    )
    assert reached(failed) == {"all", "glob", "line", "eol-soon"}
    assert reached(events.image_deleted(image, occurred=now)) == {
        "all",
        "glob",
        "deleted-only",
        "eol-soon",
    }
    # An end of life 10 days ahead: the actions within 30 days (the default), not within 7;
    # told once per image, line and date, however often the refresh emits it.
    soon = events.end_of_life(image, line="3.9", date=(now + 10 * DAY).date(), occurred=now)
    assert reached(soon) == {"all", "glob"}
    assert reached(soon) == set()
    later = events.end_of_life(
        image, line="3.9", date=(now + 10 * DAY).date(), occurred=now + 4 * DAY
    )
    assert reached(later) == {"eol-soon"}
    # Tenant 2's events reach tenant 2's action only; tenant 1's never reach it.
    assert not _queued(installation, other.id)
    assert len(_emit(installation, events.image_deleted(theirs, occurred=now))) == 1
    assert {d.tenant_id for d in _queued(installation, other.id)} == {other.id}


def _build(
    installation: Installation, image: Image, lines: list[tuple[str, str, str | None]]
) -> Build:
    """A finished build of ``image`` with ``lines`` (line, status, digest), recorded as a
    build's worker records it: the lines, then :func:`events.build_ended` in that unit."""
    now = installation.clock()
    with installation.store.unit(write=True) as uow:
        repo = TenantImages(uow.session, image.tenant_id)
        build = repo.add_build(
            Build(
                tenant_id=image.tenant_id,
                image_id=image.id,
                trace_id=f"{len(_queued(installation)):032d}",
                status="some lines created",
                trigger="create",
                attempts=1,
                spec=dict(image.spec),
                created_at=now,
                started_at=now,
                finished_at=now,
            )
        )
        problem = {"code": "package-not-found", "message": "no foo", "fields": {"package": "foo"}}
        repo.replace_lines(
            build,
            [
                BuildLine(
                    line=line,
                    architecture="amd64",
                    status=status,
                    digest=digest,
                    full_version=f"{line}.1" if digest else None,
                    tags=[line] if digest else [],
                    problem=None if digest else problem,
                )
                for line, status, digest in lines
            ],
        )
        events.build_ended(uow, installation, build)
        return build


def test_a_recorded_build_emits_new_digests_and_failed_or_skipped_lines(
    installed: Installed,
) -> None:
    installation, _ = installed
    image = _image(installation)
    _action(installation)
    _build(installation, image, [("3.13", "created", DIGEST_A), ("3.12", "skipped", None)])
    first = [valid(d.payload) for d in _queued(installation)]
    assert [(p["event"], p["line"]) for p in first] == [
        ("line-new-digest", "3.13"),
        ("line-failed", "3.12"),
    ]
    assert first[0]["digest"] == DIGEST_A and first[0]["previous_digest"] is None
    assert first[1]["status"] == "skipped" and first[1]["problem"]["fields"] == {"package": "foo"}
    # Rebuilt: 3.13 unchanged tells nothing; 3.12 now created is new; then 3.13 changes.
    _build(installation, image, [("3.13", "created", DIGEST_A), ("3.12", "created", DIGEST_B)])
    second = [valid(d.payload) for d in _queued(installation)][2:]
    assert [(p["event"], p["line"], p["previous_digest"]) for p in second] == [
        ("line-new-digest", "3.12", None)
    ]
    _build(installation, image, [("3.13", "created", DIGEST_B), ("3.12", "failed", None)])
    third = [valid(d.payload) for d in _queued(installation)][3:]
    assert [(p["event"], p["line"]) for p in third] == [
        ("line-new-digest", "3.13"),
        ("line-failed", "3.12"),
    ]
    assert third[0]["previous_digest"] == DIGEST_A and third[0]["digest"] == DIGEST_B


def test_deleting_an_image_emits_image_deleted(installed: Installed) -> None:
    installation, _ = installed
    _image(installation, name="old-tool")
    _action(installation, events=["image-deleted"], **{"if": {"image": "old-*"}})
    with TestClient(create_app(installation)) as client:
        answer = client.delete("/v1/images/1/old-tool", headers=bearer(installation, "write"))
        assert answer.status_code == 204, answer.text
    [delivery] = _queued(installation)
    assert valid(delivery.payload)["image"] == "1/old-tool"
    assert delivery.event == "image-deleted" and delivery.state == "pending"


@pytest.mark.parametrize(
    ("then", "field", "rule"),
    [
        (
            {"kind": "webhook", "url": "ftp://example.org/x", "secret": SECRET},
            "then.url",
            "must be an http:// or https:// URL",
        ),
        (
            {"kind": "webhook", "url": "http://169.254.169.254/latest", "secret": SECRET},
            "then.url",
            "169.254.169.254 is a cloud metadata address",
        ),
        (
            {"kind": "webhook", "url": "http://[fe80::1]:8080/", "secret": SECRET},
            "then.url",
            "fe80::1 is a link-local address",
        ),
        (
            {"kind": "webhook", "url": "http://169.254.10.1/", "secret": SECRET},
            "then.url",
            "169.254.10.1 is a link-local address",
        ),
        (
            {"kind": "webhook", "url": "http://metadata.google.internal/x", "secret": SECRET},
            "then.url",
            "metadata.google.internal is a cloud metadata service",
        ),
        (
            {"kind": "webhook", "url": "https://user:pw@example.org/", "secret": SECRET},
            "then.url",
            "must not hold a user or password",
        ),
        (
            {
                "kind": "github",
                "repository": "acme/app",
                "token": "t",
                "api_url": "http://[::ffff:169.254.169.254]/",
            },
            "then.api_url",
            "169.254.169.254 is a cloud metadata address",
        ),
    ],
)
def test_a_receiver_url_that_is_not_http_or_reaches_a_link_local_or_metadata_address_is_422(
    installed: Installed, then: dict[str, Any], field: str, rule: str
) -> None:
    installation, _ = installed
    with TestClient(create_app(installation)) as client:
        body = {"name": "hook", "events": ["line-failed"], "then": then}
        answer = client.post("/v1/actions", headers=bearer(installation), json=body)
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["errors"]
        assert error["field"] == field and error["rule"].startswith(rule), error
        assert client.get("/v1/actions", headers=bearer(installation)).json()["items"] == []


def test_a_request_breaking_several_rules_lists_each_and_never_echoes_a_secret(
    installed: Installed,
) -> None:
    installation, _ = installed
    with TestClient(create_app(installation)) as client:
        body = {
            "name": "Bad Name",
            "events": ["line-failed", "line-exploded"],
            "if": {"image": "", "colour": "red"},
            "end_of_life_days": 0,
            "then": {"kind": "slack", "url": "gopher://hooks.example.org/TOPSECRET"},
            "extra": 1,
        }
        answer = client.post("/v1/actions", headers=bearer(installation), json=body)
        assert answer.status_code == 422
        fields = [e["field"] for e in answer.json()["errors"]]
        assert fields == [
            "extra",
            "name",
            "events[1]",
            "if.image",
            "if.colour",
            "end_of_life_days",
            "then.url",
        ]
        assert "TOPSECRET" not in answer.text
        weak = {
            "name": "hook",
            "events": ["line-failed"],
            "then": {"kind": "webhook", "url": "https://example.org/", "secret": "short-secret"},
        }
        answer = client.post("/v1/actions", headers=bearer(installation), json=weak)
        assert answer.status_code == 422 and "short-secret" not in answer.text
        assert answer.json()["errors"][0]["field"] == "then.secret"
        # Registering needs admin; a write token may read.
        writer = bearer(installation, "write")
        strong = {**weak, "then": {**weak["then"], "secret": SECRET}}
        assert client.post("/v1/actions", headers=writer, json=strong).status_code == 403
        assert client.get("/v1/actions", headers=writer).status_code == 200
        assert (
            client.post("/v1/actions", headers=bearer(installation), json=strong).status_code == 201
        )
        again = client.post("/v1/actions", headers=bearer(installation), json=strong)
        assert again.status_code == 409 and again.json()["error"]["code"] == "name-taken"


def test_a_secret_is_stored_sealed_and_never_returned(installed: Installed) -> None:
    installation, _ = installed
    token = "ghp_" + "z" * 36
    with TestClient(create_app(installation)) as client:
        admin = bearer(installation)
        for name, then in [
            ("hook", {"kind": "webhook", "url": "https://example.org/h", "secret": SECRET}),
            (
                "chat",
                {"kind": "slack", "url": "https://hooks.example.org/services/T/B/SLACKSECRET"},
            ),
            ("ci", {"kind": "github", "repository": "acme/app", "token": token}),
        ]:
            body = {"name": name, "events": ["line-failed"], "then": then}
            made = client.post("/v1/actions", headers=admin, json=body)
            assert made.status_code == 201, made.text
            shown = [made.text, client.get(f"/v1/actions/{made.json()['id']}", headers=admin).text]
            shown.append(client.get("/v1/actions", headers=admin).text)
            for text_ in shown:
                assert SECRET not in text_ and "SLACKSECRET" not in text_ and token not in text_
    with installation.store.unit() as uow:
        rows = uow.session.execute(text("SELECT target, secret FROM actions")).all()
        dumped = json.dumps([[str(t), s] for t, s in rows])
    assert SECRET not in dumped and "SLACKSECRET" not in dumped and token not in dumped
    with installation.store.unit() as uow:
        sealed = {a.name: a for a in uow.session.scalars(select(Action))}
    from couturier.services.deliveries import secret_purpose

    hook = sealed["hook"]
    assert hook.secret is not None
    assert installation.key.open(hook.secret, secret_purpose(hook.id)) == SECRET.encode()


@pytest.mark.postgres
def test_on_procrastinate_a_delivery_is_a_job_and_its_retry_is_scheduled_after_its_wait(
    tmp_path: Path, postgres_url: str, clock: Clock
) -> None:
    from couturier.jobs import ClaimedJob
    from couturier.jobs.procrastinate_queue import ensure_schema
    from couturier.services.actions import send_test_event
    from couturier.services.deliveries import run_delivery
    from couturier.services.tokens import Principal

    settings = replace(
        plain_settings(tmp_path, postgres_url),
        jobs="procrastinate",
        notify=NotifySettings(retry_first=30.0),
    )
    installation, _ = open_installation(settings, clock=clock)
    try:
        ensure_schema(installation.store)
        with Receiver(default=503) as receiver:
            then = {"kind": "webhook", "url": receiver.url, "secret": SECRET}
            action_id = _action(installation, then=then)
            send_test_event(installation, Principal(1, "t", "admin"), str(action_id))
            query = text(
                "SELECT id, task_name, lock, scheduled_at FROM procrastinate_jobs ORDER BY id"
            )
            with installation.store.unit() as uow:
                [(job_id, task, lock, scheduled)] = uow.session.execute(query).all()
            assert (task, scheduled) == ("couturier.deliver", None)
            assert re.fullmatch(r"delivery:\d+", lock)
            # What a couturier worker does with it: takes it (status doing), then runs the
            # handler with procrastinate_queue._task's ClaimedJob.
            with installation.store.unit(write=True) as uow:
                taking = text("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = :id")
                uow.session.execute(taking, {"id": job_id})
            job = ClaimedJob(job_id, "deliver", 1, None, lock, 1)
            run_delivery(installation, job)
            assert len(receiver.requests) == 1
        with installation.store.unit() as uow:
            rows = uow.session.execute(query).all()
        assert [(r[1], r[2]) for r in rows] == [(task, lock)] * 2
        assert rows[1][3] == clock() + dt.timedelta(seconds=30)
        [delivery] = _queued(installation)
        assert delivery.state == "pending" and delivery.attempts == 1
        assert delivery.error == "answered 503 Service Unavailable: receiver says no"
    finally:
        installation.close()


@pytest.mark.postgres
def test_concurrent_deletes_of_one_image_delete_it_once_and_tell_its_actions_once(
    tmp_path: Path, postgres_url: str, clock: Clock
) -> None:
    """Two DELETEs of one image at once (two API processes): the second waits for the first
    and finds the image gone (404), rather than answering 204 and queuing a second
    image-deleted delivery. The first is held open here by a transaction of its own."""
    import threading
    import time

    import psycopg

    from couturier.errors import NotFoundError
    from couturier.services.images import delete_image
    from couturier.services.tokens import Principal

    installation, _ = open_installation(plain_settings(tmp_path, postgres_url), clock=clock)
    try:
        _action(installation, events=["image-deleted"])
        image = _image(installation)
        plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain) as first:
            first.execute("DELETE FROM images WHERE id = %s", (image.id,))  # not committed
            outcome: list[object] = []

            def second() -> None:
                try:
                    delete_image(installation, Principal(1, "t", "write"), "1", "payments-api")
                    outcome.append("deleted")
                except NotFoundError as error:
                    outcome.append(error)

            thread = threading.Thread(target=second)
            thread.start()
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            deadline = time.monotonic() + 30
            with psycopg.connect(plain, autocommit=True) as watcher:
                while watcher.execute(waiting).fetchone() != (1,):
                    assert time.monotonic() < deadline, "the second delete never waited"
                    time.sleep(0.02)
            first.commit()  # the first delete (its own delivery is not the point here)
            thread.join(30)
        [result] = outcome
        assert isinstance(result, NotFoundError), result
        assert _queued(installation) == []
    finally:
        installation.close()
