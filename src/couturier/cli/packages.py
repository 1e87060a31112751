"""``couturier packages search`` and ``couturier packages resolve``.

``search`` prints the packages whose name, version or description holds the query (``--json``:
``{"packages": [...]}``). ``resolve`` prints the package set that installing the requests into
an empty system needs, and which request pulled each in; ``--json`` prints ``{"packages":
[{"name", "version", "architecture", "sha256", "size", "filename"}]}``, and when there is no
solution ``{"error", "explanation"}`` with exit status 3.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from couturier.cli.output import Progress, error_json, format_size, print_table
from couturier.core.text import shown
from couturier.errors import ResolutionError
from couturier.services import catalog as catalog_service
from couturier.services.context import catalog_context
from couturier.settings import Settings

__all__ = ["EXIT_NO_SOLUTION", "resolve", "search"]

EXIT_NO_SOLUTION = 3


def search(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Handle ``packages search``."""
    context = catalog_context(settings, say=progress)
    hits = catalog_service.search(context, args.query, args.release, args.arch, args.limit)
    progress.done()
    if args.json:
        json.dump({"packages": hits}, sys.stdout, indent=2)
        print()
        return 0
    rows = [
        [h["name"], h["version"], h["release"], h["architecture"], h["summary"][:60]] for h in hits
    ]
    if not rows:
        print(f"no package matches {shown(args.query)}", file=sys.stderr)
        return 0
    print_table(["name", "version", "release", "arch", "summary"], rows)
    return 0


def _package_json(package: Any) -> dict[str, Any]:
    return {
        "name": package.name,
        "version": package.version,
        "architecture": package.architecture,
        "sha256": package.sha256,
        "size": package.size,
        "filename": package.filename,
    }


def resolve(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Handle ``packages resolve``."""
    context = catalog_context(settings, say=progress)
    try:
        resolution = catalog_service.resolve_requests(
            context, args.release, args.arch, args.requests
        )
    except ResolutionError as error:
        progress.done()
        if args.json:
            document = error_json(error) | {"explanation": error.explanation}
            json.dump(document, sys.stdout)
            print()
        else:
            print(f"couturier: no solution: {error.sentence}", file=sys.stderr)
        return EXIT_NO_SOLUTION
    progress.done()
    if args.json:
        json.dump({"packages": [_package_json(p) for p in resolution.packages]}, sys.stdout)
        print()
        return 0
    rows = [
        [
            p.name,
            p.version,
            p.architecture,
            format_size(p.size),
            resolution.reasons.get(p.name) or "requested",
        ]
        for p in resolution.packages
    ]
    print_table(["package", "version", "arch", "size", "pulled in by"], rows)
    total = sum(p.size for p in resolution.packages)
    print(f"\n{len(rows)} packages, {format_size(total)} to download ({args.release}/{args.arch})")
    return 0
