"""``couturier serve`` over Debian's real mirror, as a user meets it through the API: a python
image with ``curl`` (amd64 only, to keep it small) is created, its build goes ``in progress``
then ``created`` (every line), the gallery lists it, an edit adds a package and rebuilds, a
delete removes it and its builds.

The serve has a data directory of its own, primed with the session's refreshed indexes
(hard links of :func:`tests.mirror.mirror_cache`'s snapshots and suite states, which are
written once and replaced, never changed in place), and downloads into the shared cache, so
a second run downloads only what the mirror changed since.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from couturier.debian.refresh import refresh
from couturier.settings import Settings
from tests.mirror import ALL_RELEASES, mirror_cache
from tests.test_serve import Server, environment, first_token

pytestmark = [pytest.mark.network, pytest.mark.e2e]

SPEC = {
    "name": "web-tool",
    "description": "Python with curl",
    "starter": "python",
    "packages": ["curl"],
    "architectures": ["amd64"],
}
LINES = ["3.11", "3.13", "3.14"]


@pytest.fixture
def served(mirror_settings: Settings, tmp_path: Path) -> Iterator[httpx.Client]:
    """A serve on the default (Debian's) mirror, and a client with its first token."""
    refresh(mirror_settings, releases=list(ALL_RELEASES), architectures=["amd64"])
    data = tmp_path / "data"
    for part in ("snapshots", "state"):
        shutil.copytree(mirror_settings.data_dir / part, data / part, copy_function=os.link)
    env = {**environment(tmp_path), "COUTURIER_CACHE_DIR": str(mirror_cache() / "cache")}
    server = Server(env, tmp_path / "serve.log")
    try:
        token = first_token(server.stderr())
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            yield client
        assert server.stop() == 0, server.stderr()
    finally:
        if server.process.poll() is None:
            server.process.kill()


def _events(client: httpx.Client, trace: str) -> list[tuple[str, dict[str, Any]]]:
    """The build's server-sent events until its end."""
    events = []
    with client.stream("GET", f"/v1/builds/{trace}/events", timeout=600) as answer:
        assert answer.status_code == 200
        name = ""
        for line in answer.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def _ended(client: httpx.Client, trace: str) -> dict[str, Any]:
    events = _events(client, trace)
    assert events[-1][0] == "end", events
    deadline = time.monotonic() + 60
    while True:  # the stream ends with the build's record: one read is enough, this waits
        build: dict[str, Any] = client.get(f"/v1/builds/{trace}").json()
        if build["status"] != "in progress" or time.monotonic() > deadline:
            return build
        time.sleep(0.2)


def test_a_python_image_with_curl_is_created_listed_edited_and_deleted(
    served: httpx.Client,
) -> None:
    client = served
    answer = client.post("/v1/images", json=SPEC)
    assert answer.status_code == 202, answer.text
    assert answer.json()["name"] == "1/web-tool"
    first = answer.json()["build"]
    assert first["status"] == "in progress"

    build = _ended(client, first["trace_id"])
    assert build["status"] == "created", json.dumps(build, indent=1)
    assert [line["line"] for line in build["lines"]] == LINES
    assert all(line["digest"].startswith("sha256:") for line in build["lines"])

    (card,) = client.get("/v1/images").json()["items"]
    assert (card["name"], card["starter"], card["label"]) == (
        "1/web-tool",
        "python",
        "private image",
    )
    assert card["build"] == {"trace_id": first["trace_id"], "status": "created"}
    assert [line["line"] for line in card["lines"]] == LINES
    digests = {line["line"]: line["digest"] for line in card["lines"]}

    edit = {**SPEC, "packages": ["curl", "jq"]}
    answer = client.put("/v1/images/1/web-tool", json=edit)
    assert answer.status_code == 202, answer.text
    second = answer.json()["build"]["trace_id"]
    rebuilt = _ended(client, second)
    assert (rebuilt["status"], rebuilt["trigger"]) == ("created", "edit")
    image = client.get("/v1/images/1/web-tool").json()
    assert image["spec"]["packages"] == ["curl", "jq"]
    changed = {line["line"]: line["digest"] for line in image["lines"]}
    assert set(changed) == set(LINES)
    assert all(changed[line] != digests[line] for line in LINES), (digests, changed)

    assert client.delete("/v1/images/1/web-tool").status_code == 204
    assert client.get("/v1/images/1/web-tool").status_code == 404
    assert client.get("/v1/images").json()["items"] == []
    for trace in (first["trace_id"], second):
        assert client.get(f"/v1/builds/{trace}").status_code == 404
    assert client.get("/v1/builds").json()["items"] == []
