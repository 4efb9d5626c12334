"""The address-space map: [VMALLOC_START, VMALLOC_END) as rows of cells.

Each cell spans 2**k pages and shows the dominant (or most important) state of the
pages in it.  Drawing goes through Textual's Line API: a row is rendered on demand by
bisecting into the snapshot's address-ordered areas (never iterating all of them), its
Strip is cached, and a new snapshot invalidates only the rows its events touched, so
the cost of a frame depends on the cells on screen, not on the number of areas.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from ...run.snapshot import Snapshot
from .. import palette as P
from ...units import human_bytes
from .base import SnapshotPanel

SAMPLES = 8          # a cell with more areas than this is judged from a few of them
_BIG = 1 << 80


@dataclass(frozen=True)
class MapView:
    """What the map shows: rows of `cols` cells of 2**shift pages from `base`."""

    base: int
    end: int
    page_shift: int
    shift: int
    cols: int

    @property
    def cell_bytes(self) -> int:
        return 1 << (self.page_shift + self.shift)

    @property
    def row_bytes(self) -> int:
        return self.cols * self.cell_bytes

    @property
    def total_rows(self) -> int:
        return max(1, -(-(self.end - self.base) // self.row_bytes))

    def row_of(self, addr: int) -> int:
        return (addr - self.base) // self.row_bytes

    def cell_of(self, addr: int) -> tuple[int, int]:
        """(row, col) of the cell holding addr."""
        return divmod((addr - self.base) // self.cell_bytes, self.cols)

    def addr_of(self, row: int, col: int) -> int:
        return self.base + row * self.row_bytes + col * self.cell_bytes


def classify_row(snap: Snapshot, blocks_by_start: dict, row_start: int, cell_bytes: int,
                 cols: int, end: int, features=None) -> list[int]:
    """The class (palette.FREE, VMALLOC, ... block_class()) of each of `cols` cells of
    `cell_bytes` from `row_start`.  Cells at or past `end` are FREE.  A generation whose
    search leaves a page after every area (features.gap_page) shows that page as a
    guard page when nothing took it; before the rewrite only an area's own guard page is.
    A cell with no area that holds a pooled area (snap.pooled: purged, kept in a vmap
    node's pool, neither busy nor free) is POOLED.  `features`: what the source has, when
    it is not the snapshot's generation (the live source).

    Cost per cell: one short bisect plus at most SAMPLES areas, whatever the total.
    """
    areas = snap.areas
    n = len(areas)
    page = snap.config.page_size
    shift = snap.config.page_shift
    gap = page if (features or snap.generation.features).gap_page else 0
    out = [P.FREE] * cols
    if snap.pooled:
        _mark_pooled(out, snap.pooled, row_start, cell_bytes, end)
    if not n:
        return out
    # Areas are tuples starting with va_start: compare them with (addr,) directly, in C.
    i = max(0, bisect_right(areas, (row_start, _BIG)) - 1)
    a = row_start
    last = 0   # areas in the previous cell: the next cell likely holds as many
    for c in range(cols):
        if a >= end:
            break
        b = a + cell_bytes
        key = (b,)
        guess = i + SAMPLES + 2 * last
        if guess >= n:
            j = bisect_left(areas, key, i, n)
        elif areas[guess].start >= b:
            j = bisect_left(areas, key, i, guess)
        else:
            j = bisect_left(areas, key, guess + 1, n)
        last = j - i
        if j > i:
            cls = _classify_cell(areas, blocks_by_start, i, j, a, b, gap, shift)
            if cls != P.FREE or out[c] != P.POOLED:
                out[c] = cls
            i = j - 1
        elif i < n and areas[i].end + gap > a and areas[i].end <= a and page * 2 >= cell_bytes:
            out[c] = P.GUARD
        a = b
    return out


def _mark_pooled(out: list[int], pooled, row_start: int, cell_bytes: int, end: int) -> None:
    """Mark POOLED the cells of a row that pooled areas ([start, end), address-ordered,
    disjoint) overlap; areas drawn over them later win."""
    row_end = min(end, row_start + len(out) * cell_bytes)
    k = max(0, bisect_right(pooled, (row_start, _BIG)) - 1)
    for s, e, *_ in pooled[k:]:
        if s >= row_end:
            break
        if e <= row_start:
            continue
        c0 = (max(s, row_start) - row_start) // cell_bytes
        c1 = (min(e, row_end) - 1 - row_start) // cell_bytes
        out[c0:c1 + 1] = [P.POOLED] * (c1 + 1 - c0)


def _dense_cell(areas, i: int, j: int) -> int:
    """A cell of many areas (each smaller than the cell on average): judged from the
    first, middle and last of them; one lazy sample makes it lazy."""
    votes: dict[int, int] = {}
    for idx in (i, (i + j) >> 1, j - 1):
        va = areas[idx]
        if va.lazy:
            return P.LAZY
        kind = va.kind
        cls = P.block_class(va.cpu, P.BLOCK_ALLOC) if kind == "vmap_block" else P.KIND_CLASS.get(kind, P.VMAP)
        votes[cls] = votes.get(cls, 0) + 1
    return max(votes, key=votes.__getitem__)


def _classify_cell(areas, blocks_by_start, i: int, j: int, a: int, b: int, gap: int,
                   shift: int) -> int:
    count = j - i
    if count > SAMPLES:
        return _dense_cell(areas, i, j)
    idxs = range(i, j)
    n = len(areas)
    cover: dict[int, int] = {}
    guard = 0
    for idx in idxs:
        va = areas[idx]
        s, e = va.start, va.end
        # The page alloc_vmap_area() leaves after every area, when nothing took it.
        if gap and e < b and e + gap > a and (idx + 1 >= n or areas[idx + 1].start >= e + gap):
            guard += min(b, e + gap) - max(a, e)
        lo, hi = max(a, s), min(b, e)
        if hi <= lo:
            continue
        if va.lazy:
            cover[P.LAZY] = cover.get(P.LAZY, 0) + hi - lo
            continue
        if va.kind == "vmap_block":
            vb = blocks_by_start.get(s)
            if vb is not None:
                b0, b1 = (lo - s) >> shift, (hi - s) >> shift
                mask = ((1 << (b1 - b0)) - 1) << b0
                dirty = (vb.dirty_map & mask).bit_count()
                alloc = (vb.alloc_map & ~vb.dirty_map & mask).bit_count()
                # Pages in use outrank the block's unused pages: a block with any
                # page handed out in this cell shows that, the larger of allocated
                # and dirty (as the bitmap overview does).
                free = (b1 - b0) - alloc - dirty if not alloc and not dirty else 0
                for state, pages in ((P.BLOCK_ALLOC, alloc), (P.BLOCK_DIRTY, dirty),
                                     (P.BLOCK_FREE, free)):
                    if pages:
                        cls = P.block_class(vb.cpu, state)
                        cover[cls] = cover.get(cls, 0) + (pages << shift)
                continue
            cls = P.block_class(va.cpu, P.BLOCK_ALLOC)
        else:
            cls = P.KIND_CLASS.get(va.kind, P.VMAP)
            if va.guard:
                # __get_vm_area_node()'s guard page: the last page of the area.
                g = min(hi, e) - max(lo, e - va.guard)
                if g > 0:
                    guard += g
                    hi -= g
                    if hi <= lo:
                        continue
        cover[cls] = cover.get(cls, 0) + hi - lo
    if cover:
        total = sum(cover.values())
        lazy = cover.get(P.LAZY, 0)
        if lazy * 4 >= total:
            return P.LAZY  # the state a class watches: it wins from a quarter up
        # Ties: a block's dirty pages first (as in the bitmaps: they need a flush),
        # then the lower class.
        return max(cover, key=lambda k: (cover[k], k >= P.BLOCK_BASE and (k - P.BLOCK_BASE) % 3 == P.BLOCK_DIRTY, -k))
    if guard * 2 >= b - a:
        return P.GUARD
    return P.FREE


_STYLED: dict = {}


def _styled(cls: int, base: Style) -> tuple[str, Style]:
    """The glyph of a class and its style on `base`, made once per (class, base)."""
    key = (cls, base)
    got = _STYLED.get(key)
    if got is None:
        if len(_STYLED) > 8192:
            _STYLED.clear()
        glyph, style = P.class_glyph(cls)
        got = _STYLED[key] = (glyph, base + style)
    return got


def row_segments(classes: list[int], base: Style) -> list[Segment]:
    """One Segment per run of equal classes."""
    segs = []
    run_cls, run = classes[0], 0
    for cls in classes:
        if cls == run_cls:
            run += 1
            continue
        glyph, style = _styled(run_cls, base)
        segs.append(Segment(glyph * run, style))
        run_cls, run = cls, 1
    glyph, style = _styled(run_cls, base)
    segs.append(Segment(glyph * run, style))
    return segs


SHORT_LEGEND = {P.VMALLOC: "vmalloc", P.VMAP: "vmap", P.IOREMAP: "ioremap", P.VM_AREA: "vm_area",
                P.LAZY: "lazy", P.GUARD: "guard", P.POOLED: "pooled"}


def legend_items(features, nr_cpus: int, compact: bool = False) -> list[tuple[list[Segment], int]]:
    """Legend entries for a generation's features: (segments without the base style,
    cell length).  Blocks, lazy and pooled areas only where the generation has them;
    a bump-allocated block's freed pages are "freed" (their PTEs are gone), not
    "dirty"."""
    items = []
    if features.vmap_blocks:
        hues = [Segment("█", P.cpu_tint(cpu)) for cpu in range(min(nr_cpus, 8))]
        if nr_cpus > 8:
            hues.append(Segment("…", P.active().muted))
        cpus = "cpu0" if nr_cpus == 1 else f"cpu0-{nr_cpus - 1}"
        text = f" {cpus}" if compact else f" {cpus} blocks (hue per CPU)"
        items.append(hues + [Segment(text)])
        grey = P.active().classes[P.VMALLOC][1]
        items.append([Segment("▄", grey), Segment(" freed" if features.dirty_range else " dirty")])
        items.append([Segment("▁", grey), Segment(" unused" if compact else " not handed out")])
    for cls in (P.VMALLOC, P.VMAP, P.IOREMAP, P.VM_AREA, P.LAZY, P.POOLED, P.GUARD):
        if (cls == P.LAZY and not features.lazy_flush) or (cls == P.POOLED and not features.vmap_nodes):
            continue
        glyph, style, text = P.active().classes[cls]
        if cls == P.GUARD and not features.gap_page:
            text = "guard page"
        items.append([Segment(glyph, style), Segment(" " + (SHORT_LEGEND[cls] if compact else text))])
    return [(segs, sum(s.cell_length for s in segs)) for segs in items]


def legend_lines(features, nr_cpus: int, width: int, base: Style,
                 compact: bool | None = None) -> list[Strip]:
    """The legend wrapped to `width`; compact words below 100 columns."""
    if compact is None:
        compact = width < 100
    lines: list[list[Segment]] = [[]]
    used = 0
    dim = base + P.active().muted
    for segs, length in legend_items(features, nr_cpus, compact):
        need = length + 2
        if used and used + need > width:
            lines.append([])
            used = 0
        for i, seg in enumerate(segs):
            style = base + seg.style if seg.style else dim
            lines[-1].append(Segment(seg.text, style))
        lines[-1].append(Segment("  ", base))
        used += need
    return [Strip(segs).adjust_cell_length(width, base) for segs in lines]


class AddressMap(Widget, SnapshotPanel, can_focus=True):
    """The map of the vmalloc range.  See the module docstring."""

    DEFAULT_CSS = """
    AddressMap { height: 1fr; }
    """
    BINDINGS = [
        Binding("left", "cursor(-1, 0)", "cursor", show=False),
        Binding("right", "cursor(1, 0)", "cursor", show=False),
        Binding("up", "cursor(0, -1)", "cursor", show=False),
        Binding("down", "cursor(0, 1)", "cursor", show=False),
        Binding("pageup", "pan(-1)", "page up", show=False),
        Binding("pagedown", "pan(1)", "page down", show=False),
        Binding("home", "cursor_home", "start", show=False),
    ]

    class CursorMoved(Message):
        def __init__(self, addr: int, cell_bytes: int) -> None:
            super().__init__()
            self.addr = addr
            self.cell_bytes = cell_bytes

    class BlockChosen(Message):
        def __init__(self, addr: int) -> None:
            super().__init__()
            self.addr = addr

    def __init__(self, *, id: str | None = None, classes: str | None = None,
                 features=None) -> None:
        super().__init__(id=id, classes=classes)
        # What the source draws (legend, gap pages), when not the snapshot's generation.
        self.features = features
        self.snap: Snapshot | None = None
        self.blocks_by_start: dict = {}
        self.view: MapView | None = None
        self.fit = True            # follow the used part of the range
        self.top = 0               # first row shown
        self.cursor = 0            # address of the cursor (a cell start)
        self._rows: dict[int, Strip] = {}   # row -> strip (no cursor)
        self._row_classes: dict[int, list[int]] = {}  # row -> the cell classes it was drawn from
        self._legend: list[Strip] = []
        self._w = self._h = 0
        self._base_style = Style()
        self._style_cached: Style | None = None
        self._palette = P.active()
        self._last_event_op = -1

    # -- geometry ---------------------------------------------------------------------

    def _features(self):
        return self.features or self.snap.generation.features

    @property
    def label_width(self) -> int:
        if self.snap is None:
            return 0
        return (self.snap.config.bits // 4 if self._w >= 60 or self.snap.config.bits == 32 else 12) + 1

    @property
    def map_rows(self) -> int:
        return max(1, self._h - len(self._legend))

    def _cols(self) -> int:
        avail = max(1, self._w - self.label_width)
        return avail - avail % 8 if avail >= 16 else avail

    def set_size(self, width: int, height: int) -> None:
        """Lay the map out for a content area of width x height (called on resize)."""
        self._w, self._h = width, height
        self._relayout()

    def _relayout(self, shift: int | None = None) -> None:
        snap = self.snap
        if snap is None or self._w <= 0:
            return
        self._legend = legend_lines(self._features(), snap.config.nr_cpus, self._w,
                                    self._base_style)
        if self._h - len(self._legend) < 3:
            self._legend = self._legend[:max(0, self._h - 3)]
        cfg = snap.config
        cols = self._cols()
        if shift is None:
            shift = self.view.shift if self.view is not None else 0
        if self.fit:
            shift = self.fit_shift(cols)
        shift = max(0, min(shift, self.max_shift(cols)))
        self.view = MapView(cfg.vmalloc_start, cfg.vmalloc_end, cfg.page_shift, shift, cols)
        if self.fit:
            self.top = 0
        self.cursor = max(cfg.vmalloc_start, min(self.cursor, cfg.vmalloc_end - 1))
        self.cursor -= (self.cursor - cfg.vmalloc_start) % self.view.cell_bytes
        self._keep_cursor_visible()
        self._rows.clear()
        self._row_classes.clear()
        self.refresh()
        self._update_title()
        self._post_cursor()   # the inspector follows the cell size and the cursor

    def used_end(self) -> int:
        areas = self.snap.areas
        if not areas:
            return self.snap.config.vmalloc_start
        return max(va.end for va in areas[-SAMPLES:])

    def fit_shift(self, cols: int) -> int:
        """The smallest zoom that shows the used part of the range in 90% of the rows."""
        cfg = self.snap.config
        span_pages = max(1, (self.used_end() - cfg.vmalloc_start) >> cfg.page_shift)
        cells = max(1, int(cols * self.map_rows * 0.9))
        shift = 0
        while -(-span_pages >> shift) > cells:
            shift += 1
        return min(shift, self.max_shift(cols))

    def max_shift(self, cols: int) -> int:
        """The zoom that shows the whole range."""
        cfg = self.snap.config
        pages = cfg.vmalloc_size >> cfg.page_shift
        cells = cols * self.map_rows
        shift = 0
        while -(-pages >> shift) > cells:
            shift += 1
        return shift

    def _keep_cursor_visible(self) -> None:
        v = self.view
        row = v.row_of(self.cursor)
        if row < self.top:
            self.top = row
        elif row >= self.top + self.map_rows:
            self.top = row - self.map_rows + 1
        self.top = max(0, min(self.top, max(0, v.total_rows - self.map_rows)))

    def title(self) -> str:
        v = self.view
        if v is None:
            return "vmalloc space"
        cfg = self.snap.config
        first = v.addr_of(self.top, 0)
        shown = min(v.row_bytes * self.map_rows, cfg.vmalloc_end - first)
        mode = " · fit to used" if self.fit else ""
        # The cell size first: a narrow border cuts the end of a title, never that.
        return (f"vmalloc · 1 cell = {human_bytes(v.cell_bytes)} · {first:#x} +{human_bytes(shown)}"
                f" of {human_bytes(cfg.vmalloc_size)}{mode}")

    def _update_title(self) -> None:
        # Textual repaints the whole widget on every border_title set, changed or not:
        # set it only when it changes, so that a frame repaints only the changed rows.
        title = self.title()
        if title != self.border_title:
            self.border_title = title

    # -- snapshots ----------------------------------------------------------------------

    def update_snapshot(self, snap: Snapshot) -> None:
        """Take a new snapshot; refresh only the rows it changed."""
        old = self.snap
        self.snap = snap
        new_blocks = {b.start: b for b in snap.blocks}
        restart = old is None or old.config != snap.config or snap.op < old.op
        if restart:
            self.blocks_by_start = new_blocks
            self._last_event_op = _last_op(snap)
            if old is None or old.config != snap.config:
                self.cursor = snap.config.vmalloc_start
            self.fit = True
            self._relayout()
            self._post_cursor()
            return
        ranges = self._changed_ranges(old, snap, new_blocks)
        self.blocks_by_start = new_blocks
        if self.view is None:
            self._relayout()
            return
        if self.fit and self.fit_shift(self.view.cols) != self.view.shift:
            self._relayout()
            self._post_cursor()
            return
        if ranges is None:
            self._refresh_changed_rows()
        else:
            self._invalidate(ranges)
        self._update_title()

    def _changed_ranges(self, old: Snapshot, snap: Snapshot, new_blocks: dict):
        """Address ranges that may look different now, from the events since the last
        snapshot and from the blocks whose bitmaps changed; None: everything."""
        last = self._last_event_op
        evs = snap.events
        self._last_event_op = max(last, _last_op(snap))
        ranges = []
        if snap.area_generation != old.area_generation:
            if evs and evs[0].op > last and last >= 0:
                return None  # the event window no longer reaches back: redraw all
            if not evs and last >= 0:
                return None
            page = snap.config.page_size
            for ev in evs:   # every event with a range may have changed it
                if ev.op >= last and getattr(ev, "end", 0):
                    ranges.append((ev.start, ev.end + page))
        if snap.pooled != old.pooled:   # a purge, a pool hit or a pool's decay
            ranges.extend(r[:2] for r in set(old.pooled) ^ set(snap.pooled))
        old_blocks = self.blocks_by_start
        for start, vb in new_blocks.items():
            if old_blocks.get(start) != vb:
                ranges.append((vb.start, vb.end))
        for start, vb in old_blocks.items():
            if start not in new_blocks:
                ranges.append((vb.start, vb.end))
        return ranges

    def _refresh_changed_rows(self) -> None:
        """Without events to go by: classify every visible row again (cheap) and
        repaint only the rows whose cells changed (painting is what costs)."""
        v = self.view
        for row in range(self.top, self.top + self.map_rows):
            start = v.addr_of(row, 0)
            if start >= v.end:
                break
            classes = classify_row(self.snap, self.blocks_by_start, start, v.cell_bytes, v.cols, v.end,
                                   self.features)
            if self._row_classes.get(row) != classes:
                self._row_classes[row] = classes
                self._rows.pop(row, None)
                self.refresh(Region(0, row - self.top, self._w, 1))

    def _invalidate(self, ranges) -> None:
        v = self.view
        for s, e in ranges:
            r0 = max(self.top, v.row_of(s))
            r1 = min(self.top + self.map_rows - 1, v.row_of(max(s, e - 1)))
            for row in range(r0, r1 + 1):
                self._rows.pop(row, None)
                self._row_classes.pop(row, None)
                self.refresh(Region(0, row - self.top, self._w, 1))

    # -- rendering --------------------------------------------------------------------

    def row_strip(self, row: int) -> Strip:
        """The strip of map row `row` (absolute), without the cursor."""
        strip = self._rows.get(row)
        if strip is not None:
            return strip
        v = self.view
        base = self._base_style
        start = v.addr_of(row, 0)
        segs = []
        lw = self.label_width
        if lw:
            digits = lw - 1
            label = f"{start:0{self.snap.config.bits // 4}x}"[-digits:] if start < v.end else ""
            segs.append(Segment(f"{label:<{digits}} ", base + P.active().muted))
        used = lw
        if start < v.end:
            classes = self._row_classes.get(row)
            if classes is None:
                classes = classify_row(self.snap, self.blocks_by_start, start, v.cell_bytes, v.cols, v.end,
                                   self.features)
                self._row_classes[row] = classes
            segs.extend(row_segments(classes, base))
            used += v.cols
        if used < self._w:
            segs.append(Segment(" " * (self._w - used), base))
        # Every glyph is one cell wide: the length is known, no need to measure it.
        strip = Strip(segs, max(used, self._w)) if used <= self._w else Strip(segs).crop(0, self._w)
        self._rows[row] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        if self.view is None or self.snap is None:
            return Strip.blank(self._w, self._base_style)
        style = self._style_now()
        if style != self._base_style or self._palette is not P.active():
            self._base_style, self._palette = style, P.active()
            _STYLED.clear()
            self._rows.clear()
            self._legend = legend_lines(self._features(), self.snap.config.nr_cpus,
                                        self._w, style)
        rows = self.map_rows
        if y >= rows:
            i = y - rows
            return self._legend[i] if i < len(self._legend) else Strip.blank(self._w, style)
        row = self.top + y
        strip = self.row_strip(row)
        crow, ccol = self.view.cell_of(self.cursor)
        x = self.label_width + ccol
        if crow == row and x < strip.cell_length:   # a map narrower than its labels has no cursor cell
            before, cell, after = strip.divide([x, x + 1, strip.cell_length])
            text = cell.text or " "
            strip = Strip.join([before, Strip([Segment(text, P.active().cursor)], 1), after])
        return strip

    def _style_now(self) -> Style:
        """The widget's base style, looked up once per style change (not per line)."""
        if self._style_cached is None:
            if not self.is_mounted:
                return self._base_style
            self._style_cached = self.rich_style
        return self._style_cached

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cached = None

    # -- events -------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.set_size(self.content_size.width, self.content_size.height)

    def on_mount(self) -> None:
        self.set_size(self.content_size.width, self.content_size.height)

    def _move_cursor_to(self, addr: int) -> None:
        v = self.view
        if v is None:
            return
        cfg = self.snap.config
        addr = max(cfg.vmalloc_start, min(addr, cfg.vmalloc_end - 1))
        addr -= (addr - cfg.vmalloc_start) % v.cell_bytes
        old_row = v.row_of(self.cursor)
        self.cursor = addr
        top = self.top
        self._keep_cursor_visible()
        if self.top != top:
            self.fit = False
            self.refresh()
            self._update_title()
        else:
            for r in {old_row, v.row_of(addr)}:
                self.refresh(Region(0, r - self.top, self._w, 1))
        self._post_cursor()

    def _post_cursor(self) -> None:
        if self.view is not None and self.is_mounted:
            self.post_message(self.CursorMoved(self.cursor, self.view.cell_bytes))

    def action_cursor(self, dx: int, dy: int) -> None:
        v = self.view
        if v is not None:
            self._move_cursor_to(self.cursor + dx * v.cell_bytes + dy * v.row_bytes)

    def action_cursor_home(self) -> None:
        if self.snap is not None:
            self._move_cursor_to(self.snap.config.vmalloc_start)

    def action_pan(self, pages: int) -> None:
        v = self.view
        if v is None:
            return
        self.fit = False
        self.top = max(0, min(self.top + pages * self.map_rows, v.total_rows - self.map_rows))
        crow = v.row_of(self.cursor)
        if not self.top <= crow < self.top + self.map_rows:
            self.cursor = v.addr_of(self.top, v.cell_of(self.cursor)[1])
            self._post_cursor()
        self.refresh()
        self._update_title()

    def action_fit(self) -> None:
        self.fit = True
        self._relayout()
        self._post_cursor()

    def zoom(self, steps: int) -> None:
        """Zoom in (steps < 0: fewer pages per cell) or out, keeping the cursor."""
        if self.view is None:
            return
        shift = self.view.shift + steps
        if not 0 <= shift <= self.max_shift(self.view.cols):
            limit = "one page per cell" if shift < 0 else "the whole range"
            self.notify(f"Zoom limit: {limit}.", severity="warning", timeout=2)
            return
        self.fit = False
        row_in_view = self.view.row_of(self.cursor) - self.top
        self._relayout(shift)
        v = self.view
        self.top = max(0, min(v.row_of(self.cursor) - row_in_view, v.total_rows - self.map_rows))
        self._keep_cursor_visible()
        self._update_title()
        self._post_cursor()

    def on_click(self, event: events.Click) -> None:
        off = event.get_content_offset(self)
        v = self.view
        if off is None or v is None or off.y >= self.map_rows:
            return
        col = off.x - self.label_width
        if 0 <= col < v.cols:
            self._move_cursor_to(v.addr_of(self.top + off.y, col))
            if event.chain >= 2:
                self.post_message(self.BlockChosen(self.cursor))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._scroll_rows(3)
        event.stop()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._scroll_rows(-3)
        event.stop()

    def _scroll_rows(self, n: int) -> None:
        v = self.view
        if v is None:
            return
        top = max(0, min(self.top + n, max(0, v.total_rows - self.map_rows)))
        if top != self.top:
            self.fit = False
            self.top = top
            self.refresh()
            self._update_title()


def _last_op(snap: Snapshot) -> int:
    return snap.events[-1].op if snap.events else -1
