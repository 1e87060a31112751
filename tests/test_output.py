"""The CLI's per-line build progress (:class:`LineProgress`) on a log stream and on a terminal,
and its tables (:func:`print_table`).

The terminal is a stream whose ``isatty()`` is true, drawn on by rich; what it shows is worked out
by a tiny model of the controls a live display uses (carriage return, cursor up, erase row; colours
and cursor hiding change nothing on the screen), so the tests check the rows a user would see. On
a log stream the exact lines are checked: logs and tests parse them.
"""

from __future__ import annotations

import io
import re
import threading

import pytest

from couturier.cli.output import LineProgress, format_size, print_table
from couturier.services.build import StageEvent

ONE = ("1", "oldrel")
TWO = ("2.10", "newrel")


@pytest.fixture(autouse=True)
def _terminal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A capable terminal whatever the test runner's own (rich reads these)."""
    monkeypatch.setenv("TERM", "xterm-256color")
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def event(line: tuple[str, str], stage: str, detail: str = "", arch: str = "") -> StageEvent:
    return StageEvent(line[0], line[1], stage, detail, arch)


_CONTROL = re.compile(r"\r|\n|\x1b\[(\d*)A|\x1b\[2K|\x1b\[\?25[lh]|\x1b\[[\d;]*m|[^\r\n\x1b]+")


def screen(text: str) -> list[str]:
    """The rows a terminal shows after ``text``: carriage return, new line, cursor up, erase row
    move and erase; colours and cursor hiding change no text. Any other control fails."""
    rows: list[str] = [""]
    row = col = 0
    for match in _CONTROL.finditer(text):
        token = match.group(0)
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
            if row == len(rows):
                rows.append("")
        elif token == "\x1b[2K":
            rows[row] = ""
        elif token.endswith("A"):
            row = max(0, row - int(match.group(1) or 1))
        elif token.startswith("\x1b"):
            pass  # a colour, or the cursor hidden or shown
        else:
            rows[row] = rows[row][:col].ljust(col) + token + rows[row][col + len(token) :]
            col += len(token)
    assert "".join(m.group(0) for m in _CONTROL.finditer(text)) == text, "unknown control"
    rows = [line.rstrip() for line in rows]
    return rows[:-1] if rows[-1] == "" else rows


def test_log_stream_gets_one_plain_line_per_change() -> None:
    out, clock = io.StringIO(), Clock()
    show = LineProgress(out, clock=clock)
    show(event(ONE, "waiting"))
    show(event(TWO, "waiting"))
    show(event(ONE, "resolving"))
    show.note("no indexes for newrel/amd64 yet: refreshing")
    show(event(ONE, "fetching", "0/41"))
    for done in range(1, 30):  # a burst of fetch counts: not one line each
        clock.now += 0.1
        show(event(ONE, "fetching", f"{done}/41 ({format_size(done << 20)})"))
    clock.now += 5
    show(event(ONE, "fetching", "30/41 (30.0 MiB)"))
    show(event(ONE, "fetching", "31/41 (31.0 MiB)"))
    show(event(ONE, "assembling"))
    show(event(ONE, "compressing"))
    show(event(ONE, "compressing"))  # the next layer: nothing new to say
    show(event(TWO, "resolving"))
    show(event(TWO, "skipped", "extra is not in newrel"))
    show(event(ONE, "created", "1.4"))
    show.done()
    assert out.getvalue().splitlines() == [
        "1: resolving",
        "no indexes for newrel/amd64 yet: refreshing",
        "1: fetching 0/41",
        "1: fetching 30/41 (30.0 MiB)",
        "1: assembling",
        "1: compressing",
        "2.10: resolving",
        "2.10: skipped: extra is not in newrel",
        "1: created 1.4",
    ]
    assert "\x1b" not in out.getvalue()


def test_quiet_shows_nothing() -> None:
    for stream in (io.StringIO(), Terminal()):
        show = LineProgress(stream, quiet=True)
        show(event(ONE, "waiting"))
        show(event(ONE, "failed", "boom"))
        show.note("refreshing")
        show.done()
        assert stream.getvalue() == ""


def test_terminal_rows_are_redrawn_in_place() -> None:
    out = Terminal()
    show = LineProgress(out, clock=Clock(), width=80)
    show(event(ONE, "waiting"))
    assert screen(out.getvalue()) == ["1  oldrel  waiting"]
    show(event(TWO, "waiting"))
    assert screen(out.getvalue()) == ["1     oldrel  waiting", "2.10  newrel  waiting"]
    show(event(ONE, "fetching", "12/41 (3.2 MiB)", arch="arm64"))
    assert screen(out.getvalue()) == [
        "1     oldrel  fetching arm64 12/41 (3.2 MiB)",
        "2.10  newrel  waiting",
    ]
    show(event(TWO, "skipped", "extra is not in newrel"))
    show(event(ONE, "created", "1.4"))
    show.done()
    assert screen(out.getvalue()) == [
        "1     oldrel  created 1.4",
        "2.10  newrel  skipped: extra is not in newrel",
    ]
    drawn = out.getvalue()
    assert "\x1b[32mcreated 1.4" in drawn  # green
    assert "\x1b[33mskipped: extra" in drawn  # yellow
    assert drawn.endswith("\x1b[?25h")  # the cursor is shown again


def test_terminal_note_row_below_the_lines_goes_away_when_done() -> None:
    out, clock = Terminal(), Clock()
    show = LineProgress(out, clock=clock, width=60)
    show(event(ONE, "waiting"))
    show(event(TWO, "waiting"))
    show(event(ONE, "resolving"))
    show.note("no indexes for oldrel/amd64 yet: refreshing")
    show.note("oldrel: fetch InRelease (1,046 bytes)")
    assert screen(out.getvalue()) == [
        "1     oldrel  resolving",
        "2.10  newrel  waiting",
        "oldrel: fetch InRelease (1,046 bytes)",
    ]
    show(event(ONE, "fetching", "1/3 (0.0 MiB)"))  # a new stage: the note is stale
    assert screen(out.getvalue()) == [
        "1     oldrel  fetching 1/3 (0.0 MiB)",
        "2.10  newrel  waiting",
    ]
    show.note("refreshing newrel")
    clock.now += 0.01
    show(event(ONE, "fetching", "2/3 (0.0 MiB)"))  # too soon after the last redraw
    assert "2/3" not in out.getvalue()
    show(event(TWO, "failed", "tool 2.1-1 from http://mirror/pool/main/t/tool.deb has sha256 x"))
    show(event(ONE, "created", "1.4"))
    show.done()
    rows = screen(out.getvalue())
    assert rows[0] == "1     oldrel  created 1.4"
    # A row longer than the terminal is cut to its width, with an ellipsis.
    assert rows[1].startswith("2.10  newrel  failed: tool 2.1-1 from http://mirror/")
    assert rows[1].endswith("…")
    assert len(rows[1]) == 60
    assert len(rows) == 2  # the note row is gone
    # After done() the cursor is on the row below the lines: the summary starts there.
    out.write("SUMMARY\n")
    assert screen(out.getvalue())[2] == "SUMMARY"


def test_terminal_shows_the_latest_count_at_the_next_redraw() -> None:
    out, clock = Terminal(), Clock()
    show = LineProgress(out, clock=clock, width=80)
    show(event(ONE, "fetching", "1/9"))
    show(event(ONE, "fetching", "5/9"))
    assert screen(out.getvalue()) == ["1  oldrel  fetching 1/9"]
    clock.now += 1
    show(event(ONE, "fetching", "6/9"))
    assert screen(out.getvalue()) == ["1  oldrel  fetching 6/9"]
    show(event(ONE, "fetching", "9/9"))
    show.done()
    assert screen(out.getvalue()) == ["1  oldrel  fetching 9/9"]


def test_events_from_many_threads_draw_whole_rows() -> None:
    out = Terminal()
    show = LineProgress(out, clock=Clock(), width=80, interval=0)
    lines = [(f"{n}.0", "rel") for n in range(8)]
    for line in lines:
        show(event(line, "waiting"))

    def fetch(line: tuple[str, str]) -> None:
        for done in range(1, 51):
            show(event(line, "fetching", f"{done}/50"))

    threads = [threading.Thread(target=fetch, args=(line,)) for line in lines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    show.done()
    assert screen(out.getvalue()) == [f"{n}.0  rel  fetching 50/50" for n in range(8)]


def test_warnings_stay_on_screen_above_the_rows_and_show_when_quiet() -> None:
    out = Terminal()
    show = LineProgress(out, clock=Clock(), width=80)
    show.note("warning: found before any row; shown as it comes")
    show(event(ONE, "waiting"))
    show(event(TWO, "waiting"))
    show.note("refreshing oldrel")
    show.note("warning: cached layer sha256:ab was damaged; rebuilding it")
    show(event(ONE, "created", "1.4"))
    show.done()
    assert screen(out.getvalue()) == [
        "warning: found before any row; shown as it comes",
        "warning: cached layer sha256:ab was damaged; rebuilding it",
        "1     oldrel  created 1.4",
        "2.10  newrel  waiting",
    ]
    for stream in (io.StringIO(), Terminal()):
        quiet = LineProgress(stream, quiet=True)
        quiet(event(ONE, "waiting"))
        quiet.note("refreshing oldrel")
        quiet.note("warning: cached foo 1.0 was damaged; downloading it again")
        quiet.done()
        assert stream.getvalue() == "warning: cached foo 1.0 was damaged; downloading it again\n"


def test_a_log_stream_keeps_warnings_as_plain_lines() -> None:
    out = io.StringIO()
    show = LineProgress(out, clock=Clock())
    show(event(ONE, "resolving"))
    show.note("warning: cached foo 1.0 was damaged; downloading it again")
    show.done()
    assert out.getvalue() == (
        "1: resolving\nwarning: cached foo 1.0 was damaged; downloading it again\n"
    )


def test_tables_are_plain_aligned_lines() -> None:
    out = io.StringIO()
    summary = "a [bold]summary[/bold] :smile: " + "long " * 40  # no markup, no emoji, no wrap
    print_table(
        ["package", "version", "pulled in by"],
        [["libc6", "2.36-9+deb12u10", "requested"], ["zlib1g", "1:1.2.13", summary], ["é", "", ""]],
        out,
    )
    assert out.getvalue().splitlines() == [
        "PACKAGE  VERSION          PULLED IN BY",
        "libc6    2.36-9+deb12u10  requested",
        "zlib1g   1:1.2.13         " + summary.rstrip(),
        "é",
    ]
    assert "\x1b" not in out.getvalue()
    empty = io.StringIO()
    print_table(["name", "size"], [], empty)
    assert empty.getvalue() == "NAME  SIZE\n"


def test_tables_on_a_terminal_keep_every_row_on_one_line() -> None:
    out = Terminal()
    print_table(["name", "summary"], [["a", "x" * 300]], out)
    assert out.getvalue().splitlines() == [
        "\x1b[1mNAME\x1b[0m  \x1b[1mSUMMARY\x1b[0m",  # bold headers, no trailing blanks
        "a     " + "x" * 300,
    ]
