"""How bytes are fetched from a package source: a one-method :class:`Transport` protocol.

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
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urljoin, urlsplit

from couturier.errors import SourceError

__all__ = ["RemoteNotFoundError", "Transport", "UrllibTransport"]

_NOT_FOUND = frozenset({404, 410})
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_DNS_SECONDS = 300.0


class RemoteNotFoundError(SourceError):
    """The source answered, but the requested file does not exist (HTTP 404/410, no such file)."""

    def __init__(self, url: str, hint: str = "") -> None:
        super().__init__(
            f"{url} does not exist on the source",
            hint or "check the mirror URL and suite name in the settings",
        )
        self.url = url


class Transport(Protocol):
    """Fetches whole files. Implementations raise :class:`SourceError` naming the URL."""

    def get(self, url: str) -> bytes:
        """Return the body at ``url``.

        Raises :class:`RemoteNotFoundError` when the file does not exist and :class:`SourceError`
        for every other failure (unreachable host, HTTP error, read error).
        """
        ...


class UrllibTransport:
    """A :class:`Transport` on the standard library: ``http(s)://`` and ``file://`` URLs.

    ``retries`` extra attempts are made for transient failures, waiting ``backoff``,
    ``2 * backoff``, ``4 * backoff``... seconds in between (``sleep`` is injectable for tests).
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

    def get(self, url: str) -> bytes:
        scheme = urlsplit(url).scheme
        if scheme == "file":
            return _read_file(url)
        if scheme not in ("http", "https"):
            raise SourceError(
                f"cannot fetch {url}: unsupported URL scheme {scheme!r}",
                "use an http://, https:// or file:// mirror URL",
            )
        attempt = 0
        while True:
            try:
                return self._get_http(url)
            except _TransientError as exc:
                if attempt >= self.retries:
                    raise SourceError(
                        f"cannot fetch {url}: {exc} (after {attempt + 1} attempts)",
                        "check that the mirror is reachable (network, proxy, URL in the settings)",
                    ) from exc
                self._sleep(self.backoff * (2**attempt))
                attempt += 1

    def _get_http(self, url: str) -> bytes:
        for _ in range(_MAX_REDIRECTS + 1):
            if urlsplit(url).scheme in urllib.request.getproxies():
                return self._get_urllib(url)
            status, reason, body, location = self._exchange(url)
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
            return body
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

    def _exchange(self, url: str) -> tuple[int, str, bytes, str]:
        """One GET on this thread's kept-alive connection to the URL's host: status, reason,
        body (whole, length-checked) and Location. A kept connection the server has closed
        meanwhile is replaced once at no cost; other failures raise :class:`_TransientError`."""
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
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if reused and isinstance(
                    exc, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError
                ):
                    continue  # the server closed the idle connection: not a failure
                # A connection closed mid-body raises http.client.IncompleteRead, an
                # HTTPException and not an OSError; like a reset, it is worth another attempt.
                raise _TransientError(str(exc) or type(exc).__name__) from exc
            expected = response.getheader("Content-Length")
            if response.will_close:
                connection.close()
            else:
                connections[key] = connection
            if expected is not None and expected.isdigit() and int(expected) != len(body):
                raise _TransientError(f"short read: {len(body)} of {expected} bytes")
            return response.status, response.reason, body, response.getheader("Location") or ""
        raise AssertionError("unreachable: the second round uses a new connection")

    def _get_urllib(self, url: str) -> bytes:
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body: bytes = response.read()
                expected = response.headers.get("Content-Length")
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
        if expected is not None and expected.isdigit() and int(expected) != len(body):
            raise _TransientError(f"short read: {len(body)} of {expected} bytes")
        return body


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


def _read_file(url: str) -> bytes:
    path = Path(unquote(urlsplit(url).path))
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise RemoteNotFoundError(url) from exc
    except OSError as exc:
        raise SourceError(
            f"cannot read {url}: {exc.strerror}", "check the mirror path in the settings"
        ) from exc
