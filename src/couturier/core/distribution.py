"""The OCI distribution specification's grammar, and which repositories a tenant may pull.

Source of the rules: the OCI distribution specification (v1.1), "Pulling manifests" (the
``<name>`` and ``<reference>`` patterns), the image specification's "Digests" (the ``sha256``
encoding), and the registry token authentication of the Docker/CNCF distribution project
(``scope=repository:<name>:<actions>``).

Couturier's repositories are ``TENANT_ID/NAME`` (a tenant's private image) and
``starters/STARTER``; :func:`pull_allowed` is the rule that a tenant's credential reaches only
its own namespace and the starters (which starters it is entitled to is the
:class:`~couturier.services.registry.RegistryReader`'s answer).

Pure: values in, values out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MAX_NAME_LENGTH",
    "STARTERS_NAMESPACE",
    "Scope",
    "is_digest",
    "is_name",
    "is_sha256_digest",
    "is_tag",
    "parse_scope",
    "pull_allowed",
]

# The spec's <name>: path components of lowercase alphanumerics separated by '.', '_', '__'
# or dashes; a client may limit the whole to 255 characters, so the endpoint does too.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
MAX_NAME_LENGTH = 255
# The spec's <reference> as a tag: at most 128 characters.
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
# The image spec's digest grammar (algorithm ":" encoded), and the one algorithm Couturier
# stores: sha256, 64 lowercase hex digits.
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_SHA256 = re.compile(r"sha256:[a-f0-9]{64}")
_REGISTERED = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[a-f0-9]+")
STARTERS_NAMESPACE = "starters"
# The spec's text bounds a reference; this bounds what a pattern is ever run on.
_MAX_TEXT = 1024


def is_name(text: str) -> bool:
    """Whether ``text`` is a repository name of the spec's grammar (``53/payments-api``)."""
    return len(text) <= MAX_NAME_LENGTH and _NAME.fullmatch(text) is not None


def is_tag(text: str) -> bool:
    """Whether ``text`` is a tag (``3.13``, ``latest``, ``20261130T0150``)."""
    return _TAG.fullmatch(text) is not None


def is_digest(text: str) -> bool:
    """Whether ``text`` is a digest: the grammar's ``algorithm:encoded``, and for the image
    spec's registered algorithms (sha256, sha512) lowercase hex of their length."""
    if len(text) > _MAX_TEXT or _DIGEST.fullmatch(text) is None:
        return False
    algorithm, _, encoded = text.partition(":")
    length = _REGISTERED.get(algorithm)
    return length is None or (len(encoded) == length and _HEX.fullmatch(encoded) is not None)


def is_sha256_digest(text: str) -> bool:
    """Whether ``text`` is a sha256 digest as the image spec writes it (lowercase hex)."""
    return _SHA256.fullmatch(text) is not None


def pull_allowed(tenant_id: int, repository: str) -> bool:
    """Whether a credential of tenant ``tenant_id`` may ask for ``repository`` at all: its own
    namespace (``53/...`` for tenant 53) and the starters. Decided by the name alone, so the
    answer for another tenant's namespace is the same whether or not the repository exists."""
    namespace, _, rest = repository.partition("/")
    return bool(rest) and namespace in (str(tenant_id), STARTERS_NAMESPACE)


@dataclass(frozen=True)
class Scope:
    """A requested scope: ``repository:53/payments-api:pull,push`` is
    ``Scope("repository", "53/payments-api", ("pull", "push"))``."""

    type: str
    name: str
    actions: tuple[str, ...]


def parse_scope(text: str) -> Scope | None:
    """The scope ``text`` names (``TYPE:NAME:ACTIONS``, the name itself holding no colon in
    Couturier's repositories but possibly in others': the type is before the first colon, the
    actions after the last); None when it has not that shape."""
    if len(text) > _MAX_TEXT:
        return None
    kind, _, rest = text.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        return None
    return Scope(kind, name, tuple(a for a in actions.split(",") if a))
