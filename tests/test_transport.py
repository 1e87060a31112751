"""HttpTransport against a real local HTTP/1.1 server started by each test: kept-alive
connections (counted by the server), remembered host lookups (counted by the lookup cache),
redirects, statuses, retries of dropped and cut-short downloads, the size limit, a full disk,
bodies kept as sent, and ``file://`` URLs."""

from __future__ import annotations

import errno
import gzip
import http.server
import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from couturier.debian.httpclient import HostLookups
from couturier.debian.transport import HttpTransport, RemoteNotFoundError
from couturier.errors import IntegrityError, SourceError

BIG = 100 << 20  # what /endless/ would send if nobody stopped reading


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``body of <path>`` for any path, and on purpose:

    ``/moved/X`` redirects to ``/files/X``; ``/loop`` redirects to itself; ``/missing`` is 404,
    ``/forbidden`` 403; ``/flaky/X`` answers 503 ``failures`` times, then the body;
    ``/cut/X`` sends its headers and half its body, then closes, ``failures`` times;
    ``/endless`` sends 100 MiB without announcing a length; ``/announced`` announces 100 MiB;
    ``/gzip`` sends gzip bytes with ``Content-Encoding: gzip``.
    """

    protocol_version = "HTTP/1.1"  # keep-alive unless told otherwise
    connections: ClassVar[list[int]] = []
    requests: ClassVar[list[str]] = []
    sent: ClassVar[list[int]] = []
    close_after_each = False
    failures = 0

    def setup(self) -> None:
        super().setup()
        type(self).connections.append(1)

    def do_GET(self) -> None:
        cls = type(self)
        cls.requests.append(self.path)
        if self.path.startswith("/moved/"):
            self._redirect("/files/" + self.path.removeprefix("/moved/"))
        elif self.path == "/loop":
            self._redirect("/loop")
        elif self.path == "/missing":
            self.send_error(404)
        elif self.path == "/forbidden":
            self.send_error(403)
        elif self.path.startswith("/flaky/") and cls.failures > 0:
            cls.failures -= 1
            self.send_error(503)
        elif self.path.startswith("/cut/") and cls.failures > 0:
            cls.failures -= 1
            body = self._body()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        elif self.path == "/endless":
            self._endless()
        elif self.path == "/announced":
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            self.close_connection = True
        elif self.path == "/gzip":
            self._send(gzip.compress(b"compressed on purpose\n"), {"Content-Encoding": "gzip"})
        else:
            self._send(self._body())

    def _body(self) -> bytes:
        return f"body of {self.path}\n".encode() * 64

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if type(self).close_after_each:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = bytes(1 << 16)
        sent = 0
        try:
            while sent < BIG:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the client stopped reading and closed: what the test wants
        type(self).sent.append(sent)

    def log_message(self, format: str, *args: Any) -> None:
        pass


Server = tuple[str, type[_Handler]]


@pytest.fixture
def server() -> Iterator[Server]:
    fresh = {"connections": [], "requests": [], "sent": [], "close_after_each": False}
    handler = type("Handler", (_Handler,), {**fresh, "failures": 0})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def body(path: str) -> bytes:
    return f"body of {path}\n".encode() * 64


class Sleeps(list[float]):
    """The backoff waits asked for (recorded, not slept)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_one_connection_serves_many_downloads(server: Server) -> None:
    base, handler = server
    with HttpTransport(retries=0) as transport:
        for n in range(10):
            assert transport.get(f"{base}/files/{n}") == body(f"/files/{n}")
    assert len(handler.connections) == 1


def test_threads_share_a_pool_of_kept_connections(server: Server) -> None:
    base, handler = server
    bodies: list[bytes] = []
    with HttpTransport(retries=0) as transport:

        def work(n: int) -> None:
            for k in range(20):
                bodies.append(transport.get(f"{base}/files/{n}-{k}"))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(bodies) == sorted(body(f"/files/{n}-{k}") for n in range(4) for k in range(20))
    assert 1 <= len(handler.connections) <= 4  # one at most per thread working at once


def test_closing_the_transport_closes_its_connections(server: Server) -> None:
    base, handler = server
    transport = HttpTransport(retries=0)
    transport.get(f"{base}/files/a")
    transport.close()
    transport.get(f"{base}/files/b")  # a closed transport opens a new client
    transport.close()
    assert len(handler.connections) == 2


def test_a_server_closing_connections_costs_no_retry(server: Server) -> None:
    base, handler = server
    handler.close_after_each = True
    sleeps = Sleeps()
    with HttpTransport(retries=0, sleep=sleeps) as transport:  # a closed link is no failure
        for n in range(3):
            assert transport.get(f"{base}/files/{n}") == body(f"/files/{n}")
    assert len(handler.connections) == 3
    assert sleeps == []


def test_an_idle_connection_the_server_closed_is_replaced_at_no_cost(server: Server) -> None:
    base, handler = server
    handler.timeout = 0.2  # the server closes a connection idle for 0.2 s, saying nothing
    sleeps = Sleeps()
    with HttpTransport(retries=0, sleep=sleeps) as transport:
        assert transport.get(f"{base}/files/1") == body("/files/1")
        time.sleep(0.6)
        assert transport.get(f"{base}/files/2") == body("/files/2")
    assert len(handler.connections) == 2
    assert sleeps == []


def test_host_lookups_are_remembered_across_connections(server: Server) -> None:
    base, handler = server
    handler.close_after_each = True  # every download needs a new connection
    asked: list[str] = []

    def resolve(host: str, port: int, **options: Any) -> list[Any]:
        asked.append(host)
        return socket.getaddrinfo("127.0.0.1", port, **options)

    clock = [0.0]
    lookups = HostLookups(seconds=300, resolve=resolve, clock=lambda: clock[0])
    url = base.replace("127.0.0.1", "mirror.invalid")  # resolvable only through the stand-in
    with HttpTransport(retries=0, lookups=lookups) as transport:
        for n in range(5):
            assert transport.get(f"{url}/files/{n}") == body(f"/files/{n}")
        assert asked == ["mirror.invalid"]
        clock[0] += 301  # remembered for a while, not for ever
        transport.get(f"{url}/files/again")
    assert asked == ["mirror.invalid"] * 2
    assert len(handler.connections) == 6


def test_threads_wait_for_one_lookup_of_a_host(server: Server) -> None:
    base, _ = server
    asked: list[str] = []

    def slow_resolve(host: str, port: int, **options: Any) -> list[Any]:
        asked.append(host)
        time.sleep(0.2)  # every thread asks while the first lookup is on its way
        return socket.getaddrinfo("127.0.0.1", port, **options)

    url = base.replace("127.0.0.1", "mirror.invalid")
    with HttpTransport(retries=0, lookups=HostLookups(resolve=slow_resolve)) as transport:
        threads = [
            threading.Thread(target=transport.get, args=(f"{url}/files/{n}",)) for n in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert asked == ["mirror.invalid"]


def test_a_failed_lookup_is_retried_and_not_remembered(server: Server) -> None:
    base, _ = server
    answers: list[Exception | None] = [socket.gaierror(-3, "Temporary failure"), None]

    def flaky_resolve(host: str, port: int, **options: Any) -> list[Any]:
        answer = answers.pop(0)
        if answer is not None:
            raise answer
        return socket.getaddrinfo("127.0.0.1", port, **options)

    sleeps = Sleeps()
    url = base.replace("127.0.0.1", "mirror.invalid")
    lookups = HostLookups(resolve=flaky_resolve)
    with HttpTransport(retries=1, backoff=0.5, sleep=sleeps, lookups=lookups) as transport:
        assert transport.get(f"{url}/files/x") == body("/files/x")
    assert sleeps == [0.5]
    assert answers == []


def test_a_proxy_in_the_environment_is_used(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, handler = server
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", base)  # the test server answers as the proxy
    asked: list[str] = []

    def resolve(host: str, port: int, **options: Any) -> list[Any]:
        asked.append(host)
        return socket.getaddrinfo(host, port, **options)

    with HttpTransport(retries=0, lookups=HostLookups(resolve=resolve)) as transport:
        data = transport.get("http://mirror.invalid/debian/dists/x/InRelease")
    assert data == body("http://mirror.invalid/debian/dists/x/InRelease")  # the absolute form
    assert handler.requests == ["http://mirror.invalid/debian/dists/x/InRelease"]
    assert asked == []  # the proxy looks hosts up, not the transport


def test_redirects_are_followed_and_statuses_mean_what_they_say(server: Server) -> None:
    base, _ = server
    with HttpTransport(retries=0) as transport:
        assert transport.get(f"{base}/moved/pool/a.deb") == body("/files/pool/a.deb")
        with pytest.raises(RemoteNotFoundError, match=r"/missing does not exist on the source"):
            transport.get(f"{base}/missing")
        with pytest.raises(SourceError, match="HTTP 403") as forbidden:
            transport.get(f"{base}/forbidden")
        assert not isinstance(forbidden.value, RemoteNotFoundError)
        with pytest.raises(SourceError, match="more than 5 redirects"):
            transport.get(f"{base}/loop")


def test_server_errors_are_retried_with_backoff(server: Server) -> None:
    base, handler = server
    handler.failures = 2
    sleeps = Sleeps()
    with HttpTransport(retries=2, backoff=0.25, sleep=sleeps) as transport:
        assert transport.get(f"{base}/flaky/a") == body("/flaky/a")
    assert sleeps == [0.25, 0.5]
    handler.failures = 5
    with (
        HttpTransport(retries=1, backoff=0.25, sleep=sleeps) as transport,
        pytest.raises(SourceError, match=r"/flaky/b: HTTP 503 .*after 2 attempts"),
    ):
        transport.get(f"{base}/flaky/b")


def test_a_download_cut_short_is_fetched_again_from_the_start(
    server: Server, tmp_path: Path
) -> None:
    base, handler = server
    handler.failures = 1
    sleeps = Sleeps()
    with (
        HttpTransport(retries=1, backoff=0.1, sleep=sleeps) as transport,
        (tmp_path / "a.deb").open("w+b") as dest,
    ):
        assert transport.get_to(f"{base}/cut/a.deb", dest) == len(body("/cut/a.deb"))
    assert (tmp_path / "a.deb").read_bytes() == body("/cut/a.deb")  # no half from attempt 1
    assert sleeps == [0.1]
    handler.failures = 1
    with (
        HttpTransport(retries=0) as transport,
        pytest.raises(SourceError, match=r"/cut/b\.deb: .*after 1 attempts"),
    ):
        transport.get(f"{base}/cut/b.deb")


def test_an_unreachable_host_is_retried_then_named() -> None:
    sleeps = Sleeps()
    with (
        HttpTransport(timeout=2, retries=2, backoff=0.1, sleep=sleeps) as transport,
        pytest.raises(SourceError, match=r"http://127\.0\.0\.1:9/x.*after 3 attempts") as caught,
    ):
        transport.get("http://127.0.0.1:9/x")  # the discard port: nothing listens
    assert sleeps == [0.1, 0.2]
    assert "mirror is reachable" in caught.value.hint


def test_a_body_over_the_limit_is_refused_without_reading_it(server: Server) -> None:
    base, handler = server
    with HttpTransport(retries=3) as transport:
        with pytest.raises(
            IntegrityError, match=r"announces 104,857,600 bytes, more than the 1,000"
        ):
            transport.get(f"{base}/announced", limit=1000)
        with pytest.raises(IntegrityError, match=r"sends more than the 1,000,000 bytes"):
            transport.get(f"{base}/endless", limit=1_000_000)
        assert transport.get(f"{base}/files/fits", limit=len(body("/files/fits"))) == body(
            "/files/fits"
        )
    for _ in range(50):  # the server thread notices the closed connection
        if handler.sent:
            break
        time.sleep(0.1)
    assert handler.sent and handler.sent[0] < 32 << 20  # it could not push 100 MiB
    assert handler.requests.count("/endless") == 1  # refused, not retried


def test_a_full_disk_while_streaming_is_the_os_error_not_retried(server: Server) -> None:
    base, _ = server

    class FullDisk(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    sleeps = Sleeps()
    with (
        HttpTransport(retries=3, sleep=sleeps) as transport,
        pytest.raises(OSError, match="No space left") as caught,
    ):
        transport.get_to(f"{base}/files/a.deb", FullDisk())
    assert not isinstance(caught.value, SourceError)
    assert caught.value.errno == errno.ENOSPC
    assert sleeps == []


def test_bodies_are_kept_as_sent(server: Server) -> None:
    base, _ = server
    with HttpTransport(retries=0) as transport:
        data = transport.get(f"{base}/gzip")
    assert gzip.decompress(data) == b"compressed on purpose\n"  # not decoded on the way


def test_file_urls(tmp_path: Path) -> None:
    (tmp_path / "Packages").write_bytes(b"Package: a\n" * 100)
    url = (tmp_path / "Packages").as_uri()
    with HttpTransport() as transport:
        assert transport.get(url) == b"Package: a\n" * 100
        with io.BytesIO() as dest:
            assert transport.get_to(url, dest, limit=1100) == 1100
            assert dest.getvalue() == b"Package: a\n" * 100
        with pytest.raises(IntegrityError, match="announces 1,100 bytes, more than the 1,099"):
            transport.get(url, limit=1099)
        with pytest.raises(RemoteNotFoundError):
            transport.get((tmp_path / "nothing").as_uri())
        with pytest.raises(SourceError, match="unsupported URL scheme 'ftp'"):
            transport.get("ftp://mirror/x")
