"""Pull figure (issue 11): ``skopeo copy`` of the python line (amd64) from Couturier's ``/v2/``
and from Debian's ``docker-registry`` holding the same image, side by side; then 20 concurrent
pulls from Couturier.

``couturier serve`` (SQLite, the real Debian mirror of the default settings, bench/build.py's
verified indexes and caches in ``$XDG_CACHE_HOME/couturier-bench``) builds the private image
``1/pull-bench`` on the ``python`` starter through the API; ``skopeo copy --preserve-digests``
pushes its ``3.13`` line (the newest line when there is no 3.13) to a ``docker-registry``
started on 127.0.0.1 (:func:`tests.registry.running_registry`). Each round then copies the line
from each registry into a new OCI layout (every blob fetched and its digest verified), the
order alternating. Both serve plain HTTP on loopback; Couturier's pulls go through the token
flow. Run with ``uv run python -m bench.pull [--rounds N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.engine import BASE, median
from bench.processes import start, stop
from bench.report import machine, write_section
from tests.registry import running_registry

CONCURRENT = 20
LINE = "3.13"


def _skopeo(*args: str) -> float:
    """Seconds ``skopeo ARGS`` took; exits the benchmark with its error when it fails."""
    started = time.monotonic()
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"skopeo {' '.join(args[:3])} failed: {done.stderr[-2000:]}")
    return time.monotonic() - started


def _build(client: httpx.Client) -> list[str]:
    """Build ``1/pull-bench`` (python, every line); its tags."""
    made = client.post("/v1/images", json={"name": "pull-bench", "starter": "python"})
    made.raise_for_status()
    trace = made.json()["build"]["trace_id"]
    while (build := client.get(f"/v1/builds/{trace}").json())["status"] == "in progress":
        time.sleep(0.5)
    if build["status"] not in ("created", "some lines created"):
        raise SystemExit(f"the build failed: {json.dumps(build)[:3000]}")
    tags = client.get("/v2/1/pull-bench/tags/list").json()["tags"]
    return list(tags)


def _copy(source: str, creds: list[str], target: Path) -> float:
    return _skopeo("copy", "--src-tls-verify=false", *creds, source, f"oci:{target}:pulled")


def _size(client: httpx.Client, tag: str) -> tuple[int, int]:
    """(layers, bytes of config and layers) of the amd64 manifest of ``tag`` (the tag's own
    manifest, or the amd64 one of its index)."""
    manifest = client.get(f"/v2/1/pull-bench/manifests/{tag}").json()
    if "manifests" in manifest:
        digest = next(
            m["digest"]
            for m in manifest["manifests"]
            if m.get("platform", {}).get("architecture") == "amd64"
        )
        manifest = client.get(f"/v2/1/pull-bench/manifests/{digest}").json()
    sizes = [layer["size"] for layer in manifest["layers"]] + [manifest["config"]["size"]]
    return len(manifest["layers"]), sum(sizes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds of each (7)")
    args = parser.parse_args(argv)
    if shutil.which("skopeo") is None or shutil.which("docker-registry") is None:
        raise SystemExit(
            "needs skopeo and docker-registry (apt-get install skopeo docker-registry)"
        )
    with tempfile.TemporaryDirectory(prefix="couturier-bench-pull-") as temp:
        work = Path(temp)
        data = work / "data"
        data.mkdir()
        for shared in ("snapshots", "state"):  # bench/build.py's verified indexes
            if (BASE / "data" / shared).exists():
                (data / shared).symlink_to(BASE / "data" / shared)
        settings = {"architectures": ["amd64"], "data_dir": str(data)}
        settings["cache_dir"] = str(BASE / "cache")
        (work / "couturier.yaml").write_text(yaml.safe_dump(settings))
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
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600
            ) as client:
                tags = _build(client)
                tag = LINE if LINE in tags else sorted(tags)[-1]
                layers, size = _size(client, tag)
            with running_registry(work / "registry") as registry:
                results = _measure(
                    url, token, registry.host, tag, work=work, rounds=args.rounds, pid=serve.pid
                )
        finally:
            stop(serve)
    _report(results, tag, layers, size)


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) process ``pid`` has used so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    url: str, token: str, registry: str, tag: str, *, work: Path, rounds: int, pid: int
) -> dict[str, Any]:
    host = url.removeprefix("http://")
    creds = ["--src-creds", f"1:{token}"]
    ours = f"docker://{host}/1/pull-bench:{tag}"
    theirs = f"docker://{registry}/pull-bench:{tag}"
    _skopeo(
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        *creds,
        ours,
        theirs,
    )
    # untimed: each side's first pull
    _copy(ours, creds, work / "warm-ours")
    _copy(theirs, [], work / "warm-theirs")
    timings: dict[str, list[float]] = {"couturier": [], "registry": []}
    loads: list[float] = []
    for number in range(rounds):
        order = [("couturier", ours, creds), ("registry", theirs, [])]
        for name, source, given in order if number % 2 == 0 else order[::-1]:
            target = work / f"{name}-{number}"
            timings[name].append(_copy(source, given, target))
            shutil.rmtree(target)
        loads.append(os.getloadavg()[0])
        print(
            f"round {number}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in timings.items()),
            file=sys.stderr,
        )
    concurrent = {}
    for name, source, given in (("couturier", ours, creds), ("registry", theirs, [])):
        started, cpu = time.monotonic(), _cpu_seconds(pid)
        with ThreadPoolExecutor(CONCURRENT) as pool:
            each = list(
                pool.map(
                    lambda n, s=source, g=given, k=name: _copy(s, g, work / f"many-{k}-{n}"),
                    range(CONCURRENT),
                )
            )
        concurrent[name] = {
            "wall": time.monotonic() - started,
            "slowest": max(each),
            "serve_cpu": _cpu_seconds(pid) - cpu,
        }
        for n in range(CONCURRENT):
            shutil.rmtree(work / f"many-{name}-{n}")
    return {"timings": timings, "loads": loads, "concurrent": concurrent}


def _report(results: dict[str, Any], tag: str, layers: int, size: int) -> None:
    ours = median(results["timings"]["couturier"])
    theirs = median(results["timings"]["registry"])
    ratio = ours / theirs
    met = "met" if ratio <= 1.2 else "not met"
    loads = results["loads"]
    many = results["concurrent"]
    rounds = "; ".join(
        f"{n}: {a:.2f} / {b:.2f} s (load {load:.1f})"
        for n, (a, b, load) in enumerate(
            zip(results["timings"]["couturier"], results["timings"]["registry"], loads, strict=True)
        )
    )
    body = f"""## Pull: `skopeo copy` from Couturier's `/v2/` and from `docker-registry`

Machine: {machine()}; `couturier serve` (SQLite, one process) and Debian's
`docker-registry` (filesystem storage) on 127.0.0.1, plain HTTP, the client on the same machine.

The image: the private image `1/pull-bench` on the `python` starter, built by the service from
Debian's mirror; its line `{tag}`, amd64: {layers} layers, {size / 1e6:.1f} MB with the config.
The registry holds the same image (pushed with `skopeo copy --preserve-digests`, same digests).
Each pull is `skopeo copy docker://HOST/...:{tag} oci:NEW_DIR:pulled` (every blob fetched and
verified); Couturier's goes through the token flow (basic auth with a tenant token, then the
bearer token). Rounds interleave, the order alternating; medians of {len(loads)} rounds.

| source | seconds |
|---|---:|
| Couturier `/v2/` | {ours:.2f} |
| `docker-registry` | {theirs:.2f} |

**Couturier / registry: {ratio:.2f}x; target at most 1.2x: {met}.**

{CONCURRENT} concurrent pulls of the same line, all without error (wall time until the last
ended; the slowest pull):

| source | wall s | slowest s |
|---|---:|---:|
| Couturier `/v2/` | {many["couturier"]["wall"]:.1f} | {many["couturier"]["slowest"]:.1f} |
| `docker-registry` | {many["registry"]["wall"]:.1f} | {many["registry"]["slowest"]:.1f} |

`couturier serve` used {many["couturier"]["serve_cpu"]:.1f} CPU s for its 20 pulls
({many["registry"]["serve_cpu"]:.1f} s while the registry served its own), of the
{CONCURRENT * size / 1e6:.0f} MB it sent.

Rounds in order (Couturier / registry, the machine's 1-minute load average after each):
{rounds}.

_Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (2 cores shared with other engineers'
runs: expect noise)._"""
    write_section("pull", body)
    print(body)


if __name__ == "__main__":
    main()
