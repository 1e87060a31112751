"""``couturier worker [--concurrency N] [--stalled-after SECONDS]``: run the builds queued in
the settings' PostgreSQL database (``jobs: procrastinate``), on any machine that reaches the
database and the shared data and cache directories; any number of them at once.

Opens the installation as ``serve`` does (the key, the migrations, procrastinate's schema), then
runs builds until SIGINT or SIGTERM, which stop it once the running builds end. Refused in one
line with SQLite, or with the embedded job backend, where ``serve`` runs the builds itself.
"""

from __future__ import annotations

import argparse
import logging
import sys

from couturier.cli.admin import say_first_start
from couturier.cli.output import Progress
from couturier.errors import ConfigError
from couturier.services.builds import run_workers
from couturier.services.installation import open_installation
from couturier.settings import Settings

__all__ = ["run"]


def run(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Run builds until stopped; exit status 0 after a stop."""
    if not settings.database.startswith("postgresql"):
        raise ConfigError(
            "couturier worker needs PostgreSQL: with SQLite, serve runs the builds itself "
            "(serve --workers N)",
            "set database_url to a postgresql:// URL and jobs: procrastinate to run workers",
            fields={"key": "database_url"},
        )
    if settings.jobs != "procrastinate":
        raise ConfigError(
            "couturier worker runs procrastinate jobs, but the settings say jobs: "
            f"{settings.jobs} (serve runs the builds itself)",
            "set jobs: procrastinate (or COUTURIER_JOBS=procrastinate) for serve and workers",
            fields={"key": "jobs", "value": settings.jobs},
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s"
    )
    for chatty in ("httpx", "alembic"):  # a line per request, per migration step
        logging.getLogger(chatty).setLevel(logging.WARNING)
    installation, first = open_installation(settings)
    try:
        say_first_start(first)
        print(
            f"couturier: worker running {args.concurrency} build(s) at a time from "
            f"{installation.store.engine.url.render_as_string(hide_password=True)} "
            f"(data in {settings.data_dir}, cache in {settings.cache_dir})",
            file=sys.stderr,
            flush=True,
        )
        run_workers(installation, args.concurrency, args.stalled_after)
    finally:
        installation.close()
    print("couturier: worker stopped", file=sys.stderr, flush=True)
    return 0
