"""UrllibTransport against a real local HTTP/1.1 server: kept-alive connections, redirects,
statuses, and a server that closes idle connections."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from couturier.debian.transport import RemoteNotFoundError, UrllibTransport
from couturier.errors import SourceError


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless told otherwise
    connections: ClassVar[list[int]] = []
    close_after_each = False

    def setup(self) -> None:
        super().setup()
        type(self).connections.append(1)

    def do_GET(self) -> None:
        if self.path.startswith("/moved/"):
            self.send_response(302)
            self.send_header("Location", "/files/" + self.path.removeprefix("/moved/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/missing":
            self.send_error(404)
            return
        if self.path == "/forbidden":
            self.send_error(403)
            return
        body = f"body of {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if type(self).close_after_each:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"connections": [], "close_after_each": False})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_one_connection_serves_many_downloads(server: tuple[str, type[_Handler]]) -> None:
    base, handler = server
    transport = UrllibTransport(retries=0)
    for n in range(10):
        assert transport.get(f"{base}/files/{n}") == f"body of /files/{n}\n".encode()
    assert len(handler.connections) == 1


def test_each_thread_keeps_its_own_connection(server: tuple[str, type[_Handler]]) -> None:
    base, handler = server
    transport = UrllibTransport(retries=0)
    bodies: list[bytes] = []

    def work(n: int) -> None:
        for k in range(5):
            bodies.append(transport.get(f"{base}/files/{n}-{k}"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(bodies) == 15
    assert len(handler.connections) == 3


def test_a_server_closing_connections_costs_no_retry(server: tuple[str, type[_Handler]]) -> None:
    base, handler = server
    handler.close_after_each = True
    transport = UrllibTransport(retries=0)  # no retry allowed: a closed idle link is not one
    for n in range(3):
        assert transport.get(f"{base}/files/{n}") == f"body of /files/{n}\n".encode()
    assert len(handler.connections) == 3


def test_redirects_are_followed_and_statuses_mean_what_they_say(
    server: tuple[str, type[_Handler]],
) -> None:
    base, _ = server
    transport = UrllibTransport(retries=0)
    assert transport.get(f"{base}/moved/pool/a.deb") == b"body of /files/pool/a.deb\n"
    with pytest.raises(RemoteNotFoundError):
        transport.get(f"{base}/missing")
    with pytest.raises(SourceError, match="HTTP 403"):
        transport.get(f"{base}/forbidden")


def test_an_unreachable_host_is_retried_then_named() -> None:
    waits: list[float] = []
    transport = UrllibTransport(timeout=2, retries=2, backoff=0.1, sleep=waits.append)
    with pytest.raises(SourceError, match=r"http://127\.0\.0\.1:9/x.*after 3 attempts"):
        transport.get("http://127.0.0.1:9/x")  # the discard port: nothing listens
    assert waits == [0.1, 0.2]
