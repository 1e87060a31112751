"""``couturier plan`` of a 3-line spec with 20 added packages, indexes cached (issue: private
images), side by side with ``apt-get install -s`` of the same packages in each line's release.

Target: the whole ``couturier plan`` command in at most 1 s. apt needs one call per release; its
binary caches are built beforehand, so it is measured warm too. ``-auto`` entries are given to
apt as the family's plain name (apt has no auto-versioning).

Run with ``bench/run`` (or ``uv run python -m bench.plan``); data lives in
``$XDG_CACHE_HOME/couturier-bench``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from bench.catalog import _settings, _timed
from bench.report import machine, median_ms, write_section
from couturier.debian.refresh import refresh
from couturier.services.starters import get_starter
from tests.apt_oracle import AptRoot, source_lines

ROUNDS = 5
STARTER = "python"
# 20 entries a Python service might add: 15 plain packages and 5 auto packages.
PACKAGES = [
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
    "python3-psycopg2",
    "python3-requests-auto",
    "python3-rsa-auto",
    "python3-attr-auto",
    "python3-lxml-auto",
    "python3-cryptography-auto",
]


def _spec(directory: Path) -> Path:
    path = directory / "bench-plan.yaml"
    body = {"name": "bench-plan", "starter": STARTER, "packages": PACKAGES}
    path.write_text(yaml.safe_dump(body))
    return path


def main() -> None:
    settings = _settings()
    starter = get_starter(settings, STARTER)
    releases = sorted({line.release for line in starter.lines})
    refresh(settings, releases=releases, architectures=["amd64"])
    with tempfile.TemporaryDirectory() as tmp:
        spec = _spec(Path(tmp))
        command = [sys.executable, "-m", "couturier.cli.main", "-q", "plan", str(spec), "--json"]
        plan = json.loads(subprocess.run(command, check=True, capture_output=True).stdout)
        ours = _timed(command, ROUNDS)
    names = [p.removesuffix("-auto") for p in PACKAGES]
    apt_times = []
    for release in releases:
        lines = source_lines(settings.release(release))
        apt = AptRoot(settings.cache_dir.parent / f"apt-{release}", "amd64", lines)
        apt.update()
        apt.install(["python3"])  # builds pkgcache.bin: measured warm
        apt_times.append(
            median_ms(_timed(["apt-get", *apt.options, "install", "-s", "-q", *names]))
        )
    rows = [
        f"| {line['version']} | {line['release']} | {line['status']} | "
        f"{len(line['packages'])} | {line['reason'] or ''} |"
        for line in plan["lines"]
    ]
    whole = median_ms(ours)
    met = whole <= 1000
    write_section(
        "plan",
        "\n".join(
            [
                "## Planning a private image",
                "",
                f"Machine: {machine()}.",
                "",
                f"`couturier plan` of a `{STARTER}` spec (3 lines: "
                f"{', '.join(line.version for line in starter.lines)}) with 20 added packages "
                "(15 plain, 5 `-auto`), indexes cached, whole command (process start to JSON "
                f"printed), median of {ROUNDS}:",
                "",
                "| line | release | status | packages | reason |",
                "|---|---|---|---:|---|",
                *rows,
                "",
                f"**couturier plan: {whole:.0f} ms** for all three lines. Side by side: "
                f"`apt-get install -s` of the same names, one call per release (warm): "
                f"{' + '.join(f'{t:.0f}' for t in apt_times)} = {sum(apt_times):.0f} ms.",
                "",
                f"Target: at most 1 s. **{'met' if met else 'NOT met'}**.",
            ]
        ),
    )
    print(f"plan: {whole:.0f} ms (apt-get {sum(apt_times):.0f} ms)")


if __name__ == "__main__":
    main()
