"""``couturier destinations add|list|remove``: the tenant's push destinations over the API
(``/v1/destinations``; an admin token). A password or token is read from standard input
(``--password-stdin``), never from the command line, where other users' ``ps`` would see it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from couturier.cli.output import Progress, print_table
from couturier.cli.remote import remote
from couturier.errors import Code, InputError
from couturier.settings import Settings

__all__ = ["add", "list_", "remove"]


def _dump(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2)
    print()


def _ca(args: argparse.Namespace) -> str | None:
    if args.ca_file is None:
        return None
    try:
        return str(args.ca_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise InputError(
            f"CA file {args.ca_file} cannot be read: {reason}",
            "name a PEM file of CA certificates",
            code=Code.LOCAL_FILES,
            fields={"path": str(args.ca_file)},
        ) from None


def add(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``destinations add URL``: registers it; prints its id."""
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else ""
    body = {
        "url": args.url,
        "prefix": args.prefix,
        "username": args.username,
        "password": password,
        "ca_pem": _ca(args),
    }
    with remote(settings, args.server) as client:
        made = client.json(client.request("POST", "/v1/destinations", json=body))
    if args.json:
        _dump(made)
    else:
        print(f"destination {made.get('id')}: {made.get('url')}")
    return 0


def list_(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``destinations list``: every destination of the tenant, never a password."""
    with remote(settings, args.server) as client:
        items = list(client.pages("/v1/destinations"))
    if args.json:
        _dump({"items": items})
        return 0
    rows = [
        [
            str(d.get("id")),
            str(d.get("url")),
            str(d.get("prefix") or "-"),
            str(d.get("username") or "-"),
            "yes" if d.get("password") else "no",
            "yes" if d.get("ca") else "no",
        ]
        for d in items
    ]
    print_table(["id", "url", "prefix", "username", "password", "ca"], rows)
    return 0


def remove(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``destinations remove ID``: builds no longer push there."""
    with remote(settings, args.server) as client:
        client.request("DELETE", f"/v1/destinations/{int(args.destination_id)}")
    if args.json:
        _dump({"id": args.destination_id, "removed": True})
    else:
        print(f"destination {args.destination_id}: removed")
    return 0
