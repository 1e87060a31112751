"""Start-up figures of the command line, side by side (issue 9).

- ``./couturier --help`` (the checkout's wrapper: ``scripts/bootstrap.sh``, then the project
  environment's ``couturier``) against ``.venv/bin/couturier --help``: the wrapper's own cost.
  Target: at most 150 ms more.
- ``./couturier packages resolve --release bookworm --arch amd64 python3``, whole command, warm
  (indexes on disk, the page cache warm) against ``apt-get install -s python3`` in an empty root
  with apt's binary cache built (the peer of ``bench/catalog.py``). Target: at most 0.5x.
- For the record: ``import couturier.cli.main`` against a bare interpreter.

Every pair runs interleaved (A, B, A, B, ...) after one untimed run of each, so both sides see
the same load; medians. Run with ``bench/run`` (or ``uv run python -m bench.startup``); data
lives in ``$XDG_CACHE_HOME/couturier-bench``, as for ``bench/catalog.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.catalog import _apt_root, _settings
from bench.report import machine, median_ms, write_section
from couturier.debian.refresh import refresh

ROUNDS = 10
ROOT = Path(__file__).resolve().parent.parent
HELP_MARGIN_MS = 150
RESOLVE_RATIO = 0.5
# Kept as written: the code it measured (every command's module and pydantic's models imported
# by the command line, `uv sync` and `uv run` in the wrapper) is gone.
BEFORE = (
    "Before issue 9 (commit 281e2d0, measured once side by side with the change): "
    "`import couturier.cli.main` 573 ms, `.venv/bin/couturier --help` 575 ms, `./couturier "
    "--help` 608 ms, `./couturier packages resolve ... python3` 799 ms."
)


def _interleaved(
    commands: Mapping[str, Sequence[str]], env: Mapping[str, str], rounds: int = ROUNDS
) -> dict[str, list[float]]:
    """Wall seconds of each command, run in turn ``rounds`` times after one untimed run each."""
    for command in commands.values():
        subprocess.run(command, check=True, capture_output=True, env=env, cwd=ROOT)
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(rounds):
        for label, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=env, cwd=ROOT)
            times[label].append(time.perf_counter() - start)
    return times


def _runs(seconds: Sequence[float]) -> str:
    return ", ".join(f"{s * 1000:.0f}" for s in seconds)


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def bench_help(env: Mapping[str, str]) -> list[str]:
    times = _interleaved(
        {
            "wrapper": [str(ROOT / "couturier"), "--help"],
            "venv": [str(ROOT / ".venv" / "bin" / "couturier"), "--help"],
            "import": [sys.executable, "-c", "import couturier.cli.main"],
            "bare": [sys.executable, "-c", "pass"],
        },
        env,
    )
    wrapper, venv = median_ms(times["wrapper"]), median_ms(times["venv"])
    margin = wrapper - venv
    imports = median_ms(times["import"]) - median_ms(times["bare"])
    return [
        "### `couturier --help`",
        "",
        "| command | median ms | runs (ms) |",
        "|---|---:|---|",
        f"| `./couturier --help` (wrapper) | **{wrapper:.0f}** | {_runs(times['wrapper'])} |",
        f"| `.venv/bin/couturier --help` | {venv:.0f} | {_runs(times['venv'])} |",
        f"| `python -c 'import couturier.cli.main'` | {median_ms(times['import']):.0f} | "
        f"{_runs(times['import'])} |",
        f"| `python -c pass` | {median_ms(times['bare']):.0f} | {_runs(times['bare'])} |",
        "",
        f"The wrapper's own cost: **{margin:.0f} ms** (the environment in sync: no `uv` is run). "
        f"Importing the command line costs {imports:.0f} ms over a bare interpreter. "
        f"Target: at most {HELP_MARGIN_MS} ms more than `.venv/bin/couturier --help`. "
        f"**{_verdict(margin <= HELP_MARGIN_MS)}**.",
    ]


def bench_resolve(env: Mapping[str, str]) -> list[str]:
    settings = _settings()
    apt = _apt_root(settings)
    request = ["--release", "bookworm", "--arch", "amd64", "python3"]
    times = _interleaved(
        {
            "couturier": [str(ROOT / "couturier"), "-q", "packages", "resolve", *request],
            "apt": ["apt-get", *apt.options, "install", "-s", "-q", "python3"],
        },
        env,
    )
    ours, peer = median_ms(times["couturier"]), median_ms(times["apt"])
    ratio = ours / peer
    return [
        "### `couturier packages resolve`, whole command, warm",
        "",
        "`./couturier -q packages resolve --release bookworm --arch amd64 python3` (indexes on "
        "disk) against `apt-get install -s -q python3` in an empty root with apt's binary cache "
        "built, the same root as in the catalog section.",
        "",
        "| command | median ms | runs (ms) |",
        "|---|---:|---|",
        f"| `./couturier packages resolve ... python3` | **{ours:.0f}** | "
        f"{_runs(times['couturier'])} |",
        f"| `apt-get install -s python3` | {peer:.0f} | {_runs(times['apt'])} |",
        "",
        f"Ratio **{ratio:.2f}x**. Target: at most {RESOLVE_RATIO}x apt-get. "
        f"**{_verdict(ratio <= RESOLVE_RATIO)}**.",
    ]


def main() -> None:
    settings = _settings()
    print("refreshing bookworm amd64 ...", file=sys.stderr)
    report = refresh(settings, ["bookworm"], ["amd64"], raise_errors=False)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    env = {
        **os.environ,
        "COUTURIER_DATA_DIR": str(settings.data_dir),
        "COUTURIER_CACHE_DIR": str(settings.cache_dir),
    }
    env.pop("COUTURIER_CONFIG", None)
    started = time.time()
    load = os.getloadavg()[0]
    lines = [f"## Start-up\n\nMachine: {machine()}. {ROUNDS} runs of each, interleaved.\n"]
    lines += [*bench_help(env), ""]
    lines += [*bench_resolve(env), "", BEFORE]
    lines += [
        "",
        f"_Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}; load average "
        f"{load:.2f} before, {os.getloadavg()[0]:.2f} after (2 cores shared with other "
        "engineers' test runs: expect noise)._",
    ]
    write_section("startup", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
