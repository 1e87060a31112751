"""``couturier refresh [--image TENANT/NAME]``: on the server's machine, refresh the package
sources and queue a check of every private image of the installation (or of one image).

Each check re-plans the image's lines and queues a rebuild of the lines whose plan changed;
the checks and builds are run by ``serve`` (embedded jobs) or by ``couturier worker``
(procrastinate), whichever runs the installation's jobs, as the scheduled daily refresh's are.
Prints the sources' report, then each image queued, one per line.
"""

from __future__ import annotations

import argparse

from couturier.cli.admin import say_first_start
from couturier.cli.output import Progress
from couturier.errors import Code, InputError
from couturier.services import catalog as catalog_service
from couturier.services.builds import start_builds
from couturier.services.installation import open_installation
from couturier.services.refresh import refresh
from couturier.settings import Settings

__all__ = ["image_name", "run"]


def image_name(text: str) -> tuple[int, str]:
    """``TENANT/NAME`` as (tenant id, name); one :class:`InputError` line otherwise."""
    tenant, slash, name = text.partition("/")
    if not slash or not tenant.isdigit() or not name or len(text) > 80:
        raise InputError(
            f"--image must be TENANT/NAME, e.g. 53/my-python, got {text[:80]!r}",
            "list the images with `couturier images list`",
            code=Code.INPUT_INVALID,
            fields={"image": text[:80]},
        )
    return int(tenant), name


def run(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Refresh and queue the checks; exit status 0 (sources that failed are reported and
    keep their previous indexes)."""
    scope = image_name(args.image) if args.image else None
    installation, first = open_installation(settings)
    try:
        say_first_start(first)
        builds = start_builds(installation, 0)  # queue only: serve or workers run them
        result = refresh(
            builds,
            tenant_id=scope[0] if scope else None,
            image=scope[1] if scope else None,
        )
    finally:
        installation.close()
    if result.report is not None:
        for line in catalog_service.report_lines(result.report):
            print(line)
    for name in result.queued:
        print(f"queued {name}")
    print(f"{len(result.queued)} image(s) queued for a check")
    return 0
