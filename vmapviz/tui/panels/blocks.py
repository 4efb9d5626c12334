"""Per-CPU vmap blocks: each CPU's queue, each block's alloc_map and dirty_map.

One line per CPU (its free and dirty lists, in list order: the order vb_alloc() scans),
one line per block with an overview bar of its bitmaps, and, for the selected block,
every bit: two pages per cell, 128 bits a row at full width.  A Line API ScrollView:
lines are described by small hashable keys, their Strips cached on those keys, and a
new snapshot refreshes only the lines whose key changed.  CPUs without blocks are
folded into one line, so 64 CPUs scroll without drowning the ones that work.

A generation whose blocks bump-allocate (dirty_range) keeps no dirty bitmap and no
dirty list: a block hands out pages at its bump pointer, `used_map` says which are in
use, a freed page's PTEs are cleared at once and never handed out again, and
[dirty_min, dirty_max) is what a TLB may still hold.  There the bitmaps show pages in
use, freed, and past the bump pointer, the dirty range is underlined, and the line
gives the bump pointer and the range.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.strip import Strip

from ...run.snapshot import Snapshot
from .. import palette as P
from .lines import CachedLines
from .base import SnapshotPanel



def half_state(alloc_map: int, dirty_map: int, lo: int, hi: int) -> str:
    """The state shown for pages [lo, hi) in one half cell: the page's own state when
    hi == lo + 1; for more pages, free if all are free, else whichever of dirty and
    allocated covers more (dirty on a tie: it is the one that needs a flush)."""
    mask = ((1 << (hi - lo)) - 1) << lo
    dirty = (dirty_map & mask).bit_count()
    alloc = (alloc_map & ~dirty_map & mask).bit_count()
    if not dirty and not alloc:
        return "F"
    return "D" if dirty >= alloc else "A"


def bitmap_glyphs(alloc_map: int, dirty_map: int, first: int, nbits: int, per_cell: int = 2) -> str:
    """The glyphs for bits [first, first + nbits), `per_cell` pages per cell (a power
    of two, at least 2), left half of a cell for its lower pages."""
    half = per_cell // 2
    out = []
    for lo in range(first, first + nbits, per_cell):
        left = half_state(alloc_map, dirty_map, lo, lo + half)
        right = half_state(alloc_map, dirty_map, lo + half, lo + per_cell)
        out.append(P.PAIR_GLYPHS[left, right])
    return "".join(out)


def bitmap_segment(alloc_map: int, dirty_map: int, cpu: int, first: int, nbits: int,
                   per_cell: int = 2, base: Style = Style()) -> Segment:
    """One Segment (a run of one style): the bitmap glyphs in the CPU's hue on the
    slot background."""
    return Segment(bitmap_glyphs(alloc_map, dirty_map, first, nbits, per_cell),
                   base + P.bitmap_style(cpu))


def marked_segments(alloc_map: int, dirty_map: int, cpu: int, first: int, nbits: int,
                    per_cell: int, base: Style, marked: tuple[int, int]) -> list[Segment]:
    """The bitmap of bits [first, first + nbits) as bitmap_segment() draws it, the
    cells that overlap bits [marked[0], marked[1]) underlined."""
    lo, hi = marked
    cells = nbits // per_cell
    c0 = max(0, min(cells, (lo - first) // per_cell))
    c1 = max(c0, min(cells, -(-(hi - first) // per_cell)))
    if c0 == c1:
        return [bitmap_segment(alloc_map, dirty_map, cpu, first, nbits, per_cell, base)]
    out = []
    for a, b, style in ((0, c0, base), (c0, c1, base + Style(underline=True)), (c1, cells, base)):
        if b > a:
            out.append(bitmap_segment(alloc_map, dirty_map, cpu, first + a * per_cell,
                                      (b - a) * per_cell, per_cell, style))
    return out


def bitmap_strip(vb, first: int, nbits: int, per_cell: int = 2, base: Style = Style()) -> Strip:
    """Bits [first, first + nbits) of block `vb` as a Strip."""
    seg = bitmap_segment(vb.alloc_map, vb.dirty_map, vb.cpu, first, nbits, per_cell, base)
    return Strip([seg], seg.cell_length)


def overview_per_cell(bits: int, avail: int) -> int:
    """Pages per overview cell: a power of two, at least 2, so bits fit in avail cells."""
    per = 2
    while bits // per > avail and per < bits:
        per *= 2
    return per


def bits_per_row(bits: int, width: int) -> int:
    """Bits per row of the detailed bitmap: two per cell, a power of two, at most 128."""
    per = 128
    while per > 8 and per // 2 > width:
        per //= 2
    return min(per, bits)


class BlockList(CachedLines, SnapshotPanel, can_focus=True):
    """The per-CPU vmap blocks panel.  See the module docstring."""

    BINDINGS = [
        Binding("up", "move(-1)", "previous block", show=False),
        Binding("down", "move(1)", "next block", show=False),
        Binding("enter", "toggle_select", "select block", show=False),
        Binding("escape", "deselect", "deselect", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.snap: Snapshot | None = None
        self.selected: int | None = None
        self.highlight: int | None = None       # block id under the list cursor
        self._keys: list[tuple] = []            # one hashable key per line
        self._blocks: dict[int, object] = {}    # id -> BlockView

    # -- model --------------------------------------------------------------------------

    def update_snapshot(self, snap: Snapshot) -> None:
        self.snap = snap
        self._blocks = {b.id: b for b in snap.blocks}
        if self.selected is not None and self.selected not in self._blocks:
            self.selected = None
        if self.highlight is not None and self.highlight not in self._blocks:
            self.highlight = None
        self._rebuild()

    def block_ids(self) -> list[int]:
        """Block ids in display order."""
        return [k[1] for k in self._keys if k[0] == "block"]

    def _rebuild(self) -> None:
        old = self._keys
        self._keys = keys = self.line_keys()
        width = self.scrollable_content_region.width
        if len(keys) != len(old):
            self.virtual_size = Size(width, len(keys))
            self.refresh()
            return
        top = self.scroll_offset.y
        for y in range(top, min(len(keys), top + self.size.height)):
            if keys[y] != old[y]:
                self.refresh_line(y)

    def line_keys(self) -> list[tuple]:
        """The lines to show, each a key that changes exactly when the line does."""
        snap = self.snap
        if snap is None:
            return []
        bits = snap.config.vmap_bbmap_bits
        details = {d.id: d for d in snap.block_details}
        by_cpu: dict[int, list] = {}
        for b in snap.blocks:
            by_cpu.setdefault(b.cpu, []).append(b)
        keys: list[tuple] = []
        if not snap.blocks:
            keys.append(("note", f"no vmap blocks yet: vm_map_ram() of up to {snap.config.vmap_max_alloc} "
                                 f"pages makes them ({bits} pages each)"))
        elif details:
            keys.append(("note", "↑ bump, d dirty range: underlined"))
        idle: list[int] = []

        def flush_idle() -> None:
            if idle and snap.blocks:
                keys.append(("idle", idle[0], idle[-1]))
                idle.clear()

        for q in snap.queues:
            blocks = by_cpu.get(q.cpu)
            if not blocks and not q.free and not q.dirty:
                idle.append(q.cpu)
                continue
            flush_idle()
            idle.clear()
            keys.append(("cpu", q.cpu, q.free, q.dirty, len(blocks or ()), bool(details)))
            order = {bid: i for i, bid in enumerate(q.free)}
            for b in sorted(blocks or (), key=lambda b: (order.get(b.id, len(order)), b.id)):
                d = details.get(b.id)
                dirty = (d.dirty_min, d.dirty_max) if d is not None else None
                keys.append(("block", b.id, b, b.id == self.selected, b.id == self.highlight, dirty))
                if b.id == self.selected:
                    per = bits_per_row(bits, self._content_width() - 5)
                    keys.append(("bitlegend", dirty is not None))
                    for first in range(0, bits, per):
                        keys.append(("bits", b.id, b.alloc_map, b.dirty_map, b.cpu, first, per, dirty))
        flush_idle()
        return keys

    def _content_width(self) -> int:
        return max(20, self.scrollable_content_region.width)

    # -- rendering ------------------------------------------------------------------------

    def lines(self) -> list:
        return self._keys

    def render_key(self, key: tuple, width: int, base: Style) -> Strip:
        kind = key[0]
        if kind == "note":
            return Strip([Segment(key[1], base + P.active().muted)])
        if kind == "idle":
            a, b = key[1], key[2]
            cpus = f"cpu{a}" if a == b else f"cpu{a}-{b}"
            return Strip([Segment(f"{cpus}: no vmap blocks", base + P.active().muted)])
        if kind == "cpu":
            _, cpu, free, dirty, n, bump = key
            wide = width >= 60
            muted = base + P.active().muted
            segs = [Segment(f"cpu{cpu}", base + P.cpu_style(cpu, bold=True)),
                    Segment(f" {n} block{'s' * (n != 1)} · free list → " if wide else " free→", muted),
                    Segment(" ".join(f"#{i}" for i in free) or "empty", base)]
            if not bump:   # a bump allocator keeps no dirty list
                segs += [Segment(" · dirty list → " if wide else " dirty→", muted),
                         Segment(" ".join(f"#{i}" for i in dirty) or "empty", base)]
            return Strip(segs)
        if kind == "block":
            return self._block_line(key[2], key[3], key[4], key[5], width, base)
        if kind == "bits":
            _, _bid, alloc, dirty, cpu, first, per, marked = key
            label = Segment(f"{first:>4} ", base + P.active().muted)
            if marked is None:
                return Strip([label, bitmap_segment(alloc, dirty, cpu, first, per, 2, base)])
            return Strip([label, *marked_segments(alloc, dirty, cpu, first, per, 2, base, marked)])
        if kind == "bitlegend":
            return self._legend(key[1], base)
        return Strip([])

    @staticmethod
    def _legend(bump: bool, base: Style) -> Strip:
        grey, muted = base + P.active().classes[P.VMALLOC][1], base + P.active().muted
        if bump:
            return Strip([Segment("     ", base), Segment("█", grey), Segment(" in use  ", muted),
                          Segment("▄", grey), Segment(" freed (PTEs cleared)  ", muted),
                          Segment(" ", base + Style(bgcolor=P.active().slot)),
                          Segment(" past the bump pointer  ", muted),
                          Segment("▁▁", grey + Style(underline=True)),
                          Segment(" dirty range: a TLB may hold it · 2 pages a cell", muted)])
        return Strip([Segment("     ", base),
                      Segment("█", grey), Segment(" allocated  ", muted),
                      Segment("▄", grey), Segment(" dirty (freed, still mapped)  ", muted),
                      Segment(" ", base + Style(bgcolor=P.active().slot)),
                      Segment(" free  · 2 pages a cell, left first", muted)])

    def _block_line(self, vb, selected: bool, highlighted: bool, dirty: tuple[int, int] | None,
                    width: int, base: Style) -> Strip:
        """A block: id, address, overview bar, counts.  `dirty`: the dirty range of a
        bump-allocated block (its tail then gives the bump pointer and the range)."""
        cfg = self.snap.config
        bits = cfg.vmap_bbmap_bits
        if highlighted and self.has_focus:
            base = base + Style(bgcolor=P.active().hilite)
        mark = "▼" if selected else "▶" if highlighted else " "
        ident = f"{mark}#{vb.id:<3}"
        addr = f" {vb.start:0{cfg.bits // 4}x}" if width >= 70 else ""
        full = " full" if vb.free == 0 else ""
        lists = ("F" if vb.on_free_list else "-") + ("D" if vb.on_dirty_list else "-")
        if dirty is not None:
            lo, hi = dirty
            rng = f"{lo}-{hi - 1}" if hi else "none"
            tail = (f" bump {bits - vb.free:>4} dirty {rng:<9}" if width >= 60
                    else f" ↑{bits - vb.free:<4} d {rng}")
        elif width >= 60:
            tail = f" free {vb.free:>4} dirty {vb.dirty:>4} {lists}{full}"
        else:
            tail = f" {vb.free:>4}f {vb.dirty:>4}d {lists}"
        avail = width - len(ident) - len(addr) - len(tail) - 3
        segs = [Segment(ident, base + P.cpu_style(vb.cpu, bold=True)), Segment(addr, base + P.active().muted),
                Segment(" ▕", base + P.active().muted)]
        if avail >= 4:
            per = overview_per_cell(bits, avail)
            if dirty is None:
                segs.append(bitmap_segment(vb.alloc_map, vb.dirty_map, vb.cpu, 0, bits, per, base))
            else:
                segs += marked_segments(vb.alloc_map, vb.dirty_map, vb.cpu, 0, bits, per, base, dirty)
        segs.append(Segment("▏", base + P.active().muted))
        segs.append(Segment(tail, base))
        return Strip(segs)

    # -- interaction ----------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._cache.clear()
        self._rebuild()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._keys))
        self.refresh()

    def select(self, block_id: int | None, scroll: bool = True) -> None:
        if block_id is not None and block_id not in self._blocks:
            raise ValueError(f"there is no vmap block #{block_id}")
        self.selected = block_id
        if block_id is not None:
            self.highlight = block_id
        self._rebuild()
        if scroll and block_id is not None:
            for i, k in enumerate(self._keys):
                if k[0] == "block" and k[1] == block_id:
                    rows = sum(1 for kk in self._keys if kk[0] in ("bits", "bitlegend"))
                    self.scroll_to(y=max(0, i - 1), animate=False)
                    if i + rows >= self.scroll_offset.y + self.size.height:
                        self.scroll_to(y=i, animate=False)
                    break

    def action_move(self, step: int) -> None:
        ids = self.block_ids()
        if not ids:
            self.scroll_relative(y=step, animate=False)
            return
        if self.highlight not in ids:
            self.highlight = ids[0] if step > 0 else ids[-1]
        else:
            i = max(0, min(len(ids) - 1, ids.index(self.highlight) + step))
            self.highlight = ids[i]
        self._rebuild()
        for i, k in enumerate(self._keys):
            if k[0] == "block" and k[1] == self.highlight:
                self.scroll_to_region_line(i)
                break

    def scroll_to_region_line(self, i: int) -> None:
        top = self.scroll_offset.y
        if i < top:
            self.scroll_to(y=i, animate=False)
        elif i >= top + self.size.height:
            self.scroll_to(y=i - self.size.height + 1, animate=False)

    def action_toggle_select(self) -> None:
        if self.highlight is None:
            ids = self.block_ids()
            if not ids:
                self.notify("No vmap blocks yet.", severity="warning", timeout=2)
                return
            self.highlight = ids[0]
        self.select(None if self.selected == self.highlight else self.highlight)

    def action_deselect(self) -> None:
        self.select(None)

    def on_focus(self) -> None:
        self._cache.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._cache.clear()
        self.refresh()
