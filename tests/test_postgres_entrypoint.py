"""The postgres starter's entrypoint script, run by dash with stand-ins for initdb and postgres.

The stand-ins are shell scripts written by the test: they record their arguments and standard
input and make the files the real ``initdb`` makes, so the script's own logic (when it
initialises, what it passes, how it quotes the database name, what it refuses) is checked
without PostgreSQL; ``tests/test_e2e_images.py`` runs the real thing under podman.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.starters import starter_named

pytestmark = pytest.mark.skipif(shutil.which("dash") is None, reason="needs dash")

INITDB = """#!/bin/sh
mkdir -p "$PGDATA"
printf '%s\\n' "$@" > "$LOG/initdb.args"
if [ -t 0 ]; then : > "$LOG/initdb.stdin"; else cat > "$LOG/initdb.stdin"; fi
echo 17 > "$PGDATA/PG_VERSION"
echo "# postgresql.conf" > "$PGDATA/postgresql.conf"
echo "# pg_hba.conf" > "$PGDATA/pg_hba.conf"
"""
POSTGRES = """#!/bin/sh
if [ "$1" = --single ]; then
    printf '%s\\n' "$@" > "$LOG/single.args"
    cat > "$LOG/single.stdin"
else
    for a in "$@"; do printf '%s\\n' "$a"; done > "$LOG/postgres.args"
fi
"""


def _script() -> bytes:
    (entrypoint,) = starter_named("postgres").files
    assert entrypoint.path == "/usr/local/bin/docker-entrypoint.sh" and entrypoint.mode == 0o755
    return entrypoint.data


def _run(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir(exist_ok=True)
    log.mkdir(exist_ok=True)
    for name, text in (("initdb", INITDB), ("postgres", POSTGRES)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    script = tmp_path / "docker-entrypoint.sh"
    script.write_bytes(_script())
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PGDATA": str(tmp_path / "data"),
        "LOG": str(log),
        **env,
    }
    done = subprocess.run(
        ["dash", str(script), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return done, log


def test_first_start_initialises_as_the_official_image_does(tmp_path: Path) -> None:
    done, log = _run(tmp_path, "postgres", POSTGRES_PASSWORD="s3cret", POSTGRES_DB='my"db')
    assert done.returncode == 0, done.stderr
    assert (log / "initdb.args").read_text().splitlines() == [
        "--username=postgres",
        "--pwfile=/dev/stdin",
    ]
    assert (log / "initdb.stdin").read_text() == "s3cret\n"
    data = tmp_path / "data"
    assert (data / "postgresql.conf").read_text().endswith("\nlisten_addresses = '*'\n")
    assert (data / "pg_hba.conf").read_text().endswith("\nhost all all all scram-sha-256\n")
    assert (log / "single.stdin").read_text() == 'CREATE DATABASE "my""db";\n'
    assert (log / "single.args").read_text().split() == [
        "--single",
        "-j",
        "-D",
        str(data),
        "postgres",
    ]
    assert (log / "postgres.args").read_text().splitlines() == []  # exec postgres, no arguments
    assert "init process complete" in done.stdout


def test_user_db_and_initdb_arguments(tmp_path: Path) -> None:
    done, log = _run(
        tmp_path,
        "-c",
        "max_connections=5",
        POSTGRES_PASSWORD="pw",
        POSTGRES_USER="app",
        POSTGRES_INITDB_ARGS="--data-checksums --locale=C.UTF-8",
        POSTGRES_HOST_AUTH_METHOD="md5",
    )
    assert done.returncode == 0, done.stderr
    assert (log / "initdb.args").read_text().splitlines() == [
        "--username=app",
        "--pwfile=/dev/stdin",
        "--data-checksums",
        "--locale=C.UTF-8",
    ]
    # POSTGRES_DB defaults to the user's name; "-c ..." goes to postgres.
    assert (log / "single.stdin").read_text() == 'CREATE DATABASE "app";\n'
    assert (tmp_path / "data/pg_hba.conf").read_text().endswith("host all all all md5\n")
    assert (log / "postgres.args").read_text().splitlines() == ["-c", "max_connections=5"]


def test_without_a_password_nothing_is_initialised(tmp_path: Path) -> None:
    done, log = _run(tmp_path)
    assert done.returncode == 1 and "POSTGRES_PASSWORD" in done.stderr
    assert not (log / "initdb.args").exists() and not (log / "postgres.args").exists()
    # trust needs no password: initdb gets no password file.
    done, log = _run(tmp_path, POSTGRES_HOST_AUTH_METHOD="trust")
    assert done.returncode == 0, done.stderr
    assert (log / "initdb.args").read_text().splitlines() == ["--username=postgres"]
    assert not (log / "single.args").exists()  # the postgres database exists already


def test_an_initialised_directory_is_started_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/PG_VERSION").write_text("17\n")
    done, log = _run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (log / "initdb.args").exists()
    assert (log / "postgres.args").exists()


def test_another_command_runs_as_it_is(tmp_path: Path) -> None:
    done, log = _run(tmp_path, "printf", "%s", "psql here")
    assert done.returncode == 0 and done.stdout == "psql here", done.stderr
    assert not (log / "initdb.args").exists() and not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("postgres", "--version"),
        ("postgres", "-V"),
        ("postgres", "--help"),
        ("postgres", "-?"),
        ("postgres", "--describe-config"),
        ("postgres", "-c", "work_mem=8MB", "--version"),
        ("--version",),  # a first argument starting with "-" is for postgres
        ("-V",),
    ],
)
def test_version_and_help_run_without_a_password_or_a_database(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """As the official image's ``_pg_want_help``: postgres answers and exits, so nothing is
    initialised and no password is asked for."""
    done, log = _run(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    expected = list(args[1:]) if args[0] == "postgres" else list(args)
    assert (log / "postgres.args").read_text().splitlines() == expected
    assert not (log / "initdb.args").exists() and not (tmp_path / "data").exists()


def test_show_a_setting_initialises_first_as_the_official_image_does(tmp_path: Path) -> None:
    """``postgres -C name`` reads postgresql.conf, so, as upstream, it is not a help call: the
    directory is initialised first (and without a password that is refused)."""
    done, log = _run(tmp_path, "-C", "max_connections")
    assert done.returncode == 1 and "POSTGRES_PASSWORD" in done.stderr
    done, log = _run(tmp_path, "-C", "max_connections", POSTGRES_PASSWORD="pw")
    assert done.returncode == 0, done.stderr
    assert (log / "initdb.args").exists()
    assert (log / "postgres.args").read_text().splitlines() == ["-C", "max_connections"]
