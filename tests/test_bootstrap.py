"""``scripts/bootstrap.sh``, which ``./couturier`` and ``./run-tests`` source before anything else.

Every new user lacks uv on ``PATH``; the first run installs it into a tools venv of its own. Later
runs must find that copy instead of installing uv again (5 to 11 s per command).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_uv_installed_by_an_earlier_run_is_found_not_installed_again(tmp_path: Path) -> None:
    # The tools venv an earlier run made, with a uv that records how it is called.
    tools = tmp_path / "data" / "couturier-tools" / "bin"
    tools.mkdir(parents=True)
    calls = tmp_path / "uv-calls"
    uv = tools / "uv"
    uv.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    uv.chmod(0o755)
    path = ":".join(d for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin") if Path(d).is_dir())
    env = {"PATH": path, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    assert all(not (Path(d) / "uv").exists() for d in path.split(":"))  # not on PATH
    done = subprocess.run(
        ["bash", "-c", f'source "{ROOT}/scripts/bootstrap.sh" && command -v uv'],
        env={**env, "LANG": os.environ.get("LANG", "C.UTF-8")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "installing uv" not in done.stderr
    assert done.stdout.strip() == str(uv)
    assert "sync" in calls.read_text()  # the project environment is still synced, by that uv
