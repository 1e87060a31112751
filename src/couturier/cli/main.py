"""The ``couturier`` command line.

Parses arguments, loads settings, calls the services and prints. Errors are caught once, here:
a :class:`CouturierError` becomes one line on stderr and exit status 1 (3 for "no solution"),
and with ``--json`` also ``{"error": {"code", "message", "hint", "violations"?}}`` on stdout
(:func:`couturier.cli.output.print_json_error`);
argparse's usage errors exit with 2. An :class:`OSError` the services did not turn into an
error of their own (bad local state) and any other exception (a bug) are one line and exit
status 1 as well, never a traceback; ``COUTURIER_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from couturier.assembly.image import source_date_epoch
from couturier.cli import bundle as bundle_command
from couturier.cli import cache as cache_command
from couturier.cli import families as families_command
from couturier.cli import plan as plan_command
from couturier.cli import starters as starters_command
from couturier.cli.output import (
    LineProgress,
    Progress,
    format_size,
    print_json_error,
    print_table,
    print_warnings,
)
from couturier.core.relations import parse_request
from couturier.core.resolver import resolve
from couturier.core.text import shown
from couturier.errors import CouturierError, InputError, ResolutionError
from couturier.services import build as build_service
from couturier.services import catalog as catalog_service
from couturier.services.build import ImageRequest
from couturier.services.bundles import get_bundle
from couturier.services.context import build_context
from couturier.services.specs import load_image_spec
from couturier.services.starters import get_starter
from couturier.settings import Settings, load_settings

__all__ = ["main"]

EXIT_ERROR = 1
EXIT_NO_SOLUTION = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="couturier",
        description="Build private, minimal OCI images from Debian package sources.",
    )
    parser.add_argument("--config", type=Path, help="settings file (YAML); else $COUTURIER_CONFIG")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--version", action="version", version=f"couturier {build_service.couturier_version()}"
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")

    catalog = groups.add_parser("catalog", help="package sources and their index snapshots")
    catalog_commands = catalog.add_subparsers(dest="command", required=True, metavar="COMMAND")
    refresh = catalog_commands.add_parser("refresh", help="fetch and verify the newest indexes")
    refresh.add_argument("--release", action="append", help="only this release (repeatable)")
    refresh.add_argument("--arch", action="append", help="only this architecture (repeatable)")

    packages = groups.add_parser("packages", help="search and resolve packages")
    package_commands = packages.add_subparsers(dest="command", required=True, metavar="COMMAND")
    search = package_commands.add_parser(
        "search", help="find packages by name, description, version"
    )
    search.add_argument("query")
    search.add_argument("--release", action="append", help="only this release (repeatable)")
    search.add_argument("--arch", action="append", help="only this architecture (repeatable)")
    search.add_argument("--limit", type=int, default=50, help="at most this many per release/arch")
    search.add_argument("--json", action="store_true", help="print JSON")
    resolve_cmd = package_commands.add_parser(
        "resolve", help="the package set an empty system needs for the requests"
    )
    resolve_cmd.add_argument("--release", required=True)
    resolve_cmd.add_argument("--arch", required=True)
    resolve_cmd.add_argument("--json", action="store_true", help="print JSON")
    resolve_cmd.add_argument("requests", nargs="+", metavar="PKG[=VERSION]")
    families_command.add_arguments(
        package_commands.add_parser(
            "families", help="package families and their -auto packages across a starter's lines"
        )
    )
    build = groups.add_parser("build", help="build every line of a starter or a private image")
    build.add_argument("spec", nargs="?", type=Path, help="private image spec (YAML)")
    build.add_argument("--starter", help="build this starter image instead of a spec")
    build.add_argument("--output", required=True, type=Path, help="OCI image layout directory")
    build.add_argument("--arch", action="append", help="only this architecture (repeatable)")
    build.add_argument("--line", action="append", help="only this line, e.g. 3.13 (repeatable)")
    build.add_argument("--json", action="store_true", help="print JSON")
    plan_command.add_parser(groups)
    bundle_command.add_parser(groups)
    cache_command.add_parser(groups)
    starters_command.add_parser(groups)
    return parser


def _build(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    if (args.spec is None) == (args.starter is None):
        raise InputError(
            "build needs either a spec file or --starter NAME",
            "e.g. couturier build --starter python --output ./python-oci",
        )
    build_service.check_output(args.output)  # before the spec's catalogs are read
    if args.starter:
        starter = get_starter(settings, args.starter)
        request = ImageRequest(starter=starter, name=starter.name)
    else:
        # The whole spec is checked (catalogs and bundles included) before anything is built.
        arch = args.arch[0] if args.arch else None
        spec = load_image_spec(settings, args.spec, arch, say=progress)
        request = ImageRequest(
            starter=get_starter(settings, spec.starter),
            name=spec.name,
            description=spec.description,
            packages=spec.packages,
            env=dict(spec.env),
            private=True,
            bundles=tuple(get_bundle(settings, ref) for ref in spec.bundles),
        )
    progress.done()
    # With SOURCE_DATE_EPOCH (reproducible mode) the timestamp tags come from it too, so two
    # builds of the same inputs give the same layout, index.json included.
    epoch = source_date_epoch(os.environ)
    now = None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)
    # One row per line while it builds; catalog messages go below the rows.
    display = LineProgress(sys.stderr, quiet=args.quiet)
    try:
        context = build_context(
            settings, output=args.output, epoch=epoch, now=now, say=display.note, on_stage=display
        )
        result = build_service.build(context, request, architectures=args.arch, lines=args.line)
    finally:
        display.done()
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2)
        print()
    else:
        rows = [
            [
                line.version,
                line.release,
                line.status,
                " ".join(line.tags) or "-",
                line.digest.removeprefix("sha256:")[:12] or "-",
            ]
            for line in result.lines
        ]
        print_table(["line", "release", "status", "tags", "digest"], rows)
        for line in result.lines:
            if line.error:
                print(f"{line.version}: {line.error}")
            print_warnings(line.version, line.warnings)
        print(f"\n{request.name}: {result.status} (trace {result.trace_id}) -> {args.output}")
    return 0 if result.status != "image build failed" else EXIT_ERROR


def _refresh(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    report = catalog_service.refresh(settings, args.release, args.arch, progress)
    progress.done()
    for line in catalog_service.report_lines(report):
        print(line)
    return 0 if report.ok else EXIT_ERROR


def _search(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    hits = catalog_service.search(
        settings, args.query, args.release, args.arch, args.limit, say=progress
    )
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


def _resolve(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    requests = [parse_request(text) for text in args.requests]
    catalog = catalog_service.catalog(settings, args.release, args.arch, progress)
    progress.done()
    try:
        resolution = resolve(catalog, requests)
    except ResolutionError as error:
        if args.json:
            json.dump({"error": error.sentence, "explanation": error.explanation}, sys.stdout)
            print()
        else:
            print(f"couturier: no solution: {error.sentence}", file=sys.stderr)
        return EXIT_NO_SOLUTION
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


_COMMANDS = {
    ("build", None): _build,
    ("bundle", "create"): bundle_command.create,
    ("bundle", "list"): bundle_command.list_,
    ("cache", "verify"): cache_command.verify,
    ("plan", None): plan_command.run,
    ("catalog", "refresh"): _refresh,
    ("packages", "search"): _search,
    ("packages", "resolve"): _resolve,
    ("packages", "families"): families_command.run,
    ("starters", "list"): starters_command.list_,
    ("starters", "show"): starters_command.show,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    progress = Progress(quiet=args.quiet)
    try:
        settings = load_settings(args.config)
        command = getattr(args, "command", None)
        return _COMMANDS[(args.group, command)](settings, args, progress)
    except CouturierError as error:
        progress.done()
        print(f"couturier: error: {_one_line(str(error))}", file=sys.stderr)
        if getattr(args, "json", False):
            print_json_error(error)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as other Unix tools do.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the closed stream
        return 0
    except KeyboardInterrupt:
        progress.done()
        print("couturier: interrupted", file=sys.stderr)
        return 130
    except OSError as error:
        # Local state the services did not expect (a file where a directory belongs, a file
        # without permission): what and where, in one line.
        progress.done()
        where = f"{error.filename}: " if error.filename else ""
        message = _one_line(where + (error.strerror or str(error)))
        hint = (
            "check that the files named and the data and cache directories are usable; "
            f"{_DEBUG}=1 shows where it happened"
        )
        print(f"couturier: error: {message} ({hint})", file=sys.stderr)
        if getattr(args, "json", False):
            print_json_error(CouturierError(message, hint), code="local-files")
        _traceback()
        return EXIT_ERROR
    except Exception as error:  # a bug: one line and where to report it, never a traceback
        progress.done()
        message = f"{type(error).__name__}: {_one_line(str(error))}"
        hint = (
            "a bug in Couturier: please report it with the command you ran and the output of "
            f"{_DEBUG}=1"
        )
        print(f"couturier: internal error: {message} ({hint})", file=sys.stderr)
        if getattr(args, "json", False):
            print_json_error(CouturierError(message, hint), code="internal")
        _traceback()
        return EXIT_ERROR


_DEBUG = "COUTURIER_DEBUG"


def _one_line(text: str, limit: int = 2000) -> str:
    """``text`` on one line (its whitespace runs made single spaces), at most ``limit`` long."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _traceback() -> None:
    """Print the traceback being handled when ``COUTURIER_DEBUG`` is set (to anything but 0)."""
    if os.environ.get(_DEBUG, "0") not in ("", "0"):
        traceback.print_exc(file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
