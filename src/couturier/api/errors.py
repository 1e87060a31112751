"""Errors as HTTP answers: every :class:`CouturierError` gets a status here and nowhere else.

- a request that breaks rules is ``422`` with ``{"errors": [{"field", "value", "rule",
  "message"}]}``, every violation at once; FastAPI's own request validation (malformed JSON, a
  wrong type, a missing field, a query parameter out of range) answers the same shape;
- every other error's status comes from its code (:data:`HTTP_STATUS`, the HTTP column of
  ``docs/errors.md``): a missing, invalid, expired or revoked token is ``401`` (with
  ``WWW-Authenticate: Bearer``), a scope too low ``403``; a thing that does not exist, or is
  another tenant's, ``404``; a name taken ``409``; the database busy or gone ``503`` (with
  ``Retry-After``); the server's own trouble (its settings, files, key) ``500``;
- every other error body is ``{"error": {"code", "message", "hint", "fields", "retryable"}}``
  (``docs/errors.md`` lists the codes and their fields).

A bug (any other exception) is a ``500`` naming a trace id that the server log repeats with
the traceback; input never leads there.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from couturier.errors import AccessError, Code, CouturierError

__all__ = [
    "HTTP_STATUS",
    "NOT_FOUND",
    "ErrorBody",
    "ValidationErrors",
    "error_response",
    "install_handlers",
    "status_of",
]


class _Json(JSONResponse):
    """An error body. What it echoes (a violation's value, a field) may hold a lone surrogate,
    which JSON's ``"\\ud800"`` escape makes and UTF-8 cannot encode: it is written back as that
    escape, where Starlette's own rendering raised and the request became a 500."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


log = logging.getLogger("couturier.api")
_VALUE_LIMIT = 200  # characters of an offending value echoed back


class Problem(BaseModel):
    code: str
    message: str
    hint: str = ""
    fields: dict[str, Any] = {}
    retryable: bool = False


class ErrorBody(BaseModel):
    """``{"error": {"code", "message", "hint", "fields", "retryable"}}``"""

    error: Problem


class FieldError(BaseModel):
    field: str
    value: Any = None
    rule: str
    message: str


class ValidationErrors(BaseModel):
    """``{"errors": [{"field", "value", "rule", "message"}]}``: every violation at once."""

    errors: list[FieldError]


# What each documented status answers (the routes' OpenAPI ``responses``).
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing, invalid, expired or revoked token"},
    403: {
        "model": ErrorBody,
        "description": "the token's scope is too low, or a session's CSRF token is missing",
    },
    413: {"model": ErrorBody, "description": "the request body is over the limit"},
    422: {"model": ValidationErrors, "description": "the request breaks rules: every one"},
    503: {"model": ErrorBody, "description": "the database is busy or unreachable: retry"},
}
# The 404 of a route that names a resource (another tenant's is a 404 too).
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}

_4XX: dict[int, tuple[Code, ...]] = {
    401: (Code.TOKEN_MISSING, Code.TOKEN_INVALID, Code.TOKEN_EXPIRED, Code.TOKEN_REVOKED),
    403: (Code.SCOPE_TOO_LOW, Code.CSRF_INVALID),
    404: (
        Code.NOT_FOUND,
        Code.STARTER_NOT_FOUND,
        Code.LINE_NOT_FOUND,
        Code.PACKAGE_NOT_FOUND,
        Code.VERSION_NOT_IN_RELEASE,
        Code.BUNDLE_NOT_FOUND,
        Code.TENANT_NOT_FOUND,
        Code.IMAGE_NOT_FOUND,
        Code.BUILD_NOT_FOUND,
        Code.DESTINATION_NOT_FOUND,
        Code.ACTION_NOT_FOUND,
    ),
    409: (Code.INDEX_MISSING, Code.NAME_TAKEN, Code.BUNDLE_IN_USE),
    413: (Code.UPLOAD_TOO_LARGE,),
    422: (
        Code.RELEASE_UNKNOWN,
        Code.ARCHITECTURE_UNKNOWN,
        Code.INPUT_INVALID,
        Code.SPEC_INVALID,
        Code.BUNDLE_INVALID,
        Code.OUTPUT_UNUSABLE,
        Code.NO_INSTALLABLE_SET,
        Code.ASSEMBLY_FAILED,
        Code.FILE_CONFLICT,
        Code.BUNDLE_PLACEMENT,
        Code.DESTINATION_INVALID,
    ),
    502: (
        Code.SOURCE_HTTP_ERROR,
        Code.REMOTE_FILE_MISSING,
        Code.SUITE_NOT_FOUND,
        Code.INTEGRITY_FAILED,
        Code.INDEX_SIGNATURE_INVALID,
        Code.INDEX_EXPIRED,
        Code.INDEX_MALFORMED,
        Code.DOWNLOAD_TOO_LARGE,
        Code.DOWNLOAD_HASH_MISMATCH,
        Code.DOWNLOAD_CORRUPT,
        Code.PACKAGE_CORRUPT,
    ),
    503: (Code.SOURCE_UNREACHABLE, Code.DATABASE_UNAVAILABLE, Code.JOBS_NOT_RUNNING),
    507: (Code.STORAGE_FULL,),
}
# The HTTP status of every code (docs/errors.md's HTTP column): the ones above, and 500 for the
# rest, which are the server's own trouble (its settings, files, database or a bug), never the
# request's.
HTTP_STATUS: Mapping[Code, int] = MappingProxyType(
    {code: next((s for s, codes in _4XX.items() if code in codes), 500) for code in Code}
)


def status_of(error: CouturierError) -> int:
    """The HTTP status of ``error``, by its code."""
    return HTTP_STATUS[Code(error.code)]


def _code(error: CouturierError) -> str:
    return str(error.code)


def _value(value: Any) -> Any:
    """An offending value as JSON can carry it back: short text, a finite number, a boolean or
    null; anything else by its repr, cut."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value if abs(value) < 10**15 else str(value)[:_VALUE_LIMIT]
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _VALUE_LIMIT else text[:_VALUE_LIMIT] + "…"


def _field_errors(rows: Iterable[tuple[str, Any, str]]) -> dict[str, Any]:
    errors = []
    for field, value, rule in rows:
        message = f"{field}: {rule}" if field else rule
        errors.append({"field": field, "value": _value(value), "rule": rule, "message": message})
    return {"errors": errors}


def _location(loc: Iterable[int | str]) -> str:
    """``body.scope`` → ``scope``; ``query.limit`` → ``limit``; ``body`` → ``body``."""
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts)


def _request_errors(errors: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    rows = []
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "")
            rows.append(("body", None, f"must be a JSON document ({reason})"))
            continue
        field = _location(error.get("loc", ()))
        value = error.get("input") if error.get("type") != "missing" else None
        rows.append((field, value, str(error.get("msg", "is not valid"))))
    return _field_errors(rows)


def _couturier(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, CouturierError)
    return error_response(error)


def error_response(error: CouturierError) -> JSONResponse:
    """The answer to ``error``: its status, headers and body as this module says."""
    status = status_of(error)
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="couturier"'
        if isinstance(error, AccessError) and error.reason != "missing":
            headers["WWW-Authenticate"] += ', error="invalid_token"'
    if status == 503:
        headers["Retry-After"] = "1"
    if status == 422:
        violations = getattr(error, "violations", None)
        if isinstance(violations, list) and violations:
            rows = [
                (
                    str(getattr(v, "field", "")),
                    getattr(v, "value", None),
                    str(getattr(v, "rule", v)),
                )
                for v in violations
            ]
        else:
            rows = [("", None, error.message)]
        return _Json(_field_errors(rows), status, headers)
    problem = error.problem.to_json()
    body = {
        "error": {
            "code": _code(error),
            "message": error.message,
            "hint": error.hint,
            "fields": problem["fields"],
            "retryable": error.retryable,
        }
    }
    return _Json(body, status, headers)


def _validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = error.errors()
    # A body sent without Content-Type: application/json reaches the route as bytes, which
    # pydantic refused as "Input should be a valid dictionary" echoing Python's b'...'.
    if any(
        tuple(e.get("loc", ()))[:1] == ("body",) and isinstance(e.get("input"), bytes | bytearray)
        for e in errors
    ):
        sent = request.headers.get("content-type", "").split(";")[0].strip()
        rule = "must be a JSON document sent with Content-Type: application/json (it was sent " + (
            f"as {sent})" if sent else "without a Content-Type)"
        )
        return _Json(_field_errors([("body", None, rule)]), 422)
    return _Json(_request_errors(errors), 422)


def _http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    if isinstance(error.__cause__, CouturierError):
        # FastAPI wraps what reading the body raised (a body over the limit) in a 400
        return error_response(error.__cause__)
    if error.status_code == 400:
        # FastAPI's only 400: a body it could not read (not UTF-8, a broken form); the
        # routes raise no HTTPException of their own. Malformed input is a 422 like the rest.
        rule = "must be a JSON document in UTF-8"
        if isinstance(error.__cause__, RecursionError):
            # Python's json parser recurses per nested array or object: a body of thousands of
            # '[' is valid UTF-8 and must not be told it is not.
            rule = "must be a JSON document nested a few levels deep, not thousands"
        return _Json(_field_errors([("body", None, rule)]), 422)
    codes = {404: "not-found", 405: "method-not-allowed"}
    code = codes.get(error.status_code, f"http-{error.status_code}")
    message = str(error.detail) if error.detail else code
    body = {
        "error": {"code": code, "message": message, "hint": "", "fields": {}, "retryable": False}
    }
    return _Json(body, error.status_code, dict(error.headers or {}))


def _bug(request: Request, error: Exception) -> JSONResponse:
    trace = uuid.uuid4().hex
    log.error("internal error %s on %s %s", trace, request.method, request.url.path, exc_info=error)
    body = {
        "error": {
            "code": "internal",
            "message": f"internal error (trace {trace})",
            "hint": "a bug in Couturier: please report it with the trace id",
            "fields": {"trace_id": trace},
            "retryable": False,
        }
    }
    return _Json(body, 500)


def install_handlers(app: FastAPI) -> None:
    """Answer every error as this module says."""
    app.add_exception_handler(CouturierError, _couturier)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _bug)
