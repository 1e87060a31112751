"""Scale figures (issue 10): ten queued builds run by one ``couturier worker`` and by two, on a
real PostgreSQL (``jobs: procrastinate``); the ratio of the wall times.

A PostgreSQL cluster is started in a temporary directory (as the tests do,
:func:`tests.postgres.running_cluster`), then ``couturier serve`` on it. Each round queues ten
private images through the API (``python`` + ``curl``, amd64, every line; the images differ by
an env var) while no worker runs, then starts the round's workers (``--concurrency 1`` each)
and waits for the ten builds to end. Measured: from the first build's start to the last one's
end, from the build records (worker start-up apart), and the wall time from starting the
workers to the last build seen finished. An untimed round with one worker comes first, so the
packages and layers are cached for every timed round; then one-worker and two-worker rounds
alternate. Indexes and caches are those of ``bench/build.py`` (``$XDG_CACHE_HOME/
couturier-bench``). Run with ``uv run python -m bench.workers [--rounds N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.engine import BASE, median
from bench.processes import start, stop
from bench.report import machine, write_section
from tests.postgres import find_bin_dir, running_cluster

IMAGES = 10


def _queue(client: httpx.Client, name: str, count: int) -> list[str]:
    traces = []
    for number in range(count):
        spec = {
            "name": f"{name}-{'abcdefghij'[number]}",
            "starter": "python",
            "packages": ["curl"],
            "env": {"BENCH_IMAGE": str(number)},
        }
        response = client.post("/v1/images", json=spec)
        response.raise_for_status()
        traces.append(response.json()["build"]["trace_id"])
    return traces


def _wait(client: httpx.Client, traces: list[str]) -> list[dict[str, Any]]:
    while True:
        builds = [client.get(f"/v1/builds/{trace}").json() for trace in traces]
        if all(b["status"] != "in progress" for b in builds):
            break
        time.sleep(0.2)
    failed = [b for b in builds if b["status"] != "created"]
    if failed:
        raise SystemExit(f"builds failed: {json.dumps(failed, indent=1)[:4000]}")
    return builds


def _round(
    client: httpx.Client, env: dict[str, str], work: Path, name: str, workers: int
) -> dict[str, Any]:
    processes = [
        start(["worker"], env, work / f"{name}-worker-{n}.log", "worker running")
        for n in range(workers)
    ]
    try:
        # Each worker's first build loads the catalogs into that process: done before timing.
        _wait(client, _queue(client, f"{name}-warm", workers))
        started = time.monotonic()
        builds = _wait(client, _queue(client, name, IMAGES))
        wall = time.monotonic() - started
    finally:
        for process in processes:
            stop(process)
    first = min(dt.datetime.fromisoformat(b["started"]) for b in builds)
    last = max(dt.datetime.fromisoformat(b["finished"]) for b in builds)
    load = os.getloadavg()[0]
    return {"workers": workers, "span": (last - first).total_seconds(), "wall": wall, "load": load}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each (3)")
    args = parser.parse_args(argv)
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
    with tempfile.TemporaryDirectory(prefix="couturier-bench-workers-") as temp:
        work = Path(temp)
        data = work / "data"
        data.mkdir()
        for shared in ("snapshots", "state"):  # bench/build.py's verified indexes
            (data / shared).symlink_to(BASE / "data" / shared)
        settings = {"architectures": ["amd64"], "data_dir": str(data)}
        settings["cache_dir"] = str(BASE / "cache")
        (work / "couturier.yaml").write_text(yaml.safe_dump(settings))
        with running_cluster(bin_dir) as cluster:
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(work),
                "COUTURIER_CONFIG": str(work / "couturier.yaml"),
                "COUTURIER_DATABASE_URL": cluster.new_database(),
                "COUTURIER_JOBS": "procrastinate",
            }
            serve = start(["serve", "--port", "0"], env, work / "serve.log", "startup complete")
            try:
                text = (work / "serve.log").read_text()
                token = re.findall(r"^ctr_\w+$", text, re.MULTILINE)[0]
                url = re.findall(r"serving on (http://[\d.:]+)", text)[0]
                with httpx.Client(
                    base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
                ) as client:
                    warm = _round(client, env, work, "warm", 1)
                    print(f"warm-up: {warm}", file=sys.stderr)
                    rounds = []
                    for number in range(args.rounds):
                        for workers in (1, 2):
                            name = f"r{number}-w{workers}"
                            rounds.append(_round(client, env, work, name, workers))
                            print(f"{name}: {rounds[-1]}", file=sys.stderr)
            finally:
                stop(serve)
    _report(rounds, warm)


def _pg_version() -> str:
    found = find_bin_dir()
    return found.parent.name if found is not None else "?"


def _report(rounds: list[dict[str, Any]], warm: dict[str, Any]) -> None:
    one = [r for r in rounds if r["workers"] == 1]
    two = [r for r in rounds if r["workers"] == 2]
    span1, span2 = median([r["span"] for r in one]), median([r["span"] for r in two])
    wall1, wall2 = median([r["wall"] for r in one]), median([r["wall"] for r in two])
    runs = "; ".join(f"{r['workers']}: {r['span']:.1f} s (load {r['load']:.1f})" for r in rounds)
    body = f"""## Scale: ten queued builds on one worker and on two

Machine: {machine()}; PostgreSQL {_pg_version()} in a temporary directory (Unix socket, fsync
off); `couturier serve` and the workers on this one machine, sharing its data and cache
directories.

Each round starts one or two `couturier worker` (`--concurrency 1`), lets each worker's first
build load the catalogs into it (untimed), then queues ten private images through the API
(`python` + `curl`, amd64, its three lines each; the images differ by an env var) and waits for
their builds. Every package and layer was cached by an untimed first round (one worker,
{warm["span"]:.1f} s). **Builds** = from the first of the ten builds' start to the last one's
end (the build records); **wall** = from the first request to the last build seen finished.
One-worker and two-worker rounds alternate; medians of {len(one)} rounds each.

| workers | builds s | wall s |
|---:|---:|---:|
| 1 | {span1:.1f} | {wall1:.1f} |
| 2 | {span2:.1f} | {wall2:.1f} |

**Ratio of wall times, one worker / two workers: {wall1 / wall2:.2f}x** ({span1 / span2:.2f}x by
the build records). Rounds in order (workers: builds s, the machine's 1-minute load average
then): {runs}.

A build with everything cached is CPU work (planning, assembling, writing the layout), so two
workers on one 2-core machine can at most about double the rate, and less when the cores are
busy with other work (the load average says how busy they were); workers on separate machines
add their own cores.

_Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (2 cores shared with other engineers'
runs: expect noise)._"""
    write_section("workers", body)
    print(body)


if __name__ == "__main__":
    main()
