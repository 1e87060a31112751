"""Local HTTP receivers of deliveries, started by the tests.

:class:`Receiver` records every request and answers from a script, one entry per request:
an HTTP status, ``"drop"`` (the connection closed without an answer: a receiver that is down),
``"hang"`` (no answer until the test ends), ``"loop"`` (a ``302`` to itself) or ``"verify"``
(``204`` when the request's signature verifies with :attr:`Receiver.secret` and its timestamp
is within 5 minutes of :attr:`Receiver.clock`, else ``401``, as docs/actions.md tells a
receiver to check). The same class stands in for Slack's incoming webhooks and GitHub's REST
API, which cannot be reached from here: those tests check the request's shape against what
those services document.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Receiver", "Seen"]


@dataclass(frozen=True)
class Seen:
    """One request as the receiver got it (header names as sent)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | str = field(default=0)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def verified(secret: bytes, headers: dict[str, str], body: bytes, now: float) -> bool:
    """The receiver's check of docs/actions.md, written from the document (not from
    couturier.notify): HMAC-SHA256 of ``<timestamp>.<body>``, a fresh timestamp."""
    seen = Seen("POST", "/", headers, body)
    stamp, given = seen.header("X-Couturier-Timestamp"), seen.header("X-Couturier-Signature")
    if stamp is None or given is None or not stamp.isdigit():
        return False
    mac = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={mac}", given) and abs(now - int(stamp)) <= 300


class Receiver(ThreadingHTTPServer):
    """A receiver on 127.0.0.1 answering ``script`` (then ``default``); a context manager."""

    daemon_threads = True

    def __init__(self, script: list[int | str] | None = None, default: int | str = 200) -> None:
        self.script = list(script or [])
        self.default = default
        self.requests: list[Seen] = []
        self.secret = b""
        self.clock: Callable[[], float] = time.time
        self.release = threading.Event()
        self.seen = threading.Condition()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()

    def wait_for(self, count: int, timeout: float = 60) -> list[Seen]:
        """The requests once there are ``count`` of them (AssertionError after ``timeout``)."""
        with self.seen:
            if not self.seen.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests, waited for {count}")
            return list(self.requests)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        receiver = self.server
        with receiver.seen:
            answer = receiver.script.pop(0) if receiver.script else receiver.default
        headers = {k: v for k, v in self.headers.items()}
        if answer == "verify":
            ok = verified(receiver.secret, headers, body, receiver.clock())
            answer = 204 if ok else 401
        with receiver.seen:
            receiver.requests.append(Seen("POST", self.path, headers, body, answer))
            receiver.seen.notify_all()
        if answer == "drop":
            self.close_connection = True
            return
        if answer == "hang":
            receiver.release.wait(60)
            self.close_connection = True
            return
        if answer == "loop":
            self.send_response(302)
            self.send_header("Location", f"{receiver.url}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        assert isinstance(answer, int)
        payload = b"ok" if answer < 300 and answer != 204 else b""
        if answer >= 400:
            payload = b"receiver says no"
        self.send_response(answer)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass
