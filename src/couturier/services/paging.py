"""Cursors of the service's lists: opaque to clients, a keyset position inside.

A list answers at most ``limit`` items (default 50, at most 500) and a cursor for the next
page, or None on the last one. The cursor is the url-safe base64 of the JSON of the last
item's sort key, so a page is a key lookup, whatever its depth, and rows added meanwhile are
neither skipped nor repeated.
"""

from __future__ import annotations

import base64
import binascii
import json

from couturier.core.spec import SpecError, Violation

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "bad_cursor",
    "check_limit",
    "decode_cursor",
    "encode_cursor",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_MAX_CURSOR = 400  # characters


def encode_cursor(key: tuple[str, ...] | None) -> str | None:
    """The cursor after ``key`` (None: there is no next page)."""
    if key is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def bad_cursor(cursor: str) -> SpecError:
    """The error of a cursor that is not one a list gave."""
    rule = "must be the 'next' value of the previous page, as it was given"
    return SpecError([Violation("cursor", cursor[:100], rule)], source="request")


def decode_cursor(cursor: str | None, parts: int) -> tuple[str, ...] | None:
    """The key inside ``cursor`` (None for the first page), which must have ``parts`` text
    parts. Raises :class:`SpecError` (the violation of field ``cursor``) otherwise."""
    if cursor is None:
        return None
    try:
        if len(cursor) > _MAX_CURSOR:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_cursor(cursor) from None
    if (
        not isinstance(key, list)
        or len(key) != parts
        or not all(isinstance(p, str) and len(p) < 200 for p in key)
    ):
        raise bad_cursor(cursor)
    return tuple(key)


def check_limit(limit: int) -> int:
    """``limit`` if it is 1 to :data:`MAX_LIMIT`; :class:`SpecError` otherwise."""
    if not 1 <= limit <= MAX_LIMIT:
        rule = f"must be a whole number from 1 to {MAX_LIMIT}"
        raise SpecError([Violation("limit", limit, rule)], source="request")
    return limit
