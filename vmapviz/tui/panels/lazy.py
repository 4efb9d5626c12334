"""Lazy TLB flushing at a glance: vmap_lazy_nr against lazy_max_pages, the counters,
and a sparkline of flushes over the last ops.

The one number to watch climbs towards the threshold and drops to zero with one flush
and nr_cpus - 1 IPIs: the gauge shows it, the panel flashes when a flush happens, and
the sparkline marks every flush by op number.  Where a kworker purges (kworker_purge),
a line says whether the drain work is pending and what its last run did: the freeing
call only queues it past lazy_max_pages, and the worker's purge follows.  Rendered as
a handful of short lines, and only when something it shows has changed: `render()`
builds the panel's Text, and each of its lines is drawn (through the Line API) from a
cache of Strips, so that a frame redraws only the lines whose text changed.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget

from ...models.flush_history import columns
from ...kernel.events import KWORKER
from ...run.snapshot import Snapshot
from .. import palette as P
from .base import SnapshotPanel
from .lines import text_strip

SPARK = "▁▂▃▄▅▆▇█"


def gauge(value: int, limit: int, width: int) -> tuple[str, str]:
    """(filled, empty) parts of a bar of `width` cells for value/limit (capped)."""
    width = max(1, width)
    filled = 0 if limit <= 0 else min(width, round(width * value / limit))
    return "█" * filled, "░" * (width - filled)


def flush_sparkline(per: int, counts: tuple[int, ...], op: int, width: int) -> tuple[str, int]:
    """(sparkline, ops per column): TLB flushes per column since op 0, the newest at the
    right (flush_history.columns).  Columns without a flush are ' ', shown as a dim '▁'
    by the caller, so a flush column always shows at least '▂'."""
    cols, col = columns(per, counts, op, width)
    top = max(cols) or 1
    chars = [" " if not c else SPARK[max(1, round((len(SPARK) - 1) * c / top))] for c in cols]
    return "".join(chars).rjust(max(1, width)), col


class LazyPanel(Widget, SnapshotPanel):
    """The lazy-flushing panel.  See the module docstring."""

    DEFAULT_CSS = """
    LazyPanel { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.snap: Snapshot | None = None
        self._key: tuple | None = None
        self._flushes = 0
        self.flash_seconds = 0.8
        self.drain = None          # the kworker's last purge (kworker_purge)
        self._last_op = -1
        self._lines_key: tuple | None = None   # what `_lines` was drawn from (see _text_lines)
        self._lines: list[Text] = []
        self._strips: dict[tuple, list[Strip]] = {}
        self._rows_key: tuple | None = None
        self._rows_cache: list[Strip] = []

    def update_snapshot(self, snap: Snapshot) -> None:
        old = self.snap
        self.snap = snap
        s = snap.stats
        flushes = s.tlb_flushes
        slow = not snap.running or (snap.speed is not None and snap.speed <= 200)
        if (slow and old is not None and old.config == snap.config and snap.op >= old.op
                and flushes > self._flushes):
            self.flash()   # at full speed a flush comes every frame: no flashing then
        self._flushes = flushes
        if snap.generation.features.kworker_purge:
            self._watch_worker(old, snap)
        key = (snap.op, snap.running, snap.config,
               s, snap.stale_counts, round(snap.ops_per_s), snap.flush_per, len(snap.flush_counts))
        if key != self._key:
            self._key = key
            self._refresh_changed_lines()

    # -- drawing: the Text of render(), line by line -------------------------------------

    def _text_lines(self) -> list[Text]:
        """The lines of `render()`'s Text, built again only when what it is drawn from
        changed: the snapshot and the kworker's last purge (by identity), the width and
        the palette (by identity)."""
        key = (id(self.snap), id(self.drain), self.content_size.width, id(P.active()))
        if key != self._lines_key:
            self._lines_key = key
            self._lines = self.render().split("\n", allow_blank=True)
        return self._lines

    def _refresh_changed_lines(self) -> None:
        """Refresh the rows whose strip differs from the last drawn (all when their
        number changed): a line whose text is unchanged keeps its cached strips."""
        old = self._rows_cache
        new = self._rows()
        if len(old) != len(new):
            self.refresh()
            return
        width = self.content_size.width
        for y, (a, b) in enumerate(zip(old, new)):
            if a is not b:
                self.refresh(Region(0, y, width, 1))

    def _line_strips(self, line: Text, width: int) -> list[Strip]:
        """One line of the Text drawn as Textual draws a widget's render() (it may
        wrap), cached on the line's text and spans, the width and the widget's style.
        A line that fits is drawn straight from its segments (lines.text_strip); one
        that wraps or is cut, or any while text is selected, goes through Textual's Visual."""
        style = self.visual_style
        plain = self.text_selection is None and line.cell_len <= width
        key = (line.plain, tuple(line.spans), width, style, plain)
        strips = self._strips.get(key)
        if strips is None:
            if len(self._strips) > 256:
                self._strips.clear()
            if plain:
                strips = [text_strip(line, style.rich_style, self.app.console)]
            else:
                strips = Visual.to_strips(self, visualize(self, line), width, None, style)
            self._strips[key] = strips
        return strips

    def _rows(self) -> list[Strip]:
        """Every drawn row, the lines' strips one after the other; built again when
        the lines or the widget's style changed."""
        key = (self._text_lines(), self.visual_style)
        if self._rows_key is None or key[0] is not self._rows_key[0] or key[1] != self._rows_key[1]:
            width = self.content_size.width
            self._rows_key = key
            self._rows_cache = [s for line in key[0] for s in self._line_strips(line, width)]
        return self._rows_cache

    def render_line(self, y: int) -> Strip:
        rows = self._rows()
        if y < len(rows):
            return rows[y]
        return Strip.blank(self.content_size.width, self.visual_style.rich_style)

    def _watch_worker(self, old: Snapshot | None, snap: Snapshot) -> None:
        """Remember the kworker's last purge from the events since the last snapshot."""
        if old is None or old.config != snap.config or snap.op < old.op:
            self.drain, self._last_op = None, -1
        new = [e for e in snap.events if e.op > self._last_op]
        if new:
            self._last_op = new[-1].op
            self.drain = next((e for e in reversed(new) if e.kind == "purge" and e.cpu == KWORKER),
                              self.drain)

    def flash(self) -> None:
        """Make the flush moment visible: the panel inverts for a moment."""
        if self.flash_seconds <= 0:
            return
        self.add_class("-flash")
        self.set_timer(self.flash_seconds, lambda: self.remove_class("-flash"))

    def _worker_line(self, t: Text, snap: Snapshot) -> None:
        """kworker: the drain work pending, or what its last run purged."""
        t.append("kworker ", style="bold")
        d = self.drain
        last = snap.last_op[-1].op if snap.last_op else -1
        if snap.drain_pending:
            t.append(" drain pending ", style=P.BADGES["flush"])
        elif d is not None and d.op == last:
            t.append(" drained ", style=P.BADGES["flush"])
            t.append(f" this op: {d.nr_areas:,} area{'s' * (d.nr_areas != 1)}")
        elif d is not None:
            t.append(f"idle · last drain op {d.op:,}", style=P.active().muted)
        else:
            t.append("idle · no drain yet", style=P.active().muted)
        t.append("\n")

    def on_resize(self) -> None:
        self.refresh()

    @staticmethod
    def gauge_text(lazy: int, limit: int, width: int) -> Text:
        """The gauge of vmap_lazy_nr against lazy_max_pages() and its figures: two lines."""
        t = Text(no_wrap=True, overflow="ellipsis")
        fill, empty = gauge(lazy, limit, width - 15)
        t.append("vmap_lazy_nr ", style="bold")
        t.append("▕", style=P.active().muted)
        over = lazy > limit
        t.append(fill, style=P.active().gauge_over if over else P.active().gauge)
        t.append(empty, style=P.active().faint)
        t.append("▏\n", style=P.active().muted)
        frac = f"{100 * lazy / limit:.0f}%" if limit else "-"
        t.append(f"  {lazy:,} of lazy_max_pages {limit:,} ({frac})\n")
        return t

    def render(self) -> Text:
        snap = self.snap
        if snap is None:
            return Text("waiting for the first snapshot…", style=P.active().muted)
        s = snap.stats
        width = max(20, self.content_size.width)
        t = self.gauge_text(s.lazy_pages, s.lazy_max_pages, width)
        t.append("TLB flushes ", style=P.active().muted)
        t.append(f"{s.tlb_flushes:,}", style="bold")
        t.append("  IPIs ", style=P.active().muted)
        t.append(f"{s.ipis:,}")
        t.append("  purges ", style=P.active().muted)
        t.append(f"{s.purges:,}\n")
        if snap.generation.features.kworker_purge:
            self._worker_line(t, snap)
        spark, per = flush_sparkline(snap.flush_per, snap.flush_counts, snap.op, width - 8)
        t.append("flushes ", style=P.active().muted)
        for ch in spark:
            t.append("▁" if ch == " " else ch, style=P.active().faint if ch == " " else P.BADGES["flush"])
        t.append(f"\n        ops 0 to {snap.op:,}, {per:,} a column\n", style=P.active().muted)
        t.append("vm_unmap_aliases ", style=P.active().muted)
        t.append(f"{s.vm_unmap_aliases_calls:,}")
        t.append("  failures ", style=P.active().muted)
        t.append(f"{s.alloc_failures:,}\n")
        warn, bug = s.warnings, s.bugs
        t.append("WARN ", style=P.active().muted)
        t.append(f"{warn:,}", style=P.BADGES["warn"] if warn else Style())
        t.append("  BUG ", style=P.active().muted)
        t.append(f"{bug:,}", style=P.BADGES["bug"] if bug else Style())
        t.append("  faults ", style=P.active().muted)
        t.append(f"{s.faults:,}")
        t.append("  UAF ", style=P.active().muted)
        uaf = s.use_after_free
        t.append(f"{uaf:,}\n", style=P.BADGES["bug"] if uaf else Style())
        t.append("ops/s ", style=P.active().muted)
        t.append(f"{snap.ops_per_s:,.0f}" if snap.running else "-")
        t.append("  areas ", style=P.active().muted)
        t.append(f"{s.live_areas:,} live, {s.lazy_areas:,} lazy")
        t.append("  blocks ", style=P.active().muted)
        t.append(f"{s.vmap_blocks:,}\n")
        t.append("stale TLB entries\n", style=P.active().muted)
        counts = snap.stale_counts
        if len(counts) <= 8:
            for cpu, n in enumerate(counts):
                t.append(f"cpu{cpu}", style=P.cpu_style(cpu))
                t.append(f" {n} ")
        else:
            busy = [(n, cpu) for cpu, n in enumerate(counts) if n]
            t.append(f"{sum(counts):,} on {len(busy)} of {len(counts)} CPUs")
            if busy:
                n, cpu = max(busy)
                t.append("  most ")
                t.append(f"cpu{cpu}", style=P.cpu_style(cpu))
                t.append(f" {n}")
        return t
