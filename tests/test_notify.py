"""The notify adapters' single attempts against local receivers (tests/receivers.py), and the
settings they take."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from couturier.errors import ConfigError
from couturier.notify.addresses import url_problem
from couturier.notify.http import post
from couturier.settings import load_settings
from tests.receivers import Receiver


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_what_can_be_retried_and_what_cannot() -> None:
    refused = post(f"http://127.0.0.1:{_closed_port()}/", b"{}", {}, timeout=5)
    assert refused.retryable and refused.status_code is None
    assert refused.error is not None and refused.error.startswith("cannot connect: ")
    with Receiver([429, 503, 400, 201]) as receiver:
        answers = [post(receiver.url, b"{}", {}, timeout=5) for _ in range(4)]
    assert [(a.status_code, a.retryable, a.delivered) for a in answers] == [
        (429, True, False),
        (503, True, False),
        (400, False, False),
        (201, False, True),
    ]


def test_an_endless_error_answer_is_read_only_as_far_as_its_reason_needs() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Endless(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(500)
            self.end_headers()  # no length: the body ends when the connection does
            try:
                while True:
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        attempt = post(f"http://127.0.0.1:{server.server_address[1]}/", b"{}", {}, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert attempt.status_code == 500 and attempt.retryable
    assert attempt.error is not None and len(attempt.error) < 300
    assert attempt.error.startswith("answered 500 Internal Server Error: xxxx")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.org/a", None),
        ("http://127.0.0.1:8080/", None),  # the installation's own network is allowed
        ("http://10.1.2.3/", None),
        ("file:///etc/passwd", "must be an http:// or https:// URL"),
        ("javascript:alert(1)", "must be an http:// or https:// URL"),
        ("http:///x", "has no host"),
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified or multicast address"),
        ("http://169.254.170.2/v2/credentials", "169.254.170.2 is a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
        ("http://exa mple.org/", "holds spaces or control characters"),
    ],
)
def test_which_urls_a_delivery_may_reach(url: str, problem: str | None) -> None:
    assert url_problem(url) == problem


def test_notify_settings_are_read_and_a_wrong_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "couturier.yaml"
    notify = {
        "timeout": 3,
        "retry_first": 2.5,
        "give_up_after": 3600,
        "smtp": {
            "host": "mail.example.org",
            "port": 587,
            "starttls": True,
            "username": "c",
            "password": "pw",
        },
    }
    path.write_text(yaml.safe_dump({"notify": notify}))
    settings = load_settings(path, {"HOME": str(tmp_path)}).notify
    assert (settings.timeout, settings.retry_first, settings.give_up_after) == (3, 2.5, 3600)
    assert settings.smtp is not None and settings.smtp.starttls and settings.smtp.port == 587
    assert "pw" not in repr(settings)
    path.write_text(yaml.safe_dump({"notify": {"timeout": -1, "smtp": {"port": 587, "tls": 1}}}))
    with pytest.raises(ConfigError) as refused:
        load_settings(path, {"HOME": str(tmp_path)})
    message = refused.value.message
    assert "notify.timeout" in message and "notify.smtp.host is required" in message
    assert "notify.smtp.tls is not a setting in notify.smtp" in message


def test_the_wait_before_a_retry_doubles_and_stays_capped_however_many_attempts() -> None:
    """retry_wait doubles from the first wait and is capped at MAX_WAIT_SECONDS, also after
    thousands of attempts (where 2**n times a float would overflow)."""
    from couturier.services import deliveries

    class _Notify:
        retry_first = 1.5

    class _Settings:
        notify = _Notify()

    class _Installation:
        settings = _Settings()

    installation: Any = _Installation()
    assert deliveries.retry_wait(installation, 1) == 1.5
    assert deliveries.retry_wait(installation, 3) == 6.0
    assert deliveries.retry_wait(installation, 5000) == deliveries.MAX_WAIT_SECONDS
