"""Couturier processes the service benchmarks start and stop: ``serve`` and ``worker``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path


def start(
    argv: list[str], env: dict[str, str], log: Path, ready: str = "startup complete"
) -> subprocess.Popen[bytes]:
    """Run ``couturier ARGV`` with ``env``, its stderr in ``log``, and wait (at most 120 s) for
    ``ready`` to appear there; exits the benchmark with the log when it stops or never does."""
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "couturier.cli.main", *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 120
    while ready not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{argv[0]} did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM ``process`` and wait up to 60 s for it, then kill it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
