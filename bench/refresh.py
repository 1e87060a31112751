"""The daily refresh's check of many private images with nothing changed (issue 13): N
images of the ``python`` starter (3 lines: bookworm, trixie, forky; amd64) on embedded
defaults (SQLite, the in-process job runner with serve's 2 worker threads), each with a few
packages drawn from a pool, every line already current. The refresh queues one check job
per image; each re-plans its 3 lines on the catalogs its worker keeps and builds nothing.

Target: 1,000 images x 3 lines in at most 30 s. Measured at 100, 1,000 and 5,000 images,
from the fan-out to the last check done (the sources' refresh is the network's time and is
not counted; an unchanged mirror costs one InRelease per suite). The seeding (each line's
fingerprint recorded as a build would) is not counted either.

Run with ``bench/run`` (or ``uv run python -m bench.refresh [N ...]``); the indexes come from
``$XDG_CACHE_HOME/couturier-bench`` (refreshed from Debian's mirror when missing), the
database and the rest are temporary.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from bench.catalog import _settings
from bench.report import machine, write_section
from couturier.debian.refresh import refresh as refresh_sources
from couturier.services.builds import start_builds
from couturier.services.installation import open_installation
from couturier.services.refresh import Checker, line_fingerprints, refresh
from couturier.store.freshness import LineState
from couturier.store.models import Build, Image, Job

SIZES = (100, 1000, 5000)
TARGET_SECONDS = 30.0
STARTER = "python"
POOL = [
    "curl",
    "ca-certificates",
    "tzdata",
    "libpq5",
    "libsqlite3-0",
    "python3-yaml",
    "python3-six",
    "python3-dateutil",
    "python3-urllib3",
    "python3-idna",
    "python3-certifi",
    "python3-jinja2",
    "python3-click",
    "python3-packaging",
    "python3-requests-auto",
    "python3-attr-auto",
]


def _seed(installation_dir: Path, count: int) -> tuple[object, float]:
    """An installation of ``count`` current images; (installation, seconds to seed)."""
    shared = _settings()
    data = installation_dir / "data"
    data.mkdir()
    for name in ("snapshots", "state"):  # the bench's verified indexes, read only here
        (data / name).symlink_to(shared.data_dir / name)
    settings = replace(shared, data_dir=data, architectures=("amd64",), refresh_schedule="")
    installation, _ = open_installation(settings)
    rng = random.Random(count)
    started = time.perf_counter()
    checker = Checker(installation)
    now = installation.clock()
    with installation.store.unit(write=True) as uow:
        for i in range(count):
            spec = {
                "name": f"svc-{i:05d}",
                "starter": STARTER,
                "packages": sorted(rng.sample(POOL, rng.randint(1, 4))),
            }
            image = Image(
                tenant_id=1,
                name=spec["name"],
                starter=STARTER,
                description="",
                spec=spec,
                created_at=now,
                updated_at=now,
            )
            uow.session.add(image)
            uow.session.flush()
            for label, fingerprint in line_fingerprints(checker, 1, spec, now.date()).items():
                uow.session.add(
                    LineState(
                        tenant_id=1,
                        image_id=image.id,
                        line=label,
                        fingerprint=fingerprint or "",
                        packages={},
                        full_version="",
                        outcome="built",
                        checked_at=now,
                    )
                )
    return installation, time.perf_counter() - started


def _run(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-refresh") as tmp:
        installation, seeding = _seed(Path(tmp), count)
        builds = start_builds(installation, 2)  # serve's default --workers
        builds.start()
        try:
            load_before = os.getloadavg()[0]
            started, cpu_started = time.perf_counter(), time.process_time()
            queued = refresh(builds, sources=False).queued
            while True:
                with installation.store.unit() as uow:  # type: ignore[attr-defined]
                    busy = uow.session.scalar(
                        select(func.count(Job.id)).where(Job.state.in_(("queued", "running")))
                    )
                if not busy:
                    break
                time.sleep(0.05)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            with installation.store.unit() as uow:  # type: ignore[attr-defined]
                built = uow.session.scalar(select(func.count(Build.id)))
                unchanged = uow.session.scalar(
                    select(func.count(LineState.id)).where(LineState.outcome == "unchanged")
                )
            assert len(queued) == count and built == 0, (len(queued), built)
            assert unchanged == 3 * count, unchanged
        finally:
            builds.stop()
            installation.close()  # type: ignore[attr-defined]
    return {
        "images": count,
        "seconds": seconds,
        "cpu": cpu,
        "seeding": seeding,
        "load": max(load_before, os.getloadavg()[0]),
    }


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or list(SIZES)
    settings = _settings()
    refresh_sources(settings, ["bookworm", "trixie", "forky"], ["amd64"])
    rows = [_run(count) for count in sizes]
    table = [
        "| images | lines | check s | per image ms | CPU s | CPU per image ms | load avg |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        per_image = row["seconds"] / row["images"] * 1000
        cpu_per_image = row["cpu"] / row["images"] * 1000
        table.append(
            f"| {row['images']:,} | {row['images'] * 3:,} | {row['seconds']:.1f} | "
            f"{per_image:.1f} | {row['cpu']:.1f} | {cpu_per_image:.1f} | {row['load']:.1f} |"
        )
    thousand = next((r for r in rows if r["images"] == 1000), None)
    verdict = (
        f"**{'met' if thousand['seconds'] <= TARGET_SECONDS else 'missed'}** "
        f"({thousand['seconds']:.1f} s)"
        if thousand
        else "not measured"
    )
    body = "\n".join(
        [
            "## Refresh check: private images with nothing changed",
            "",
            f"Machine: {machine()}, run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. "
            f"Starter `{STARTER}`, 3 lines (bookworm, trixie, forky), amd64; each image adds "
            "1-4 packages drawn from a pool of 16 (plain and -auto). Embedded defaults: SQLite, "
            "2 worker threads; one check job per image; no build queued (checked). CPU: the "
            "process's user and system seconds over the check (less sensitive than the wall "
            "time to the machine's other work). Load average: the 1-minute figure, the higher "
            "of before and after.",
            "",
            *table,
            "",
            f"Target: 1,000 images x 3 lines in at most {TARGET_SECONDS:.0f} s. {verdict}.",
        ]
    )
    write_section("refresh", body)
    print(body)


if __name__ == "__main__":
    main()
