"""Download the ``.deb`` files of a resolution: parallel, verified, cached by content.

:func:`fetch` takes resolved packages and a function giving each one's download URL (usually
:meth:`couturier.debian.index.IndexCatalog.url_of`). Every file is checked against the ``Size``
and ``SHA256`` the verified index gives, and kept in a content-addressed cache::

    <cache_dir>/debs/<sha256[:2]>/<sha256>
    <cache_dir>/debs/.partial/<random>      a download in progress (locked by its writer)

A download is streamed into a partial file (never more than the index's ``Size``: a source that
sends more is refused at once), hashed, and renamed into place, so the cache only ever holds
whole, verified files. A cached file is hashed again each time it is used (a build that uses
it reads it whole anyway, so this costs a small fraction of reading it): one that was changed or
truncated on disk is downloaded again (the new file replaces it) and reported through ``warn``.
Partial files no running download holds (a killed build's) are removed at the start of every
:func:`fetch`.

Transient network failures (refused or dropped connections, timeouts, HTTP 5xx) are retried with
backoff by the transport, whose waits are injectable (``HttpTransport(backoff=..., sleep=...)``);
a download that arrives whole but fails verification is fetched once more before
:class:`IntegrityError` is raised, and is never written to the cache.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

from couturier.core.catalog import Package
from couturier.debian.transport import HttpTransport, Transport
from couturier.errors import Code, IntegrityError, SourceError
from couturier.integrity import Partial, file_problem, sha256_file, sweep_partials

__all__ = ["PARTIAL_DIR", "Progress", "Warn", "cache_path", "fetch", "sweep_downloads"]

# (files done, files in total, bytes downloaded so far: cache hits count nothing)
Progress = Callable[[int, int, int], None]
# Receives one line about something repaired on the way (a damaged cached file).
Warn = Callable[[str], None]

PARTIAL_DIR = ".partial"

_INTEGRITY_ATTEMPTS = 2


def cache_path(cache_dir: Path, sha256: str) -> Path:
    """Where the ``.deb`` with ``sha256`` lives in the cache under ``cache_dir``."""
    return cache_dir / "debs" / sha256[:2] / sha256


def sweep_downloads(cache_dir: Path) -> list[Path]:
    """Remove the partial downloads under ``cache_dir`` that no running download holds; return
    them. Cost: one ``listdir`` and a lock attempt per partial file."""
    return sweep_partials(cache_dir / "debs" / PARTIAL_DIR, lambda name: True)


def fetch(
    packages: Iterable[Package],
    url_of: Callable[[Package], str],
    cache_dir: Path,
    *,
    transport: Transport | None = None,
    progress: Progress | None = None,
    workers: int = 8,
    warn: Warn | None = None,
) -> dict[str, Path]:
    """Make sure every package's ``.deb`` is in the cache; return package name → cached path.

    Up to ``workers`` downloads run at once. Cost: one sha256 pass per cached package (a damaged
    one is downloaded again and reported to ``warn``), one streamed download and one
    sha256 pass per missing one; memory stays bounded whatever the package sizes.

    Raises:
        IntegrityError: a package without SHA256/Size in its index, or a download whose size or
            sha256 differs from the index twice in a row (names the package and the URL).
        SourceError: a download failed after the transport's retries (names package and URL).
        OSError: writing the cache failed (e.g. ``ENOSPC``); the cache still holds only whole,
            verified files, so the caller can name the cache directory and go on.
    """
    if transport is None:  # one client (pooled connections) for all downloads, closed after
        with HttpTransport() as owned:
            return fetch(
                packages,
                url_of,
                cache_dir,
                transport=owned,
                progress=progress,
                workers=workers,
                warn=warn,
            )
    todo = list(packages)
    say = warn or (lambda message: None)
    total = len(todo)
    lock = threading.Lock()
    counters = [0, 0]  # done, bytes

    def one(package: Package) -> tuple[str, Path]:
        path, downloaded = _ensure(package, url_of, cache_dir, transport, say)
        with lock:
            counters[0] += 1
            counters[1] += downloaded
            done, size = counters
        if progress is not None:
            progress(done, total, size)
        return package.name, path

    if not todo:
        return {}
    sweep_downloads(cache_dir)
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
    package: Package,
    url_of: Callable[[Package], str],
    cache_dir: Path,
    transport: Transport,
    warn: Warn,
) -> tuple[Path, int]:
    """Return the cached path of ``package`` and how many bytes had to be downloaded."""
    sha256, size = package.sha256.lower(), package.size
    if len(sha256) != 64 or "Size" not in package.fields:
        raise IntegrityError(
            f"{package.name} {package.version} has no SHA256 or Size in its index",
            "the package source must publish SHA256 sums; refresh the catalog",
            code=Code.INDEX_MALFORMED,
            fields={"package": package.name, "version": package.version},
        )
    path = cache_path(cache_dir, sha256)
    problem = file_problem(path, sha256, size)
    if problem is None:
        return path, 0
    if problem != "is missing":  # replaced by the new download's rename, not removed first
        warn(f"cached {package.name} {package.version} ({path}) {problem}; downloading it again")
    url = url_of(package)
    for attempt in range(1, _INTEGRITY_ATTEMPTS + 1):
        with Partial.file(cache_dir / "debs" / PARTIAL_DIR, "") as partial:
            try:
                with os.fdopen(os.dup(partial.fd), "w+b") as handle:
                    transport.get_to(url, handle, limit=size)
                    handle.flush()
                    os.fsync(handle.fileno())
            except SourceError as exc:
                reason = str(exc.fields.get("reason") or exc.message)  # the URL is said once
                kind = IntegrityError if isinstance(exc, IntegrityError) else SourceError
                raise kind(
                    f"cannot download {package.name} {package.version} from {url}: {reason}",
                    exc.hint,
                    code=exc.code,
                    fields={**exc.fields, "package": package.name, "version": package.version},
                    retryable=exc.retryable,
                ) from exc
            problem = file_problem(partial.path, sha256, size)
            if problem is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(partial.path, path)
                return path, size
            actual = sha256_file(partial.path) if attempt == _INTEGRITY_ATTEMPTS else ("", 0)
        if attempt == _INTEGRITY_ATTEMPTS:
            said = problem.replace("expected", "the index says")
            raise IntegrityError(
                f"{package.name} {package.version} from {url} {said}",
                "the mirror serves a file that differs from its signed index; refresh the "
                "catalog or use another mirror",
                code=Code.DOWNLOAD_HASH_MISMATCH,
                fields={
                    "package": package.name,
                    "version": package.version,
                    "url": url,
                    "expected_sha256": sha256,
                    "expected_size": size,
                    "actual_sha256": actual[0],
                    "actual_size": actual[1],
                    "problem": problem,
                    "attempts": attempt,
                },
            )
    raise AssertionError("unreachable")  # pragma: no cover
