"""Text a user hands in, checked by one rule and shown safely.

:func:`hidden_character` is the one rule for every name, description, env key and value, bundle
name, member path and settings value that ends up in an image's configuration, a file name, a
request or a message: no control character (Unicode category ``Cc``: NUL, a newline, a tab,
DEL, the C1 controls), no format character (``Cf``: a right-to-left override, a zero-width
space, a byte order mark, which change how text looks without showing), no line or paragraph
separator (``Zl``, ``Zp``) and no lone surrogate (``Cs``).

:func:`shown` is how a message quotes a value the user gave: escaped as Python's ``repr`` does
(a newline is ``\\n``, a right-to-left override ``\\u202e``) and cut to a length, so a name
holding a newline or a query of 100 KB stays one short line.

Pure. Cost: linear in the text.
"""

from __future__ import annotations

import unicodedata

__all__ = ["HIDDEN_RULE", "has_hidden", "hidden_character", "named", "shown"]

_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
HIDDEN_RULE = (
    "must not hold control characters or invisible ones (a newline, a tab, NUL, a "
    "right-to-left override, a zero-width space...)"
)
SHOWN = 60  # characters of a user's value a message shows


def hidden_character(text: str) -> str | None:
    """The first character of ``text`` that :data:`HIDDEN_RULE` refuses, as ``U+202E``; None
    when there is none."""
    for char in text:
        # Printable ASCII is by far the common case: no table lookup for it.
        if " " <= char <= "~":
            continue
        if unicodedata.category(char) in _HIDDEN:
            return f"U+{ord(char):04X}"
    return None


def has_hidden(text: str) -> bool:
    """Whether ``text`` holds a character :data:`HIDDEN_RULE` refuses."""
    return hidden_character(text) is not None


def shown(value: object, limit: int = SHOWN) -> str:
    """``value`` quoted for a message: its ``repr`` (text in quotes, every control or
    invisible character escaped), cut to ``limit`` characters with ``…``."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]
        cut = True
    else:
        cut = False
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4300 digits has no repr
        text = f"<a {type(value).__name__} too long to show>"
    if cut or len(text) > limit + 2:
        text = text[: limit + 1] + "…"
    return text


def named(text: str, limit: int = SHOWN) -> str:
    """``text`` as it is when it is printable and at most ``limit`` characters long (a name
    reads best unquoted: ``python has no line 3.12``), else :func:`shown`."""
    if len(text) <= limit and text.isprintable():
        return text
    return shown(text, limit)
