"""``couturier admin``: the installation's tenants, their tokens and entitlements.

Run on the server's machine, on the settings' database, with or without ``serve`` running
(SQLite's write-ahead log lets both work at once). The first use sets the installation up as
``serve``'s first start does (key, migrations, tenant 1 with every starter) and then prints
tenant 1's ``write`` token once, on stderr. What a command makes is printed alone on stdout,
so scripts can take it: ``TENANT=$(couturier admin tenant create acme)``,
``TOKEN=$(couturier admin token create --tenant "$TENANT" --scope write)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from couturier.cli.output import Progress, format_size, print_table
from couturier.services.installation import (
    DEFAULT_TENANT,
    FirstStart,
    Installation,
    check_tenant,
    create_tenant,
    open_installation,
    tenants,
)
from couturier.services.installation import entitle as entitle_starters
from couturier.services.tokens import issue_token
from couturier.settings import Settings

if TYPE_CHECKING:
    from couturier.services.backup import BackupSummary

__all__ = [
    "backup",
    "entitle",
    "gc",
    "open_for_admin",
    "restore",
    "say_first_start",
    "tenant_create",
    "tenant_list",
    "token_create",
]


def say_first_start(first: FirstStart | None) -> None:
    """Tell, on stderr, what the installation's first start made, its token included (the
    only time it is shown)."""
    if first is None:
        return
    print(
        f"couturier: first start: made tenant {first.tenant_id} ({DEFAULT_TENANT}), entitled to "
        "every starter, and its write token, shown this once:",
        file=sys.stderr,
    )
    print(first.token, file=sys.stderr, flush=True)


def open_for_admin(settings: Settings) -> Installation:
    """The installation of ``settings`` for an admin command, saying what a first start made."""
    installation, first = open_installation(settings)
    say_first_start(first)
    return installation


def tenant_create(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``admin tenant create NAME``: prints the new tenant's ID alone."""
    installation = open_for_admin(settings)
    try:
        tenant = create_tenant(installation, args.name)
    finally:
        installation.close()
    print(tenant.id)
    return 0


def tenant_list(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``admin tenant list``: ID, name, starters of every tenant."""
    installation = open_for_admin(settings)
    try:
        found = tenants(installation)
    finally:
        installation.close()
    if args.json:
        json.dump({"tenants": [t.to_json() for t in found]}, sys.stdout, indent=2)
        print()
        return 0
    rows = [[str(t.id), t.name, ", ".join(t.starters) or "-"] for t in found]
    print_table(["id", "name", "starters"], rows)
    return 0


def token_create(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``admin token create --tenant ID --scope S [--expires DAYS]``: prints the token alone,
    the only time it is shown."""
    installation = open_for_admin(settings)
    try:
        check_tenant(installation, args.tenant)
        issued = issue_token(
            installation,
            args.tenant,
            args.scope,
            expires_days=args.expires,
            description=args.description,
        )
    finally:
        installation.close()
    print(issued.token)
    return 0


def entitle(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``admin entitle --tenant ID STARTER...``: says which starters were added."""
    installation = open_for_admin(settings)
    try:
        added = entitle_starters(installation, args.tenant, args.starters)
    finally:
        installation.close()
    already = [name for name in dict.fromkeys(args.starters) if name not in added]
    if added:
        print(f"tenant {args.tenant}: entitled to {', '.join(added)}")
    if already:
        print(f"tenant {args.tenant}: already entitled to {', '.join(already)}")
    return 0


def _summary(summary: BackupSummary) -> str:
    revision = summary.revision or "none"
    return f"{summary.files} files, {format_size(summary.size)}, schema {revision}"


def backup(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``admin backup DIR``: a consistent copy of the embedded installation."""
    from couturier.services.backup import backup_installation

    summary = backup_installation(settings, args.directory)
    progress.done()
    print(f"backed up {settings.data_dir} into {summary.directory} ({_summary(summary)})")
    return 0


def restore(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``admin restore DIR [--force]``: the backup checked, then brought back."""
    from couturier.services.backup import restore_installation

    summary = restore_installation(settings, args.directory, force=args.force)
    progress.done()
    print(f"restored {summary.directory} into {settings.data_dir} ({_summary(summary)})")
    return 0


def gc(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``admin gc [--json]``: remove the blobs no image or starter references any more."""
    from couturier.services.gc import DEFAULT_GRACE, collect_garbage

    installation = open_for_admin(settings)
    try:
        summary = collect_garbage(installation)
    finally:
        installation.close()
    progress.done()
    if args.json:
        print(json.dumps(summary.to_json()))
    else:
        print(
            f"removed {summary.manifests} manifests no tag reaches and {summary.removed} "
            f"blobs ({format_size(summary.freed)}); kept "
            f"{summary.kept} referenced, spared {summary.spared} unreferenced stored in the "
            f"last {DEFAULT_GRACE.seconds // 60} minutes or since a running build began "
            "(a later gc removes them)"
        )
    return 0
