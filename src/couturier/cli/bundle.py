"""``couturier bundle create`` and ``couturier bundle list``: the file bundle commands.

:func:`create` and :func:`list_` are the handlers (settings, arguments, progress → exit status;
the options are in :mod:`couturier.cli.parser`). A refused bundle prints each violation on its
own line (stderr; with ``--json`` also the error document on stdout) and exits with 1; nothing
is stored then. The name is quoted with its control characters escaped and cut when long.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from couturier.cli.output import Progress, format_size, print_json_error, print_table
from couturier.core.bundle import CERTIFICATES_DIR, LISTED, BundleError
from couturier.core.text import named
from couturier.services import bundles as bundle_service
from couturier.settings import Settings

__all__ = ["create", "list_"]

EXIT_ERROR = 1


def _mode(mode: int, link: str) -> str:
    return f"-> {link}" if link else f"{mode:04o}"


def create(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Handle ``bundle create``."""
    try:
        bundle = bundle_service.create_bundle(
            settings, args.name, args.kind, args.inputs, args.target
        )
    except BundleError as error:
        progress.done()
        count = len(error.violations)
        # The name as the user typed it may hold a newline or be 300 characters long.
        print(
            f"couturier: error: bundle {named(args.name)} refused ({count} "
            f"{'problem' if count == 1 else 'problems'}; nothing was stored):",
            file=sys.stderr,
        )
        for violation in error.violations[:LISTED]:
            # The bundle's target is this command's --target option.
            shown = violation
            if violation.field == "target":
                shown = dataclasses.replace(violation, field="--target")
            print(f"  {shown}", file=sys.stderr)
        if count > LISTED:
            print(f"  and {count - LISTED} more", file=sys.stderr)
        if args.json:
            print_json_error(error)
        return EXIT_ERROR
    progress.done()
    if args.json:
        json.dump(bundle_service.bundle_json(bundle), sys.stdout, indent=2)
        print()
        return 0
    noun = "file" if len(bundle.files) == 1 else "files"
    print(f"{bundle.ref}: {bundle.kind}, {len(bundle.files)} {noun} ({bundle.digest[:19]})")
    rows = [
        [
            f.path,
            format_size(f.size) if not f.link else "-",
            _mode(f.mode, f.link),
            "/" + bundle.image_path(f),
        ]
        for f in bundle.files
    ]
    print_table(["file", "size", "mode", "lands at"], rows, out=sys.stdout)
    for warning in bundle.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def list_(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Handle ``bundle list``: every version, a damaged one marked (exit status 1)."""
    stored = bundle_service.bundle_versions(settings)
    progress.done()
    damaged = [v for v in stored if v.problem]
    if args.json:
        listed = [
            (bundle_service.bundle_json(v.bundle) if v.bundle else {})
            | {"name": v.name, "version": v.version}
            | ({"damaged": v.problem} if v.problem else {})
            for v in stored
        ]
        json.dump({"bundles": listed}, sys.stdout)
        print()
        return EXIT_ERROR if damaged else 0
    if not stored:
        print("no bundle yet; make one with couturier bundle create", file=sys.stderr)
        return 0
    rows = [
        [
            v.ref,
            "damaged" if v.problem else "ok",
            *(
                [
                    b.kind,
                    str(len(b.files)),
                    format_size(sum(f.size for f in b.files)),
                    b.target or f"/{CERTIFICATES_DIR}/{b.name}",
                    b.created,
                ]
                if (b := v.bundle)
                else ["-"] * 5
            ),
        ]
        for v in stored
    ]
    header = ["bundle", "state", "type", "files", "size", "lands in", "created"]
    print_table(header, rows, out=sys.stdout)
    for v in damaged:
        print(f"damaged: {v.problem}; create bundle {v.name} again", file=sys.stderr)
    return EXIT_ERROR if damaged else 0
