"""A Slack message through an incoming webhook.

Slack's incoming webhooks take a POST of ``{"text": ...}`` as JSON (``mrkdwn`` formatting,
``<URL|label>`` links; the optional ``blocks`` are not needed for one line) and answer
``200 ok`` (https://api.slack.com/messaging/webhooks). The webhook's URL is its credential:
it is stored sealed as the action's secret and never shown.
"""

from __future__ import annotations

import json

import httpx

from couturier.notify.http import post
from couturier.notify.outcome import Attempt

__all__ = ["escape", "send_slack", "slack_body"]


def escape(text: str) -> str:
    """``text`` with the three characters Slack's ``mrkdwn`` reserves escaped (``& < >``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(text: str) -> bytes:
    """The JSON body of a message saying ``text`` (already ``mrkdwn``)."""
    return json.dumps({"text": text}, ensure_ascii=False).encode()


def send_slack(
    url: str, text: str, *, timeout: float, transport: httpx.BaseTransport | None = None
) -> Attempt:
    """Post ``text`` to the incoming webhook ``url``."""
    headers = {"Content-Type": "application/json"}
    return post(url, slack_body(text), headers, timeout=timeout, transport=transport)
