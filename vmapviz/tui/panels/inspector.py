"""The inspector: what lies in the map cell under the cursor.

The areas in the cell with range, size, flags, kind and state; for a vmap block its id,
CPU and counts (a bump-allocated block's bump pointer, dirty range and xarray slot);
where the generation keeps free blocks, which free block the cell lies in, and a pooled
area and its node; and which CPUs' TLBs still hold stale entries for pages in the cell.
Found by bisecting into the snapshot's address-ordered tuples, at most a few listed.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from operator import attrgetter

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from ...kernel.views import count_in
from ...run.snapshot import Snapshot
from .. import palette as P
from ...units import human_bytes
from .base import SnapshotPanel

START = attrgetter("start")
MAX_LISTED = 4


def areas_in(snap: Snapshot, start: int, end: int) -> tuple[int, int]:
    """Index range [i, j) of the areas that may overlap [start, end)."""
    areas = snap.areas
    i = max(0, bisect_right(areas, start, key=START) - 1)
    if i < len(areas) and areas[i].end <= start:
        i += 1
    j = bisect_left(areas, end, i, key=START)
    return i, j


def free_blocks_in(snap: Snapshot, start: int, end: int) -> list[tuple[int, object]]:
    """(index, FreeBlock) of the free blocks overlapping [start, end)."""
    blocks = snap.free_blocks
    i = max(0, bisect_right(blocks, start, key=START) - 1)
    out = []
    for k in range(i, len(blocks)):
        b = blocks[k]
        if b.start >= end:
            break
        if b.end > start:
            out.append((k, b))
    return out


def pooled_in(snap: Snapshot, start: int, end: int) -> list[tuple[int, int, int]]:
    """(start, end, node) of the pooled areas overlapping [start, end)."""
    pooled = snap.pooled
    i = max(0, bisect_right(pooled, (start, 1 << 80)) - 1)
    return [p for p in pooled[i:bisect_left(pooled, (end,))] if p[1] > start]


def _free_space(t: Text, snap: Snapshot, addr: int, end: int) -> None:
    """The free blocks and pooled areas in the cell (a generation with a free tree)."""
    muted = P.active().muted
    found = free_blocks_in(snap, addr, end)
    for k, b in found[:2]:
        t.append("free block ", style=muted)
        t.append(f"{k + 1:,} of {len(snap.free_blocks):,}", style="bold")
        t.append(f"{' (the largest)' if b == snap.largest_free else ''}\n", style=muted)
        t.append(f"  {b.start:x}-{b.end:x} {human_bytes(b.end - b.start)}\n")
    if len(found) > 2:
        t.append(f"… and {len(found) - 2:,} more free blocks\n", style=muted)
    for s, e, node in pooled_in(snap, addr, end)[:2]:
        t.append("pooled ", style=P.active().classes[P.POOLED][1])
        t.append(f"{s:x}-{e:x}\n  in node {node}'s pool of {(e - s) // snap.config.page_size}-page areas\n",
                 style=muted)


def flag_text(flags: int, flag_names) -> str:
    names = [n for bit, n in flag_names if flags & bit]
    return "|".join(names) if names else "0"


def stale_cpus(snap: Snapshot, start: int, end: int) -> list[tuple[int, int]]:
    """(cpu, count) of CPUs whose TLB holds stale entries for pages in [start, end)."""
    shift = snap.config.page_shift
    lo, hi = start >> shift, end >> shift
    counts = ((cpu, count_in(bits, lo, hi)) for cpu, bits in enumerate(snap.stale) if bits)
    return [(cpu, n) for cpu, n in counts if n]


def inspect(snap: Snapshot, addr: int, cell_bytes: int) -> Text:
    """The inspector's text for the cell [addr, addr + cell_bytes)."""
    end = addr + cell_bytes
    t = Text(no_wrap=False)
    t.append("cell ", style=P.active().muted)
    t.append(f"{addr:#x}", style="bold")
    t.append(f" +{human_bytes(cell_bytes)}\n", style=P.active().muted)
    i, j = areas_in(snap, addr, end)
    areas = [va for va in snap.areas[i:j] if va.end > addr]
    free_tree = snap.generation.features.free_tree
    if not areas and not free_tree:
        t.append("free: no vmap area here\n", style=P.active().muted)
    blocks = {b.start: b for b in snap.blocks} if areas else {}
    for va in areas[:MAX_LISTED]:
        size = va.end - va.start
        state_style = P.BADGES["flush"] if va.lazy else Style(bold=True)
        t.append(f"{va.start:x}-{va.end:x}\n")
        t.append(f"  {human_bytes(size)} ", style="bold")
        t.append(f"{va.kind} ")
        t.append(f" {va.state} ", style=state_style)
        t.append(f"\n  flags {flag_text(va.flags, snap.flag_names)} by" if va.flags else "\n  by", style=P.active().muted)
        t.append(" ", style=P.active().muted)
        t.append(f"cpu{va.cpu}", style=P.cpu_style(va.cpu))
        t.append(f" at op {va.op:,}\n", style=P.active().muted)
        vb = blocks.get(va.start) if va.kind == "vmap_block" else None
        if vb is not None:
            _block(t, snap, vb, addr, end)
    if len(areas) > MAX_LISTED:
        t.append(f"… and {len(areas) - MAX_LISTED:,} more areas\n", style=P.active().muted)
    if free_tree:
        _free_space(t, snap, addr, end)
    stale = stale_cpus(snap, addr, end)
    if stale:
        t.append("stale TLB entries: ", style=P.BADGES["warn"])
        for cpu, n in stale:
            t.append(f" cpu{cpu}", style=P.cpu_style(cpu))
            t.append(f" {n}")
        t.append("\n")
    elif areas:
        t.append("no stale TLB entries\n", style=P.active().muted)
    return t


def _block(t: Text, snap: Snapshot, vb, addr: int, end: int) -> None:
    """A vmap block's line, and the state of the cell's pages when there are few.  A
    bump-allocated block (dirty_range) has a bump pointer and a dirty range instead of
    a dirty bitmap."""
    muted = P.active().muted
    d = snap.block_detail(vb.id)
    t.append("  block ", style=muted)
    t.append(f"#{vb.id}", style=P.cpu_style(vb.cpu, bold=True))
    t.append(f" of cpu{vb.cpu}", style=P.cpu_style(vb.cpu))
    if d is None:
        t.append(f": free {vb.free} dirty {vb.dirty}"
                 f"{' · free list' if vb.on_free_list else ''}"
                 f"{' · dirty list' if vb.on_dirty_list else ''}\n")
    else:
        bits = snap.config.vmap_bbmap_bits
        rng = f"{d.dirty_min}-{d.dirty_max - 1}" if d.dirty_max else "none"
        t.append(f": bump {bits - d.free}, {d.used_map.bit_count()} in use, dirty range {rng}"
                 f"{' · free list' if d.on_free_list else ''}\n")
        t.append(f"  xarray of cpu{d.xa_cpu}, index {d.xa_index}\n", style=muted)
    shift = snap.config.page_shift
    b0 = (max(addr, vb.start) - vb.start) >> shift
    b1 = (min(end, vb.end) - vb.start) >> shift
    if b1 - b0 > 8:
        return
    if d is None:
        states = [("free", "allocated", "dirty")[
            2 if vb.dirty_map >> b & 1 else 1 if vb.alloc_map >> b & 1 else 0] for b in range(b0, b1)]
    else:
        bump = snap.config.vmap_bbmap_bits - d.free
        states = [("in use" if d.used_map >> b & 1 else "freed" if b < bump else "not handed out")
                  + ("*" if d.dirty_min <= b < d.dirty_max else "") for b in range(b0, b1)]
        if any(s.endswith("*") for s in states):
            states[-1] += " (*: in the dirty range)"
    t.append(f"  bits {b0}-{b1 - 1}: {', '.join(states)}\n", style=muted)


def summary(snap: Snapshot, addr: int, cell_bytes: int) -> str:
    """One line about the cell, for the map's border when the inspector is folded away."""
    end = addr + cell_bytes
    i, j = areas_in(snap, addr, end)
    areas = [va for va in snap.areas[i:j] if va.end > addr]
    head = f"cursor {addr:x}"
    if not areas:
        pooled = pooled_in(snap, addr, end)
        if pooled:
            s, e, node = pooled[0]
            return f"{head}: pooled {human_bytes(e - s)} in node {node}'s pool"
        free = free_blocks_in(snap, addr, end)
        if free:
            k, b = free[0]
            return f"{head}: free block {k + 1} of {len(snap.free_blocks)}, {human_bytes(b.end - b.start)}"
        return f"{head}: free"
    va = areas[0]
    text = f"{head}: {va.kind} {human_bytes(va.end - va.start)} {va.state}"
    if va.kind == "vmap_block":
        vb = next((b for b in snap.blocks if b.start == va.start), None)
        if vb is not None:
            text += f" #{vb.id} cpu{vb.cpu}"
    if len(areas) > 1:
        text += f" +{len(areas) - 1} more"
    stale = stale_cpus(snap, addr, end)
    if stale:
        text += " · stale on " + " ".join(f"cpu{c}" for c, _ in stale)
    return text


class Inspector(Static, SnapshotPanel):
    """The inspector panel: updated when the cursor moves or a snapshot arrives."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.snap: Snapshot | None = None
        self.addr = 0
        self.cell_bytes = 4096
        self._plain = ""

    def update_snapshot(self, snap: Snapshot) -> None:
        self.show(snap)

    def restyle(self) -> None:
        self.show(addr=self.addr)

    def show(self, snap: Snapshot | None = None, addr: int | None = None,
             cell_bytes: int | None = None) -> None:
        if snap is not None:
            self.snap = snap
        if addr is not None:
            self.addr = addr
        if cell_bytes is not None:
            self.cell_bytes = cell_bytes
        if self.snap is None:
            return
        if not self.display:
            # Folded away (narrow screens): a one-line summary on the map's border.
            line = summary(self.snap, self.addr, self.cell_bytes)
            if line != self._plain:
                self._plain = line
                self.app.amap.border_subtitle = line
            return
        text = inspect(self.snap, self.addr, self.cell_bytes)
        if text.plain != self._plain or addr is not None:
            if not self._plain.startswith("cell"):
                self.app.amap.border_subtitle = ""
            self._plain = text.plain
            self.update(text, layout=False)
