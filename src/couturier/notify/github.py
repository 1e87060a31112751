"""A GitHub ``repository_dispatch``: starts the workflows of a repository that listen for it.

GitHub's REST API: ``POST {api}/repos/{owner}/{repo}/dispatches`` with ``{"event_type",
"client_payload"}`` (``event_type`` at most 100 characters, ``client_payload`` at most 10
top-level properties), the headers ``Accept: application/vnd.github+json``,
``Authorization: Bearer <token>`` and ``X-GitHub-Api-Version: 2022-11-28``; it answers
``204 No Content`` (https://docs.github.com/en/rest/repos/repos#create-a-repository-dispatch-event).
A workflow reads the payload as ``github.event.client_payload``. The API's base URL is
configurable (GitHub Enterprise Server: ``https://HOST/api/v3``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from couturier.notify.http import post
from couturier.notify.outcome import Attempt

__all__ = [
    "API_URL",
    "MAX_EVENT_TYPE",
    "REPOSITORY",
    "dispatch_body",
    "dispatch_url",
    "send_dispatch",
]

API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
MAX_EVENT_TYPE = 100
# GitHub's owner and repository names: letters, digits, '-', '_' and '.' (owners: no '.').
REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


def dispatch_url(api_url: str, repository: str) -> str:
    """``{api}/repos/{owner}/{repo}/dispatches`` (``repository``: ``owner/repo``)."""
    return f"{api_url.rstrip('/')}/repos/{repository}/dispatches"


def dispatch_body(event_type: str, client_payload: Mapping[str, Any]) -> bytes:
    return json.dumps(
        {"event_type": event_type, "client_payload": dict(client_payload)}, ensure_ascii=False
    ).encode()


def send_dispatch(
    api_url: str,
    repository: str,
    token: str,
    *,
    event_type: str,
    client_payload: Mapping[str, Any],
    timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> Attempt:
    """Dispatch ``event_type`` with ``client_payload`` to ``repository``."""
    headers = {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": API_VERSION,
        "Content-Type": "application/json",
    }
    body = dispatch_body(event_type, client_payload)
    return post(
        dispatch_url(api_url, repository), body, headers, timeout=timeout, transport=transport
    )
