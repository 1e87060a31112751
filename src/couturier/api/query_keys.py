"""A ``/v1`` request that gives one query parameter twice is refused.

Every ``/v1`` query parameter takes one value, and FastAPI keeps the last of repeated ones, so
``POST /v1/plan?arch=amd64&arch=arm64`` planned arm64 alone without a word (the CLI refuses a
second ``--arch``). As with a JSON key written twice (:mod:`couturier.api.json_keys`), the
repetition is a ``422`` naming the parameter. The registry's ``/v2/token`` takes ``scope``
more than once, as the distribution specification says, and is outside ``/v1``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from couturier.api.errors import error_response
from couturier.core.spec import SpecError, Violation

__all__ = ["UniqueQueryKeys", "repeated_parameter"]

_PREFIX = "/v1/"


def repeated_parameter(query: bytes) -> str | None:
    """The first parameter named twice in the query string ``query``; None when none is."""
    if not query:
        return None
    seen: set[str] = set()
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return name
        seen.add(name)
    return None


class UniqueQueryKeys:
    """ASGI middleware refusing ``/v1`` requests with a repeated query parameter."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(_PREFIX):
            name = repeated_parameter(scope.get("query_string", b""))
            if name is not None:
                rule = "is given more than once; give it once"
                refused = SpecError([Violation(name[:200], name[:200], rule)], "the query")
                await error_response(refused)(scope, receive, send)
                return
        await self.app(scope, receive, send)
