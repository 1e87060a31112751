"""Read shell scripts as simple commands, without running them (for maintainer scripts).

:func:`logical_lines` turns a script into lines as sh(1) would read them: comments dropped,
backslash continuations joined, a quoted string or command substitution that goes on over
several lines kept whole, and here-document bodies skipped (they are data). :func:`commands`
cuts one such line into simple commands (lists of words, quotes removed) at ``;``, ``&``,
``|``, ``(``, ``)`` and newlines, and adds the commands of its ``$(...)`` and backquote
substitutions. Redirection operators are words of their own (``>``, ``2>&1`` as ``2``,
``>&``, ``1``). Parameter expansions are left as written (``${name}``); arithmetic becomes
``0``.

This is not a shell parser: it is what classifying commands needs, and errs on the side of
reporting a command. Pure; cost linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["commands", "logical_lines"]

_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")


def logical_lines(text: str) -> Iterator[str]:
    """The lines of ``text`` as the shell reads them (see the module docstring)."""
    lines = text.splitlines()
    index = 0
    pending = ""
    while index < len(lines):
        line = lines[index]
        index += 1
        if pending:
            line = pending + line
            pending = ""
        if line.rstrip().endswith("\\") and not line.lstrip().startswith("#"):
            pending = line.rstrip()[:-1] + " "
            continue
        line = _strip_comment(line)
        if _open_quote(line) and index < len(lines):
            pending = line + "\n"  # a quoted string goes on over the next line
            continue
        heredoc = _HEREDOC.search(line)
        if heredoc:
            strip_tabs, delimiter = heredoc.group(1) == "-", heredoc.group(3)
            while index < len(lines):
                body = lines[index].lstrip("\t") if strip_tabs else lines[index]
                index += 1
                if body.strip() == delimiter:
                    break
            line = line[: heredoc.start()] + line[heredoc.end() :]
        yield line


def _strip_comment(line: str) -> str:
    """``line`` without a ``#`` comment (a ``#`` at a word start, outside quotes)."""
    quote = ""
    previous = " "
    for position, char in enumerate(line):
        if quote:
            if char == quote and (quote == "'" or previous != "\\"):
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and previous in " \t;&|()":
            return line[:position]
        previous = char
    return line


def _open_quote(line: str) -> bool:
    """Whether ``line`` ends inside a quoted string or a command substitution."""
    stack: list[str] = []
    index = 0
    while index < len(line):
        char = line[index]
        top = stack[-1] if stack else ""
        if char == "\\":
            index += 2
            continue
        if char == "'" and top != '"':
            end = line.find("'", index + 1)
            if end < 0:
                return True
            index = end + 1
            continue
        if line.startswith("$(", index):
            stack.append("(")
            index += 2
            continue
        if char == ")" and top == "(":
            stack.pop()
        elif char == '"':
            if top == '"':
                stack.pop()
            else:
                stack.append('"')
        index += 1
    return bool(stack)


def _closing(text: str, start: int) -> int:
    """The index of the ``)`` closing the ``(`` at ``start`` (quotes respected), or the end."""
    depth = 0
    index = start
    quote = ""
    while index < len(text):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                index += 1
        elif char in "'\"":
            quote = char
        elif char == "\\":
            index += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return len(text)


def _backquote_end(text: str, start: int) -> int:
    index = start
    while index < len(text) and text[index] != "`":
        index += 2 if text[index] == "\\" else 1
    return index


class _Tokens:
    """The words of one line (``None`` between simple commands, redirection operators as
    words of their own) and the text of its command substitutions, read as sh(1) would."""

    def __init__(self, text: str) -> None:
        self.words: list[str | None] = []
        self.substitutions: list[str] = []
        self._text = text
        self._word: list[str] = []
        self._open = False
        index = 0
        while index < len(text):
            index = self._step(index)
        self._end_word()

    def _end_word(self) -> None:
        if self._open:
            self.words.append("".join(self._word))
        self._word, self._open = [], False

    def _add(self, text: str) -> None:
        self._word.append(text)
        self._open = True

    def _expansion(self, index: int) -> int | None:
        """Read a ``$(``, ``$((``, ``${`` or backquote at ``index``; None when there is none."""
        text = self._text
        if text.startswith("$((", index):
            end = _closing(text, index + 1)
            self.substitutions += _Tokens(text[index + 3 : end]).substitutions
            self._add("0")
            return end + 1
        if text.startswith("$(", index):
            end = _closing(text, index + 1)
            self.substitutions.append(text[index + 2 : end])
            self._add("$(...)")
            return end + 1
        if text.startswith("${", index):
            end = text.find("}", index)
            end = len(text) - 1 if end < 0 else end
            self._add(text[index : end + 1])
            return end + 1
        if text[index] == "`":
            end = _backquote_end(text, index + 1)
            self.substitutions.append(text[index + 1 : end].replace("\\`", "`"))
            self._add("$(...)")
            return end + 1
        return None

    def _step(self, index: int) -> int:
        text = self._text
        char = text[index]
        expansion = self._expansion(index)
        if expansion is not None:
            return expansion
        if char == "\\":
            self._add(text[index + 1 : index + 2])
            return index + 2
        if char == "'":
            end = text.find("'", index + 1)
            end = len(text) if end < 0 else end
            self._add(text[index + 1 : end])
            return end + 1
        if char == '"':
            return self._double_quoted(index + 1)
        if char in " \t\n":
            self._end_word()
            return index + 1
        if char in ";&|()\n":
            self._end_word()
            self.words.append(None)
            return index + 1
        if char in "<>":
            self._end_word()
            end = index + 1
            while end < len(text) and text[end] in "<>&|":
                end += 1
            self.words.append(text[index:end])
            return end
        self._add(char)
        return index + 1

    def _double_quoted(self, index: int) -> int:
        text = self._text
        self._open = True
        while index < len(text) and text[index] != '"':
            expansion = self._expansion(index) if text[index] in "$`" else None
            if expansion is not None:
                index = expansion
            elif text[index] == "\\":
                self._add(text[index + 1 : index + 2])
                index += 2
            else:
                self._add(text[index])
                index += 1
        return index + 1


def commands(line: str) -> Iterator[list[str]]:
    """The simple commands of ``line`` and of its command substitutions, as word lists."""
    tokens = _Tokens(line)
    current: list[str] = []
    for word in tokens.words:
        if word is None:
            if current:
                yield current
            current = []
        else:
            current.append(word)
    if current:
        yield current
    for inner in tokens.substitutions:
        yield from commands(inner)
