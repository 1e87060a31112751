"""``couturier plan SPEC.yaml``: what every line of a private image would install, or why not."""

from __future__ import annotations

import argparse
import json
import sys

from couturier.cli.hints import line_reason
from couturier.cli.output import Progress, format_size, print_table, print_warnings
from couturier.core.text import named
from couturier.errors import InputError
from couturier.services.context import build_context
from couturier.services.plan import LinePreview, installed_size, spec_plan
from couturier.services.specs import load_image_spec
from couturier.settings import Settings

__all__ = ["run"]


def run(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Plan the spec and print the plan; exit status 0 when at least one line can be built.

    A plan is for one architecture (its output names it once): more than one ``--arch`` is
    refused, never silently narrowed to one.
    """
    arches = list(dict.fromkeys(args.arch or ()))
    if len(arches) > 1:
        raise InputError(
            f"plan takes one --arch, got {', '.join(named(a) for a in arches[:5])}",
            "a plan is for one architecture: run plan once per architecture "
            f"(couturier plan SPEC --arch {named(arches[0])})",
        )
    arch = arches[0] if arches else None
    context = build_context(settings, say=progress)
    spec = load_image_spec(context, args.spec, arch)
    plan = spec_plan(context, spec, arch, lines=args.line)
    progress.done()
    if args.json:
        json.dump(plan.to_json(), sys.stdout, indent=2)
        print()
    else:
        print(f"{plan.name}: {plan.starter} starter, {plan.architecture}")
        for line in plan.lines:
            _print_line(line)
    ready = sum(1 for line in plan.lines if line.plan is not None)
    return 0 if ready else 1


def _print_line(preview: LinePreview) -> None:
    line = preview.line
    print()
    plan = preview.plan
    if plan is None:
        reason = line_reason(preview.reason) if preview.reason else ""
        print(f"{line.version} ({line.release}): skipped: {reason}")
        return
    size = installed_size(plan.packages)
    download = sum(p.size for p in plan.packages)
    print(
        f"{line.version} ({line.release}): {preview.full_version}, {len(plan.packages)} packages "
        f"({len(plan.starter)} starter, {len(plan.added)} added), "
        f"about {format_size(size)} unpacked, {format_size(download)} to download"
    )
    for request, member in plan.autos.items():
        chosen = member or "nothing: no member fits this line (skipped)"
        print(f"  {request} -> {chosen}")
    starter_names = {p.name for p in plan.starter}
    rows = [
        [
            p.name,
            p.version,
            "starter" if p.name in starter_names else "added",
            plan.requested_by(p.name) or "-",
        ]
        for p in (*plan.added, *plan.starter)
    ]
    print_table(["package", "version", "from", "pulled in by"], rows)
    print_warnings(line.version, preview.warnings)
