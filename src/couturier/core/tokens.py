"""API tokens: their text form, how their secret is kept, and what each scope allows.

A token reads ``ctr_<id>_<secret>``: ``id`` (16 hex digits) names the token's row, so a request
costs one lookup by key, and ``secret`` (64 hex digits, 256 random bits) proves it. Only the
sha256 of the secret is stored. A key-derivation function (argon2, scrypt) would buy nothing
here: it slows guessing a low-entropy *password*, while 256 random bits cannot be guessed
however fast the hash is; sha256 keeps the check at a microsecond, which matters because the
registry checks the token on every blob request. The stored and offered digests are compared in
constant time (:func:`secret_matches`).

Scopes are ordered: ``pull`` reads, ``write`` also creates, edits and deletes, ``admin`` also
manages the tenant's tokens.

Pure: the random secret is made by the caller (:mod:`couturier.services.tenancy`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

__all__ = [
    "SCOPES",
    "TOKEN_PREFIX",
    "TokenText",
    "parse_token",
    "scope_allows",
    "secret_digest",
    "secret_matches",
    "token_text",
]

TOKEN_PREFIX = "ctr"
SCOPES = ("pull", "write", "admin")  # weakest first
ID_LENGTH = 16  # hex digits of a token id
SECRET_LENGTH = 64  # hex digits of a secret (256 bits)
_TOKEN = re.compile(
    rf"{TOKEN_PREFIX}_(?P<id>[0-9a-f]{{{ID_LENGTH}}})_(?P<secret>[0-9a-f]{{{SECRET_LENGTH}}})"
)
TOKEN_ID = re.compile(rf"[0-9a-f]{{{ID_LENGTH}}}")


@dataclass(frozen=True)
class TokenText:
    """The two parts of a token a client offers. ``repr`` hides the secret (it may reach a
    log through an exception's arguments)."""

    token_id: str
    secret: str

    def __repr__(self) -> str:
        return f"TokenText(token_id={self.token_id!r}, secret=<hidden>)"


def token_text(token_id: str, secret: str) -> str:
    """The text a client sends: ``ctr_<id>_<secret>``."""
    return f"{TOKEN_PREFIX}_{token_id}_{secret}"


def parse_token(text: str) -> TokenText | None:
    """The id and secret of ``text``, or None when it is not a token's text (of any length:
    the pattern is anchored and bounded, so a long value costs nothing)."""
    found = _TOKEN.fullmatch(text) if len(text) < 200 else None
    return TokenText(found["id"], found["secret"]) if found else None


def secret_digest(secret: str) -> str:
    """What is stored of a secret: its sha256, in hex."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def secret_matches(secret: str, stored_digest: str) -> bool:
    """True when ``secret`` hashes to ``stored_digest``, compared in constant time."""
    return hmac.compare_digest(secret_digest(secret), stored_digest)


def scope_allows(held: str, needed: str) -> bool:
    """True when a token of scope ``held`` may do what needs ``needed`` (``admin`` ⊇ ``write``
    ⊇ ``pull``). An unknown scope allows nothing."""
    if held not in SCOPES or needed not in SCOPES:
        return False
    return SCOPES.index(held) >= SCOPES.index(needed)
