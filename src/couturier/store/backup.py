"""A consistent copy of a SQLite database while it is in use: SQLite's online backup API.

The copy is one snapshot of the database (what was committed when it began), made page by
page while other connections go on reading and writing; the write-ahead log is folded in, so
the copy is one self-contained file.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

__all__ = ["copy_sqlite", "sqlite_revision"]


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy the SQLite database ``source`` (in use or not) into the new file ``target`` (mode
    0600: it holds token digests and sealed secrets). Raises :class:`sqlite3.Error` or
    :class:`OSError` when either cannot be opened; ``target`` is removed then."""
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            writer = sqlite3.connect(target)
            try:
                reader.backup(writer)
                writer.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal beside it
            finally:
                writer.close()
        finally:
            reader.close()
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def sqlite_revision(database: Path) -> str | None:
    """The migration the SQLite database at ``database`` is at (None before the first),
    read only: the file is not changed."""
    reader = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        row = reader.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        reader.close()
    return str(row[0]) if row else None
