"""API build figures (issue 10): from ``POST /v1/images`` to ``created`` for a python image
with ``curl`` (every package cached), against the same build run by ``couturier build`` (the
whole command), side by side.

``couturier serve`` runs on SQLite with its embedded job runner (``--workers 1``: one build at
a time, as the command). The spec is the same for both: ``python`` + ``curl``, amd64, every
line. An untimed build of each comes first, so every package and layer is cached and the
serve process has loaded its catalogs; then each round times one of each, interleaved (the
order alternating): **API** = from sending ``POST /v1/images`` (a new image each round) to
the ``end`` event of ``GET /v1/builds/{trace_id}/events`` saying ``created``; **command** =
``python -m couturier.cli.main build SPEC --arch amd64 --output DIR --json`` from start to
exit (a new output directory each round). Indexes and caches are those of ``bench/build.py``
(``$XDG_CACHE_HOME/couturier-bench``; the real Debian mirror of the default settings). Run
with ``uv run python -m bench.apibuild [--rounds N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
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

TARGET_S = 1.0
_LETTERS = "abcdefghijklmnopqrstuvwxyz"  # image names end with a letter
SPEC = {"starter": "python", "packages": ["curl"]}


def _api(client: httpx.Client, name: str) -> dict[str, Any]:
    """One image made through the API: seconds from the POST to the ``end`` event."""
    started = time.perf_counter()
    response = client.post("/v1/images", json={"name": name, **SPEC})
    response.raise_for_status()
    trace = response.json()["build"]["trace_id"]
    posted = time.perf_counter() - started
    status = None
    with client.stream("GET", f"/v1/builds/{trace}/events", timeout=600) as events:
        event = ""
        for line in events.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "end":
                status = json.loads(line.removeprefix("data: "))["status"]
                break
    seconds = time.perf_counter() - started
    build = client.get(f"/v1/builds/{trace}").json()
    if status != "created" or build["status"] != "created":
        raise SystemExit(f"API build {status}: {json.dumps(build, indent=1)[:4000]}")
    created, begun, ended = (
        dt.datetime.fromisoformat(build[key]) for key in ("created", "started", "finished")
    )
    return {
        "seconds": seconds,
        "post": posted,
        "queued": (begun - created).total_seconds(),
        "build": (ended - begun).total_seconds(),
        "lines": len(build["lines"]),
        "load": os.getloadavg()[0],
    }


def _command(env: dict[str, str], spec: Path, output: Path) -> dict[str, Any]:
    """One ``couturier build`` of the spec, whole: seconds from start to exit."""
    command = [sys.executable, "-m", "couturier.cli.main", "build", str(spec)]
    command += ["--arch", "amd64", "--output", str(output), "--json"]
    started = time.perf_counter()
    process = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(
            f"couturier build failed ({process.returncode}):\n{process.stderr[-4000:]}"
        )
    result = json.loads(process.stdout)
    if result.get("status") != "created":
        raise SystemExit(f"couturier build: {result.get('status')}: {process.stdout[:4000]}")
    return {"seconds": seconds, "lines": len(result.get("lines", [])), "load": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of each (5)")
    args = parser.parse_args(argv)
    api: list[dict[str, Any]] = []
    cli: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="couturier-bench-apibuild-") as temp:
        work = Path(temp)
        data = work / "data"
        data.mkdir()
        for shared in ("snapshots", "state"):  # bench/build.py's verified indexes
            (BASE / "data" / shared).mkdir(parents=True, exist_ok=True)
            (data / shared).symlink_to(BASE / "data" / shared)
        settings = {"architectures": ["amd64"], "data_dir": str(data)}
        settings["cache_dir"] = str(BASE / "cache")
        (work / "couturier.yaml").write_text(yaml.safe_dump(settings))
        spec = work / "spec.yaml"
        spec.write_text(yaml.safe_dump({"name": "bench-cli", **SPEC}))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work),
            "COUTURIER_CONFIG": str(work / "couturier.yaml"),
        }
        serve = start(["serve", "--port", "0", "--workers", "1"], env, work / "serve.log")
        try:
            text = (work / "serve.log").read_text()
            token = re.findall(r"^ctr_\w+$", text, re.MULTILINE)[0]
            url = re.findall(r"serving on (http://[\d.:]+)", text)[0]
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as client:
                warm_cli = _command(env, spec, work / "out-warm")
                warm_api = _api(client, "warm")
                print(f"warm-up: command {warm_cli}, API {warm_api}", file=sys.stderr)
                for number in range(args.rounds):
                    order = ("api", "cli") if number % 2 else ("cli", "api")
                    for kind in order:
                        if kind == "api":
                            api.append(_api(client, f"round-{_LETTERS[number]}"))
                            print(f"round {number} API: {api[-1]}", file=sys.stderr)
                        else:
                            cli.append(_command(env, spec, work / f"out-{number}"))
                            print(f"round {number} command: {cli[-1]}", file=sys.stderr)
        finally:
            stop(serve)
    _report(api, cli, warm_api, warm_cli)


def _report(
    api: list[dict[str, Any]],
    cli: list[dict[str, Any]],
    warm_api: dict[str, Any],
    warm_cli: dict[str, Any],
) -> None:
    api_s, cli_s = median([r["seconds"] for r in api]), median([r["seconds"] for r in cli])
    post = median([r["post"] for r in api]) * 1000
    queued = median([r["queued"] for r in api]) * 1000
    build = median([r["build"] for r in api])
    more = api_s - cli_s
    met = "met" if more <= TARGET_S else "**not met**"
    runs = "; ".join(
        f"{n}: command {c['seconds']:.2f} s (load {c['load']:.1f}), "
        f"API {a['seconds']:.2f} s (load {a['load']:.1f})"
        for n, (c, a) in enumerate(zip(cli, api, strict=True))
    )
    body = f"""## API build: `POST /v1/images` to `created`, beside `couturier build`

Machine: {machine()}; `couturier serve --workers 1` on SQLite (its embedded job runner), the
command and the benchmark on this one machine, sharing the data and cache directories (the
real Debian mirror of the default settings).

The same spec for both: `python` + `curl`, amd64, every line ({api[0]["lines"]} lines). Every
package and layer was cached by an untimed build of each first (command {warm_cli["seconds"]:.1f}
s, API {warm_api["seconds"]:.1f} s), which also loaded the catalogs into the serve process.
**API** = from sending `POST /v1/images` (a new image each round) to the `end` event
(`created`) of `GET /v1/builds/{{trace_id}}/events`; **command** = `couturier build SPEC --arch
amd64 --output DIR --json` (as `python -m couturier.cli.main`), from start to exit, a new
output directory each round. Rounds interleave, the order alternating; medians of {len(api)}
rounds each.

| | seconds |
|---|---:|
| `couturier build` (whole command) | {cli_s:.2f} |
| API, `POST /v1/images` to `created` | {api_s:.2f} |
| of which: the `POST` answered | {post / 1000:.2f} |
| of which: queued until a worker took it (build record) | {queued / 1000:.2f} |
| of which: the build itself (build record, started to finished) | {build:.2f} |

**API minus command: {more:+.2f} s; target at most +{TARGET_S:.0f} s: {met}.**

Rounds in order (the machine's 1-minute load average after each): {runs}.

The command pays for starting Python and loading the catalogs on every run; the service has
them loaded, and pays instead for the request, the queue and writing the build's records.

_Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (2 cores shared with other engineers'
runs: expect noise)._"""
    write_section("apibuild", body)
    print(body)


if __name__ == "__main__":
    main()
