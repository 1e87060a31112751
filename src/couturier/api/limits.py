"""A bound on every request body, before a route reads it.

uvicorn reads whatever a client sends; FastAPI then holds a JSON body whole in memory. So
every body is bounded here: :data:`MAX_BODY_BYTES` (a spec's own bound, as a spec file's) for
everything but a multipart upload, which may carry a bundle's inputs
(:data:`couturier.api.bundles.MAX_UPLOAD_BYTES`, checked again, with its own advice, by the
upload route). A ``Content-Length`` over the bound is answered ``413`` (``upload-too-large``)
without reading the body; a body without one is counted as it arrives and refused the moment
it passes the bound.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from couturier.api.errors import error_response
from couturier.core.yamltext import MAX_YAML_BYTES
from couturier.errors import Code, InputError

__all__ = ["MAX_BODY_BYTES", "BodyLimit", "too_large"]

MAX_BODY_BYTES = MAX_YAML_BYTES


def too_large(limit: int, size: int | None, hint: str = "") -> InputError:
    """The error of a request body over ``limit`` bytes (``size``: its declared length)."""
    return InputError(
        f"the request body is larger than {limit:,} bytes",
        hint or "send a smaller body",
        code=Code.UPLOAD_TOO_LARGE,
        fields={"limit": limit, "size": size},
    )


def _body_headers(scope: Scope) -> tuple[str, str]:
    """The request's ``Content-Type`` and ``Content-Length`` ("" when absent), in one pass
    over its headers (every request goes through here)."""
    kind = length = ""
    for key, value in scope.get("headers", ()):
        name = key.lower()
        if name == b"content-type":
            kind = str(value.decode("latin-1"))
        elif name == b"content-length":
            length = str(value.decode("latin-1"))
    return kind, length


class BodyLimit:
    """ASGI middleware bounding request bodies (see the module's docstring)."""

    def __init__(self, app: ASGIApp, *, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind, length = _body_headers(scope)
        multipart = kind.lower().startswith("multipart/form-data")
        limit = self.upload_limit if multipart else self.json_limit
        declared = length.strip()
        if declared.isdigit() and int(declared) > limit:
            await error_response(too_large(limit, int(declared)))(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large(limit, None)
            return message

        await self.app(scope, counted, send)
