"""``couturier actions add|list|remove|test|deliveries``: a tenant's actions over a
``couturier serve``'s API (``/v1/actions``).

``add ACTION.yaml`` registers the action a file declares (the request of ``docs/actions.md``
as YAML), so that its secret (a webhook's signing secret, a Slack webhook URL, a GitHub
token) never appears on a command line or in a shell's history. Registering, removing and
testing need an ``admin`` token; listing and reading deliveries a ``write`` one. No answer
holds a secret.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from couturier.cli.output import Progress, print_table
from couturier.cli.remote import Remote, remote
from couturier.core.spec import SpecError, Violation
from couturier.settings import Settings

__all__ = ["actions_add", "actions_deliveries", "actions_list", "actions_remove", "actions_test"]


def _client(settings: Settings, args: argparse.Namespace) -> Remote:
    return remote(settings, args.server)


def _dump(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2)
    print()


def _path(action_id: str) -> str:
    return f"/v1/actions/{quote(action_id, safe='')}"


def _read_action(path: Path) -> dict[str, Any]:
    """The action file at ``path`` as the request to send (read as spec files are: bounded
    YAML, no key written twice); the rules are the server's."""
    from couturier.services.specs import read_spec_file

    source = f"action file {path}"
    raw, found = read_spec_file(path)
    if not isinstance(raw, dict):
        raise SpecError(
            [Violation("action", None, "must be a mapping (name, events, then)")], source
        )
    if found:
        raise SpecError(found, source)
    return raw


def _filters(action: dict[str, Any]) -> str:
    shown = [f"{key}={value}" for key, value in (action.get("if") or {}).items()]
    return " ".join(shown) or "-"


def actions_add(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``actions add ACTION.yaml``: prints the new action's ID and name."""
    body = _read_action(args.file)
    with _client(settings, args) as client:
        made = client.json(client.request("POST", "/v1/actions", json=body))
    if args.json:
        _dump(made)
    else:
        print(f"action {made.get('id')} ({made.get('name')}): registered")
    return 0


def actions_list(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``actions list``: the tenant's actions, never a secret."""
    with _client(settings, args) as client:
        items = list(client.pages("/v1/actions"))
    if args.json:
        _dump({"items": items})
        return 0
    rows = [
        [
            str(a.get("id")),
            str(a.get("name")),
            ",".join(a.get("events") or []),
            _filters(a),
            str((a.get("then") or {}).get("kind")),
        ]
        for a in items
    ]
    print_table(["id", "name", "events", "if", "then"], rows)
    return 0


def actions_remove(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``actions remove ID``: the action and its deliveries."""
    with _client(settings, args) as client:
        removed = client.json(client.request("DELETE", _path(args.action_id)))
    if args.json:
        _dump(removed)
    else:
        print(f"action {removed.get('id')} ({removed.get('name')}): removed")
    return 0


def actions_test(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``actions test ID``: queue a test event; prints its delivery's ID."""
    with _client(settings, args) as client:
        delivery = client.json(client.request("POST", f"{_path(args.action_id)}/test"))
    if args.json:
        _dump(delivery)
    else:
        print(
            f"test event queued: delivery {delivery.get('id')} "
            f"(couturier actions deliveries {args.action_id} shows its attempts)"
        )
    return 0


def actions_deliveries(settings: Settings, args: argparse.Namespace, progress: Progress) -> int:
    """``actions deliveries ID``: newest first, each with its attempts' outcome."""
    with _client(settings, args) as client:
        items = list(client.pages(f"{_path(args.action_id)}/deliveries"))
    if args.json:
        _dump({"items": items})
        return 0
    rows = []
    for d in items:
        attempts = d.get("attempts") or []
        last = attempts[-1] if attempts else {}
        status = last.get("status_code")
        rows.append(
            [
                str(d.get("id")),
                str(d.get("event")),
                str(d.get("state")),
                str(len(attempts)),
                "-" if status is None else str(status),
                f"{last.get('duration_ms')} ms" if last else "-",
                str(d.get("error") or "-"),
            ]
        )
    print_table(["delivery", "event", "state", "attempts", "status", "took", "error"], rows)
    return 0
