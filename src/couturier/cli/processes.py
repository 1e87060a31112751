"""Several API processes behind one listening socket, for ``couturier serve --api-processes N``.

One Python process answers requests on one core at a time (the GIL). On PostgreSQL, where
every process reaches the same database over the network and no process owns a file, ``serve``
forks N processes that accept on the socket it bound (the kernel hands each connection to one
of them), as pre-forking servers do. The parent only supervises:

- SIGTERM or SIGINT to the parent is passed on to every child as SIGTERM (each stops
  gracefully, as a single ``serve`` does), and the parent returns once all have ended;
- a child that ends on its own after :data:`STEADY_SECONDS` is started again (its index, hence
  its duties, unchanged); one that ends sooner stops the whole service with status 1, since
  starting it again would fail the same way (a database that refuses, a broken setting);
- each child asks the kernel to kill it when the parent dies (``PR_SET_PDEATHSIG`` with
  SIGKILL), so a ``serve`` killed outright ends as one process would, at once: nothing holds
  the port for a start that follows, and the builds it ran are taken up again by that start.

The children are forked, not spawned: they inherit the listening socket, the settings and the
imported modules. The parent must hold no open database connection and run no thread when it
forks; :func:`supervise` checks the second.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from couturier.errors import StateError

__all__ = ["STEADY_SECONDS", "supervise"]

STEADY_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with(parent: int) -> None:
    """Ask for SIGKILL when ``parent`` ends; end now if it already has (it died between the
    fork and this call, and the request would never fire)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the children outlive a killed parent
        pass
    if os.getppid() != parent:
        os._exit(0)


def _child(index: int, run: Callable[[int], int], parent: int) -> None:
    """In a forked child: run ``run(index)`` and end the process with its status, never
    returning into the parent's code."""
    status = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _die_with(parent)
        status = run(index)
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except KeyboardInterrupt:
        status = 0
    except BaseException as error:  # one line, as the CLI reports errors
        print(f"couturier: API process {index} failed: {error}", file=sys.stderr, flush=True)
        status = 1
    finally:
        sys.stderr.flush()
        os._exit(status)


def supervise(count: int, run: Callable[[int], int]) -> int:
    """Fork ``count`` children, child ``i`` calling ``run(i)`` (its exit status), and wait for
    them as the module says. Returns 0 after a stop by signal, 1 when a child failed early.

    Raises :class:`StateError` when the calling process runs another thread (a fork copies
    only the calling thread, and locks held by the others would stay held in the child).
    """
    if threading.active_count() > 1:
        raise StateError(
            "cannot start several API processes: this process already runs threads",
            "start serve with --api-processes 1",
        )
    parent = os.getpid()
    children: dict[int, tuple[int, float]] = {}  # pid -> (index, started, monotonic s)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def fork(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            _child(index, run, parent)
        children[pid] = (index, time.monotonic())

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        for index in range(count):
            fork(index)
        while children:
            try:
                pid, waited = os.wait()
            except ChildProcessError:
                break
            if pid not in children:
                continue
            index, started = children.pop(pid)
            if stopping:
                continue
            code = os.waitstatus_to_exitcode(waited)
            if time.monotonic() - started < STEADY_SECONDS:
                print(
                    f"couturier: API process {index} ended at once (status {code}); "
                    "stopping the others",
                    file=sys.stderr,
                    flush=True,
                )
                status = 1
                stop(signal.SIGTERM, None)
                continue
            print(
                f"couturier: API process {index} ended (status {code}); starting it again",
                file=sys.stderr,
                flush=True,
            )
            fork(index)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
