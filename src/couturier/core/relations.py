"""Debian relationship fields (Depends, Pre-Depends, Conflicts, Breaks, Provides, Replaces).

A field is a comma-separated list of *dependencies*; each dependency is a ``|``-separated list of
*relations* (alternatives, leftmost preferred). A relation is a package name with an optional
architecture qualifier (``:any``, ``:native``) and an optional version constraint. Architecture
restrictions (``[amd64]``) and build profiles (``<!nocheck>``) belong to source packages; they are
accepted and dropped so that a stray one in a binary index does not break parsing.

Pure and cached: the same field text is parsed once per process. The cache
(:func:`parse_relations`) is the memo of a pure function of a string, the same for every job and
tenant, bounded (:data:`_PARSED_FIELDS` entries, least recently used dropped) and thread-safe
(``functools.lru_cache`` locks its table); the parsed values are immutable tuples, and a
malformed field raises every time (exceptions are not cached).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from couturier.core.text import shown
from couturier.core.version import compare
from couturier.errors import InputError

__all__ = ["Dependency", "Relation", "parse_relations", "parse_request"]

# Legacy "<" and ">" mean "<=" and ">=" (Debian policy 7.1).
_OPERATORS = {"<<": "<<", "<=": "<=", "=": "=", ">=": ">=", ">>": ">>", "<": "<=", ">": ">="}
_RELATION = re.compile(
    r"^\s*(?P<name>[a-z0-9][a-z0-9+.\-]*)(?::(?P<arch>[a-z0-9\-]+))?\s*"
    r"(?:\(\s*(?P<op><<|<=|>=|>>|=|<|>)\s*(?P<version>[^)\s]+)\s*\))?\s*"
    r"(?:\[[^\]]*\]\s*)?(?:<[^>]*>\s*)*$"
)
_REQUEST = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9+.\-]+)(?::(?P<arch>[a-z0-9\-]+))?(?:=(?P<version>.+))?$"
)


@dataclass(frozen=True, slots=True)
class Relation:
    """One ``name[:arch] [(op version)]`` term of a relationship field."""

    name: str
    op: str | None = None
    version: str | None = None
    arch: str | None = None

    def allows(self, version: str | None) -> bool:
        """Tell whether a package (or a Provides) of ``version`` satisfies the constraint.

        ``version`` None stands for an unversioned Provides, which satisfies only unversioned
        relations (Debian policy 7.5).
        """
        if self.op is None or self.version is None:
            return True
        if version is None:
            return False
        c = compare(version, self.version)
        match self.op:
            case "<<":
                return c < 0
            case "<=":
                return c <= 0
            case "=":
                return c == 0
            case ">=":
                return c >= 0
            case _:
                return c > 0

    def __str__(self) -> str:
        name = f"{self.name}:{self.arch}" if self.arch else self.name
        return f"{name} ({self.op} {self.version})" if self.op else name


# A dependency: alternatives in order of preference.
Dependency = tuple[Relation, ...]


# 65,536 field texts: the order of the distinct relationship fields of one release's index.
_PARSED_FIELDS = 1 << 16


@lru_cache(maxsize=_PARSED_FIELDS)
def parse_relations(field: str) -> tuple[Dependency, ...]:
    """Parse a relationship field into dependencies, each a tuple of alternatives.

    Raises :class:`InputError` naming the bad term when the field is malformed.
    """
    result: list[Dependency] = []
    for group in field.split(","):
        if not group.strip():
            continue
        alternatives: list[Relation] = []
        for term in group.split("|"):
            match = _RELATION.fullmatch(term)
            if match is None:
                raise InputError(
                    f"cannot parse the relation {term.strip()!r} in {field!r}",
                    fields={"kind": "relation", "value": term.strip()[:200], "field": field},
                )
            op = match["op"]
            alternatives.append(
                Relation(
                    name=match["name"],
                    op=_OPERATORS[op] if op else None,
                    version=match["version"],
                    arch=match["arch"],
                )
            )
        result.append(tuple(alternatives))
    return tuple(result)


def parse_request(text: str) -> Relation:
    """Parse a user's ``PKG``, ``PKG=VERSION`` or ``PKG:ARCH`` request into a relation.

    Raises :class:`InputError` saying what a request looks like when it is malformed, and
    when its version is not a Debian version (``curl=1:``).
    """
    from couturier.core.version import validate

    match = _REQUEST.fullmatch(text.strip())
    if match is None:
        raise InputError(
            f"{shown(text)} is not a package request",
            "write NAME or NAME=VERSION, e.g. python3 or python3-rsa=4.9-2; names are lowercase "
            "letters, digits and + - .",
            fields={"kind": "package-request", "value": text[:200]},
        )
    version = match["version"]
    if version is None:
        return Relation(name=match["name"], arch=match["arch"])
    return Relation(name=match["name"], op="=", version=validate(version), arch=match["arch"])
