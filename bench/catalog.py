"""Catalog and resolver figures, side by side with apt and libsolv (issue: package sources).

- parsing bookworm main amd64 against ``apt_pkg.TagFile`` on the same file;
- resolving ``python3`` and a 10-package request in-process against ``apt-get install -s``
  (warm cache) and libsolv (``python3-solv``);
- (the whole ``couturier packages resolve`` command, warm, against ``apt-get install -s`` is
  measured interleaved by ``bench/startup.py``, in its start-up section: one figure, one place);
- search p95 over three releases x two architectures.

Run with ``bench/run`` (it installs the peers); data lives in ``$XDG_CACHE_HOME/couturier-bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.report import machine, median_ms, p95_ms, write_section
from couturier.core.relations import parse_relations, parse_request
from couturier.core.resolver import resolve
from couturier.debian.index import IndexCatalog, load_catalog
from couturier.debian.packages import parse_packages
from couturier.debian.refresh import refresh
from couturier.settings import Settings, load_settings
from tests.apt_oracle import TEN_PACKAGES, AptRoot, source_lines

ROUNDS = 7
TEN = list(TEN_PACKAGES)
QUERIES = [
    "python3",
    "curl",
    "ssl",
    "http client",
    "postgresql",
    "imagick",
    "3.11",
    "yaml",
    "nginx",
    "libc6",
    "json",
    "compression",
    "ruby",
    "node",
    "java",
    "xml",
    "tls",
    "php8",
    "zlib",
    "git",
]


def _settings() -> Settings:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "couturier-bench"
    env = {"COUTURIER_DATA_DIR": str(base / "data"), "COUTURIER_CACHE_DIR": str(base / "cache")}
    return load_settings(None, env)


def _apt_root(settings: Settings) -> AptRoot:
    lines = source_lines(settings.release("bookworm"))
    apt = AptRoot(settings.cache_dir.parent / "apt-bookworm", "amd64", lines)
    apt.update()
    apt.install(["python3"])  # builds pkgcache.bin: the peer is measured warm
    return apt


def _timed(command: list[str], rounds: int = ROUNDS) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def _peer(*args: str) -> dict[str, object]:
    done = subprocess.run(
        ["/usr/bin/python3", str(Path(__file__).parent / "peers.py"), *args],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def bench_parse(catalog: IndexCatalog, settings: Settings) -> list[str]:
    main_snapshot = catalog.snapshots[0]
    path = settings.snapshot_dir / main_snapshot
    data = path.read_bytes()
    ours = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        count = len(parse_packages(data))
        ours.append(time.perf_counter() - start)
    fields = _peer("tagfile", str(path), str(ROUNDS), "identity")
    full = _peer("tagfile", str(path), str(ROUNDS), "all")
    peer_ms = median_ms(fields["seconds"])  # type: ignore[arg-type]
    ratio = median_ms(ours) / peer_ms
    return [
        "### Parsing bookworm main amd64",
        "",
        f"{count} packages, {len(data) / 1e6:.0f} MB. Both sides read each stanza's Package, "
        "Version and Architecture; the other fields are parsed on first use (ours) or on access "
        "(apt_pkg).",
        "",
        "| parser | median ms | vs apt_pkg |",
        "|---|---:|---:|",
        f"| couturier `parse_packages` | {median_ms(ours):.0f} | {ratio:.2f}x |",
        f"| `apt_pkg.TagFile`, identity fields | {peer_ms:.0f} | 1.00x |",
        f"| `apt_pkg.TagFile`, every field into a dict | {median_ms(full['seconds']):.0f} | "  # type: ignore[arg-type]
        f"{median_ms(full['seconds']) / peer_ms:.2f}x |",  # type: ignore[arg-type]
        "",
        f"Target: at most 3x apt_pkg. **{'met' if ratio <= 3 else 'NOT met'}** ({ratio:.2f}x).",
    ]


def _resolve_rounds(settings: Settings, names: list[str]) -> tuple[list[float], int]:
    times = []
    count = 0
    for _ in range(ROUNDS):
        catalog = load_catalog(settings, "bookworm", "amd64")  # cold stanzas every round
        parse_relations.cache_clear()
        requests = [parse_request(n) for n in names]
        start = time.perf_counter()
        count = len(resolve(catalog, requests).packages)
        times.append(time.perf_counter() - start)
    return times, count


def bench_resolve(settings: Settings, catalog: IndexCatalog, apt: AptRoot) -> list[str]:
    files = [str(settings.snapshot_dir / sha) for sha in catalog.snapshots]
    rows = []
    verdicts = []
    for label, names in (("python3", ["python3"]), ("10 packages", TEN)):
        ours, count = _resolve_rounds(settings, names)
        apt_times = _timed(["apt-get", *apt.options, "install", "-s", "-q", *names])
        solv = _peer("libsolv", "amd64", str(ROUNDS), *files, "--", *names)
        ratio = median_ms(ours) / median_ms(apt_times)
        verdicts.append(ratio <= 0.2)
        rows.append(
            f"| {label} | {count} | {median_ms(ours):.1f} | {median_ms(apt_times):.0f} | "
            f"{ratio:.3f}x | {median_ms(solv['seconds']):.1f} "  # type: ignore[arg-type]
            f"(+{float(solv['load_seconds']) * 1000:.0f} load, {solv['packages']} pkgs) |"  # type: ignore[arg-type]
        )
    return [
        "### Resolving on bookworm amd64",
        "",
        "In-process: catalog loaded from the snapshots, stanzas and relations parsed during the "
        "resolve (caches cleared every round). apt: `apt-get install -s` in an empty root, its "
        "binary cache already built. libsolv: `python3-solv` solve time, its repository load "
        "apart.",
        "",
        "| request | packages | couturier ms | apt-get ms | ratio | libsolv ms |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Target: in-process at most 0.2x apt-get. **{'met' if all(verdicts) else 'NOT met'}**.",
        "",
        "Whole command, warm (`couturier packages resolve --release bookworm --arch amd64 "
        "python3`): measured side by side with apt-get by `bench/startup.py`, in the start-up "
        "section.",
    ]


def bench_search(settings: Settings) -> list[str]:
    catalogs = [
        load_catalog(settings, release, arch)
        for release in ("bookworm", "trixie", "forky")
        for arch in ("amd64", "arm64")
    ]
    times = []
    for _ in range(5):
        for query in QUERIES:
            start = time.perf_counter()
            for catalog in catalogs:
                catalog.search(query, 50)
            times.append(time.perf_counter() - start)
    p95 = p95_ms(times)
    return [
        "### Search over three releases x two architectures",
        "",
        f"{len(QUERIES)} queries (names, words of descriptions, versions) x 5 rounds over "
        f"{len(catalogs)} catalogs, 50 hits each at most.",
        "",
        f"median {median_ms(times):.1f} ms, **p95 {p95:.1f} ms**. Target: p95 at most 50 ms. "
        f"**{'met' if p95 <= 50 else 'NOT met'}**.",
    ]


def main() -> None:
    settings = _settings()
    print("refreshing bookworm, trixie, forky x amd64, arm64 ...", file=sys.stderr)
    report = refresh(settings, raise_errors=False)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    catalog = load_catalog(settings, "bookworm", "amd64")
    apt = _apt_root(settings)
    lines = [f"## Catalog and resolver\n\nMachine: {machine()}.\n"]
    lines += [*bench_parse(catalog, settings), ""]
    lines += [*bench_resolve(settings, catalog, apt), ""]
    lines += bench_search(settings)
    write_section("catalog", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
