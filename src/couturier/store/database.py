"""The database: opening it (SQLite or PostgreSQL), migrating it, and units of work on it.

SQLite is the embedded default (one file in the data directory); PostgreSQL is the scale
setup. Both take the same migrations and the same queries. On SQLite every connection uses
the write-ahead log (readers never wait for a writer, so ``couturier admin`` works while
``serve`` runs), a busy timeout (a writer waits for another one instead of failing at once)
and foreign keys. Write units begin with ``BEGIN IMMEDIATE``: a transaction that reads and
then writes would otherwise fail with "database is locked" whatever the timeout, when another
writer got there between its read and its write.

:meth:`Store.unit` is the one way in: a :class:`UnitOfWork` whose repositories see one
transaction, committed when the block ends normally and rolled back otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from couturier.errors import Code, StateError
from couturier.store.cards import CardKeepingSession
from couturier.store.repositories import UnitOfWork

__all__ = ["Store", "open_store"]

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
# pg_advisory_xact_lock key of migrations and first-start set-up: one process at a time.
_PREPARE_LOCK = 0x636F7574  # "cout"
_MIGRATIONS = Path(__file__).parent / "migrations"
_SINGLE = "couturier_single_statements"  # execution option of Store.reading's connections
# Connections kept open per process. Every request of the API holds one for a moment in a
# thread of its own (anyio's pool runs up to 40), so fewer would have connections closed and
# opened again all the time under load (a SQLite connection runs its PRAGMAs, a PostgreSQL
# one logs in); more than the pool and its overflow wait for a connection.
POOL_SIZE = 20
POOL_OVERFLOW = 20


def _safe_url(url: str) -> str:
    """``url`` without its password, for messages."""
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest.split("/", 1)[0]:
        return url
    credentials, host = rest.split("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///")
    return None if path in ("", ":memory:") else Path(path)


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        # The driver's own transaction handling is off: SQLAlchemy's "begin" event says how.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints, safe in WAL
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get(_SINGLE, False):
            return  # Store.reading: each statement is its own transaction
        immediate = options.get("couturier_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Store:
    """The service's database. Made by :func:`open_store`; safe to share between threads
    (each unit of work has its own connection from the pool)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(couturier_write=True)
        # Statements that need no transaction around them: no BEGIN and COMMIT on SQLite (the
        # driver's own transactions are off) and autocommit on PostgreSQL.
        if engine.dialect.name == "sqlite":
            self._reader = engine.execution_options(**{_SINGLE: True})
        else:
            self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def local(self) -> bool:
        """True for a SQLite file: a read is a local file read that does not wait for
        writers (write-ahead log), as quick as handing it to a thread."""
        return self.engine.dialect.name == "sqlite"

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def unit(self, write: bool = False) -> Iterator[UnitOfWork]:
        """One transaction: committed at the end of the block, rolled back on an exception.
        ``write`` for a unit that changes rows (on SQLite it takes the write lock at once).
        The gallery cards of the images it changed are made again before it commits
        (:class:`~couturier.store.cards.CardKeepingSession`).

        A database that is locked past the busy timeout, or gone, raises :class:`StateError`
        (nothing of the unit is kept): the caller may retry."""
        bind = self._writer if write else self.engine
        try:
            with CardKeepingSession(bind, expire_on_commit=False) as session, session.begin():
                yield UnitOfWork(session)
        except OperationalError as error:
            raise self._unavailable(error) from None

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection whose every statement is a read of its own, outside any transaction
        (each statement sees the database as it is when it runs): for the hot reads of one
        statement, the token of a request and a page of the gallery, which need no unit of
        work. Raises :class:`StateError` as :meth:`unit` does."""
        try:
            with self._reader.connect() as connection:
                yield connection
        except OperationalError as error:
            raise self._unavailable(error) from None

    def _unavailable(self, error: OperationalError) -> StateError:
        reason = str(error.orig or error).splitlines()[0][:200]
        return StateError(
            f"the database {_safe_url(str(self.engine.url))} is busy or cannot be reached "
            f"({reason})",
            "try again in a moment; check database_url and that the database runs",
            code=Code.DATABASE_UNAVAILABLE,
            fields={"database": _safe_url(str(self.engine.url)), "reason": reason},
        )

    def prepare(self, first_start: Callable[[UnitOfWork], T]) -> T:
        """Apply every migration not applied yet, then run ``first_start`` (which sets up what
        a new installation needs, and does nothing on one set up already), in one transaction
        that one process at a time holds. Raises :class:`StateError` when the database cannot
        be reached or is newer than this Couturier."""
        with self.unit(write=True) as uow:
            connection = uow.session.connection()
            if self.dialect == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PREPARE_LOCK}
                )
            self._check_not_newer(connection)
            config = Config()
            config.set_main_option("script_location", str(_MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            return first_start(uow)

    def _check_not_newer(self, connection: Connection) -> None:
        current = MigrationContext.configure(connection).get_current_revision()
        script = ScriptDirectory(str(_MIGRATIONS))
        known = {revision.revision for revision in script.walk_revisions()}
        if current is not None and current not in known:
            raise StateError(
                f"the database {_safe_url(str(self.engine.url))} was migrated by a newer "
                f"Couturier (schema {current})",
                "run the Couturier version that made it, or restore a backup",
                code=Code.DATABASE_TOO_NEW,
                fields={"database": _safe_url(str(self.engine.url)), "revision": current},
            )

    def revision(self) -> str | None:
        """The migration the database is at (None before the first)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def ping(self) -> None:
        """Raise :class:`StateError` unless the database answers a query."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            raise StateError(
                f"the database {_safe_url(str(self.engine.url))} cannot be reached: "
                f"{type(getattr(error, 'orig', None) or error).__name__}",
                "check database_url in the settings and that the database is running",
                code=Code.DATABASE_UNAVAILABLE,
                fields={"database": _safe_url(str(self.engine.url))},
            ) from None

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Store:
    """The store at ``url`` (``sqlite:///PATH`` or ``postgresql+psycopg://...``). A new SQLite
    file is made with mode 0600 (it holds token digests and encrypted secrets). Nothing is
    migrated here: see :meth:`Store.prepare`. On SQLite a writer waits up to
    ``busy_timeout_ms`` for another one before its unit fails. Raises :class:`StateError`
    when the SQLite file cannot be made."""
    path = _sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as error:
            raise StateError(
                f"cannot open the database {path}: {error.strerror}",
                "check that the data directory is writable",
                path=str(path),
            ) from None
    # An in-memory SQLite database lives in one connection per thread: no pool to size.
    memory = url.startswith("sqlite") and path is None
    pool = {} if memory else {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
    engine = create_engine(url, pool_pre_ping=False, **pool)
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine, busy_timeout_ms)
    return Store(engine)
