"""Smoke-test figures (issue 13: tested before tags move): each line's smoke test beside its build.

Every line of the shipped starters named (all by default) is built for amd64 from Debian's
mirror into a scratch OCI layout, with the smoke tester the service uses
(:class:`couturier.services.smoke.RuntimeSmoke` over podman with runc and no default ulimits,
its storage in the bench's cache). A line's build time is from its first stage to ``built``
(lines build side by side); its smoke time is the test's own wall clock: writing the image into
a temporary layout, podman loading it, running the command, removing container and image.
Packages and layers come from the bench's caches (warm after ``bench.build``), so the build
times are mostly assembling and the figure is what a rebuild pays for its test.

Run with ``uv run python -m bench.smoke [--starter NAME]...``; writes the ``smoke`` section of
``bench/RESULTS.md`` with the machine's load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import shutil
import threading
import time
from pathlib import Path

from bench.engine import ARCH, BASE, bench_settings
from bench.report import machine, write_section
from couturier.oci.runtime import Podman
from couturier.services.build import ImageRequest, StageEvent, build
from couturier.services.context import build_context
from couturier.services.smoke import RuntimeSmoke
from couturier.services.starters import get_starter, starters

CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n'


def _tester(work: Path, cache: Path) -> RuntimeSmoke:
    conf = work / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    return RuntimeSmoke(
        runtime=Podman(
            root=cache / "containers",
            runroot=Path("/tmp/couturier-bench-smoke"),
            env={**os.environ, "CONTAINERS_CONF": str(conf)},
        ),
        host=ARCH,
        timeout=120.0,
        scratch=cache / "smoke",
    )


def _starter_rows(name: str, tester: RuntimeSmoke, work: Path) -> list[str]:
    settings = bench_settings()
    marks: dict[tuple[str, str], float] = {}
    lock = threading.Lock()
    start = time.perf_counter()

    def on_stage(event: StageEvent) -> None:
        with lock:
            marks.setdefault((event.label, event.stage), time.perf_counter() - start)

    output = work / f"layout-{name}"
    shutil.rmtree(output, ignore_errors=True)
    context = build_context(settings, output=output, on_stage=on_stage, smoke=tester)
    request = ImageRequest(starter=get_starter(settings, name), name=name)
    result = build(context, request, architectures=[ARCH])
    shutil.rmtree(output, ignore_errors=True)
    rows = []
    for line in result.lines:
        began = marks.get((line.version, "resolving"), 0.0)
        built = marks.get((line.version, "built"))
        building = f"{built - began:.1f}" if built is not None else "-"
        smoke = line.smoke
        status = smoke.status if smoke else line.status
        seconds = f"{smoke.seconds:.2f}" if smoke and smoke.seconds else "-"
        reason = (smoke.reason if smoke else "") or (line.error.message if line.error else "")
        command = shlex.join(get_starter(settings, name).line(line.version).smoke)
        command = command.replace("|", "\\|")  # a table cell, even in backticks
        rows.append(
            f"| {name} | {line.version} | `{command[:70]}` | {building} | {seconds} | {status}"
            f" | {reason[:90].replace('|', '/')} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starter", action="append", help="a starter to build (default: all)")
    args = parser.parse_args()
    settings = bench_settings()
    names = args.starter or sorted(starters(settings))
    work = BASE / "work" / "smoke"
    work.mkdir(parents=True, exist_ok=True)
    tester = _tester(work, settings.cache_dir)
    rows: list[str] = []
    loads: list[str] = []
    for name in names:
        rows += _starter_rows(name, tester, work)
        loads.append(f"{name} {os.getloadavg()[0]:.1f}")
        print(rows[-1], flush=True)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    body = f"""## Smoke tests: each line started once before its tags move

Machine: {machine()}; podman {_podman_version()} with runc (its storage in the bench's cache,
overlay driver), the image written to a temporary OCI layout and loaded with
`podman pull oci:DIR:smoke`, run with `--network=none`, as the image's user, limit 120 s.
Lines built for amd64 from Debian's mirror with warm package and layer caches (lines of a
starter build side by side). *build s*: the line's first stage to `built`; *smoke s*: the
whole test (layout, load, run, removal of container and image).

| starter | line | smoke command | build s | smoke s | smoke | reason |
|---|---|---|---:|---:|---|---|
{chr(10).join(rows)}

The machine's 1-minute load average after each starter: {", ".join(loads)}.

_Measured {when} UTC (2 cores shared with other engineers' runs: expect noise)._
"""
    write_section("smoke", body)


def _podman_version() -> str:
    import subprocess

    done = subprocess.run(["podman", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip().rsplit(" ", 1)[-1] if done.returncode == 0 else "?"


if __name__ == "__main__":
    main()
