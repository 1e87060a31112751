"""Actions over the REST API in process, with real receivers: a local HTTP receiver for
webhooks (and as the stand-in for Slack's and GitHub's services, tests/receivers.py), a real
local SMTP server (aiosmtpd); deliveries run on the embedded queue's delivery workers, the
events are emitted by the services that own them, and every payload is checked against the
JSON Schemas of docs/actions.md."""

from __future__ import annotations

import email
import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from couturier.api.app import create_app
from couturier.services import events
from couturier.services import tokens as token_service
from couturier.services.installation import Installation
from couturier.settings import NotifySettings, SmtpSettings
from tests.receivers import Receiver, verified

Installed = tuple[Installation, Any]
SECRET = "s3cret-shared-with-the-receiver"
DIGEST_A, DIGEST_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
SCHEMAS = {
    schema["title"]: schema
    for schema in (
        json.loads(block)
        for block in re.findall(
            r"```json\n(.*?)```",
            (Path(__file__).resolve().parents[1] / "docs" / "actions.md").read_text(),
            re.S,
        )
    )
}


def valid(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload``, checked against its event's schema in docs/actions.md."""
    jsonschema.validate(
        payload,
        SCHEMAS[payload["event"]],
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    return payload


def bearer(installation: Installation, scope: str = "admin", tenant: int = 1) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token_service.issue_token(installation, tenant, scope).token}"
    }


def with_notify(installation: Installation, **settings: Any) -> Installation:
    notify = replace(NotifySettings(timeout=5.0, retry_first=0.05), **settings)
    return replace(installation, settings=replace(installation.settings, notify=notify))


@pytest.fixture
def site(installed: Installed) -> Installation:
    return with_notify(installed[0])


def serve(installation: Installation) -> TestClient:
    return TestClient(create_app(installation, delivery_workers=2))


def add_action(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = client.post("/v1/actions", headers=headers, json=body)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def deliveries(
    client: TestClient, headers: dict[str, str], action_id: int, count: int = 1
) -> list[dict[str, Any]]:
    """The action's deliveries once ``count`` of them have ended (delivered or failed)."""
    deadline = time.monotonic() + 60
    while True:
        answer = client.get(f"/v1/actions/{action_id}/deliveries", headers=headers)
        items: list[dict[str, Any]] = answer.json()["items"]
        ended = [d for d in items if d["state"] != "pending"]
        if len(ended) >= count:
            return items
        if time.monotonic() > deadline:
            raise AssertionError(items)
        time.sleep(0.05)


def webhook(receiver: Receiver, name: str = "hook", **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "events": list(events.EVENT_KINDS),
        "then": {"kind": "webhook", "url": f"{receiver.url}/hook", "secret": SECRET},
        **more,
    }


# -- webhooks --------------------------------------------------------------------------------


def test_a_webhook_is_signed_and_its_receiver_verifies_it_and_refuses_an_old_timestamp(
    site: Installation,
) -> None:
    with Receiver(["verify"]) as receiver, serve(site) as client:
        receiver.secret = SECRET.encode()
        # The receiver's clock is the service's (the test's clock, standing still).
        receiver.clock = lambda: site.clock().timestamp()
        admin = bearer(site)
        action = add_action(client, admin, **webhook(receiver))
        queued = client.post(f"/v1/actions/{action['id']}/test", headers=admin)
        assert queued.status_code == 202 and queued.json()["state"] == "pending"
        [delivery] = deliveries(client, admin, action["id"])
        assert delivery["state"] == "delivered", delivery
        [attempt] = delivery["attempts"]
        assert attempt["status_code"] == 204 and attempt["error"] is None
        assert attempt["duration_ms"] >= 0

        [seen] = receiver.requests
        assert seen.answered == 204  # the receiver's own check passed
        assert seen.path == "/hook" and seen.header("Content-Type") == "application/json"
        assert seen.header("X-Couturier-Event") == "test"
        assert seen.header("X-Couturier-Delivery") == delivery["id"] == queued.json()["id"]
        payload = valid(json.loads(seen.body))
        assert payload["action"] == {"id": action["id"], "name": "hook"}

        # Replayed six minutes later, or with another body, the receiver refuses it.
        receiver.clock = lambda: site.clock().timestamp() + 360
        headers = {
            k: v for k, v in seen.headers.items() if k.lower() not in ("host", "content-length")
        }
        receiver.script = ["verify", "verify"]
        assert (
            httpx.post(f"{receiver.url}/hook", content=seen.body, headers=headers).status_code
            == 401
        )
        receiver.clock = lambda: site.clock().timestamp()
        tampered = seen.body.replace(b'"tenant":1', b'"tenant":2')
        assert tampered != seen.body
        assert (
            httpx.post(f"{receiver.url}/hook", content=tampered, headers=headers).status_code == 401
        )
        now = site.clock().timestamp()
        assert verified(SECRET.encode(), seen.headers, seen.body, now)
        assert not verified(b"another secret, long enough", seen.headers, seen.body, now)


def test_a_receiver_down_for_the_first_two_attempts_gets_the_third(site: Installation) -> None:
    with Receiver(["drop", "drop", 200]) as receiver, serve(site) as client:
        admin = bearer(site)
        action = add_action(client, admin, **webhook(receiver))
        client.post(f"/v1/actions/{action['id']}/test", headers=admin)
        [delivery] = deliveries(client, admin, action["id"])
        assert delivery["state"] == "delivered" and delivery["error"] is None, delivery
        attempts = delivery["attempts"]
        assert [a["number"] for a in attempts] == [1, 2, 3]
        assert [a["status_code"] for a in attempts] == [None, None, 200]
        for failed in attempts[:2]:
            assert failed["error"].startswith("cannot connect: "), failed
        ids = {r.header("X-Couturier-Delivery") for r in receiver.requests}
        assert ids == {delivery["id"]}  # one delivery, retried
        stamps = [r.header("X-Couturier-Timestamp") for r in receiver.requests]
        assert all(s and s.isdigit() for s in stamps)


@pytest.mark.parametrize(
    ("answer", "settings", "reason"),
    [
        # 500 every time: retried while the give-up time allows (the test's clock stands
        # still: the waits are 0.01 and 0.02 s, the third 0.04 s is past 0.025 s), then given up.
        (
            500,
            {"retry_first": 0.01, "give_up_after": 0.025},
            "given up after 3 attempts: answered 500",
        ),
        # A receiver that never answers: the attempt ends at the timeout.
        (
            "hang",
            {"timeout": 0.5, "give_up_after": 0.001},
            "given up after 1 attempt: no answer within 0.5 s",
        ),
        # A redirect loop ends at its first answer: redirects are never followed.
        ("loop", {}, "answered 302, a redirect to http://127.0.0.1:"),
        # A 4xx is the receiver's refusal: not retried.
        (404, {}, "answered 404 Not Found: receiver says no"),
    ],
)
def test_a_receiver_that_fails_gives_a_failed_delivery_with_its_reason(
    installed: Installed, answer: int | str, settings: dict[str, float], reason: str
) -> None:
    site = with_notify(installed[0], **settings)
    with Receiver(default=answer) as receiver, serve(site) as client:
        admin = bearer(site)
        action = add_action(client, admin, **webhook(receiver))
        client.post(f"/v1/actions/{action['id']}/test", headers=admin)
        [delivery] = deliveries(client, admin, action["id"])
        assert delivery["state"] == "failed", delivery
        assert delivery["error"].startswith(reason), delivery
        assert delivery["error"].endswith(delivery["attempts"][-1]["error"])
        assert len(receiver.requests) == len(delivery["attempts"])


def test_a_hanging_receiver_does_not_hold_up_another_delivery(site: Installation) -> None:
    site = with_notify(site, timeout=30.0)
    with Receiver(default="hang") as stuck, Receiver() as fine, serve(site) as client:
        admin = bearer(site)
        slow = add_action(client, admin, **webhook(stuck, name="slow"))
        quick = add_action(client, admin, **webhook(fine, name="quick"))
        client.post(f"/v1/actions/{slow['id']}/test", headers=admin)
        stuck.wait_for(1)
        client.post(f"/v1/actions/{quick['id']}/test", headers=admin)
        [delivery] = deliveries(client, admin, quick["id"])
        assert delivery["state"] == "delivered"
        hung = client.get(f"/v1/actions/{slow['id']}/deliveries", headers=admin).json()
        assert hung["items"][0]["state"] == "pending"  # still waiting for its receiver
        stuck.release.set()


# -- Slack, GitHub, SMTP -----------------------------------------------------------------------


def test_a_slack_message_has_the_shape_of_slacks_incoming_webhooks(site: Installation) -> None:
    """Slack cannot be reached from here: the receiver stands in for its incoming webhook
    (https://api.slack.com/messaging/webhooks: a JSON POST of ``{"text"}``, answered 200)."""
    with Receiver() as slack, serve(site) as client:
        admin = bearer(site)
        url = f"{slack.url}/services/T000/B000/XXXX"
        action = add_action(
            client, admin, name="chat", events=["image-deleted"], then={"kind": "slack", "url": url}
        )
        assert action["then"] == {"kind": "slack"}  # its URL is its secret: never shown
        client.post(f"/v1/actions/{action['id']}/test", headers=admin)
        [delivery] = deliveries(client, admin, action["id"])
        assert delivery["state"] == "delivered"
        [seen] = slack.requests
        assert seen.path == "/services/T000/B000/XXXX"
        assert seen.header("Content-Type") == "application/json"
        assert json.loads(seen.body) == {"text": "*Couturier*: test event of action chat"}


def test_a_github_dispatch_has_the_shape_of_githubs_rest_api(site: Installation) -> None:
    """GitHub cannot be reached from here: the receiver stands in for its REST API's
    ``POST /repos/{owner}/{repo}/dispatches`` (answered 204 No Content, as GitHub does)."""
    with Receiver(default=204) as github, serve(site) as client:
        admin = bearer(site)
        then = {
            "kind": "github",
            "repository": "acme/app",
            "token": "ghp_0123456789abcdef",
            "api_url": github.url,
            "event_type": "couturier-image",
        }
        action = add_action(client, admin, name="ci", events=["line-new-digest"], then=then)
        assert "token" not in action["then"] and action["then"]["repository"] == "acme/app"
        client.post(f"/v1/actions/{action['id']}/test", headers=admin)
        [delivery] = deliveries(client, admin, action["id"])
        assert delivery["state"] == "delivered"
        assert delivery["attempts"][0]["status_code"] == 204
        [seen] = github.requests
        assert seen.path == "/repos/acme/app/dispatches"
        assert seen.header("Authorization") == "Bearer ghp_0123456789abcdef"
        assert seen.header("Accept") == "application/vnd.github+json"
        assert seen.header("X-GitHub-Api-Version") == "2022-11-28"
        body = json.loads(seen.body)
        assert set(body) == {"event_type", "client_payload"}
        assert body["event_type"] == "couturier-image"
        assert len(body["client_payload"]) <= 10  # GitHub's limit of top-level properties
        assert body["client_payload"]["delivery"] == delivery["id"]
        valid(body["client_payload"]["data"])


class _Mailbox:
    def __init__(self, refuse: str | None = None) -> None:
        self.messages: list[Any] = []
        self.refuse = refuse

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's name for the hook)
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, _Mailbox]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1."""
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, mailbox
    finally:
        controller.stop()


def test_an_email_goes_through_a_real_smtp_server(
    site: Installation, smtp_server: tuple[Controller, _Mailbox]
) -> None:
    controller, mailbox = smtp_server
    smtp = SmtpSettings("127.0.0.1", controller.port, sender="couturier@example.org")
    site = with_notify(site, smtp=smtp)
    with serve(site) as client:
        admin = bearer(site)
        then = {"kind": "email", "to": ["ops@example.org", "dev@example.org"]}
        action = add_action(client, admin, name="mail", events=["line-failed"], then=then)
        client.post(f"/v1/actions/{action['id']}/test", headers=admin)
        [delivery] = deliveries(client, admin, action["id"])
        assert delivery["state"] == "delivered", delivery
        assert delivery["attempts"][0]["status_code"] == 250
        [envelope] = mailbox.messages
        assert envelope.mail_from == "couturier@example.org"
        assert envelope.rcpt_tos == ["ops@example.org", "dev@example.org"]
        message = email.message_from_bytes(envelope.original_content)
        assert message["Subject"] == "[couturier] test event of action mail"
        valid(json.loads(message.get_payload(decode=True)))

        # A server that refuses the recipients: failed with its reply, not retried (5xx).
        mailbox.refuse = "550 5.1.1 no such mailbox"
        client.post(f"/v1/actions/{action['id']}/test", headers=admin)
        newest = deliveries(client, admin, action["id"], count=2)[0]
        assert newest["state"] == "failed" and len(newest["attempts"]) == 1
        assert newest["attempts"][0]["status_code"] == 550
        assert newest["error"] == (
            "the SMTP server refused the recipients: 550 5.1.1 no such mailbox"
        )


def test_an_smtp_server_that_is_not_there_or_not_configured_fails_with_its_reason(
    site: Installation,
) -> None:
    with serve(with_notify(site, give_up_after=0.001)) as client:
        admin = bearer(site)
        then = {"kind": "email", "to": "ops@example.org"}
        action = add_action(client, admin, name="mail", events=["line-failed"], then=then)
        client.post(f"/v1/actions/{action['id']}/test", headers=admin)
        [delivery] = deliveries(client, admin, action["id"])
        assert delivery["error"] == "no SMTP server is configured (settings notify.smtp)"
    smtp = SmtpSettings("127.0.0.1", _free_port())
    with serve(with_notify(site, smtp=smtp, give_up_after=0.001)) as client:
        client.post(f"/v1/actions/{action['id']}/test", headers=admin)
        newest = deliveries(client, admin, action["id"], count=2)[0]
        assert newest["state"] == "failed"
        assert newest["error"].startswith(
            "given up after 1 attempt: cannot send through 127.0.0.1:"
        )
        assert "refused" in newest["error"].lower()


def test_an_email_goes_over_starttls_with_credentials_and_a_wrong_password_is_not_retried(
    site: Installation, tmp_path: Path
) -> None:
    """aiosmtpd requiring STARTTLS (a certificate for 127.0.0.1 from a test CA, trusted
    through the settings' ca_file) and AUTH before MAIL."""
    import ssl

    from aiosmtpd.smtp import AuthResult, LoginPassword

    from tests.certs import key_pem, make_certificate

    ca = make_certificate("Couturier test CA")
    leaf = make_certificate("127.0.0.1", ca=False, issuer=ca, ip_address="127.0.0.1")
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    (tmp_path / "server.crt").write_bytes(leaf.pem)
    (tmp_path / "server.key").write_bytes(key_pem(leaf))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    logins: list[tuple[bytes, bool]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        ok = data.login == b"couturier" and data.password == b"right-password"
        logins.append((data.login, session.ssl is not None))
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535

    mailbox = _Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticate,
    )
    controller.start()
    try:
        smtp = SmtpSettings(
            "127.0.0.1",
            controller.port,
            starttls=True,
            username="couturier",
            password="right-password",
            sender="couturier@example.org",
            ca_file=tmp_path / "ca.pem",
        )
        with serve(with_notify(site, smtp=smtp)) as client:
            admin = bearer(site)
            then = {"kind": "email", "to": "ops@example.org"}
            action = add_action(client, admin, name="mail", events=["line-failed"], then=then)
            client.post(f"/v1/actions/{action['id']}/test", headers=admin)
            [delivery] = deliveries(client, admin, action["id"])
            assert delivery["state"] == "delivered", delivery
        assert len(mailbox.messages) == 1
        assert logins == [(b"couturier", True)]  # sent only inside TLS
        wrong = replace(smtp, password="wrong-password")
        with serve(with_notify(site, smtp=wrong)) as client:
            client.post(f"/v1/actions/{action['id']}/test", headers=admin)
            newest = deliveries(client, admin, action["id"], count=2)[0]
            assert newest["state"] == "failed" and len(newest["attempts"]) == 1
            assert newest["attempts"][0]["status_code"] == 535, newest
            assert newest["error"].startswith("the SMTP server refused: 535")
            assert "wrong-password" not in json.dumps(newest)
    finally:
        controller.stop()
