"""Couturier's side of the build benchmarks: timed builds, reading their layouts, cache juggling.

:func:`timed_build` calls the build service (``couturier.services.build.build``) for amd64 and
notes, from its stage events, when each stage began, how many events of each stage came and how
much was downloaded. :func:`caches_aside` empties the package and layer caches for
cold runs and merges the kept files back afterwards, so only cold runs pay for downloads.
:func:`memoized_lookups` and :func:`lookup_seconds` measure the host-name lookups that dominate a
cold fetch on this machine. Data lives under :data:`BASE` (``$XDG_CACHE_HOME/couturier-bench``).
"""

from __future__ import annotations

import cProfile
import itertools
import json
import os
import pstats
import re
import shutil
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isal import igzip, igzip_threaded

from couturier.core.catalog import Package
from couturier.core.planner import LinePlan, plan_line
from couturier.core.relations import parse_relations
from couturier.debian.index import load_catalog
from couturier.oci.layer import GZIP_BLOCK_SIZE, GZIP_LEVEL
from couturier.oci.signing import Signer
from couturier.services.build import BuildResult, ImageRequest, LineResult, StageEvent, build
from couturier.services.context import build_context
from couturier.services.starters import get_starter
from couturier.settings import Settings, load_settings

BASE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "couturier-bench"
ARCH = "amd64"
_MIB = re.compile(r"\(([\d.]+) MiB\)")


def bench_settings() -> Settings:
    env = {"COUTURIER_DATA_DIR": str(BASE / "data"), "COUTURIER_CACHE_DIR": str(BASE / "cache")}
    return load_settings(None, env)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def line_plan(settings: Settings, starter: str, label: str) -> LinePlan:
    image = get_starter(settings, starter)
    line = next(line for line in image.lines if line.version == label)
    return plan_line(load_catalog(settings, line.release, ARCH), image, line)


def pins(packages: Sequence[Package]) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in packages}


# -- Couturier side ---------------------------------------------------------------------------


@dataclass
class Built:
    """One timed call of the build service.

    ``marks``: seconds from the start of the call to the first event of each stage
    (:data:`couturier.services.build.STAGES`), plus ``done``; ``stages``: how many events of each
    stage came (no ``fetching`` and no ``compressing`` means every layer came from the cache);
    ``fetched_mib``: what the last fetch progress event said was downloaded.
    """

    seconds: float
    result: BuildResult
    output: Path
    marks: dict[str, float] = field(default_factory=dict)
    stages: Counter[str] = field(default_factory=Counter)
    fetched_mib: float = 0.0

    def layers(self, label: str) -> list[dict[str, Any]]:
        return layer_descriptors(self.output, self.line(label).digest)

    def line(self, label: str) -> LineResult:
        found = next(line for line in self.result.lines if line.version == label)
        if found.status != "created":
            raise SystemExit(f"{label}: {found.status}: {found.error and found.error.message}")
        return found

    def phases(self) -> str:
        """Where a one-line build's time went, from its stage events."""
        steps = [
            ("resolving", "load indexes + plan"),
            ("fetching", "fetch"),
            ("assembling", "read + assemble"),
            ("compressing", "compress"),
            ("built", "write the layout"),
            ("done", ""),
        ]
        at = [(self.marks.get(stage), name) for stage, name in steps]
        known = [(t, name) for t, name in at if t is not None]
        return ", ".join(
            f"{name} {end - start:.2f} s" for (start, name), (end, _) in itertools.pairwise(known)
        )


def timed_build(
    settings: Settings,
    starter: str,
    output: Path,
    lines: list[str] | None,
    *,
    fresh: bool = True,
    signer: Signer | None = None,
) -> Built:
    """Build ``lines`` (None: all) of ``starter`` for amd64 into a fresh ``output`` (or, with
    ``fresh`` False, into the layout already there), timed; signed and attested by ``signer``
    when one is given."""
    if fresh:
        shutil.rmtree(output, ignore_errors=True)
    parse_relations.cache_clear()  # every run parses the relations it needs, as a new process
    built = Built(0.0, BuildResult("", []), output)
    lock = threading.Lock()  # events also come from the fetch threads
    start = time.perf_counter()

    def on_stage(event: StageEvent) -> None:
        now = time.perf_counter() - start
        with lock:
            built.marks.setdefault(event.stage, now)
            built.stages[event.stage] += 1
            found = _MIB.search(event.detail) if event.stage == "fetching" else None
            if found:
                built.fetched_mib = float(found[1])

    request = ImageRequest(starter=get_starter(settings, starter), name=starter)
    context = build_context(settings, output=output, on_stage=on_stage, signer=signer)
    built.result = build(context, request, architectures=[ARCH], lines=lines)
    built.seconds = built.marks["done"] = time.perf_counter() - start
    return built


def layer_descriptors(layout: Path, digest: str) -> list[dict[str, Any]]:
    manifest = json.loads((layout / "blobs/sha256" / digest.removeprefix("sha256:")).read_text())
    layers: list[dict[str, Any]] = manifest["layers"]
    return layers


def gunzipped_size(path: Path) -> int:
    size = 0
    with igzip.open(path, "rb") as stream:  # type: ignore[no-untyped-call]
        while chunk := stream.read(1 << 20):
            size += len(chunk)
    return size


def gzipped_size(path: Path) -> int:
    """Size of ``path`` compressed as Couturier compresses layers (ISA-L, same level)."""
    sink = CountingSink()
    gz = igzip_threaded.open(  # type: ignore[no-untyped-call]
        sink, "wb", compresslevel=GZIP_LEVEL, block_size=GZIP_BLOCK_SIZE
    )
    with gz, path.open("rb") as source:
        while chunk := source.read(GZIP_BLOCK_SIZE):
            gz.write(chunk)
    return sink.size


class CountingSink:
    """A write-only sink that only counts bytes."""

    def __init__(self) -> None:
        self.size = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def cache_files(settings: Settings) -> set[str]:
    root = settings.cache_dir
    return {str(p.relative_to(root)) for d in ("debs", "layers") for p in (root / d).rglob("*")}


@contextmanager
def caches_aside(settings: Settings, *names: str) -> Iterator[None]:
    """Move the named cache directories aside (the caller empties them at will), then merge the
    kept files back so later parts need not download again."""
    dirs = [settings.cache_dir / name for name in names]
    _merge_back(dirs)  # a killed earlier run may have left its stash
    for path in dirs:
        if path.exists():
            os.replace(path, _kept(path))
    try:
        yield
    finally:
        _merge_back(dirs)


def _kept(path: Path) -> Path:
    return path.with_name(path.name + ".bench-kept")


def _merge_back(dirs: list[Path]) -> None:
    for path in dirs:
        kept = _kept(path)
        if not kept.exists():
            continue
        for item in kept.rglob("*"):
            target = path / item.relative_to(kept)
            if item.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(item, target)
        shutil.rmtree(kept)


@contextmanager
def memoized_lookups() -> Iterator[None]:
    """Resolve each host once in this process as well (a control: the transport already does):
    the first caller resolves under a lock, the others reuse its answer."""
    original = socket.getaddrinfo
    memo: dict[tuple[Any, ...], Any] = {}
    lock = threading.Lock()

    def lookup(*args: Any, **kwargs: Any) -> Any:
        key = (args, tuple(sorted(kwargs.items())))
        with lock:
            if key not in memo:
                memo[key] = original(*args, **kwargs)
            return memo[key]

    socket.getaddrinfo = lookup
    try:
        yield
    finally:
        socket.getaddrinfo = original


def lookup_seconds(host: str, threads: int = 8, calls: int = 48) -> list[float]:
    """How long each of ``calls`` lookups of ``host`` takes, ``threads`` at a time (a failed
    lookup counts as infinitely slow). Kept small: it loads the resolver everyone here shares."""

    def one(_: int) -> float:
        start = time.perf_counter()
        try:
            socket.getaddrinfo(host, 80, 0, socket.SOCK_STREAM)
        except OSError:
            return float("inf")
        return time.perf_counter() - start

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(calls)))


def top_self_times(profile: cProfile.Profile, count: int = 4) -> list[tuple[str, float]]:
    """The functions with the most time of their own in ``profile`` (lock waits left out: they
    are the main thread waiting for workers), as ``(name, seconds)``."""
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = [
        (f"{Path(file).name}:{name}" if file != "~" else name, entry[2])
        for (file, _, name), entry in stats.items()
        if "acquire" not in name
    ]
    return sorted(rows, key=lambda row: -row[1])[:count]
