"""Refusing hostile bundle inputs and specs (issue 8): wall time and peak memory.

Each case runs in a child process of its own (``python -c``), which times the refusal alone
and reports its peak resident memory (``VmHWM``: ``ru_maxrss`` would keep the parent's peak
across fork and exec); the median of the times and the largest
peak over the rounds are written. Inputs are made by :mod:`tests.hostile` (a few MiB each):

- a zip whose headers declare 10 bytes for a member that inflates to 1 GiB, and one that says
  1 GiB honestly;
- a ``.tar.xz`` (and ``.tar.bz2``) holding one member of 16 GiB of zeros;
- a spec of ten levels of nested YAML aliases, and one of a megabyte of tiny values.

Side by side, the naive reading used before (``zipfile.read`` of the member, ``tarfile``
walking the whole archive, ``yaml.safe_load`` and the repr a message would print), stopped
after :data:`NAIVE_TIMEOUT` seconds.

Target: each refusal in under 2 s and under 100 MB. Run with ``bench/run`` (or
``uv run python -m bench.hostile``).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from bench.report import machine, write_section
from tests.hostile import GiB, alias_bomb, huge_tar, lying_zip

ROUNDS = 5
NAIVE_TIMEOUT = 20
ROOT = Path(__file__).resolve().parent.parent

_MEASURE = """
import sys, time
from pathlib import Path
path, data = Path(sys.argv[1]), sys.argv[2]
start = time.monotonic()
{body}
seconds = time.monotonic() - start
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
print(f"{{seconds:.4f}} {{int(peak) // 1024}} {{outcome}}")
"""

OURS_BUNDLE = """
from couturier.core.bundle import BundleError
from couturier.services.bundles import create_bundle
from couturier.settings import load_settings
settings = load_settings(None, {"COUTURIER_DATA_DIR": data, "COUTURIER_CACHE_DIR": data})
try:
    create_bundle(settings, "bomb", "files", [path], "/srv")
    outcome = "stored"
except BundleError:
    outcome = "refused"
"""

OURS_SPEC = """
from couturier.errors import InputError
from couturier.services.specs import load_spec
from couturier.services.starters import starters
from couturier.settings import load_settings
try:
    load_spec(path, starters(load_settings(None, env={})))
    outcome = "accepted"
except InputError:
    outcome = "refused"
"""

NAIVE_ZIP = """
import zipfile
with zipfile.ZipFile(path) as archive:
    try:
        size = len(archive.read(archive.infolist()[0]))
        outcome = f"read-{size}"
    except zipfile.BadZipFile:
        outcome = "bad-crc-after-inflating"
"""

NAIVE_YAML = """
import yaml
try:
    data = yaml.safe_load(path.read_text())
    outcome = f"printed-{len(repr(data))}-chars"
except MemoryError:
    outcome = "MemoryError"
"""

NAIVE_TAR = """
import tarfile
with tarfile.open(path, "r:*") as archive:
    outcome = f"walked-{len(archive.getmembers())}"
"""


def _run(body: str, path: Path, data: Path, timeout: float) -> tuple[float, int, str] | None:
    """(seconds, peak MB, outcome) of one child, or None when it ran past ``timeout``."""
    imports = "import couturier.services.bundles, couturier.core.spec\n"
    program = imports + _MEASURE.format(body=textwrap.dedent(body))
    try:
        done = subprocess.run(
            [sys.executable, "-c", program, str(path), str(data)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    seconds, peak, outcome = done.stdout.split()[-3:]
    return float(seconds), int(peak), outcome


def _case(body: str, path: Path, data: Path, rounds: int, timeout: float) -> str:
    """``| time ms | peak MB | outcome |`` cells over ``rounds`` children."""
    results = []
    for _ in range(rounds):
        result = _run(body, path, data, timeout)
        if result is None:
            return f"> {timeout * 1000:.0f} (stopped) | - | still reading"
        results.append(result)
    seconds = statistics.median(r[0] for r in results)
    peak = max(r[1] for r in results)
    return f"{seconds * 1000:.0f} | {peak} | {results[0][2]}"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        data = directory / "data"
        inputs = {
            "zip, header declares 10 B, inflates to 1 GiB": lying_zip(directory / "lie.zip"),
            "zip, member of 1 GiB declared honestly": lying_zip(
                directory / "honest.zip", declared=GiB
            ),
            ".tar.xz, one member of 16 GiB": huge_tar(directory / "big.tar.xz"),
            ".tar.bz2, one member of 16 GiB": huge_tar(
                directory / "big.tar.bz2", compression="bz2"
            ),
        }
        spec = directory / "bomb.yaml"
        spec.write_text(alias_bomb(10))
        rows, worst_ms, worst_mb = [], 0.0, 0
        for label, path in inputs.items():
            cells = _case(OURS_BUNDLE, path, data, ROUNDS, 30)
            naive_body = NAIVE_ZIP if path.suffix == ".zip" else NAIVE_TAR
            naive = _case(naive_body, path, data, 1, NAIVE_TIMEOUT)
            size = path.stat().st_size
            rows.append(f"| {label} ({size / 1e6:.1f} MB) | {cells} | {naive} |")
            worst_ms = max(worst_ms, float(cells.split(" | ")[0]))
            worst_mb = max(worst_mb, int(cells.split(" | ")[1]))
        values = directory / "values.yaml"
        values.write_text("name: ab\nstarter: base\npackages: [" + "1," * 500_000 + "]\n")
        specs = {
            f"spec of 10 levels of YAML aliases ({spec.stat().st_size} B)": spec,
            f"spec of 500,000 tiny values ({values.stat().st_size / 1e6:.1f} MB)": values,
        }
        for label, path in specs.items():
            cells = _case(OURS_SPEC, path, data, ROUNDS, 30)
            naive = _case(NAIVE_YAML, path, data, 1, NAIVE_TIMEOUT)
            rows.append(f"| {label} | {cells} | {naive} |")
            worst_ms = max(worst_ms, float(cells.split(" | ")[0]))
            worst_mb = max(worst_mb, int(cells.split(" | ")[1]))
    met = worst_ms < 2000 and worst_mb < 100
    write_section(
        "hostile",
        "\n".join(
            [
                "## Refusing hostile inputs",
                "",
                f"Machine: {machine()}.",
                "",
                "Each refusal runs in a child process of its own: time of the refusal alone "
                f"(median of {ROUNDS}), peak resident memory of the whole child (imports "
                "included, largest of the rounds). Side by side, one child reading the same "
                "input naively, as Couturier did before (`zipfile.read`, `tarfile` walking "
                "every member, `yaml.safe_load` and the repr of what it gave), stopped after "
                f"{NAIVE_TIMEOUT} s.",
                "",
                "| input | couturier ms | peak MB | outcome | naive ms | naive peak MB | "
                "naive outcome |",
                "|---|---:|---:|---|---:|---:|---|",
                *rows,
                "",
                f"Target: each refusal under 2 s and 100 MB. **{'met' if met else 'NOT met'}** "
                f"(slowest {worst_ms:.0f} ms, largest {worst_mb} MB).",
            ]
        ),
    )
    print(f"hostile: slowest {worst_ms:.0f} ms, largest {worst_mb} MB")


if __name__ == "__main__":
    main()
