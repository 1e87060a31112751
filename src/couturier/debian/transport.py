"""How bytes are fetched from a package source: a one-method :class:`Transport` protocol.

Network code takes a transport instead of calling ``urllib`` itself (as httpx does), so tests inject
one that counts, fails or serves from memory, and deployments can swap in a proxy-aware one.

:class:`UrllibTransport` serves ``http://``, ``https://`` and ``file://`` URLs with a timeout and
retries transient failures (connection errors, timeouts, HTTP 5xx and 429) with exponential
backoff. A missing file (HTTP 404/410, or no such file) raises :class:`RemoteNotFoundError` at once,
so callers can fall back from ``Packages.xz`` to ``Packages.gz`` to ``Packages``.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from couturier.errors import SourceError

__all__ = ["RemoteNotFoundError", "Transport", "UrllibTransport"]

_NOT_FOUND = frozenset({404, 410})
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})


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
