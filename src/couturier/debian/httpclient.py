"""The ``httpx`` client behind :class:`~couturier.debian.transport.HttpTransport`.

One :class:`httpx.Client` per transport: thread-safe, pooled keep-alive connections (a build's
downloads share a handful of connections per host), connect and read timeouts, the system's
trust store for ``https://``, and proxies from the environment (``http_proxy``, ``no_proxy``...).

Without a proxy in the environment, connections look their host up through :class:`HostLookups`:
each host is looked up once and remembered for a few minutes, as apt does, because this machine's
resolver (and many others) drops lookups that come in bursts; httpx's own network backend looks
the host up again for every new connection. With a proxy, httpx's own transports are used and
the proxy does the lookups.

Imported only when a transport makes its first HTTP request: ``httpx`` costs a few hundred
milliseconds of start-up that commands working from cached indexes do not need.
"""

from __future__ import annotations

import functools
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpcore
import httpx

__all__ = ["HostLookups", "open_client"]

Address = tuple[Any, ...]  # a getaddrinfo row: family, type, proto, canonname, sockaddr
Resolve = Callable[..., list[Address]]


class HostLookups:
    """Remembered TCP host lookups: ``getaddrinfo`` results per ``(host, port)``, kept for
    ``seconds`` (a failed lookup is not kept).

    Thread-safe; threads that need one host at once wait for one lookup instead of sending a
    burst of them. ``resolve`` (``socket.getaddrinfo``-shaped) and ``clock`` are injectable for
    tests. Cost: one lookup per host and ``seconds``, then a dictionary read.
    """

    def __init__(
        self,
        seconds: float = 300.0,
        resolve: Resolve = socket.getaddrinfo,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._resolve = resolve
        self._clock = clock
        self._found: dict[tuple[str, int], tuple[float, list[Address]]] = {}
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._lock = threading.Lock()

    def addresses(self, host: str, port: int) -> list[Address]:
        """The addresses of ``host`` for a TCP connection to ``port``, in the resolver's order.

        Raises :class:`OSError` (``socket.gaierror``) when the lookup fails.
        """
        key = (host, port)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            found = self._found.get(key)
            if found is not None and self._clock() - found[0] < self.seconds:
                return found[1]
            addresses = self._resolve(host, port, type=socket.SOCK_STREAM)
            self._found[key] = (self._clock(), addresses)
            return addresses


# Shared by every transport of the process unless one is given: a command that refreshes
# indexes and then downloads packages looks the mirror up once.
LOOKUPS = HostLookups()


class _RememberingBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, handed an address from :class:`HostLookups` instead of a
    host name (TLS still checks the certificate against the host name: httpcore passes it to
    ``start_tls`` separately)."""

    def __init__(self, lookups: HostLookups) -> None:
        self._lookups = lookups
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._lookups.addresses(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot look up {host}: {exc}") from exc
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                return self._sockets.connect_tcp(
                    address[4][0], port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc  # the next address (IPv4 after IPv6) may answer
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return self._sockets.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)


# httpcore's exceptions and the httpx ones callers catch (httpx maps them the same way, in a
# private helper).
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
)


def _as_httpx(exc: Exception) -> httpx.TransportError | None:
    for core, mapped in _ERRORS:
        if isinstance(exc, core):
            return mapped(str(exc))
    return None


class _Body(httpx.SyncByteStream):
    """A response body read from httpcore, its errors raised as httpx's."""

    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except Exception as exc:
            mapped = _as_httpx(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _PooledTransport(httpx.BaseTransport):
    """An httpx transport on an httpcore connection pool with :class:`_RememberingBackend`
    (``httpx.HTTPTransport`` does not take a network backend)."""

    def __init__(self, pool: httpcore.ConnectionPool) -> None:
        self._pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = self._pool.handle_request(core)
        except Exception as exc:
            mapped = _as_httpx(exc)
            if mapped is None:
                raise
            raise mapped from exc
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def open_client(
    *, timeout: float, user_agent: str, lookups: HostLookups | None = None
) -> httpx.Client:
    """A new client (the caller closes it): keep-alive pool, ``timeout`` seconds to connect
    and per read, redirects not followed (the transport bounds what it reads of them), bodies
    asked for and kept as sent (``Accept-Encoding: identity``: a ``.gz`` stays compressed and
    its size is the one the signed index gives). Cost: loading the system's CA certificates
    the first time (about 20 ms), a few objects after that.
    """
    context = _system_trust()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=16, keepalive_expiry=60)
    transport: httpx.BaseTransport | None = None
    if not _environment_proxies():
        pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_RememberingBackend(lookups or LOOKUPS),
        )
        transport = _PooledTransport(pool)
    # With a proxy in the environment httpx's own transports are used (httpx ignores the
    # environment's proxies, and ``no_proxy``, when it is given a transport): the proxy looks
    # the hosts up, and a host it is bypassed for is looked up per connection.
    return httpx.Client(
        transport=transport,
        verify=context,  # for the proxied connections httpx makes itself
        limits=limits,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
        trust_env=True,
    )


def _environment_proxies() -> bool:
    """Whether the environment names a proxy for HTTP(S) (``http_proxy``, ``https_proxy``,
    ``all_proxy``, in either case), as httpx reads it."""
    found = urllib.request.getproxies()
    return any(found.get(scheme) for scheme in ("http", "https", "all"))


@functools.cache
def _system_trust() -> ssl.SSLContext:
    """The system's trust store, as apt and urllib use (not certifi's): made once, shared by
    every client (a context is safe to share between threads and connections)."""
    return ssl.create_default_context()
