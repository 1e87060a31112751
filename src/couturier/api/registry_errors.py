"""The ``/v2/`` endpoint's errors, as the OCI distribution specification writes them.

Every error answer of ``/v2/`` is ``{"errors": [{"code", "message", "detail"}]}`` (the spec's
"Error Codes" section) with the spec's codes: ``NAME_UNKNOWN``, ``MANIFEST_UNKNOWN``,
``BLOB_UNKNOWN``, ``NAME_INVALID``, ``DIGEST_INVALID``, ``MANIFEST_INVALID``,
``UNAUTHORIZED``, ``DENIED``, ``UNSUPPORTED``, and two of the CNCF distribution project's that
the spec's pull category leaves open: ``PAGINATION_NUMBER_INVALID`` (a malformed ``n``) and
``RANGE_INVALID`` (``416``, a ``Range`` past the end of a blob). Every answer of ``/v2/``
carries ``Docker-Distribution-API-Version: registry/2.0``, which docker checks.

:class:`RegistryError` is raised by the routes and answered by :func:`install_registry_errors`'s
handler; a :class:`~couturier.errors.CouturierError` met under ``/v2/`` (the database gone) is
answered in this shape too, by :func:`of_couturier`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from couturier.api.errors import status_of
from couturier.errors import CouturierError

__all__ = [
    "API_VERSION",
    "RegistryError",
    "install_registry_errors",
    "of_couturier",
    "registry_response",
]

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
# The spec code of a Couturier error met under /v2/, by its HTTP status.
_CODE_OF_STATUS = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NAME_UNKNOWN", 422: "UNSUPPORTED"}


class RegistryError(Exception):
    """An answer of the spec's error shape: ``status``, spec ``code``, one-line ``message``,
    ``detail`` (any JSON value, the facts) and extra ``headers`` (a challenge, a range)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.headers = dict(headers or {})


def registry_response(
    content: bytes, status: int, media_type: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A ``/v2/`` answer: ``content`` with the API version header and ``headers``."""
    return Response(content, status, {**API_VERSION, **(headers or {})}, media_type)


def _body(error: RegistryError, method: str) -> bytes:
    if method == "HEAD":  # a HEAD answer has no body (RFC 9110); its status says it
        return b""
    entry = {"code": error.code, "message": error.message, "detail": error.detail}
    text = json.dumps({"errors": [entry]}, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "backslashreplace")


def error_response(error: RegistryError, method: str) -> Response:
    """The answer to ``error`` for a request of ``method``."""
    return registry_response(_body(error, method), error.status, "application/json", error.headers)


def of_couturier(error: CouturierError) -> RegistryError:
    """``error`` (met under ``/v2/``) as a spec error of its status: ``503`` for a database
    that is busy or gone, with ``Retry-After``."""
    status = status_of(error)
    headers = {"Retry-After": "1"} if status == 503 else {}
    code = _CODE_OF_STATUS.get(status, "UNAVAILABLE" if status >= 500 else "DENIED")
    return RegistryError(status, code, error.message, {"code": str(error.code)}, headers)


def _handle(request: Request, error: Exception) -> Response:
    assert isinstance(error, RegistryError)
    return error_response(error, request.method)


def install_registry_errors(app: FastAPI) -> None:
    """Answer every :class:`RegistryError` in the spec's shape, and so the framework's own
    ``404`` and ``405`` under ``/v2/`` (a path no route matches, e.g. one holding a newline,
    which a path parameter does not take); elsewhere they stay with the handler installed
    before (:func:`couturier.api.errors.install_handlers`, which must run first)."""
    app.add_exception_handler(RegistryError, _handle)
    before = app.exception_handlers[HTTPException]

    async def framework(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if not request.url.path.startswith("/v2/"):
            answer = before(request, error)
            return await answer if inspect.isawaitable(answer) else answer
        status = error.status_code if error.status_code in (404, 405) else 400
        message = "no such endpoint of the distribution API"
        return error_response(RegistryError(status, "UNSUPPORTED", message), request.method)

    app.add_exception_handler(HTTPException, framework)
