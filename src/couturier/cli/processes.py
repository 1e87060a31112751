"""Several API processes behind one port, for ``couturier serve --api-processes N``.

One Python process answers requests on one core at a time (the GIL). On PostgreSQL, where
every process reaches the same database over the network and no process owns a file, ``serve``
forks N processes that answer on the port it bound, as pre-forking servers do. The parent only
supervises:

- a child says when it is *ready* (its installation opened: the database answered and is
  migrated) through a pipe;
- SIGTERM or SIGINT to the parent is passed on to every child as SIGTERM (each stops
  gracefully, as a single ``serve`` does), and the parent returns once all have ended;
- a child of the first start that ends before it was ready stops the whole service with
  status 1: the others would fail the same way (a database that refuses, a broken setting);
- later, a child that ends is started again (its index, hence its duties, unchanged): at once
  if it had been ready, else after a pause that doubles up to :data:`MAX_PAUSE_SECONDS` (the
  database may be down for a while), the other processes serving meanwhile;
- each child asks the kernel to kill it when the parent dies (``PR_SET_PDEATHSIG`` with
  SIGKILL), so a ``serve`` killed outright ends as one process would, at once: nothing holds
  the port for a start that follows, and the builds it ran are taken up again by that start.

The children are forked, not spawned: they inherit the bound socket, the settings and the
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
from dataclasses import dataclass
from types import FrameType

from couturier.errors import StateError

__all__ = ["MAX_PAUSE_SECONDS", "Run", "supervise"]

FIRST_PAUSE_SECONDS = 1.0
MAX_PAUSE_SECONDS = 30.0
POLL_SECONDS = 0.2
# What a child runs: its index and the function telling the parent it is ready; its status.
Run = Callable[[int, Callable[[], None]], int]
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


def _child(index: int, run: Run, parent: int, ready_fd: int) -> None:
    """In a forked child: run ``run(index, ready)`` and end the process with its status, never
    returning into the parent's code. ``ready()`` tells the parent through ``ready_fd``."""

    def ready() -> None:
        with contextlib.suppress(OSError):
            os.write(ready_fd, b"r")

    status = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _die_with(parent)
        status = run(index, ready)
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


@dataclass
class _Child:
    index: int
    ready_fd: int  # the parent's end of the child's pipe
    first: bool  # forked by the first start


def _was_ready(child: _Child) -> bool:
    try:
        return bool(os.read(child.ready_fd, 1))
    except BlockingIOError:
        return False
    finally:
        os.close(child.ready_fd)


def _say(text: str) -> None:
    print(f"couturier: {text}", file=sys.stderr, flush=True)


def supervise(count: int, run: Run) -> int:
    """Fork ``count`` children, child ``i`` calling ``run(i, ready)`` (its exit status; it
    calls ``ready()`` once it can serve), and supervise them as the module says. Returns 0
    after a stop by signal, 1 when a child of the first start failed before it was ready.

    Raises :class:`StateError` when the calling process runs another thread (a fork copies
    only the calling thread, and locks held by the others would stay held in the child).
    """
    if threading.active_count() > 1:
        raise StateError(
            "cannot start several API processes: this process already runs threads",
            "start serve with --api-processes 1",
        )
    supervisor = _Supervisor(run)
    previous = {sig: signal.signal(sig, supervisor.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(count):
            supervisor.fork(index, first=True)
        return supervisor.watch()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Supervisor:
    """The parent's side: its children by pid, the restarts waiting for their time."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.parent = os.getpid()
        self.children: dict[int, _Child] = {}
        self.pending: dict[int, float] = {}  # index -> when to fork it again (monotonic s)
        self.pauses: dict[int, float] = {}  # index -> the pause before its next try
        self.stopping = False
        self.status = 0

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def fork(self, index: int, *, first: bool) -> None:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _child(index, self.run, self.parent, write_fd)
        os.close(write_fd)
        self.children[pid] = _Child(index, read_fd, first)

    def watch(self) -> int:
        """Reap children and start them again until stopped and all have ended."""
        while self.children or (self.pending and not self.stopping):
            pid, waited = os.waitpid(-1, os.WNOHANG) if self.children else (0, 0)
            if pid == 0:  # none ended: start the ones whose pause is over
                now = time.monotonic()
                for index, when in list(self.pending.items()):
                    if when <= now and not self.stopping:
                        del self.pending[index]
                        self.fork(index, first=False)
                time.sleep(POLL_SECONDS)
                continue
            child = self.children.pop(pid, None)
            if child is not None:
                self.ended(child, _was_ready(child), os.waitstatus_to_exitcode(waited))
        return self.status

    def ended(self, child: _Child, ready: bool, code: int) -> None:
        if self.stopping:
            return
        if not ready and child.first:
            _say(
                f"API process {child.index} failed as it started (status {code}); "
                "stopping the others"
            )
            self.status = 1
            self.stop(signal.SIGTERM, None)
            return
        first_pause = min(FIRST_PAUSE_SECONDS, MAX_PAUSE_SECONDS)
        pause = 0.0 if ready else self.pauses.get(child.index, first_pause)
        self.pauses[child.index] = first_pause if ready else min(pause * 2, MAX_PAUSE_SECONDS)
        _say(
            f"API process {child.index} ended (status {code}); starting it again"
            + (f" in {pause:g} s" if pause else "")
        )
        self.pending[child.index] = time.monotonic() + pause
