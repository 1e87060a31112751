"""``scripts/bootstrap.sh``, which ``./couturier`` and ``./run-tests`` source before anything else.

Every new user lacks uv on ``PATH``; the first run installs it into a tools venv of its own. Later
runs must find that copy instead of installing uv again (5 to 11 s per command). The project
environment is synced when ``uv.lock`` or ``pyproject.toml`` changed since the last successful
sync, not on every command (a `uv sync` with nothing to do costs ~0.1 s), and ``./couturier``
runs the environment's ``couturier`` directly. The tests run copies of the scripts in a project
of their own, with a ``uv`` that records how it is called.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _project(tmp_path: Path) -> Path:
    """A copy of ./couturier and scripts/bootstrap.sh with a pyproject.toml and uv.lock."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", project / "scripts" / "bootstrap.sh")
    shutil.copy(ROOT / "couturier", project / "couturier")
    (project / "pyproject.toml").write_text('[project]\nname = "couturier"\n')
    (project / "uv.lock").write_text("version = 1\n")
    return project


def _fake_uv(tmp_path: Path, project: Path, *, fails: bool = False) -> tuple[Path, Path]:
    """A uv in an earlier run's tools venv that records its calls; its ``sync`` makes the
    project environment (a ``couturier`` that prints its arguments), or fails. Returns (uv,
    the file of calls)."""
    tools = tmp_path / "data" / "couturier-tools" / "bin"
    tools.mkdir(parents=True, exist_ok=True)
    calls = tmp_path / "uv-calls"
    uv = tools / "uv"
    venv_bin = project / ".venv" / "bin"
    sync = (
        "exit 1"
        if fails
        else f"mkdir -p {venv_bin} && printf '#!/bin/sh\\necho \"ran $*\"\\n' > "
        f"{venv_bin}/couturier && chmod +x {venv_bin}/couturier"
    )
    uv.write_text(f'#!/bin/sh\necho "$@" >> {calls}\ncase "$1" in sync) {sync} ;; esac\n')
    uv.chmod(0o755)
    return uv, calls


def _env(tmp_path: Path) -> dict[str, str]:
    path = ":".join(d for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin") if Path(d).is_dir())
    return {
        "PATH": path,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }


def _couturier(project: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(project / "couturier"), *args],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _syncs(calls: Path) -> int:
    text = calls.read_text() if calls.exists() else ""
    return sum(1 for line in text.splitlines() if line.startswith("sync"))


def test_the_environment_is_synced_once_then_again_only_when_the_lock_changes(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path)
    _, calls = _fake_uv(tmp_path, project)
    first = _couturier(project, tmp_path, "--help")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "ran --help"  # the environment's couturier, run directly
    assert _syncs(calls) == 1
    again = _couturier(project, tmp_path, "packages", "resolve")
    assert again.stdout.strip() == "ran packages resolve"
    assert _syncs(calls) == 1  # in sync: no uv at all
    with (project / "uv.lock").open("a") as lock:
        lock.write("# a dependency more\n")
    assert _couturier(project, tmp_path, "--help").returncode == 0
    assert _syncs(calls) == 2
    (project / "pyproject.toml").write_text('[project]\nname = "couturier"\nversion = "2"\n')
    assert _couturier(project, tmp_path, "--help").returncode == 0
    assert _syncs(calls) == 3
    assert _couturier(project, tmp_path, "--help").returncode == 0
    assert _syncs(calls) == 3
    shutil.rmtree(project / ".venv")  # a removed environment is made again
    assert _couturier(project, tmp_path, "--help").stdout.strip() == "ran --help"
    assert _syncs(calls) == 4


def test_a_failed_sync_is_tried_again_by_the_next_command(tmp_path: Path) -> None:
    project = _project(tmp_path)
    _, calls = _fake_uv(tmp_path, project, fails=True)
    assert _couturier(project, tmp_path, "--help").returncode != 0
    assert not (project / ".venv" / ".couturier-sync-stamp").exists()
    _fake_uv(tmp_path, project)  # the network is back
    done = _couturier(project, tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ran --help"
    assert _syncs(calls) == 3  # --frozen and plain, failed; then the one that worked


def test_a_uv_installed_by_an_earlier_run_is_found_not_installed_again(tmp_path: Path) -> None:
    project = _project(tmp_path)
    uv, calls = _fake_uv(tmp_path, project)
    env = _env(tmp_path)
    assert all(not (Path(d) / "uv").exists() for d in env["PATH"].split(":"))  # not on PATH
    done = subprocess.run(
        ["bash", "-c", f'source "{project}/scripts/bootstrap.sh" && command -v uv'],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "installing uv" not in done.stderr
    assert done.stdout.strip() == str(uv)
    assert "sync" in calls.read_text()  # the project environment is still synced, by that uv
