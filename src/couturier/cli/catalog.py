"""``couturier catalog refresh``: fetch and verify the newest indexes of the package sources."""

from __future__ import annotations

import argparse

from couturier.cli.output import Progress
from couturier.services import catalog as catalog_service
from couturier.services.context import catalog_context
from couturier.settings import Settings

__all__ = ["refresh"]

EXIT_ERROR = 1


def refresh(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Refresh the chosen releases and architectures; print one line per suite; exit status 1
    when one of them failed."""
    context = catalog_context(settings, say=progress)
    report = catalog_service.refresh(context, args.release, args.arch)
    progress.done()
    for line in catalog_service.report_lines(report):
        print(line)
    return 0 if report.ok else EXIT_ERROR
