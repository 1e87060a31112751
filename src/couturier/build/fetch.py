"""Download the ``.deb`` files of a resolution: parallel, verified, cached by content.

:func:`fetch` takes resolved packages and a function giving each one's download URL (usually
:meth:`couturier.debian.index.IndexCatalog.url_of`). Every file is checked against the ``Size``
and ``SHA256`` the verified index gives, and kept in a content-addressed cache::

    <cache_dir>/debs/<sha256[:2]>/<sha256>

A file is written to a temporary name and renamed into place, so the cache only ever holds whole
files. Since the name is the hash of what was verified before the rename, a cached file whose size
matches is trusted without rehashing; one of the wrong size is fetched again.

Transient network failures (refused or dropped connections, timeouts, HTTP 5xx) are retried with
backoff by the transport, whose waits are injectable (``UrllibTransport(backoff=..., sleep=...)``);
a download that arrives whole but fails verification is fetched once more before
:class:`IntegrityError` is raised, and is never written to the cache.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

from couturier.core.catalog import Package
from couturier.debian.snapshots import atomic_write
from couturier.debian.transport import Transport, UrllibTransport
from couturier.errors import IntegrityError, SourceError

__all__ = ["Progress", "cache_path", "fetch"]

# (files done, files in total, bytes downloaded so far: cache hits count nothing)
Progress = Callable[[int, int, int], None]

_INTEGRITY_ATTEMPTS = 2


def cache_path(cache_dir: Path, sha256: str) -> Path:
    """Where the ``.deb`` with ``sha256`` lives in the cache under ``cache_dir``."""
    return cache_dir / "debs" / sha256[:2] / sha256


def fetch(
    packages: Iterable[Package],
    url_of: Callable[[Package], str],
    cache_dir: Path,
    *,
    transport: Transport | None = None,
    progress: Progress | None = None,
    workers: int = 8,
) -> dict[str, Path]:
    """Make sure every package's ``.deb`` is in the cache; return package name → cached path.

    Up to ``workers`` downloads run at once. Cost: one ``stat`` per cached package, one download
    and one sha256 pass per missing one.

    Raises:
        IntegrityError: a package without SHA256/Size in its index, or a download whose size or
            sha256 differs from the index twice in a row (names the package and the URL).
        SourceError: a download failed after the transport's retries (names package and URL).
        OSError: writing the cache failed (e.g. ``ENOSPC``); the cache still holds only whole,
            verified files, so the caller can name the cache directory and go on.
    """
    todo = list(packages)
    transport = transport or UrllibTransport()
    total = len(todo)
    lock = threading.Lock()
    counters = [0, 0]  # done, bytes

    def one(package: Package) -> tuple[str, Path]:
        path, downloaded = _ensure(package, url_of, cache_dir, transport)
        with lock:
            counters[0] += 1
            counters[1] += downloaded
            done, size = counters
        if progress is not None:
            progress(done, total, size)
        return package.name, path

    if not todo:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, total))) as pool:
        futures = [pool.submit(one, package) for package in todo]
        finished, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            error = future.exception() if future in finished else None
            if error is not None:
                raise error
    return dict(future.result() for future in futures)


def _ensure(
    package: Package, url_of: Callable[[Package], str], cache_dir: Path, transport: Transport
) -> tuple[Path, int]:
    """Return the cached path of ``package`` and how many bytes had to be downloaded."""
    sha256, size = package.sha256.lower(), package.size
    if len(sha256) != 64 or "Size" not in package.fields:
        raise IntegrityError(
            f"{package.name} {package.version} has no SHA256 or Size in its index",
            "the package source must publish SHA256 sums; refresh the catalog",
        )
    path = cache_path(cache_dir, sha256)
    try:
        if path.stat().st_size == size:
            return path, 0
    except FileNotFoundError:
        pass
    url = url_of(package)
    for attempt in range(1, _INTEGRITY_ATTEMPTS + 1):
        try:
            data = transport.get(url)
        except SourceError as exc:
            reason = exc.message.removeprefix(f"cannot fetch {url}: ")  # the URL is said once
            raise SourceError(
                f"cannot download {package.name} {package.version} from {url}: {reason}",
                exc.hint,
            ) from exc
        problem = _verify(data, size, sha256)
        if problem is None:
            atomic_write(path, data)
            return path, len(data)
        if attempt == _INTEGRITY_ATTEMPTS:
            raise IntegrityError(
                f"{package.name} {package.version} from {url} {problem}",
                "the mirror serves a file that differs from its signed index; refresh the "
                "catalog or use another mirror",
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _verify(data: bytes, size: int, sha256: str) -> str | None:
    if len(data) != size:
        return f"has {len(data)} bytes, the index says {size}"
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        return f"has sha256 {actual}, the index says {sha256}"
    return None
