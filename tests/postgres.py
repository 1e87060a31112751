"""A real PostgreSQL for the service tests: Debian's ``postgresql``, one cluster per test session
in a temporary directory, reached over a Unix socket there, and one new database per test.

PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the
``postgres`` account (made by Debian's package) or ``nobody``. Tests that use it are marked
``postgres``; without the server installed they are skipped, naming the package
(``./run-tests`` installs it).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresCluster", "find_bin_dir", "postgres_cluster", "postgres_url", "running_cluster"]

_USER = "couturier"


def find_bin_dir() -> Path | None:
    """The directory of the newest installed PostgreSQL's programs, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@dataclass
class PostgresCluster:
    """A running cluster: its socket directory and port, and a counter for new databases."""

    socket_dir: Path
    port: int
    _names: itertools.count[int]

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{_USER}@/{database}?host={self.socket_dir}&port={self.port}"

    def new_database(self) -> str:
        """A new empty database's URL."""
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=_USER,
            dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def _owner() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and there is no postgres or nobody account")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster started for this session (stopped and removed after)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; ./run-tests does)")
    with running_cluster(bin_dir) as cluster:
        yield cluster


@contextmanager
def running_cluster(bin_dir: Path) -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of the server in ``bin_dir``, in a temporary directory, stopped
    and removed at the end (also used by ``bench/workers.py``)."""
    owner = _owner()
    root = Path(tempfile.mkdtemp(prefix="couturier-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    uid, gid = (owner.pw_uid, owner.pw_gid) if owner else (None, None)  # None: as the tests
    if owner:
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    environment = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(root)}

    def run(*argv: str) -> None:
        subprocess.run(
            argv,
            check=True,
            capture_output=True,
            env=environment,
            timeout=120,
            cwd=root,
            user=uid,
            group=gid,
        )

    # A port of its own, so a system cluster on 5432 does not matter.
    port = 20000 + os.getpid() % 20000
    run(str(bin_dir / "initdb"), "-D", str(data), "-U", _USER, "-A", "trust", "-E", "UTF8")
    options = f"-k {sockets} -p {port} -c listen_addresses='' -c fsync=off"
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-w",
        "-l",
        str(root / "log"),
        "start",
    )
    try:
        yield PostgresCluster(sockets, port, itertools.count(1))
    finally:
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
            env=environment,
            timeout=60,
            cwd=root,
            user=uid,
            group=gid,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """The URL of a new, empty database of the session's cluster."""
    return postgres_cluster.new_database()
