"""Debian version numbers, compared exactly as dpkg compares them.

A version is ``[epoch:]upstream[-revision]``. Comparison follows dpkg's ``verrevcmp``: epochs
numerically, then upstream and revision piecewise, alternating a non-digit run (compared character
by character, ``~`` before the end of the string before letters before everything else) and a digit
run (compared as a number).

``compare`` is the public entry point; ``sort_key`` gives a key usable by ``sorted`` and is cached,
so repeated comparisons of the same strings cost one dict lookup each. That cache is the one piece
of process-wide state here, on purpose: the memo of a pure function of a string (no job's data,
the same answer for every tenant), bounded (:data:`_SORT_KEYS` entries, least recently used
dropped) and thread-safe (``functools.lru_cache`` locks its table).
"""

from __future__ import annotations

import re
from functools import lru_cache

from couturier.core.text import shown
from couturier.errors import InputError

__all__ = ["compare", "is_valid", "sort_key", "validate"]

# One nested tuple per part: (non-digit run as order values + 0 terminator, digit run as int, ...).
_Part = tuple[tuple[int, ...] | int, ...]

_RUNS = re.compile(r"(\D*)(\d*)")
# Upstream may hold hyphens only when a revision follows, and colons only after an epoch:
# dpkg reads everything before the first colon as the epoch (Debian policy 5.6.12).
_VALID = re.compile(
    r"^(?:\d+:(?:[0-9][A-Za-z0-9.+~:-]*-[A-Za-z0-9.+~]+|[0-9][A-Za-z0-9.+~:]*)"
    r"|(?:[0-9][A-Za-z0-9.+~-]*-[A-Za-z0-9.+~]+|[0-9][A-Za-z0-9.+~]*))$"
)
# The sentinel closes every part: compared against a longer part's next non-digit run it sorts
# after "~" and before everything else, which is how dpkg treats the end of a string.
_END = (0,)
_PAD = ((0,), 0)


def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha() and char.isascii():
        return ord(char)
    return ord(char) + 256


def _part_key(text: str) -> _Part:
    pairs: list[tuple[tuple[int, ...], int]] = []
    for letters, digits in _RUNS.findall(text):
        if not letters and not digits:
            continue
        pairs.append(((*(_order(c) for c in letters), 0), int(digits) if digits else 0))
    # dpkg reads an empty part as one empty run and the number 0: "" equals "0".
    if not pairs:
        pairs.append(_PAD)
    flat: list[tuple[int, ...] | int] = []
    for letters_key, number in pairs:
        flat.append(letters_key)
        flat.append(number)
    flat.append(_END)
    return tuple(flat)


# 131,072 keys (a few MiB): more distinct versions than one Debian release's index holds.
_SORT_KEYS = 1 << 17


@lru_cache(maxsize=_SORT_KEYS)
def sort_key(version: str) -> tuple[int, _Part, _Part]:
    """Return a key such that ``sort_key(a) < sort_key(b)`` exactly when dpkg says ``a < b``.

    Never raises: malformed versions are ordered the way dpkg would order their pieces.
    """
    epoch = 0
    rest = version
    head, sep, tail = version.partition(":")
    if sep and head.isdigit():
        epoch = int(head)
        rest = tail
    upstream, sep, revision = rest.rpartition("-")
    if not sep:
        upstream, revision = rest, ""
    return (epoch, _part_key(upstream), _part_key(revision))


def compare(a: str, b: str) -> int:
    """Compare Debian versions as dpkg does: negative if a < b, 0 if equal, positive if a > b."""
    ka, kb = sort_key(a), sort_key(b)
    return (ka > kb) - (ka < kb)


def is_valid(version: str) -> bool:
    """Tell whether ``version`` is a well-formed Debian version (Debian policy 5.6.12)."""
    return bool(_VALID.fullmatch(version))


def validate(version: str) -> str:
    """Return ``version`` unchanged, or raise :class:`InputError` saying why it is malformed."""
    if not is_valid(version):
        raise InputError(
            f"{shown(version)} is not a Debian version",
            "a version looks like [epoch:]upstream[-revision], e.g. 3.11.2-6+deb12u1; "
            "upstream starts with a digit",
            fields={"kind": "version", "value": version[:200]},
        )
    return version
