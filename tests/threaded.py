"""A socketserver-style test server (``serve_forever``/``shutdown``/``server_close``) run
in a daemon thread for the length of a ``with`` block."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar


class _Serving(Protocol):
    def serve_forever(self) -> None: ...

    def shutdown(self) -> None: ...

    def server_close(self) -> None: ...


S = TypeVar("S", bound=_Serving)


@contextmanager
def serving(server: S) -> Iterator[S]:
    """``server`` answering in a thread of its own until the block ends, then shut down and
    its socket closed (also when the block raises)."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
