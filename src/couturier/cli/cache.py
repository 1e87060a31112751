"""``couturier cache verify``: check and repair everything Couturier reuses from disk.

:func:`verify` is its handler (settings, arguments, progress → exit status; the options are in
:mod:`couturier.cli.parser`): 0 when everything is sound or was repaired, 1 when something could
not be repaired. Human output is one line per damaged file and a summary; ``--json`` prints
:meth:`couturier.services.cache.CacheReport.to_json`.
"""

from __future__ import annotations

import argparse
import json
import sys

from couturier.cli.output import Progress
from couturier.services.cache import verify_cache
from couturier.settings import Settings

__all__ = ["verify"]

EXIT_ERROR = 1


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
