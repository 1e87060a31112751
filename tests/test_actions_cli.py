"""``couturier actions`` against a real ``couturier serve`` (the fixture mirror's, as
tests/test_cli_remote.py starts it): an action registered from a file is told, through a
signed webhook to a local receiver, of the new digests a real build makes; test events,
deliveries, removal, and what a secret never does (appear in an answer or a line printed)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.receivers import Receiver
from tests.test_cli_remote import Served, _admin_token, _spec, cli, served

__all__ = ["cli", "served"]  # the fixtures this module uses

SECRET = "cli-webhook-secret-0123456789"


def test_actions_add_list_test_deliveries_remove_and_a_build_tells_its_webhook(
    cli: Any, served: Served, tmp_path: Path
) -> None:
    admin = _admin_token(served)
    with Receiver(default="verify") as receiver:
        receiver.secret = SECRET.encode()
        action = {
            "name": "deploy-hook",
            "events": ["line-new-digest", "line-failed"],
            "if": {"image": "act-*"},
            "then": {"kind": "webhook", "url": f"{receiver.url}/hook", "secret": SECRET},
        }
        path = tmp_path / "action.yaml"
        path.write_text(yaml.safe_dump(action))

        status, out, err = cli("actions", "add", str(path))  # the write token: too low
        assert status == 1 and "needs a token of scope admin" in err and err.count("\n") == 1
        status, out, err = cli("actions", "add", str(path), token=admin)
        assert status == 0, err
        found = re.fullmatch(r"action (\d+) \(deploy-hook\): registered\n", out)
        assert found, out
        action_id = found.group(1)
        status, out, _ = cli("actions", "list")
        assert re.search(
            rf"^{action_id}\s+deploy-hook\s+line-new-digest,line-failed\s+image=act-\*\s+webhook",
            out,
            re.M,
        ), out
        status, out, _ = cli("actions", "list", "--json")
        assert SECRET not in out and json.loads(out)["items"][0]["then"]["url"].endswith("/hook")

        # A real build of a matching image: each created line's new digest, signed.
        status, out, err = cli("images", "apply", str(_spec(tmp_path, name="act-tool")))
        assert status == 0, err
        seen = receiver.wait_for(2)
        told = [json.loads(r.body) for r in seen]
        assert sorted(p["line"] for p in told) == ["1", "2"]
        assert {p["event"] for p in told} == {"line-new-digest"}
        assert {p["image"] for p in told} == {"1/act-tool"}
        assert all(r.answered == 204 for r in seen)  # the receiver verified each signature
        status, out, _ = cli("images", "get", "--json", "act-tool")
        digests = {line["line"]: line["digest"] for line in json.loads(out)["lines"]}
        assert {p["line"]: p["digest"] for p in told} == digests

        status, out, err = cli("actions", "test", action_id, token=admin)
        assert status == 0 and out.startswith("test event queued: delivery "), err
        receiver.wait_for(3)
        status, out, _ = cli("actions", "deliveries", "--json", action_id)
        items = json.loads(out)["items"]
        assert items[0]["event"] == "test"
        status, out, _ = cli("actions", "deliveries", action_id)
        assert re.search(r"^\S+\s+test\s+(delivered|pending)\s", out, re.M), out
        assert len(re.findall(r"line-new-digest\s+delivered\s+1\s+204\s", out)) == 2, out

    status, out, err = cli("actions", "remove", action_id, token=admin)
    assert status == 0 and out == f"action {action_id} (deploy-hook): removed\n"
    status, out, err = cli("actions", "remove", action_id, token=admin)
    assert status == 1 and out == "" and err.count("\n") == 1, err
    assert "couturier actions list" in err
    status, out, _ = cli("actions", "remove", action_id, "--json", token=admin)
    assert json.loads(out)["error"]["code"] == "action-not-found"
    cli("images", "delete", "act-tool")
