"""Terminal output for the CLI: tables, progress lines and error lines.

Progress goes to stderr (so ``--json`` output on stdout stays machine-readable); on a terminal a
progress line rewrites itself, elsewhere each event is one line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

__all__ = ["Progress", "format_size", "print_table"]


def format_size(size: int) -> str:
    """Human size with binary units: 1536 → '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO = sys.stdout
) -> None:
    """Print rows under headers, columns padded to their widest cell."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line.rstrip(), file=out)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


class Progress:
    """A callable that shows one progress message at a time on ``stream``."""

    def __init__(self, stream: TextIO = sys.stderr, quiet: bool = False) -> None:
        self._stream = stream
        self._quiet = quiet
        self._live = stream.isatty()
        self._width = 0

    def __call__(self, message: str) -> None:
        if self._quiet:
            return
        if self._live:
            text = message[:119]
            self._stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self._stream.write(message + "\n")
        self._stream.flush()

    def done(self) -> None:
        """End a live progress line so the next output starts on a fresh line."""
        if self._live and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0
