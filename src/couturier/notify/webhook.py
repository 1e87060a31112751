"""A signed JSON webhook: the POST a receiver can verify came from this installation.

Headers (``docs/actions.md``):

- ``X-Couturier-Event``: the event kind (``line-new-digest``, ...; ``test`` for a test event);
- ``X-Couturier-Delivery``: the delivery's ID (the same on every retry of one delivery);
- ``X-Couturier-Timestamp``: Unix seconds when this attempt was signed;
- ``X-Couturier-Signature``: ``sha256=`` and the lowercase hex HMAC-SHA256, keyed with the
  action's secret, of ``<timestamp>.<body>`` (the timestamp's digits, a dot, the body's
  bytes exactly as sent).

Signing the timestamp with the body lets a receiver refuse a replayed request: it checks the
signature, then that the timestamp is recent (:data:`TOLERANCE_SECONDS`), as Stripe's and
Slack's signing schemes do. Each retry is signed anew with its own timestamp.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import httpx

from couturier.notify.http import post
from couturier.notify.outcome import Attempt

__all__ = ["TOLERANCE_SECONDS", "send_webhook", "signature", "verify_signature", "webhook_headers"]

TOLERANCE_SECONDS = 300  # how old a timestamp a receiver should accept (5 minutes)


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``<timestamp>.<body>`` keyed with ``secret``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def webhook_headers(
    event: str, delivery_id: str, timestamp: int, body: bytes, secret: bytes
) -> dict[str, str]:
    """The headers of one attempt (``Content-Type`` and the four ``X-Couturier-*``)."""
    return {
        "Content-Type": "application/json",
        "X-Couturier-Event": event,
        "X-Couturier-Delivery": delivery_id,
        "X-Couturier-Timestamp": str(timestamp),
        "X-Couturier-Signature": signature(secret, timestamp, body),
    }


def verify_signature(
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """What a receiver checks: the signature matches (compared in constant time) and the
    timestamp is within ``tolerance`` seconds of ``now`` (Unix seconds). ``headers`` must look
    names up case-insensitively (as HTTP servers' header mappings do)."""
    stamp = headers.get("X-Couturier-Timestamp", "")
    given = headers.get("X-Couturier-Signature", "")
    if not stamp.isdigit() or len(stamp) > 12:
        return False
    expected = signature(secret, int(stamp), body)
    return hmac.compare_digest(expected, given) and abs(now - int(stamp)) <= tolerance


def send_webhook(
    url: str,
    *,
    event: str,
    delivery_id: str,
    body: bytes,
    secret: bytes,
    timestamp: int,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> Attempt:
    """One signed POST of ``body`` (JSON) to ``url``."""
    headers = webhook_headers(event, delivery_id, timestamp, body, secret)
    return post(url, body, headers, timeout=timeout, transport=transport)
