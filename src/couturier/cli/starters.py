"""``couturier starters list`` and ``couturier starters show NAME``: the starter images on offer.

``list`` reads no catalog: one row per starter (shipped ones and the site's ``starters_dir``)
with its description, its line labels and its newest line. ``--json`` prints
``{"starters": [{"name", "description", "lines", "newest"}]}``.

``show`` adds what each line's release offers now, from the catalog (refreshed first when it
has no snapshot yet): per line its label, release, primary package and its version, the full
version a build would tag, the end of life (``ended`` once past), and the starter's base
packages, entrypoint, cmd, user, workdir, ports and env. ``--json`` prints ``{"name",
"description", "packages", "entrypoint", "cmd", "user", "uid", "workdir", "ports", "env",
"newest", "architecture", "lines": [...]}``, each line as
:meth:`couturier.services.starters.LineVersion.to_json` says
(:func:`couturier.services.starters.starter_document`, which the API answers too).
"""

from __future__ import annotations

import argparse
import json
import sys

from couturier.cli.output import Progress, print_table
from couturier.core.families import newest_line
from couturier.services.context import catalog_context
from couturier.services.starters import (
    get_starter,
    line_versions,
    starter_document,
    starter_summary,
    starters,
)
from couturier.settings import Settings

__all__ = ["list_", "show"]


def list_(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Run ``starters list``; exit status 0."""
    found = sorted(starters(settings).values(), key=lambda s: s.name)
    progress.done()
    if args.json:
        body = [starter_summary(s) for s in found]
        json.dump({"starters": body}, sys.stdout, indent=2)
        print()
        return 0
    rows = [
        [
            s.name,
            ", ".join(line.version for line in s.lines),
            newest_line(s).version,
            s.description,
        ]
        for s in found
    ]
    print_table(["starter", "lines", "newest", "description"], rows, sys.stdout)
    return 0


def _words(items: tuple[str, ...] | list[str]) -> str:
    return " ".join(items) if items else "-"


def show(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """Run ``starters show NAME``; exit status 0 (a line whose release cannot be read shows
    ``-`` and why)."""
    starter = get_starter(settings, args.name)
    arch = args.arch or settings.architectures[0]
    lines = line_versions(catalog_context(settings, say=progress), starter, arch)
    progress.done()
    if args.json:
        json.dump(starter_document(starter, lines, arch), sys.stdout, indent=2)
        print()
        return 0
    out = sys.stdout
    print(f"{starter.name}: {starter.description}", file=out)
    facts = [
        ("base packages", ", ".join(starter.packages) or "-"),
        ("entrypoint", _words(list(starter.entrypoint))),
        ("cmd", _words(list(starter.cmd))),
        ("user", f"{starter.user} ({starter.uid})"),
        ("workdir", starter.workdir or "-"),
        ("ports", ", ".join(starter.ports) or "-"),
    ]
    for key, value in facts:
        print(f"  {key + ':':15}{value}", file=out)
    print("  env:" + ("" if starter.env else "           -"), file=out)
    for key, value in starter.env.items():
        print(f"    {key}={value}", file=out)
    print(file=out)
    rows = []
    for line in lines:
        label = line.line.version + (" (newest)" if line.newest else "")
        eol = line.line.eol.isoformat() + (" (ended)" if line.ended else "")
        packages = ", ".join((line.line.primary, *line.line.packages))
        rows.append(
            [
                label,
                line.line.release,
                line.full_version or "-",
                f"{line.line.primary} {line.package_version or '-'}",
                eol,
                packages,
            ]
        )
    print_table(
        ["line", "release", "version", "primary", "end of life", "line packages"], rows, out
    )
    for line in lines:
        if line.line.env:
            pairs = " ".join(f"{key}={value}" for key, value in line.line.env.items())
            print(f"{line.line.version}: env {pairs}", file=out)
        if line.problem:
            print(f"{line.line.version}: {line.problem.message}", file=out)
    return 0
