"""Random and mutated specs, settings files and archives fed to the real entry points
(:mod:`tests.fuzz_hostile`), in a child process whose address space is capped, so that a
decompression or alias bomb that slipped through fails this test instead of the machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz_hostile import PROPERTIES

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_hostile_inputs_end_in_couturier_errors(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz_hostile", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{name}: ok" in done.stdout
