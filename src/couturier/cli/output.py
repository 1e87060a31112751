"""Terminal output for the CLI: tables, progress lines and error lines.

Progress goes to stderr (so ``--json`` output on stdout stays machine-readable). :class:`Progress`
shows one message at a time; :class:`LineProgress` shows one row per image line while a build
runs. On a terminal both rewrite themselves in place, elsewhere each change is one plain line.
Tables and the terminal's rows are drawn by rich, imported only when something is drawn (it adds
about a tenth of a second to start-up, which commands that print nothing should not pay).
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from couturier.errors import CouturierError

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live

    from couturier.core.replay import ScriptWarning

__all__ = [
    "LineProgress",
    "Progress",
    "error_json",
    "format_size",
    "print_json_error",
    "print_table",
    "print_warnings",
]


class StageEvent(Protocol):
    """What :class:`LineProgress` shows of a line's stage: a build's
    :class:`couturier.services.build.StageEvent`, or one a server sent."""

    @property
    def label(self) -> str: ...
    @property
    def release(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def final(self) -> bool: ...
    @property
    def text(self) -> str: ...


_UNBOUNDED = 1 << 20  # columns: a table as wide as its widest row


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
    """Print rows under upper-cased headers on ``out`` (default: the current ``sys.stdout``,
    looked up at call time), through rich: columns padded to their widest cell (by display
    width) and two spaces apart, no box, one row per line however wide (nothing wrapped or
    cut, no trailing blanks), so the output can be read by ``grep``, ``awk`` and ``cut``.
    Cells are shown as written (no markup). On a terminal the headers are bold.

    Cost: importing rich (about 0.1 s, once) and rendering every cell.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = out or sys.stdout
    # The header's text is bold, not its cells: the padding stays plain and is stripped below.
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="")
    for header in headers:
        table.add_column(Text(header.upper(), style="bold"), no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    # As wide as the table needs: a long row stays one line, as the terminal wraps it.
    console = Console(file=out, width=_UNBOUNDED, highlight=False, markup=False, emoji=False)
    with console.capture() as captured:
        console.print(table)
    out.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    out.flush()


_VALUE_LIMIT = 1000  # characters of a violation's value the JSON carries


def _json_value(value: Any) -> Any:
    """A violation's value as JSON can carry it: text (cut), a finite number, a boolean, null;
    any other value (inf, a list, a mapping, a date) as its repr, cut."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):  # inf and nan are not JSON
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, int):
        return value if abs(value) < 10**100 else "<a number too long to show>"
    if isinstance(value, str):
        return value if len(value) <= _VALUE_LIMIT else value[:_VALUE_LIMIT] + "…"
    try:
        text = repr(value)
    except ValueError:
        text = f"<a {type(value).__name__} too long to show>"
    return text if len(text) <= _VALUE_LIMIT else text[:_VALUE_LIMIT] + "…"


def error_json(error: CouturierError) -> dict[str, Any]:
    """``{"error": {"code", "message", "fields", "retryable", "hint", "violations"?}}``.

    ``code``, ``message`` and ``fields`` are the error's (:class:`~couturier.errors.Problem`;
    codes in ``docs/errors.md``), ``hint`` the CLI's advice (:func:`couturier.cli.hints.
    error_hint`, which may name CLI commands); ``violations``, for a spec or a bundle, lists
    each as ``{"field", "value", "rule"}``.
    """
    from couturier.cli.hints import error_hint

    body: dict[str, Any] = {
        **error.problem.to_json(),
        "retryable": error.retryable,
        "hint": error_hint(error),
    }
    violations = getattr(error, "violations", None)
    if isinstance(violations, list):
        body["violations"] = [
            {
                "field": str(getattr(v, "field", "")),
                "value": _json_value(getattr(v, "value", None)),
                "rule": str(getattr(v, "rule", v)),
            }
            for v in violations
        ]
    return {"error": body}


def print_json_error(error: CouturierError, out: TextIO | None = None) -> None:
    """Print :func:`error_json` of ``error`` on ``out`` (default stdout), one document."""
    out = out or sys.stdout
    json.dump(error_json(error), out, indent=2)
    out.write("\n")
    out.flush()


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


# How a row's stage looks on a terminal (rich styles); other stages are plain.
_STAGE_STYLES = {"created": "green", "skipped": "yellow", "failed": "bold red"}


class LineProgress:
    """Shows the stage of every line of a build on ``stream``: label, release, stage.

    Call it with each :class:`~couturier.services.build.StageEvent`; :meth:`note` shows a catalog
    message; :meth:`done` ends the display. On a terminal the rows are a live rich display
    redrawn in place (columns aligned, a row too long for the terminal cut with an ellipsis,
    created, skipped and failed in colour), with the latest note as one more row until the next
    change of stage. Elsewhere each change is one plain line, ``3.13: fetching 12/41 (3.2 MiB)``,
    and notes are printed as they come. A change of stage is shown at once; repeated updates of
    one stage (fetch counts) at most once per ``interval`` seconds of ``clock`` per line (default
    0.1 on a terminal, 5 elsewhere), so logs are not flooded. Thread-safe: fetch progress arrives
    from worker threads. Cost: a terminal redraw renders every row (one per line of the build);
    rich is imported at the first one.
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
        self._width = width  # None: the terminal's, as rich finds it
        self._rows: dict[str, _Row] = {}
        self._note = ""
        self._display: Live | None = None  # started at the first redraw on a terminal
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
        on a terminal it is printed above the rows, which stay below it, and it is shown even
        when quiet, as apt shows its warnings under ``-q``.
        """
        warning = message.startswith("warning:")
        if self._quiet and not warning:
            return
        with self._lock:
            if self._display is not None and warning:
                from rich.text import Text

                self._display.console.print(Text(message, style="yellow"))
            elif not self._live or warning:
                self._write(message + "\n")
            else:
                self._note = message
                self._draw()

    def done(self) -> None:
        """Draw the final rows without the note and end the display; later output starts on the
        row below them."""
        with self._lock:
            display, self._display = self._display, None
            if display is None:
                return
            self._note = ""
            display.update(self._renderable())
            display.stop()  # draws the rows a last time and shows the cursor again

    def _draw(self) -> None:
        if self._display is not None:
            self._display.update(self._renderable(), refresh=True)
            return
        from rich.console import Console
        from rich.live import Live

        console = Console(
            file=self._stream,
            force_terminal=True,
            width=self._width,
            highlight=False,
            markup=False,
            emoji=False,
        )
        self._display = Live(
            self._renderable(),
            console=console,
            auto_refresh=False,  # drawn when a row changes (rate-limited above), not by a timer
            redirect_stdout=False,  # stdout may be a pipe (--json): never routed to the terminal
            redirect_stderr=False,
        )
        self._display.start(refresh=True)

    def _renderable(self) -> RenderableType:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        rows = Table.grid(padding=(0, 2))
        # Label and release keep their width; only a too long stage is cut.
        rows.add_column(no_wrap=True, min_width=max(map(len, self._rows), default=0))
        rows.add_column(
            no_wrap=True, min_width=max((len(r.release) for r in self._rows.values()), default=0)
        )
        rows.add_column()  # narrowed to what the terminal has left; the text is cut below
        for label, row in self._rows.items():
            rows.add_row(
                Text(label, style="bold"),
                Text(row.release),
                Text(row.text, _STAGE_STYLES.get(row.stage, ""), no_wrap=True, overflow="ellipsis"),
            )
        if not self._note:
            return rows
        return Group(rows, Text(self._note, style="dim", no_wrap=True, overflow="ellipsis"))

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()
