"""Running a route's short database work: in the event loop when the database is a local
SQLite file, in a worker thread otherwise.

A plain (``def``) route or dependency is run by FastAPI in a worker thread of anyio's pool;
handing it over and back costs more than a read of one row from SQLite (about 0.2 ms of CPU
under load against 0.05), and a request of the gallery made two such hand-overs (the token,
then the page). A read of a local SQLite file in write-ahead-log mode does not wait for
writers, so it is run where the request already is. A PostgreSQL statement goes over a
socket to another process that may be slow or gone: it stays in a thread, so the event loop
goes on serving other requests meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from couturier.store import Store

__all__ = ["run_read"]

P = ParamSpec("P")
T = TypeVar("T")


async def run_read(store: Store, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``call(*args, **kwargs)``, a few quick reads of ``store``: here on SQLite (a local
    file), in a worker thread on PostgreSQL."""
    if store.local:
        return call(*args, **kwargs)
    return await run_in_threadpool(call, *args, **kwargs)
