"""A JSON request body that writes one key twice in an object is refused.

Python's ``json`` (which FastAPI reads bodies with) keeps the last of duplicate keys, so
``{"name": "a", "name": "b"}`` made the image ``b`` without a word; the CLI refuses the same
duplicate in a YAML spec. RFC 8259 §4 says names "SHOULD be unique" and leaves duplicates'
meaning unpredictable: here they are a ``422`` naming the key.

ASGI middleware placed inside :class:`couturier.api.limits.BodyLimit`, so what it buffers is
already bounded (1 MiB for a JSON body); the body is replayed to the route unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from couturier.api.errors import error_response
from couturier.core.spec import SpecError, Violation
from couturier.errors import CouturierError

__all__ = ["UniqueJsonKeys"]

_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKeyError(key)
        found[key] = value
    return found


def duplicate_key(body: bytes) -> str | None:
    """The first key written twice in one object of ``body``; None when there is none or
    ``body`` is no JSON at all (the route's own parsing says what is wrong with it)."""
    try:
        json.loads(body, object_pairs_hook=_unique)
    except _DuplicateKeyError as duplicate:
        return duplicate.key
    except (ValueError, RecursionError):
        return None
    return None


def _is_json(scope: Scope) -> bool:
    for key, value in scope.get("headers", ()):
        if key.lower() == b"content-type":
            kind = str(value.decode("latin-1")).split(";")[0].strip().lower()
            return kind == "application/json" or kind.endswith("+json")
    return False


class UniqueJsonKeys:
    """ASGI middleware refusing JSON bodies with a duplicate key (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    await self.app(scope, _replay(b"".join(chunks), receive, message), send)
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except CouturierError as error:  # the body limit, counted as the body arrives
            await error_response(error)(scope, receive, send)
            return
        body = b"".join(chunks)
        key = duplicate_key(body)
        if key is not None:
            rule = "is written more than once in one JSON object; keep one"
            refused = SpecError([Violation(key[:200], key[:200], rule)], "the request")
            await error_response(refused)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive, pending: Message | None = None) -> Receive:
    """A ``receive`` giving ``body`` whole once, then ``pending`` (a disconnect seen while
    reading), then whatever ``receive`` gives."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent, pending
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if pending is not None:
            message, pending = pending, None
            return message
        return await receive()

    return replayed
