"""Nearest names for a misspelt one: "no starter 'pyhton'; did you mean python?".

:func:`close_names` picks, among known names, those nearest to a word by
:func:`difflib.get_close_matches` (Ratcliff/Obershelp similarity, at least 0.6 by default);
:func:`did_you_mean` words them as the end of an error message. Used wherever a user names a
starter, a release, an architecture, a line or a package that does not exist.

Pure. Cost: names whose length is far from the word's are skipped before any comparison, so a
release's 60,000 package names cost a few tens of milliseconds, paid only on the error path.
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Iterable

__all__ = ["close_names", "did_you_mean"]


def close_names(word: str, known: Iterable[str], limit: int = 3, cutoff: float = 0.6) -> list[str]:
    """At most ``limit`` names of ``known`` nearest to ``word``, nearest first (equally near
    ones in the order of ``known``); never ``word`` itself. A name more than a third of
    ``word``'s length (at least 2) longer or shorter is not compared.

    The score and its cut-off are :func:`difflib.get_close_matches`'s, with its cheap upper
    bounds tried first; only the order of ties differs (theirs is reverse alphabetical)."""
    slack = max(2, len(word) // 3)
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(word)
    scored: list[tuple[float, int, str]] = []
    for position, name in enumerate(known):
        if abs(len(name) - len(word)) > slack or name == word:
            continue
        matcher.set_seq1(name)
        if matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff:
            score = matcher.ratio()
            if score >= cutoff:
                scored.append((-score, position, name))
    return [name for _, _, name in heapq.nsmallest(limit, scored)]


def did_you_mean(word: str, known: Iterable[str], limit: int = 3) -> str:
    """``"; did you mean python?"`` (``"...python or php?"``, ``"...a, b or c?"``) for the
    names nearest to ``word``, to end a message with; empty when none is near."""
    found = close_names(word, known, limit)
    if not found:
        return ""
    listed = found[0] if len(found) == 1 else f"{', '.join(found[:-1])} or {found[-1]}"
    return f"; did you mean {listed}?"
