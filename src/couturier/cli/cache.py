"""``couturier cache verify``: check and repair everything Couturier reuses from disk.

:func:`add_parser` registers the ``cache`` group on the main parser; :func:`verify` is its
handler (settings, arguments, progress → exit status): 0 when everything is sound or was
repaired, 1 when something could not be repaired. Human output is one line per damaged file and
a summary; ``--json`` prints :meth:`couturier.services.cache.CacheReport.to_json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from couturier.cli.output import Progress
from couturier.services.cache import verify_cache
from couturier.settings import Settings

__all__ = ["add_parser", "verify"]

EXIT_ERROR = 1


def add_parser(groups: Any) -> None:
    """Add the ``cache`` command group to ``groups`` (argparse sub-parsers)."""
    cache = groups.add_parser("cache", help="the package and layer caches and the index snapshots")
    commands = cache.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verify_cmd = commands.add_parser(
        "verify",
        help="check every cached file against its sha256 and repair what can be",
        description="Hash every cached package, cached layer, index snapshot (and its derived "
        "files) and bundle file against what names or records it. Damaged packages, layers "
        "and snapshots are removed: they are downloaded or rebuilt again when next needed. "
        "Partial files that no running build holds are removed.",
    )
    verify_cmd.add_argument("--json", action="store_true", help="print JSON")


def verify(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Handle ``cache verify``."""
    report = verify_cache(settings, say=progress)
    progress.done()
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        print()
        return 0 if report.ok else EXIT_ERROR
    for finding in report.findings:
        print(f"damaged: {finding}")
    partial = f"; removed {len(report.swept)} partial files" if report.swept else ""
    print(
        f"checked {report.checked} files: {len(report.findings)} damaged, "
        f"{len(report.repaired)} repaired, {len(report.unrepaired)} not repaired{partial}"
    )
    return 0 if report.ok else EXIT_ERROR
