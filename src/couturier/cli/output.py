"""Terminal output for the CLI: tables, progress lines and error lines.

Progress goes to stderr (so ``--json`` output on stdout stays machine-readable). :class:`Progress`
shows one message at a time; :class:`LineProgress` shows one row per image line while a build
runs. On a terminal both rewrite themselves in place, elsewhere each change is one plain line.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from couturier.core.replay import ScriptWarning
    from couturier.services.build import StageEvent

__all__ = ["LineProgress", "Progress", "format_size", "print_table", "print_warnings"]

CURSOR_UP = "\x1b[{}A"  # move the cursor up n rows
CLEAR_ROW = "\r\x1b[2K"  # back to column 0 and erase the row


def format_size(size: int) -> str:
    """Human size with binary units: 1536 → '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO | None = None
) -> None:
    """Print rows under headers, columns padded to their widest cell, on ``out`` (default: the
    current ``sys.stdout``, looked up at call time)."""
    out = out or sys.stdout
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line.rstrip(), file=out)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def print_warnings(
    label: str, warnings: Sequence[ScriptWarning], out: TextIO | None = None
) -> None:
    """One ``<label>: warning: <message>`` line per warning of a line (maintainer-script
    actions of added packages that the build does not replay), on ``out`` (default stdout)."""
    out = out or sys.stdout
    for warning in warnings:
        print(f"{label}: warning: {warning.message}", file=out)


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


@dataclass
class _Row:
    release: str
    text: str
    stage: str
    shown: float  # clock() when this row was last drawn or printed


class LineProgress:
    """Shows the stage of every line of a build on ``stream``: label, release, stage.

    Call it with each :class:`~couturier.services.build.StageEvent`; :meth:`note` shows a catalog
    message; :meth:`done` ends the display. On a terminal the rows are redrawn in place (cursor
    up, erase row), with the latest note as one more row until the next change of stage.
    Elsewhere each change is one line, ``3.13: fetching 12/41 (3.2 MiB)``, and notes are printed
    as they come. A change of stage is shown at once; repeated updates of one stage (fetch
    counts) at most once per ``interval`` seconds of ``clock`` per line (default 0.1 on a
    terminal, 5 elsewhere), so logs are not flooded. Thread-safe: fetch progress arrives from
    worker threads. Cost: a terminal redraw rewrites every row (one per line of the build).
    """

    def __init__(
        self,
        stream: TextIO = sys.stderr,
        *,
        quiet: bool = False,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
    ) -> None:
        self._stream = stream
        self._quiet = quiet
        self._live = stream.isatty()
        self._interval = interval if interval is not None else (0.1 if self._live else 5.0)
        self._clock = clock
        self._width = width or shutil.get_terminal_size().columns
        self._rows: dict[str, _Row] = {}
        self._note = ""
        self._drawn = 0  # rows drawn so far; the cursor sits on the row below them
        self._lock = threading.Lock()

    def __call__(self, event: StageEvent) -> None:
        if self._quiet:
            return
        with self._lock:
            now = self._clock()
            row = self._rows.get(event.label)
            changed = row is None or row.stage != event.stage or event.final
            if row is None:
                row = self._rows[event.label] = _Row(event.release, "", "", now)
            elif not changed and row.text == event.text:
                return
            if changed:
                self._note = ""  # a note is about what happened just before; it goes stale
            due = changed or now - row.shown >= self._interval
            row.text, row.stage = event.text, event.stage
            if not due:
                return  # a terminal shows it with the next redraw
            row.shown = now
            if self._live:
                self._draw()
            elif event.stage != "waiting":
                self._write(f"{event.label}: {event.text}\n")

    def note(self, message: str) -> None:
        """Show a message that belongs to no line (e.g. refreshing a release's indexes).

        A message starting with ``warning:`` (something damaged was found and repaired) is kept:
        on a terminal it is printed above the rows, which are drawn again below it, and it is
        shown even when quiet, as apt shows its warnings under ``-q``.
        """
        warning = message.startswith("warning:")
        if self._quiet and not warning:
            return
        with self._lock:
            if not self._live:
                self._write(message + "\n")
            elif warning:
                up = [CURSOR_UP.format(self._drawn)] if self._drawn else []
                self._write("".join([*up, CLEAR_ROW, message, "\n"]))
                # The rows (and the stale ones below) are drawn again under the warning.
                self._drawn = max(self._drawn - 1, 0)
                self._redraw_below()
            else:
                self._note = message
                self._draw()

    def done(self) -> None:
        """Draw the final rows and drop the note row; later output starts on a fresh line."""
        if self._quiet or not self._live:
            return
        with self._lock:
            self._note = ""
            if self._drawn:
                self._draw()

    def _row_text(self, label: str, row: _Row) -> str:
        label_width = max(len(name) for name in self._rows)
        release_width = max(len(other.release) for other in self._rows.values())
        text = f"{label:<{label_width}}  {row.release:<{release_width}}  {row.text}"
        return text[: max(self._width - 1, 20)]  # a wrapped row would break the cursor moves

    def _redraw_below(self) -> None:
        """Draw the rows from the cursor down, over the ``_drawn`` rows left from before."""
        left = self._drawn
        self._drawn = 0
        rows = self._rows_text()
        out = [f"{CLEAR_ROW}{row}\n" for row in rows]
        stale = left - len(rows)  # rows drawn before that now have nothing to show
        if stale > 0:
            out += [f"{CLEAR_ROW}\n"] * stale + [CURSOR_UP.format(stale)]
        self._drawn = len(rows)
        self._write("".join(out))

    def _rows_text(self) -> list[str]:
        rows = [self._row_text(label, row) for label, row in self._rows.items()]
        if self._note:
            rows.append(self._note[: max(self._width - 1, 20)])
        return rows

    def _draw(self) -> None:
        if self._drawn:
            self._write(CURSOR_UP.format(self._drawn))
        self._redraw_below()

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()
