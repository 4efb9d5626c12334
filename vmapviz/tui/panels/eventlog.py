"""The event log: kernel-style lines, newest at the bottom, filterable by kind and CPU.

Each op shows its return line first (`cpu2 vm_map_ram(4) = 0x... [block #3, bits 8-11]`)
and the kernel's inner events indented under it; flushes, WARNs and BUGs carry a tag in
reverse video so they stand out in monochrome too.  A purge worker's events (a
generation with kworker_purge: cpu KWORKER) follow the call that queued it, each on its
own "kworker" line, not indented: no CPU's call ran them.  A Line API ScrollView: entries are
small tuples, a Strip is rendered only for a visible line and cached on the entry.
"""

from __future__ import annotations

import bisect
import re

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip

from ...kernel.events import KINDS
from ...kernel.events import KWORKER
from ...run.snapshot import Snapshot
from .. import palette as P
from .lines import CachedLines
from .base import SnapshotPanel

MAX_ENTRIES = 5000
# Every kind of the vocabulary but the call lines (an op is logged by its return line).
FILTER_KINDS = tuple(k for k in KINDS if k != "call")
TROUBLE = frozenset(k for k, kind in KINDS.items() if kind.notable)


class Entry(tuple):
    """(seq, op, cpu, kind, source, indent): one log line.  `source` is the kernel
    event (its text is made only when the line is drawn) or a plain string; `cpu` is
    None for the log's own lines (gaps, driver errors)."""

    __slots__ = ()

    def __new__(cls, seq: int, op: int, cpu: int, kind: str, source, indent: bool = False):
        return tuple.__new__(cls, (seq, op, cpu, kind, source, indent))

    seq = property(lambda self: self[0])
    op = property(lambda self: self[1])
    cpu = property(lambda self: self[2])
    kind = property(lambda self: self[3])
    indent = property(lambda self: self[5])

    @property
    def text(self) -> str:
        src = self[4]
        return src if isinstance(src, str) else src.line()


def op_entries(events, seq: int) -> list[Entry]:
    """Entries for the events of one op: the return line first, then the inner events."""
    ret = [e for e in events if e.kind == "return"]
    inner = [e for e in events if e.kind not in ("return", "call")]
    out = []
    for e in ret:
        out.append(Entry(seq + len(out), e.op, e.cpu, "return", e))
    for e in inner:
        out.append(Entry(seq + len(out), e.op, e.cpu, e.kind, e, bool(ret) and e.cpu != KWORKER))
    return out


def fit(text: str, room: int) -> str:
    """`text` in `room` cells: words (a call's name up to its "(" is a word) dropped
    from the middle for an ellipsis, so that a number (an address, a size) is shown
    whole or not at all, and the line's end stays; where its first and last words do not
    fit together, whole words from the start; where not even one, its end."""
    if cell_len(text) <= room:
        return text
    units = re.findall(r"\S*?\(|\S+|\s+", text)
    budget = room - 3 - cell_len(units[-1])          # " … " and the last word
    head: list[str] = []
    for unit in units[:-1]:
        if cell_len(unit) > budget:
            break
        head.append(unit)
        budget -= cell_len(unit)
    tail: list[str] = []
    for unit in reversed(units[len(head):-1]):
        if cell_len(unit) > budget:
            break
        tail.insert(0, unit)
        budget -= cell_len(unit)
    left = "".join(head).rstrip()
    if left:
        return left + ("" if left.endswith("(") else " ") + "… " + "".join(tail + units[-1:]).lstrip()
    # The last word is too long to keep with the first: whole words from the start.
    budget, head = room - 2, []
    for unit in units:
        if cell_len(unit) > budget:
            break
        head.append(unit)
        budget -= cell_len(unit)
    left = "".join(head).rstrip()
    if left:
        return left + ("" if left.endswith("(") else " ") + "…"
    return "…" + text[len(text) - max(0, room - 1):] if room > 0 else ""


def parse_filter(text: str, nr_cpus: int) -> tuple[frozenset | None, frozenset | None]:
    """'flush warn cpu2' -> (kinds, cpus); empty parts mean all.  'warn' takes in every
    notable kind (BUGs, faults, use-after-free, refused calls, errors); 'ops' means
    return lines; 'kworker' the purge worker's lines.  Raises ValueError."""
    kinds, cpus = set(), set()
    aliases = {"ops": "return", "op": "return", "calls": "return", "flushes": "flush",
               "purges": "purge", "blocks": "block", "warnings": "warn", "bugs": "bug",
               "errors": "error", "aliases": "alias"}
    for word in text.replace(",", " ").split():
        w = word.lower()
        if w in ("all", "*"):
            continue
        if w == "kworker":
            cpus.add(KWORKER)
            continue
        if w.startswith("cpu"):
            try:
                n = int(w[3:])
            except ValueError:
                raise ValueError(f"{word!r}: a CPU is written cpu0, cpu1, ...") from None
            if not 0 <= n < nr_cpus:
                raise ValueError(f"{word!r}: this machine has CPUs 0-{nr_cpus - 1}")
            cpus.add(n)
            continue
        w = aliases.get(w, w)
        if w not in FILTER_KINDS:
            raise ValueError(f"{word!r} is not a kind; kinds: {', '.join(FILTER_KINDS)}, cpuN, kworker")
        kinds.add(w)
        if w == "warn":
            kinds.update(TROUBLE)
    return (frozenset(kinds) or None, frozenset(cpus) or None)


class EventLog(CachedLines, SnapshotPanel, can_focus=True):
    """The event log panel.  See the module docstring."""

    CACHE_LIMIT = 2000

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.entries: list[Entry] = []
        self.shown: list[Entry] = []
        self.kinds: frozenset | None = None
        self.cpus: frozenset | None = None
        self.filter_text = ""
        self._seq = 0
        self._last_op = -1
        self._snap: Snapshot | None = None
        self.follow = True   # keep the newest line in view; scrolling up stops it

    # -- model ------------------------------------------------------------------------------

    def clear(self) -> None:
        self.entries.clear()
        self.shown.clear()
        self._cache.clear()
        self._last_op = -1
        self._sync(follow=True)

    def update_snapshot(self, snap: Snapshot) -> None:
        old = self._snap
        self._snap = snap
        if old is not None and (old.config != snap.config or old.workload != snap.workload
                                or snap.op < old.op):
            self.clear()   # another run: its log starts empty, on screen too
        new = [e for e in snap.events if e.op > self._last_op and e.kind != "error"]
        if not new:
            return
        batch: list[Entry] = []   # appended at once: the log's scroll and size are synced once a snapshot
        if self._last_op >= 0 and new[0].op > self._last_op + 1:
            gap = (self._last_op + 1, new[0].op - 1)
            text = (f"… op {gap[0]:,} not shown" if gap[0] == gap[1] else
                    f"… ops {gap[0]:,}-{gap[1]:,} ran faster than the log keeps; not shown")
            batch.append(Entry(self._next_seq(), gap[1], None, "gap", text))
        first = 0   # the first event of the op being grouped
        for i in range(1, len(new) + 1):
            if i == len(new) or new[i].op != new[first].op:
                batch.extend(op_entries(new[first:i], self._next_seq(i - first)))
                first = i
        self._last_op = new[-1].op
        self._append(batch)

    def add_error(self, op: int, message: str) -> None:
        self._append([Entry(self._next_seq(), op, None, "error", message)])

    def _next_seq(self, n: int = 1) -> int:
        seq = self._seq
        self._seq += n
        return seq

    def _append(self, batch: list[Entry]) -> None:
        follow = self.follow
        self.entries.extend(batch)
        if self.kinds is None and self.cpus is None:
            self.shown.extend(batch)      # no filter
        else:
            self.shown.extend(e for e in batch if self._passes(e))
        if len(self.entries) > MAX_ENTRIES:
            # The oldest go and a full log keeps its length, so that its virtual size
            # stays the same.  Shown entries are in the same order.
            del self.entries[: len(self.entries) - MAX_ENTRIES]
            del self.shown[: bisect.bisect_left(self.shown, self.entries[0].seq, key=Entry.seq.fget)]
        self._sync(follow)

    def _passes(self, e: Entry) -> bool:
        if e.kind == "gap":
            return True
        if self.kinds is not None and e.kind not in self.kinds:
            return False
        if self.cpus is not None and e.cpu not in self.cpus:
            return False
        return True

    def _refilter(self) -> None:
        self.shown = [e for e in self.entries if self._passes(e)]

    def set_filter(self, text: str, nr_cpus: int) -> None:
        """Show only some kinds and CPUs ('' shows everything).  Raises ValueError."""
        self.kinds, self.cpus = parse_filter(text, nr_cpus)
        self.filter_text = " ".join(text.split())
        self._refilter()
        self._sync(follow=True)
        self.border_subtitle = f"filter: {self.filter_text}" if self.filter_text else ""

    def _sync(self, follow: bool) -> None:
        # A new virtual size lays the whole screen out again (Textual 8.2.8: the reactive
        # has layout=True): a full log keeps its own.  A log that grows with its scrollbar
        # already shown changes no one's place on screen, only the scrollbar's thumb: its
        # size is set without that layout and the scrollbar updated as the layout would
        # (Widget._scroll_update), so that filling the log costs no layout a frame.
        size = Size(self.scrollable_content_region.width, len(self.shown))
        old = self.virtual_size
        if (size != old and size.width == old.width and self.show_vertical_scrollbar
                and min(size.height, old.height) > self.scrollable_content_region.height):
            self.set_reactive(EventLog.virtual_size, size)
            self._scroll_update(size)
        else:
            self.virtual_size = size
        if follow:
            self.follow = True
            self._scroll_bottom()
            self.call_after_refresh(self._scroll_bottom)
        self.refresh()

    def _scroll_bottom(self) -> None:
        # Textual (8.2.8) scrolls a widget, and moves its scrollbar's thumb, only once a
        # layout has shown that scrollbar, and a screen under a modal (a long jump's
        # progress, help) is not laid out: a log that first outgrew its panel there would
        # stay at its top, thumb and all.  Following is this panel's decision, on its own
        # virtual size: forced, and the thumb put where the scrollbar will show it.
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, force=True)
            if self.scroll_y and not self.show_vertical_scrollbar:
                self.vertical_scrollbar.position = self.scroll_y

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value - 0.5 and new_value < self.max_scroll_y:
            self.follow = False        # the reader scrolled up (not a shorter log): stop following
        elif new_value >= self.max_scroll_y:
            self.follow = True

    # -- rendering --------------------------------------------------------------------------

    def lines(self) -> list:
        return self.shown

    def render_key(self, e: "Entry", width: int, base: Style) -> Strip:
        return self.entry_strip(e, width, base)

    @staticmethod
    def entry_strip(e: Entry, width: int, base: Style = Style()) -> Strip:
        segs = [Segment(f"{e.op:>7} " if e.kind != "gap" else "        ", base + P.active().muted)]
        if e.cpu is None:
            segs.append(Segment("      ", base))
        elif e.cpu == KWORKER:   # as wide as a CPU's column and an indent
            segs.append(Segment("kworker ", base + Style(bold=True)))
        else:
            segs.append(Segment(f"cpu{e.cpu:<2} ", base + P.cpu_style(e.cpu)))
        if e.indent:
            segs.append(Segment("  ", base))
        tag = P.LOG_TAGS.get(e.kind)
        style = base + P.active().log.get(e.kind, Style())
        if tag:
            segs.append(Segment(tag, style))
            style, lead = base + Style(bold=True), " "
        else:
            lead = ""
        used = sum(seg.cell_length for seg in segs) + len(lead)
        text = fit(e.text, width - used)
        segs.append(Segment(lead + text, style))
        used += cell_len(text)
        if used > width:
            return Strip(segs).adjust_cell_length(width, base)
        # padded to the width as adjust_cell_length does, the length known, not measured again
        if used < width:
            segs.append(Segment(" " * (width - used), base))
        return Strip(segs, width)

    def on_resize(self) -> None:
        self._cache.clear()
        self._sync(follow=self.follow)
