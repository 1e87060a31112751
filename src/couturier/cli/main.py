"""The ``couturier`` command line.

Parses arguments (:mod:`couturier.cli.parser`), loads settings, imports the command's handler
module, calls it and prints. Errors are caught once, here:
a :class:`CouturierError` becomes one line on stderr (its message and the CLI's hint for its
code, :mod:`couturier.cli.hints`) and exit status 1 (3 for "no solution"), and with ``--json``
also ``{"error": {"code", "message", "fields", "retryable", "hint", "violations"?}}`` on stdout
(:func:`couturier.cli.output.print_json_error`; the codes are listed in ``docs/errors.md``);
argparse's usage errors exit with 2. An :class:`OSError` the services did not turn into an
error of their own (bad local state) and any other exception (a bug) are one line and exit
status 1 as well, never a traceback; ``COUTURIER_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from couturier.cli.output import Progress, print_json_error
from couturier.cli.parser import parse
from couturier.errors import Code, CouturierError
from couturier.settings import Settings, load_settings

__all__ = ["main"]

EXIT_ERROR = 1

Handler = Callable[[Settings, argparse.Namespace, Progress], int]


def _build(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    # Imported when a build runs, not with the command line (see _COMMANDS).
    import json

    from couturier.assembly.image import source_date_epoch
    from couturier.cli.hints import failure_hint, line_reason
    from couturier.cli.keys import read_signing_key
    from couturier.cli.output import LineProgress, print_table, print_warnings
    from couturier.debian.transport import HttpTransport
    from couturier.errors import InputError
    from couturier.oci.layout import LayoutSink
    from couturier.services import build as build_service
    from couturier.services.context import build_context, catalog_context
    from couturier.services.specs import load_image_spec

    if (args.spec is None) == (args.starter is None):
        both = args.spec is not None
        raise InputError(
            "build takes a spec file or --starter NAME, not both"
            if both
            else "build needs either a spec file or --starter NAME",
            "e.g. couturier build --starter python --output ./python-oci",
            fields={"kind": "build-source"},
        )
    signer = read_signing_key(args.sign_key) if args.sign_key is not None else None
    sink = LayoutSink(args.output)
    sink.check()  # before the spec's catalogs are read
    # With SOURCE_DATE_EPOCH (reproducible mode) the timestamp tags come from it too (the
    # context dates them by it), so two builds of the same inputs give the same layout,
    # index.json included. A bad value is refused before anything is read.
    epoch = source_date_epoch(os.environ)
    # One row per line while it builds; catalog messages go below the rows.
    display = LineProgress(sys.stderr, quiet=args.quiet)
    # One HTTP client for the job: the refreshes of every release and the downloads of every
    # line share its pooled connections (and its host lookups); closed when the build ends.
    with HttpTransport() as transport:
        context = build_context(
            settings,
            sink=sink,
            epoch=epoch,
            transport=transport,
            say=display.note,
            on_stage=display,
            signer=signer,
        )
        if args.starter:
            request = build_service.starter_request(context, args.starter)
        else:
            # The whole spec is checked (catalogs and bundles included) before anything is
            # built, its catalog messages shown as the checks' progress.
            arch = args.arch[0] if args.arch else None
            spec = load_image_spec(catalog_context(settings, say=progress), args.spec, arch)
            request = build_service.image_request(context, spec)
        progress.done()
        try:
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
                trace = line.error.fields.get("trace_id")
                hint = failure_hint(line.error) if line.status == "failed" else ""
                said = f" ({hint})" if hint else ""
                traced = f" (trace {trace})" if trace else ""
                print(f"{line.version}: {line_reason(line.error)}{said}{traced}")
            print_warnings(line.version, line.warnings)
        print(f"\n{request.name}: {result.status} (trace {result.trace_id}) -> {args.output}")
    return 0 if result.status != "image build failed" else EXIT_ERROR


# (group, command) -> (module of couturier.cli, its handler). A command's module, and the
# services it uses, are imported only when that command runs: `couturier --help` and
# `couturier packages resolve` do not pay for the build engine's imports.
_COMMANDS: dict[tuple[str, str | None], tuple[str, str]] = {
    ("build", None): ("main", "_build"),
    ("bundle", "create"): ("bundle", "create"),
    ("bundle", "list"): ("bundle", "list_"),
    ("cache", "verify"): ("cache", "verify"),
    ("plan", None): ("plan", "run"),
    ("catalog", "refresh"): ("catalog", "refresh"),
    ("packages", "search"): ("packages", "search"),
    ("packages", "resolve"): ("packages", "resolve"),
    ("packages", "families"): ("families", "run"),
    ("starters", "list"): ("starters", "list_"),
    ("starters", "show"): ("starters", "show"),
    ("serve", None): ("serve", "run"),
    ("worker", None): ("worker", "run"),
    ("refresh", None): ("refresh", "run"),
    ("admin", "tenant create"): ("admin", "tenant_create"),
    ("admin", "tenant list"): ("admin", "tenant_list"),
    ("admin", "token create"): ("admin", "token_create"),
    ("admin", "entitle"): ("admin", "entitle"),
    ("admin", "backup"): ("admin", "backup"),
    ("admin", "restore"): ("admin", "restore"),
    ("admin", "gc"): ("admin", "gc"),
    ("admin", "signing-key rotate"): ("signing", "rotate"),
    ("images", "list"): ("images", "images_list"),
    ("images", "get"): ("images", "images_get"),
    ("images", "apply"): ("images", "images_apply"),
    ("images", "delete"): ("images", "images_delete"),
    ("images", "spec"): ("images", "images_spec"),
    ("images", "export"): ("images", "images_export"),
    ("builds", "get"): ("images", "builds_get"),
    ("tokens", "create"): ("images", "tokens_create"),
    ("tokens", "list"): ("images", "tokens_list"),
    ("tokens", "revoke"): ("images", "tokens_revoke"),
    ("destinations", "add"): ("destinations", "add"),
    ("destinations", "list"): ("destinations", "list_"),
    ("destinations", "remove"): ("destinations", "remove"),
    ("actions", "add"): ("actions", "actions_add"),
    ("actions", "list"): ("actions", "actions_list"),
    ("actions", "remove"): ("actions", "actions_remove"),
    ("actions", "test"): ("actions", "actions_test"),
    ("actions", "deliveries"): ("actions", "actions_deliveries"),
    ("signing-key", None): ("signing", "signing_key"),
    ("verify", None): ("signing", "verify"),
}


def _handler(group: str, command: str | None) -> Handler:
    """The handler of ``group command``, its module imported now."""
    module, name = _COMMANDS[(group, command)]
    handler: Handler = getattr(importlib.import_module(f"couturier.cli.{module}"), name)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = parse(argv)
    progress = Progress(quiet=args.quiet)
    try:
        settings = load_settings(args.config)
        for warning in settings.warnings:
            print(f"couturier: warning: {warning}", file=sys.stderr)
        handler = _handler(args.group, getattr(args, "command", None))
        return handler(settings, args, progress)
    except CouturierError as error:
        progress.done()
        from couturier.cli.hints import error_hint

        hint = error_hint(error)
        said = f"{error.message} ({hint})" if hint else error.message
        print(f"couturier: error: {_one_line(said)}", file=sys.stderr)
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
            print_json_error(CouturierError(message, hint, code=Code.LOCAL_FILES))
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
            print_json_error(CouturierError(message, hint, code=Code.INTERNAL))
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
