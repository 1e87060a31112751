"""Gallery figures (issue 10): ``GET /v1/images`` (page size 50) with 1,000 images in the
database, at 20 concurrent connections, on SQLite and on PostgreSQL; p50/p95/p99 latency from
``wrk`` (Debian's package) with ``bench/gallery.lua`` adding the token and printing the
percentiles.

``couturier serve --workers 0`` runs on each database (a PostgreSQL cluster in a temporary
directory, as the tests start one, :func:`tests.postgres.running_cluster`); the images are
written through the store's models after the first start made tenant 1: each has a created
build with three lines (full version, digest, tags), one in four an older failed build too and
one in five a newer build still in progress, so the gallery's queries (latest build, latest
finished build, their lines) do their real work. Each round runs ``wrk`` on the first page
(``?limit=50``) and on a page in the middle (``?limit=50&cursor=...``), on one database and then
the other; medians of the rounds. Besides the latencies it reads the server process's own
CPU time over each run (``/proc/PID/stat``), divided by the requests it answered: a figure
that other work on the machine disturbs much less than the latencies. Run with ``uv run
python -m bench.gallery [--rounds N] [--seconds S]``.
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
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import create_engine, text

from bench.engine import median
from bench.processes import start, stop
from bench.report import machine, write_section
from couturier.cli.serve import api_processes
from couturier.core.tokens import parse_token
from couturier.settings import Settings, load_settings
from couturier.store.cards import CardKeepingSession
from couturier.store.models import Build, BuildLine, Image
from tests.postgres import find_bin_dir, running_cluster

IMAGES = 1000
PAGE = 50
CONNECTIONS = 20
TARGET_MS = 50.0
LUA = Path(__file__).with_name("gallery.lua")
LINES = (("3.13", "3.13.5"), ("3.12", "3.12.11"), ("3.11", "3.11.2"))


def _build(image: Image, status: str, when: dt.datetime, finished: bool) -> Build:
    return Build(
        tenant_id=image.tenant_id,
        image_id=image.id,
        trace_id=uuid.uuid4().hex,
        status=status,
        trigger="create" if status != "in progress" else "edit",
        attempts=1,
        spec=image.spec,
        created_at=when,
        started_at=when,
        finished_at=when + dt.timedelta(seconds=40) if finished else None,
    )


def _lines(build: Build, status: str, tag: str) -> list[BuildLine]:
    rows = []
    for label, full in LINES:
        created = status == "created"
        rows.append(
            BuildLine(
                build_id=build.id,
                line=label,
                architecture="amd64",
                status=status,
                full_version=full,
                digest=f"sha256:{uuid.uuid4().hex}{uuid.uuid4().hex}" if created else None,
                tags=[f"{label}-{tag}", label, full] if created else [],
                problem=(
                    None
                    if status in ("created", "pending")
                    else {"code": "build-failed", "message": "apt failed", "fields": {}}
                ),
                started_at=build.started_at,
                finished_at=build.finished_at,
            )
        )
    return rows


def seed(url: str, count: int = IMAGES) -> None:
    """``count`` images of tenant 1 with their builds and lines, written through the models
    in a session that makes their gallery cards as the service's units do."""
    engine = create_engine(url)
    now = dt.datetime.now(dt.UTC)
    with CardKeepingSession(engine) as session:
        images = []
        for number in range(count):
            spec = {
                "name": f"app-{number:04d}",
                "starter": "python",
                "description": f"service number {number}",
                "packages": ["curl", "python3-requests-auto"],
                "env": {"APP_ENV": "production"},
                "bundles": [],
                "architectures": ["amd64"],
            }
            images.append(
                Image(
                    tenant_id=1,
                    name=spec["name"],
                    starter="python",
                    description=spec["description"],
                    spec=spec,
                    created_at=now,
                    updated_at=now,
                )
            )
        session.add_all(images)
        session.flush()
        builds: list[tuple[Build, str]] = []
        for number, image in enumerate(images):
            if number % 4 == 0:
                builds.append((_build(image, "image build failed", now, True), "failed"))
            builds.append((_build(image, "created", now, True), "created"))
            if number % 5 == 0:
                builds.append((_build(image, "in progress", now, False), "pending"))
        session.add_all([build for build, _ in builds])
        session.flush()
        for build, status in builds:
            session.add_all(_lines(build, status, build.trace_id[:8]))
        session.commit()
    engine.dispose()


def _cpu_seconds(pid: int) -> float:
    """The user and system CPU time so far of process ``pid`` and of its running children
    (``serve``'s API processes on PostgreSQL), from Linux' ``/proc/PID/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        children += [int(child) for child in task.read_text().split()]
    return own + sum(_cpu_seconds(child) for child in children)


def _wrk(url: str, token: str, seconds: int, pid: int) -> dict[str, Any]:
    """One ``wrk`` run on ``url``: its requests, errors and percentiles (µs), the load average
    after it, and ``cpu_ms``: the CPU time of the server ``pid`` per request answered."""
    env = {**os.environ, "COUTURIER_BENCH_TOKEN": token}
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(LUA), url]
    before = _cpu_seconds(pid)
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    used = _cpu_seconds(pid) - before
    found = re.search(r"^WRK (\{.*\})$", out, re.MULTILINE)
    if found is None:
        raise SystemExit(f"wrk printed no percentiles:\n{out}")
    result: dict[str, Any] = json.loads(found.group(1))
    result["load"] = os.getloadavg()[0]
    result["cpu_ms"] = used * 1000 / max(result["requests"], 1)
    return result


class Server:
    """``couturier serve --workers 0`` on one database, seeded, with its token and URL."""

    token: str
    base: str
    urls: dict[str, str]

    def __init__(self, name: str, work: Path, database_url: str | None, *args: str) -> None:
        self.name = name
        home = work / name
        (home / "data").mkdir(parents=True)
        settings = {"architectures": ["amd64"], "data_dir": str(home / "data")}
        (home / "couturier.yaml").write_text(yaml.safe_dump(settings))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "COUTURIER_CONFIG": str(home / "couturier.yaml"),
        }
        if database_url is not None:
            env["COUTURIER_DATABASE_URL"] = database_url
        self.database_url = database_url or f"sqlite:///{home / 'data' / 'couturier.db'}"
        self.log = home / "serve.log"
        self.process = start(["serve", "--port", "0", "--workers", "0", *args], env, self.log)

    def prepare(self) -> None:
        """Read the token and address the first start printed, seed the database, and find
        the cursor of the page in the middle of the gallery."""
        text = self.log.read_text()
        self.token = re.findall(r"^ctr_\w+$", text, re.MULTILINE)[0]
        self.base = re.findall(r"serving on (http://[\d.:]+)", text)[0]
        seed(self.database_url)
        with httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}
        ) as client:
            first = client.get("/v1/images", params={"limit": PAGE})
            first.raise_for_status()
            cursor = first.json()["next"]
            for _ in range(IMAGES // PAGE // 2 - 1):  # the page in the middle of the gallery
                page = client.get("/v1/images", params={"limit": PAGE, "cursor": cursor})
                page.raise_for_status()
                cursor = page.json()["next"]
            assert len(first.json()["items"]) == PAGE and cursor is not None
        self.urls = {
            "first page": f"{self.base}/v1/images?limit={PAGE}",
            "middle page": f"{self.base}/v1/images?limit={PAGE}&cursor={cursor}",
        }

    def breakdown(self) -> dict[str, float]:
        """Where one request's time goes, one request at a time (medians, ms): the whole
        request for a page and for one card, ``/healthz`` (no token, no database), and the
        gallery's two SQL statements (the token by id, the page of cards) run bare from this
        process."""
        found: dict[str, float] = {}
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers) as client:
            for key, path in (
                ("page", f"/v1/images?limit={PAGE}"),
                ("one card", "/v1/images?limit=1"),
                ("healthz", "/healthz"),
            ):
                found[key] = _timed(lambda p=path: client.get(p).raise_for_status())
        engine = create_engine(self.database_url)
        parts = parse_token(self.token)
        assert parts is not None
        with engine.connect() as connection:
            found["sql"] = _timed(
                lambda: (
                    connection.execute(_TOKEN, {"id": parts.token_id}).fetchall(),
                    connection.execute(_CARDS, {"limit": PAGE + 1}).fetchall(),
                )
            )
        engine.dispose()
        return found


_TOKEN = text(
    "SELECT id, tenant_id, scope, secret_sha256, expires_at, revoked_at FROM tokens WHERE id = :id"
)
_CARDS = text("SELECT name, card FROM image_cards WHERE tenant_id = 1 ORDER BY name LIMIT :limit")


def _timed(call: Any, count: int = 50) -> float:
    for _ in range(5):
        call()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return median(times) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds on each database (3)")
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run's length (10)")
    args = parser.parse_args(argv)
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk; bench/run does)")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="couturier-bench-gallery-") as temp:
        work = Path(temp)
        with running_cluster(bin_dir) as cluster:
            servers: list[Server] = []
            try:
                servers.append(Server("SQLite", work, None))
                processes = api_processes(_postgres_settings(), None)
                servers.append(
                    Server(f"PostgreSQL, {processes} API processes", work, cluster.new_database())
                )
                if processes > 1:
                    servers.append(
                        Server(
                            "PostgreSQL, 1 API process",
                            work,
                            cluster.new_database(),
                            "--api-processes",
                            "1",
                        )
                    )
                for server in servers:
                    server.prepare()
                for server in servers:  # untimed: warm the processes and the databases
                    _wrk(server.urls["first page"], server.token, 2, server.process.pid)
                breakdowns = {server.name: server.breakdown() for server in servers}
                print(json.dumps(breakdowns), file=sys.stderr)
                for number in range(args.rounds):
                    for server in servers:
                        for page, url in server.urls.items():
                            result = _wrk(url, server.token, args.seconds, server.process.pid)
                            result.update(database=server.name, page=page, round=number)
                            results.append(result)
                            print(json.dumps(result), file=sys.stderr)
            finally:
                for server in servers:
                    stop(server.process)
    _report(results, breakdowns, args.seconds)


def _postgres_settings() -> Settings:
    """Settings naming a PostgreSQL database (its address unused): what ``serve`` reads to
    choose its number of API processes."""
    env = {"HOME": os.environ.get("HOME", "/root"), "COUTURIER_DATABASE_URL": _ANY_POSTGRES}
    return load_settings(env=env)


_ANY_POSTGRES = "postgresql://couturier@localhost/couturier"


def _pg_version() -> str:
    found = find_bin_dir()
    return found.parent.name if found is not None else "?"


def _report(
    results: list[dict[str, Any]], breakdowns: dict[str, dict[str, float]], seconds: int
) -> None:
    rows = []
    verdicts = []
    for database in dict.fromkeys(r["database"] for r in results):
        worst = 0.0
        for page in ("first page", "middle page"):
            mine = [r for r in results if r["database"] == database and r["page"] == page]
            p50, p95, p99 = (median([r[p] / 1000 for r in mine]) for p in ("p50", "p95", "p99"))
            rate = median([r["requests"] / r["seconds"] for r in mine])
            errors = sum(r["errors"] for r in mine)
            load = median([r["load"] for r in mine])
            cpu = median([r["cpu_ms"] for r in mine])
            rows.append(
                f"| {database} | {page} | {p50:.1f} | **{p95:.1f}** | {p99:.1f} | {rate:.0f} "
                f"| {cpu:.2f} | {errors} | {load:.2f} |"
            )
            worst = max(worst, p95)
        met = "met" if worst <= TARGET_MS else "**not met**"
        verdicts.append(f"{database}: {met} (p95 {worst:.1f} ms at worst)")
    table = "\n".join(rows)
    parts = "\n".join(
        f"| {name} | {b['page']:.2f} | {b['one card']:.2f} | {b['healthz']:.2f} | {b['sql']:.2f} |"
        for name, b in breakdowns.items()
    )
    runs = "; ".join(
        f"{r['database']} {r['page']}: p95 {r['p95'] / 1000:.1f} ms, {r['cpu_ms']:.2f} ms CPU "
        f"(load {r['load']:.2f})"
        for r in results
    )
    loads = [r["load"] for r in results]
    body = f"""## Gallery: `GET /v1/images` with 1,000 images

Machine: {machine()}; `couturier serve --workers 0` (uvicorn, httptools and uvloop) on
SQLite (one process) and on PostgreSQL {_pg_version()} (a cluster in a temporary directory,
Unix socket, fsync off) with its default number of API processes (one per core, up to 4;
each listens on the port with `SO_REUSEPORT`) and with `--api-processes 1`, side by side in
one run; `wrk` (2 threads, {CONNECTIONS} connections,
{seconds} s a run, `bench/gallery.lua` adds the token and reports the percentiles) on the same
machine. **Load average during the runs: {min(loads):.1f} to {max(loads):.1f}** (other work
on these 2 cores: the latencies are noisy; the CPU column much less).

The database holds {IMAGES:,} images of tenant 1, each with a created build of three lines
(full version, digest, tags), one in four an older failed build too and one in five a newer
build in progress, so each card's last build and last finished build differ where they would.
A page is {PAGE} cards. Latencies in ms, medians of the rounds; **CPU** = the server process's
CPU time per request answered (ms; its API processes' together), load = the 1-minute load
average at the end of each run.

| database | page | p50 | p95 | p99 | requests/s | CPU | errors | load |
|---|---|---:|---:|---:|---:|---:|---:|---:|
{table}

**Target p95 ≤ {TARGET_MS:.0f} ms at {CONNECTIONS} connections:** {"; ".join(verdicts)}.

Runs in order: {runs}.

### How a request is made now

Each image's card is stored as JSON text (table `image_cards`, `couturier.store.cards`),
made again in the transaction of every change of the image or its builds. A page is one
statement over `(tenant_id, name)` whose texts are joined into the body without being decoded
or validated again, and the token is one statement by its id; neither needs a transaction
(`Store.reading`). On SQLite both run in the event loop; on PostgreSQL each goes to a worker
thread (the loop keeps serving while the database answers), which costs more CPU; so
on PostgreSQL, where no process owns the database, `serve` answers from one process per
core. Objects made at start are frozen out of the garbage collector's sight (`gc.freeze`):
a full collection walked them all, tens of ms paid by whichever request triggered it. Before
(17.5 ms per request alone on SQLite, 29 ms on PostgreSQL; p95 738 to 1077 ms at
{CONNECTIONS} connections) a page loaded ~300 ORM rows, decoded their JSON and validated
{PAGE} cards with pydantic.

### Where the time goes

One request at a time against the same servers (medians of 50, ms, measured from this
process with httpx, so they include the client's own time): the whole request for a page of
{PAGE} cards, for one card (`?limit=1`), `/healthz` (no token, no database); **SQL** = the
request's two statements (the token by id, the page of cards) run bare from this process.
With {CONNECTIONS} connections kept busy, a request waits for the ones before it in its
process, so with one process p50 is about {CONNECTIONS} times a request's CPU.

| database | page | one card | /healthz | SQL |
|---|---:|---:|---:|---:|
{parts}

_Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC._"""
    write_section("gallery", body)
    print(body)


if __name__ == "__main__":
    main()
