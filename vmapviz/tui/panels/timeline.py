"""The timeline strip under the header: every op history holds, squeezed into one row.

Each cell covers a span of ops and shows the most notable mark in it (timeline.marks):
W a WARN or BUG, F a TLB flush, P a purge with no flush, b a vmap block made or
freed, · nothing; the cell holding the current op is drawn reversed.  Letters, not
colours, so it reads in monochrome.  Clicking a cell, or moving the strip's cursor
with the arrows, jumps to that cell's most notable op (or its first op).  Once the
timeline has forgotten its oldest ops (its memory budget), the strip starts at the first
op it still holds, and says so: "from op N".
"""

from __future__ import annotations

import bisect
import re
import time

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Input, Label

from ...run.snapshot import Snapshot, TimelineView
from ..screens.dialogs import Modal
from .base import SnapshotPanel


GLYPHS = (("warn", "W"), ("flush", "F"), ("purge", "P"), ("block", "b"))   # most notable first
LABEL = " time "


def cells(marks: dict, end: int, width: int, start: int = 0) -> list[tuple[str, int]]:
    """(glyph, op to jump to) for each of `width` cells spanning ops start..end."""
    out = []
    for i in range(width):
        lo, hi = span(i, end, width, start)
        for name, glyph in GLYPHS:
            m = marks.get(name, ())
            j = bisect.bisect_left(m, lo)
            if j < len(m) and m[j] < hi:
                out.append((glyph, m[j]))
                break
        else:
            out.append(("·", lo))
    return out


def span(i: int, end: int, width: int, start: int = 0) -> tuple[int, int]:
    """The ops [lo, hi) of cell i."""
    total = end + 1 - start
    lo = start + i * total // width
    return lo, max(start + (i + 1) * total // width, lo + 1)


def cell_of(op: int, end: int, width: int, start: int = 0) -> int:
    return max(0, min(width - 1, (op - start) * width // (end + 1 - start)))


class TimelineStrip(Widget, SnapshotPanel, can_focus=True):
    """See the module docstring.  `show(timeline, op)` draws it; `Jump(op)` asks the
    app to go there."""

    DEFAULT_CSS = """
    TimelineStrip { height: 1; background: $panel; color: $foreground; }
    TimelineStrip:focus { background: $boost; }
    """
    BINDINGS = [Binding("left", "move(-1)", "earlier", show=False),
                Binding("right", "move(1)", "later", show=False),
                Binding("home", "move(-100000)", "start", show=False),
                Binding("end", "move(100000)", "end", show=False)]

    class Jump(Message):
        def __init__(self, op: int) -> None:
            super().__init__()
            self.op = op

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.marks: dict = {}
        self.end = 0
        self.op = 0
        self.start = 0      # the first op the timeline still holds
        self._cells: list[tuple[str, int]] = []
        self._strip: tuple[tuple, Strip] | None = None   # (what it was drawn from, the line)

    def update_snapshot(self, snap: Snapshot) -> None:
        self.show(snap.timeline, snap.op)

    def show(self, timeline: TimelineView | None, op: int) -> None:
        """Draw the marks of `timeline` (the snapshot's copy) with `op` as the current one."""
        if timeline is None:
            return
        self.marks = {name: timeline.marks[name] for name, _ in GLYPHS}
        self.end, self.op, self.start = max(timeline.end, op), op, min(timeline.start, op)
        self._cells = cells(self.marks, self.end, self._width(), self.start)
        self.refresh()

    def _width(self) -> int:
        return max(1, (self.size.width or 80) - len(LABEL) - len(self._tail()))

    def _tail(self) -> str:
        since = f" from op {self.start:,}" if self.start else ""
        return f" op {self.op:,} of {self.end:,}{since} "

    def render_line(self, y: int) -> Strip:
        base, width = self.rich_style, self.size.width
        if y or not self._cells:
            return Strip([Segment(" " * width, base)])
        here = cell_of(self.op, self.end, len(self._cells), self.start)
        key = (self._cells, here, self._tail(), width, base)
        if self._strip is not None and self._strip[0] == key:
            return self._strip[1]
        bold, plain = base + Style(bold=True), base + Style(bold=False)
        # one segment a run of cells in one style (the glyphs bold, the dots plain, the
        # current cell reversed), not one a cell: Textual's work on a line grows with them
        styles = [plain if glyph == "·" else bold for glyph, _ in self._cells]
        styles[here] = base + Style(reverse=True)
        segs = [Segment(LABEL, bold)]
        run = 0
        for i in range(1, len(styles) + 1):
            if i == len(styles) or styles[i] is not styles[run]:
                segs.append(Segment("".join(glyph for glyph, _ in self._cells[run:i]), styles[run]))
                run = i
        segs.append(Segment(key[2], base))
        strip = Strip(segs).crop(0, width)
        self._strip = (key, strip)
        return strip

    def on_resize(self) -> None:
        if self.marks:
            self._cells = cells(self.marks, self.end, self._width(), self.start)

    def on_click(self, event) -> None:
        i = event.x - len(LABEL)
        if 0 <= i < len(self._cells):
            self.post_message(self.Jump(self._cells[i][1]))

    def action_move(self, cells_: int) -> None:
        if not self._cells:
            return
        here = cell_of(self.op, self.end, len(self._cells), self.start)
        i = max(0, min(len(self._cells) - 1, here + cells_))
        if i != here:
            self.post_message(self.Jump(self._cells[i][1]))


class OpScreen(Modal):
    """Asks for an op number to go to (key g); answers once (enter enter in one burst
    would dismiss it twice)."""

    DEFAULT_CSS = """
    #op-box { width: 60; max-width: 100%; height: auto; border: round $vz-focus;
              background: $surface; padding: 0 1; }
    """
    AUTO_FOCUS = "#op-input"
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, end: int, start: int = 0) -> None:
        super().__init__()
        self.end, self.start = end, start

    def compose(self) -> ComposeResult:
        with Vertical(id="op-box") as box:
            box.border_title = "go to op"
            yield Label(f"ops {self.start:,} to {self.end:,} are kept; a later op runs the workload on"
                        if self.start else f"ops 0 to {self.end:,} have run; a later op runs the workload on")
            yield Input(placeholder="op number, then enter", type="integer", id="op-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(parse_op(event.value))

    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_op(text: str) -> int | None:
    """An op number typed in ASCII digits (at most 18 of them: int() of thousands of
    digits fails, and no run gets near 10**18 ops), else None."""
    text = text.strip().replace("_", "").replace(",", "")
    return int(text) if re.fullmatch(r"[0-9]{1,18}", text) else None


SLOW_SEEK = 0.5       # seconds a jump runs before its progress is shown


class SeekScreen(Modal):
    """The progress of a long jump or run-until (Driver.seeking), until it ends; escape,
    or any key, stops it where it is."""

    DEFAULT_CSS = """
    #seek-box { width: 64; max-width: 100%; height: auto; border: round $vz-focus;
                background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "stop here")]

    def __init__(self, driver) -> None:
        super().__init__()
        self.driver = driver

    def compose(self) -> ComposeResult:
        with Vertical(id="seek-box") as box:
            box.border_title = "running"
            yield Label(self.text(), id="seek-text")
            yield Label("escape (or any key) stops it at the op reached", classes="dim")

    def on_mount(self) -> None:
        self.set_interval(0.1, self.poll)

    def text(self) -> str:
        seeking = self.driver.seeking
        if seeking is None:
            return "done"
        op, target, began = seeking
        spent = time.monotonic() - began
        if target is None:
            return f"running to the next event asked for: op {op:,} ({spent:.0f} s)"
        return f"going to op {target:,}: op {op:,}, {100 * op / max(target, 1):.0f}% ({spent:.0f} s)"

    def poll(self) -> None:
        if self.driver.seeking is None:
            self.dismiss(None)      # once (Modal): the timer may fire again meanwhile
        else:
            self.query_one("#seek-text", Label).update(self.text())

    def on_key(self, event) -> None:
        """Any key stops the jump (the key itself is not acted on)."""
        event.stop()
        self.driver.cancel()

    def action_cancel(self) -> None:
        self.driver.cancel()
