"""``couturier serve [--host H] [--port P] [--workers N] [--api-processes N] [--tls-cert FILE
--tls-key FILE]``: the REST API and the OCI pull endpoint over the settings' database, and N
threads running the queued builds (default 2); HTTPS with the given certificate and key.

Binds the address itself first (so a port in use is one line and exit status 1 and makes
nothing, and ``--port 0`` takes a free port, which the "serving on" line names), then opens
the installation (key, migrations, and on the first start tenant 1 and its ``write`` token,
printed once on stderr), then hands the socket to uvicorn. SIGINT and SIGTERM stop it gracefully.
On PostgreSQL it runs several API processes (:func:`api_processes`,
:mod:`couturier.cli.processes`): the first also runs the builds, deliveries and the schedule.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

from couturier.cli.admin import say_first_start
from couturier.cli.output import Progress
from couturier.cli.processes import supervise
from couturier.errors import InputError, StateError
from couturier.services.installation import Installation, open_installation
from couturier.settings import Settings

__all__ = ["api_processes", "run"]

GRACE_SECONDS = 5
AUTO_PROCESSES_MAX = 4
BACKLOG = 128


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` and not yet listening; :class:`StateError` (one
    line) when the address is in use or cannot be had. It is bound without
    ``SO_REUSEPORT``, so any other socket on the port makes it fail."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as error:
        raise StateError(f"cannot listen on {host}:{port}: {error}", "check --host") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as error:
        listener.close()
        raise StateError(
            f"cannot listen on {host}:{port}: {error.strerror}",
            "is another server on that port? pick another with --port",
        ) from None
    return listener


class _EncryptedKeyError(Exception):
    """The key asked for a passphrase, which serve does not read."""


def _no_passphrase() -> bytes:
    raise _EncryptedKeyError


def check_tls(cert: Path, key: Path) -> None:
    """Raise :class:`InputError` (one line) unless ``cert`` and ``key`` are readable PEM files
    of a certificate and its unencrypted private key: checked before uvicorn loads them,
    which would answer a bad file with a traceback and an encrypted key with a prompt."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except _EncryptedKeyError:
        reason = "the key is encrypted, and serve reads no passphrase"
    except OSError as error:
        reason = error.strerror or getattr(error, "reason", None) or str(error)
    else:
        return
    raise InputError(
        f"cannot serve HTTPS with --tls-cert {cert} and --tls-key {key}: {reason}",
        "give a PEM certificate (chain) and the unencrypted PEM private key that matches it",
        fields={"kind": "tls", "value": str(cert)[:200]},
    )


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def api_processes(settings: Settings, requested: int | None) -> int:
    """How many API processes ``serve`` runs: ``requested`` (``--api-processes``), else one
    on SQLite (a file that one process writes at a time) and, on PostgreSQL, one per core up
    to :data:`AUTO_PROCESSES_MAX` (a Python process answers on one core at a time)."""
    if requested is not None:
        return requested
    if settings.database.startswith("sqlite"):
        return 1
    return max(1, min(os.cpu_count() or 1, AUTO_PROCESSES_MAX))


def run(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Run the service until interrupted; exit status 0 after a graceful stop (1 when an API
    process of several failed as it started)."""
    tls = args.tls_cert is not None
    if tls:
        check_tls(args.tls_cert, args.tls_key)
    # The address first: a busy port must not leave a first start behind (tenant 1 made, its
    # token printed above an error line and never shown again).
    listener = _listen(args.host, args.port)
    try:
        installation, first = open_installation(settings)
    except BaseException:
        listener.close()
        raise
    try:
        say_first_start(first)  # before anything else can fail: it is shown only this once
        count = api_processes(settings, args.api_processes)
        if count == 1:
            listener.listen(BACKLOG)
        _say_serving(settings, listener, tls, count)
    except BaseException:
        installation.close()
        listener.close()
        raise
    if count == 1:
        return _serve(installation, args, listener, workers=args.workers)
    # Each process opens its own connections: none may be shared across the fork.
    installation.close()
    # Each process listens on a socket of its own on the port, which the kernel balances
    # connections across (SO_REUSEPORT); on one shared socket, the first process to wake
    # would accept a burst of connections whole. The parent's bound socket, never listening,
    # keeps the port while a process starts again.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    address = listener.getsockname()

    def child(index: int, ready: Callable[[], None]) -> int:
        own = socket.socket(listener.family, socket.SOCK_STREAM)
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        own.bind(address)
        own.listen(BACKLOG)
        mine, _ = open_installation(settings)
        ready()
        # The first process runs the builds, deliveries and schedule; the others only answer.
        return _serve(mine, args, own, workers=args.workers if index == 0 else 0)

    return supervise(count, child)


def _say_serving(settings: Settings, listener: socket.socket, tls: bool, count: int) -> None:
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    processes = f", {count} API processes" if count > 1 else ""
    print(
        f"couturier: serving on {'https' if tls else 'http'}://{shown}:{port} "
        f"(OpenAPI at /v1/openapi.json, registry at /v2/; "
        f"data in {settings.data_dir}{processes})",
        file=sys.stderr,
        flush=True,
    )
    if settings.jobs == "procrastinate":
        print(
            "couturier: builds are queued for `couturier worker` (jobs: procrastinate); "
            "this process runs none",
            file=sys.stderr,
            flush=True,
        )


def _serve(
    installation: Installation,
    args: argparse.Namespace,
    listener: socket.socket,
    *,
    workers: int,
) -> int:
    """Answer on ``listener`` with uvicorn until stopped, ``workers`` build threads beside."""
    import uvicorn

    from couturier.api.app import create_app

    app = None
    try:
        app = create_app(installation, workers=workers)
        config = uvicorn.Config(
            app,
            log_level="info",
            server_header=False,
            proxy_headers=False,
            # A client following a build's events keeps its response open until the build
            # ends: a stop waits this long for open responses, then closes them.
            timeout_graceful_shutdown=GRACE_SECONDS,
            ssl_certfile=args.tls_cert,
            ssl_keyfile=args.tls_key,
        )
        # uvicorn stops gracefully on SIGTERM, then raises the signal again with the handler
        # that was there before it: this one makes that a normal exit (status 0), as a
        # service manager stopping the server expects.
        signal.signal(signal.SIGTERM, _stop)
        # What was made until now lives as long as the process: out of the collector's
        # sight, a full collection no longer walks it (tens of ms, paid by some request).
        gc.collect()
        gc.freeze()
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        installation.close()
        stopping = sys.exc_info()[1]
        graceful = stopping is None or (isinstance(stopping, SystemExit) and not stopping.code)
        if app is not None and not app.state.builds.stopped and graceful:
            # A build still runs (a download in flight waits for its timeout): its job stays
            # claimed and the next start takes it up at once; waiting here could take minutes.
            print(
                "couturier: stopped; the builds still running start over at the next start",
                file=sys.stderr,
                flush=True,
            )
            os._exit(0)
    return 0
