"""How bytes are fetched from a package source: a small :class:`Transport` protocol.

Network code takes a transport instead of calling ``urllib`` itself (as httpx does), so tests inject
one that counts, fails or serves from memory, and deployments can swap in a proxy-aware one.

:class:`UrllibTransport` serves ``http://``, ``https://`` and ``file://`` URLs with a timeout and
retries transient failures (connection errors, timeouts, HTTP 5xx and 429) with exponential
backoff. Like apt, it keeps one HTTP/1.1 connection per host (per thread) open across downloads
and looks each host name up once per process for a few minutes: a build downloads dozens of
packages, and a new connection (and name lookup) per package is slower than the downloads
themselves where lookups are slow or dropped in bursts. With a proxy configured in the
environment (``http_proxy``...), requests go through ``urllib`` and its proxy handling instead.

A missing file (HTTP 404/410, or no such file) raises :class:`RemoteNotFoundError` at once, so
callers can fall back from ``Packages.xz`` to ``Packages.gz`` to ``Packages``.

Every read is bounded: callers pass the size the signed index gives (or a fixed cap), and a body
over it is refused with :class:`IntegrityError` as soon as its announced length or its bytes pass
it. :meth:`Transport.get_to` streams a body into a file, for ``.deb`` files of any size.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import unquote, urljoin, urlsplit

from couturier.errors import IntegrityError, SourceError

__all__ = ["RemoteNotFoundError", "Transport", "UrllibTransport"]

_NOT_FOUND = frozenset({404, 410})
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_DNS_SECONDS = 300.0
_CHUNK = 1 << 20
_ERROR_BODY = 1 << 16


class RemoteNotFoundError(SourceError):
    """The source answered, but the requested file does not exist (HTTP 404/410, no such file)."""

    def __init__(self, url: str, hint: str = "") -> None:
        super().__init__(
            f"{url} does not exist on the source",
            hint or "check the mirror URL and suite name in the settings",
        )
        self.url = url


class Transport(Protocol):
    """Fetches whole files. Implementations raise :class:`SourceError` naming the URL.

    ``limit`` caps what is accepted: a body longer than ``limit`` bytes (announced or sent) is
    refused with :class:`IntegrityError` as soon as it shows, without reading the rest.
    """

    def get(self, url: str, limit: int | None = None) -> bytes:
        """Return the body at ``url`` (held in memory: for small files).

        Raises :class:`RemoteNotFoundError` when the file does not exist, :class:`IntegrityError`
        for a body over ``limit`` and :class:`SourceError` for every other failure (unreachable
        host, HTTP error, read error).
        """
        ...

    def get_to(self, url: str, dest: BinaryIO, limit: int | None = None) -> int:
        """Write the body at ``url`` into ``dest`` (seekable; rewound and truncated before each
        attempt) and return its size; memory stays bounded whatever the size. Raises as
        :meth:`get`."""
        ...


class UrllibTransport:
    """A :class:`Transport` on the standard library: ``http(s)://`` and ``file://`` URLs.

    ``retries`` extra attempts are made for transient failures, waiting ``backoff``,
    ``2 * backoff``, ``4 * backoff``... seconds in between (``sleep`` is injectable for tests).
    Bodies are read in chunks of 1 MiB, so a body over ``limit`` costs at most ``limit`` plus
    1 MiB of reading before it is refused.
    """

    def __init__(
        self,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        user_agent: str = "couturier",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.user_agent = user_agent
        self._sleep = sleep
        self._local = threading.local()

    def get(self, url: str, limit: int | None = None) -> bytes:
        sink = _MemorySink()
        self._fetch(url, sink, limit)
        return b"".join(sink.chunks)

    def get_to(self, url: str, dest: BinaryIO, limit: int | None = None) -> int:
        sink = _FileSink(dest)
        self._fetch(url, sink, limit)
        return sink.size

    def _fetch(self, url: str, sink: _Sink, limit: int | None) -> None:
        scheme = urlsplit(url).scheme
        try:
            if scheme == "file":
                _read_file(url, sink, limit)
                return
            if scheme not in ("http", "https"):
                raise SourceError(
                    f"cannot fetch {url}: unsupported URL scheme {scheme!r}",
                    "use an http://, https:// or file:// mirror URL",
                )
            self._fetch_http_retried(url, sink, limit)
        except _LocalWriteError as exc:
            raise exc.error from None  # e.g. ENOSPC: the caller's disk, not the source
        except _TooLargeError as exc:
            with contextlib.suppress(OSError):
                sink.reset()  # the error keeps this frame alive: let go of what was read
            sends = (
                f"announces {exc.announced:,} bytes, more"
                if exc.announced is not None
                else "sends more"
            )
            raise IntegrityError(
                f"cannot fetch {url}: the source {sends} than the {limit or 0:,} bytes expected",
                "the mirror serves something other than its signed index lists; use another "
                "mirror or check any proxy in between",
            ) from None

    def _fetch_http_retried(self, url: str, sink: _Sink, limit: int | None) -> None:
        attempt = 0
        while True:
            try:
                self._get_http(url, sink, limit)
                return
            except _TransientError as exc:
                if attempt >= self.retries:
                    raise SourceError(
                        f"cannot fetch {url}: {exc} (after {attempt + 1} attempts)",
                        "check that the mirror is reachable (network, proxy, URL in the settings)",
                    ) from exc
                self._sleep(self.backoff * (2**attempt))
                attempt += 1

    def _get_http(self, url: str, sink: _Sink, limit: int | None) -> None:
        for _ in range(_MAX_REDIRECTS + 1):
            if urlsplit(url).scheme in urllib.request.getproxies():
                self._get_urllib(url, sink, limit)
                return
            status, reason, location = self._exchange(url, sink, limit)
            if status in _REDIRECTS and location:
                url = urljoin(url, location)
                continue
            if status in _NOT_FOUND:
                raise RemoteNotFoundError(url)
            if status in _TRANSIENT:
                raise _TransientError(f"HTTP {status} {reason}")
            if status != 200:
                raise SourceError(
                    f"cannot fetch {url}: HTTP {status} {reason}",
                    "check the mirror URL and any proxy in between",
                )
            return
        raise SourceError(
            f"cannot fetch {url}: more than {_MAX_REDIRECTS} redirects",
            "check the mirror URL in the settings",
        )

    def _connections(self) -> dict[tuple[str, str, int], http.client.HTTPConnection]:
        connections: dict[tuple[str, str, int], http.client.HTTPConnection] | None = getattr(
            self._local, "connections", None
        )
        if connections is None:
            connections = self._local.connections = {}
        return connections

    def _exchange(self, url: str, sink: _Sink, limit: int | None) -> tuple[int, str, str]:
        """One GET on this thread's kept-alive connection to the URL's host: status, reason and
        Location; a 200 body goes to ``sink`` (length-checked, at most ``limit`` bytes). A kept
        connection the server has closed meanwhile is replaced once at no cost; other failures
        raise :class:`_TransientError`, a body over ``limit`` :class:`_TooLargeError`."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (parts.scheme, host, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connections = self._connections()
        for reused in (key in connections, False):
            connection = connections.pop(key, None) or _connect(parts.scheme, host, port, self)
            try:
                connection.request("GET", target, headers={"User-Agent": self.user_agent})
                response = connection.getresponse()
                expected = response.getheader("Content-Length")
                if response.status == 200:
                    received = _copy_body(response, sink, expected, limit)
                else:
                    received = len(_small_body(response))
            except (_TooLargeError, _LocalWriteError):
                connection.close()  # the rest of the body is never read
                raise
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if reused and isinstance(
                    exc, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError
                ):
                    continue  # the server closed the idle connection: not a failure
                # A connection closed mid-body raises http.client.IncompleteRead, an
                # HTTPException and not an OSError; like a reset, it is worth another attempt.
                raise _TransientError(str(exc) or type(exc).__name__) from exc
            if response.will_close or not response.isclosed():
                connection.close()  # a body left unread (an error page too long to drain)
            else:
                connections[key] = connection
            if (
                response.status == 200
                and expected is not None
                and expected.isdigit()
                and int(expected) != received
            ):
                raise _TransientError(f"short read: {received} of {expected} bytes")
            return response.status, response.reason, response.getheader("Location") or ""
        raise AssertionError("unreachable: the second round uses a new connection")

    def _get_urllib(self, url: str, sink: _Sink, limit: int | None) -> None:
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                expected = response.headers.get("Content-Length")
                received = _copy_body(response, sink, expected, limit)
        except urllib.error.HTTPError as exc:
            if exc.code in _NOT_FOUND:
                raise RemoteNotFoundError(url) from exc
            if exc.code in _TRANSIENT:
                raise _TransientError(f"HTTP {exc.code} {exc.reason}") from exc
            raise SourceError(
                f"cannot fetch {url}: HTTP {exc.code} {exc.reason}",
                "check the mirror URL and any proxy in between",
            ) from exc
        except urllib.error.URLError as exc:
            raise _TransientError(str(exc.reason)) from exc
        except (TimeoutError, ConnectionError) as exc:
            raise _TransientError(str(exc) or type(exc).__name__) from exc
        except (OSError, http.client.HTTPException) as exc:
            # A connection closed mid-body raises http.client.IncompleteRead, an HTTPException
            # and not an OSError; like a reset connection, it is worth another attempt.
            raise _TransientError(str(exc) or type(exc).__name__) from exc
        if expected is not None and expected.isdigit() and int(expected) != received:
            raise _TransientError(f"short read: {received} of {expected} bytes")


class _Sink(Protocol):
    def reset(self) -> None: ...

    def write(self, chunk: bytes) -> None: ...


class _MemorySink:
    """Chunks kept as read (a growing bytearray would need twice the memory while it grows)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def reset(self) -> None:
        self.chunks.clear()

    def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)


class _FileSink:
    def __init__(self, dest: BinaryIO) -> None:
        self.dest = dest
        self.size = 0
        self._start = dest.tell()

    def reset(self) -> None:
        self.dest.seek(self._start)
        self.dest.truncate()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.dest.write(chunk)
        self.size += len(chunk)


class _LocalWriteError(Exception):
    """Writing a body into its sink failed (a full disk): not a failure of the source, never
    retried; re-raised as the original :class:`OSError`."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _TooLargeError(Exception):
    """A body over the limit; never leaves this module (it becomes an IntegrityError)."""

    def __init__(self, announced: int | None = None) -> None:
        super().__init__(announced)
        self.announced = announced


class _Readable(Protocol):
    def read(self, amount: int) -> bytes: ...


def _copy_body(response: _Readable, sink: _Sink, expected: str | None, limit: int | None) -> int:
    """Copy a response body into ``sink`` in chunks; raise :class:`_TooLargeError` as soon as
    the announced length or the bytes received pass ``limit``. Returns the bytes received."""
    announced = int(expected) if expected is not None and expected.isdigit() else None
    if limit is not None and announced is not None and announced > limit:
        raise _TooLargeError(announced)
    _write(sink.reset)
    received = 0
    while True:
        want = _CHUNK if limit is None else min(_CHUNK, limit - received + 1)
        chunk = response.read(want)
        if not chunk:
            return received
        received += len(chunk)
        if limit is not None and received > limit:
            raise _TooLargeError()
        _write(sink.write, chunk)


def _write(action: Callable[..., None], *args: bytes) -> None:
    try:
        action(*args)
    except OSError as error:
        raise _LocalWriteError(error) from error


def _small_body(response: _Readable) -> bytes:
    """The body of a redirect or an error: at most 64 KiB read (the connection is then closed
    by the caller when more was left)."""
    return response.read(_ERROR_BODY)


class _TransientError(Exception):
    """A failure worth retrying; never leaves this module."""


_dns_lock = threading.Lock()
_dns: dict[tuple[str, int], tuple[float, list[Any]]] = {}


def _addresses(host: str, port: int) -> list[Any]:
    """``getaddrinfo`` for TCP, remembered for :data:`_DNS_SECONDS` (a failed lookup is not)."""
    now = time.monotonic()
    with _dns_lock:
        cached = _dns.get((host, port))
        if cached is not None and now - cached[0] < _DNS_SECONDS:
            return cached[1]
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    with _dns_lock:
        _dns[(host, port)] = (now, found)
    return found


def _create_connection(
    address: tuple[str, int], timeout: Any = None, source_address: Any = None
) -> socket.socket:
    """``socket.create_connection`` over the remembered addresses of the host."""
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in _addresses(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"no address for {host}")


def _connect(
    scheme: str, host: str, port: int, transport: UrllibTransport
) -> http.client.HTTPConnection:
    connection: http.client.HTTPConnection
    if scheme == "https":
        context = ssl.create_default_context()
        connection = http.client.HTTPSConnection(
            host, port, timeout=transport.timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=transport.timeout)
    # http.client calls this attribute to open its socket; ours looks the host up once.
    connection._create_connection = _create_connection  # type: ignore[attr-defined]
    return connection


def _read_file(url: str, sink: _Sink, limit: int | None) -> None:
    path = Path(unquote(urlsplit(url).path))
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            _copy_body(handle, sink, str(size), limit)
    except FileNotFoundError as exc:
        raise RemoteNotFoundError(url) from exc
    except OSError as exc:
        raise SourceError(
            f"cannot read {url}: {exc.strerror}", "check the mirror path in the settings"
        ) from exc
