"""``couturier packages families --starter NAME [QUERY] [--json] [--arch A] [--limit N]``.

Lists the package families of a starter's lines: per line the member a ``<family>-auto`` would
install there (``name version``, ``-`` when none fits), and the auto package on offer or why
there is none (``blocked: ...``, ``dependency-only: ...``). ``--json`` prints
``{"starter", "lines", "total", "families": [{"name", "auto", "blocked", "dependency_only",
"members": {label: {"name", "version"}}}]}`` (``total``: how many families match, of which at
most ``--limit``, the closest names, are listed); a line with no fitting member is absent from
``members``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from couturier.cli.output import Progress, print_table
from couturier.core.families import Family
from couturier.core.suggest import did_you_mean
from couturier.core.text import shown
from couturier.services import families as family_service
from couturier.services.context import catalog_context
from couturier.services.starters import get_starter
from couturier.settings import Settings

__all__ = ["auto_cell", "family_json", "family_rows", "run"]


def auto_cell(family: Family) -> str:
    """The auto package on offer, or why there is none."""
    if family.blocked is not None:
        return f"blocked: {family.blocked}"
    if family.dependency_only is not None:
        return f"dependency-only: {family.dependency_only}"
    return family.auto or "-"


def family_rows(families: Sequence[Family], labels: Sequence[str]) -> list[list[str]]:
    """One table row per family: name, the member per line label, the auto cell."""
    rows = []
    for family in families:
        cells = [family.name]
        for label in labels:
            member = family.member(label)
            cells.append(f"{member.name} {member.version}" if member is not None else "-")
        rows.append([*cells, auto_cell(family)])
    return rows


def family_json(family: Family) -> dict[str, Any]:
    """A family as the ``--json`` output shows it."""
    return {
        "name": family.name,
        "auto": family.auto,
        "blocked": family.blocked,
        "dependency_only": family.dependency_only,
        "members": {
            m.line: {"name": m.package.name, "version": m.package.version} for m in family.members
        },
    }


def run(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Run ``packages families``; exit status 0 (an empty result is not an error)."""
    starter = get_starter(settings, args.starter)
    labels = [line.version for line in starter.lines]
    arch = args.arch or settings.architectures[0]
    context = catalog_context(settings, say=progress)
    found, total = family_service.families_and_total(
        context, starter, args.query, arch, limit=args.limit
    )
    progress.done()
    if args.json:
        body = {
            "starter": starter.name,
            "lines": labels,
            "total": total,
            "families": [family_json(f) for f in found],
        }
        json.dump(body, sys.stdout, indent=2)
        print()
        return 0
    if not found:
        what = f"matching {shown(args.query)}" if args.query else "with a line version in its names"
        near = ""
        if args.query:
            names = family_service.near_package_names(context, starter, args.query, arch)
            progress.done()
            near = did_you_mean(args.query, names)
        advice = (
            near
            or "; try a query, e.g. "
            f"`couturier packages families --starter {starter.name} {starter.name}`"
        )
        print(f"no package family of {starter.name} {what}{advice}", file=sys.stderr)
        return 0
    # sys.stdout read now, not when output.py was imported (tests and callers may replace it)
    print_table(["family", *labels, "auto"], family_rows(found, labels), sys.stdout)
    if total > len(found):
        print(
            f"\n{len(found)} of {total} matching families shown (the closest names); narrow "
            "the query or raise --limit",
            file=sys.stderr,
        )
    return 0
