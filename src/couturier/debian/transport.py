"""How bytes are fetched from a package source: a small :class:`Transport` protocol.

Network code takes a transport instead of making requests itself (as httpx does), so tests inject
one that counts, fails or serves from memory, and deployments can swap in another one.

:class:`HttpTransport` serves ``http://`` and ``https://`` URLs through one shared ``httpx``
client and ``file://`` URLs from the file system, and retries transient failures (connection
errors, timeouts, bodies cut short, HTTP 5xx and 429) with exponential backoff. Like apt, it
keeps connections to a host open across downloads (a pool shared by the threads of a build) and
looks each host name up once per process for a few minutes: a build downloads dozens of
packages, and a new connection (and name lookup) per package is slower than the downloads
themselves where lookups are slow or dropped in bursts. Proxies set in the environment
(``http_proxy``...) are used.

A missing file (HTTP 404/410, or no such file) raises :class:`RemoteNotFoundError` at once, so
callers can fall back from ``Packages.gz`` to ``Packages.xz`` to ``Packages``.

Every read is bounded: callers pass the size the signed index gives (or a fixed cap), and a body
over it is refused with :class:`IntegrityError` as soon as its announced length or its bytes pass
it. :meth:`Transport.get_to` streams a body into a file, for ``.deb`` files of any size.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol
from urllib.parse import unquote, urljoin, urlsplit

from couturier.errors import Code, IntegrityError, SourceError

if TYPE_CHECKING:  # imported when the first HTTP request is made: httpx is slow to import
    import httpx

    from couturier.debian.httpclient import HostLookups

__all__ = ["HttpTransport", "RemoteNotFoundError", "Transport"]

_NOT_FOUND = frozenset({404, 410})
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_CHUNK = 1 << 20
_ERROR_BODY = 1 << 16


class RemoteNotFoundError(SourceError):
    """The source answered, but the requested file does not exist (HTTP 404/410, no such file)."""

    default_code = Code.REMOTE_FILE_MISSING

    def __init__(self, url: str, hint: str = "") -> None:
        super().__init__(
            f"{url} does not exist on the source",
            hint or "check the mirror URL and suite name in the settings",
            fields={"url": url},
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


class HttpTransport:
    """A :class:`Transport` for ``http(s)://`` (through one shared :mod:`httpx` client) and
    ``file://`` URLs.

    The client is made at the first HTTP request (see :mod:`couturier.debian.httpclient`) and
    shared by every thread: pooled keep-alive connections, ``timeout`` seconds to connect and per
    read, host lookups remembered in ``lookups`` (default: the process's). ``retries`` extra
    attempts are made for transient failures (refused, dropped or timed-out connections, bodies
    cut short, HTTP 408, 429 and 5xx), waiting ``backoff``, ``2 * backoff``, ``4 * backoff``...
    seconds in between (``sleep`` is injectable for tests). Up to 5 redirects are followed.
    Bodies are read as they arrive (64 KiB at a time), so a body over ``limit`` costs at most
    ``limit`` plus 64 KiB of reading before it is refused; of a redirect or an error page at
    most 64 KiB is read.

    Close it (:meth:`close`, or use it as a context manager) to close its connections; a closed
    transport opens a new client if used again.
    """

    def __init__(
        self,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        user_agent: str = "couturier",
        sleep: Callable[[float], None] = time.sleep,
        *,
        lookups: HostLookups | None = None,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.user_agent = user_agent
        self._sleep = sleep
        self._lookups = lookups
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client's connections (a no-op when no HTTP request was made)."""
        with self._lock:
            client, self._http = self._http, None
        if client is not None:
            client.close()

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
                    code=Code.SOURCE_URL_INVALID,
                    fields={"url": url, "reason": f"unsupported URL scheme {scheme!r}"},
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
                code=Code.DOWNLOAD_TOO_LARGE,
                fields={
                    "url": url,
                    "reason": f"the source {sends} than the {limit or 0:,} bytes expected",
                    "limit": limit,
                    "announced": exc.announced,
                },
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
                        code=Code.SOURCE_UNREACHABLE,
                        fields={
                            "url": url,
                            "reason": f"{exc} (after {attempt + 1} attempts)",
                            "status": exc.status,
                            "attempts": attempt + 1,
                        },
                    ) from exc
                self._sleep(self.backoff * (2**attempt))
                attempt += 1

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                from couturier.debian.httpclient import open_client

                self._http = open_client(
                    timeout=self.timeout, user_agent=self.user_agent, lookups=self._lookups
                )
            return self._http

    def _get_http(self, url: str, sink: _Sink, limit: int | None) -> None:
        """One attempt: GET ``url`` (following redirects) into ``sink``. Raises
        :class:`_TransientError` for what another attempt may cure."""
        import httpx

        client = self._client()
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                status, reason, location = _exchange(client, url, sink, limit)
            except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
                raise SourceError(
                    f"cannot fetch {url}: {exc}",
                    "check the mirror URL in the settings",
                    code=Code.SOURCE_URL_INVALID,
                    fields={"url": url, "reason": str(exc)},
                ) from exc
            except httpx.TransportError as exc:
                # Refused, reset or timed out, or a body cut short (RemoteProtocolError).
                raise _TransientError(str(exc) or type(exc).__name__) from exc
            if status in _REDIRECTS and location:
                url = urljoin(url, location)
                continue
            if status in _NOT_FOUND:
                raise RemoteNotFoundError(url)
            if status in _TRANSIENT:
                raise _TransientError(f"HTTP {status} {reason}", status)
            if status != 200:
                raise SourceError(
                    f"cannot fetch {url}: HTTP {status} {reason}",
                    "check the mirror URL and any proxy in between",
                    code=Code.SOURCE_HTTP_ERROR,
                    fields={"url": url, "reason": f"HTTP {status} {reason}", "status": status},
                )
            return
        raise SourceError(
            f"cannot fetch {url}: more than {_MAX_REDIRECTS} redirects",
            "check the mirror URL in the settings",
            code=Code.SOURCE_URL_INVALID,
            fields={"url": url, "reason": f"more than {_MAX_REDIRECTS} redirects"},
        )


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


def _exchange(
    client: httpx.Client, url: str, sink: _Sink, limit: int | None
) -> tuple[int, str, str]:
    """One GET through ``client``: status, reason and Location. A 200 body goes to ``sink``
    (at most ``limit`` bytes, as sent: no content decoding); of any other body at most 64 KiB
    is read, so a short error page leaves its connection in the pool and a long one is cut.
    Raises httpx's errors, :class:`_TooLargeError`, :class:`_LocalWriteError`, and
    :class:`_TransientError` for a body shorter than its announced length."""
    with client.stream("GET", url) as response:
        status = response.status_code
        if status == 200:
            announced = _length(response.headers.get("Content-Length"))
            received = _copy_body(response.iter_raw(), sink, announced, limit)
            if announced is not None and received != announced:
                raise _TransientError(f"short read: {received} of {announced} bytes")
        else:
            read = 0
            for chunk in response.iter_raw():
                read += len(chunk)
                if read > _ERROR_BODY:
                    break
        return status, response.reason_phrase, response.headers.get("Location") or ""


def _length(header: str | None) -> int | None:
    return int(header) if header is not None and header.isdigit() else None


def _copy_body(
    chunks: Iterable[bytes], sink: _Sink, announced: int | None, limit: int | None
) -> int:
    """Copy a body into ``sink``; raise :class:`_TooLargeError` as soon as the ``announced``
    length or the bytes received pass ``limit``. Returns the bytes received."""
    if limit is not None and announced is not None and announced > limit:
        raise _TooLargeError(announced)
    _write(sink.reset)
    received = 0
    for chunk in chunks:
        received += len(chunk)
        if limit is not None and received > limit:
            raise _TooLargeError()
        _write(sink.write, chunk)
    return received


def _write(action: Callable[..., None], *args: bytes) -> None:
    try:
        action(*args)
    except OSError as error:
        raise _LocalWriteError(error) from error


class _TransientError(Exception):
    """A failure worth retrying; never leaves this module. ``status``: the HTTP status, if
    the source answered (a 5xx)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


def _read_file(url: str, sink: _Sink, limit: int | None) -> None:
    path = Path(unquote(urlsplit(url).path))
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            want = _CHUNK if limit is None else min(_CHUNK, limit + 1)
            _copy_body(iter(lambda: handle.read(want), b""), sink, size, limit)
    except FileNotFoundError as exc:
        raise RemoteNotFoundError(url) from exc
    except OSError as exc:
        raise SourceError(
            f"cannot read {url}: {exc.strerror}",
            "check the mirror path in the settings",
            code=Code.SOURCE_HTTP_ERROR,
            fields={"url": url, "reason": exc.strerror or str(exc), "status": None},
        ) from exc
