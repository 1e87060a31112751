"""Alembic's environment for Couturier's migrations: always run on a connection handed over by
:func:`couturier.store.database.migrate` (never from an ``alembic.ini``), so the schema is
made by the same process, settings and transaction that use it."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from couturier.store.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("Couturier's migrations run through couturier.store.database.migrate")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters a table by copying it
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
