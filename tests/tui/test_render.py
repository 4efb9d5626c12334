"""Unit tests of the TUI's rendering, without an app.

Every expected glyph and class is worked out by hand from the rules in palette.py
(two pages a cell, left page in the left half: full height = allocated, lower
quadrant = dirty, empty = free) and from the kernel's layout rules (guard page at
the end of a vm_area, one free page after every area), never copied from the output.
"""

from __future__ import annotations

import re

import pytest

from rich.style import Style

from vmapviz.models.flush_history import FlushHistory, columns
from vmapviz.kernel import BlockView, Config, Kernel, VmapArea
from vmapviz.kernel.events import KINDS
from vmapviz.run.snapshot import Snapshot, take
from vmapviz.tui import palette as P
from vmapviz.tui.panels.addrmap import AddressMap, classify_row, legend_items, row_segments
from vmapviz.tui.panels.blocks import (bitmap_glyphs, bitmap_strip, bits_per_row, half_state,
                                overview_per_cell)
from vmapviz.tui.panels.costs import CostPanel, free_bill, lock_counters, sparkline
from vmapviz.tui.panels.eventlog import EventLog, Entry, parse_filter
from vmapviz.tui.words.explain import explain
from vmapviz.tui.panels.inspector import inspect, stale_cpus, summary
from vmapviz.tui.panels.lazy import flush_sparkline, gauge
from vmapviz.units import human_bytes

CFG = Config(nr_cpus=4, bits=64)
B = CFG.vmalloc_start
PG = CFG.page_size
VM_VM_AREA, VM_LAZY_FREE = 0x04, 0x01
STATS = Kernel(CFG).stats_view()   # a machine with nothing done yet


def mk_area(start, end, flags, kind, cpu, op) -> VmapArea:
    """An area record as the rewrite makes one: a vm_struct area (VM_VM_AREA) ends in
    its guard page; VM_LAZY_FREE means freed, awaiting a purge."""
    return VmapArea(start, end, kind, "lazy" if flags & VM_LAZY_FREE else "busy",
                    PG if flags & VM_VM_AREA else 0, cpu, op, flags)


def snap_of(areas, blocks=(), **kw) -> Snapshot:
    return Snapshot(config=CFG, stats=STATS, areas=tuple(sorted(areas)), blocks=tuple(blocks), **kw)


# -- bitmaps ------------------------------------------------------------------------------

def test_bits_0_to_3_allocated_0_to_1_dirty():
    # GIVEN alloc_map bits 0-3 and dirty_map bits 0-1 (two 2-page regions handed out,
    # the first one freed again)
    # WHEN the first 8 bits are drawn two pages a cell
    # THEN cell 0 = pages 0,1 both dirty = lower half '▄'; cell 1 = pages 2,3 both
    # allocated = full block '█'; cells 2 and 3 = free pages = blank.
    assert bitmap_glyphs(0b1111, 0b0011, 0, 8) == "▄█  "


def test_every_pair_of_states_has_its_own_glyph():
    # pages: 0 A, 1 F | 2 F, 3 A | 4 D, 5 F | 6 F, 7 D | 8 A, 9 D | 10 D, 11 A
    # (a dirty page is also allocated: vb_free() never clears alloc_map)
    states = "AFFADFFDADDA"
    alloc = sum(1 << i for i, s in enumerate(states) if s in "AD")
    dirty = sum(1 << i for i, s in enumerate(states) if s == "D")
    assert bitmap_glyphs(alloc, dirty, 0, 12) == "▌▐▖▗▙▟"
    # and the two all-same cells
    assert bitmap_glyphs(0b11, 0b11, 0, 2) == "▄"
    assert bitmap_glyphs(0b11, 0, 0, 2) == "█"


def test_selected_block_1024_bits_fit_8_rows_of_64_cells():
    # 128 bits a row at full width = 64 cells; 1024 / 128 = 8 rows
    assert bits_per_row(1024, 80) == 128
    assert 1024 // bits_per_row(1024, 80) == 8
    assert len(bitmap_glyphs(0, 0, 0, 128)) == 64
    # narrow panels halve the row until it fits
    assert bits_per_row(1024, 40) == 64


def test_bitmap_strip_colours_are_cpu_hue_on_slot_background():
    P.activate(P.DEFAULT)
    vb = BlockView(7, 2, B, B + 1024 * PG, 1020, 2, 0b1111, 0b0011, True, True)
    strip = bitmap_strip(vb, 0, 8)
    segs = list(strip)
    assert len(segs) == 1, "one run of one style is one Segment"
    assert segs[0].text == "▄█  "
    # The default palette (textual-dark: surface #1E1E1E, foreground #E0E0E0): CPU 2's
    # Okabe-Ito green #009E73 already has 4.9:1 on the surface and 3.4:1 on a free slot,
    # above the 3:1 a glyph needs, so it stays; a free slot is the surface 14% of the
    # way to the foreground: 0x1E + 0.14 * (0xE0 - 0x1E) = 57.2 -> #393939.
    assert segs[0].style.color.name == "#009e73"
    assert segs[0].style.bgcolor.name == "#393939"


def test_overview_half_cells_take_the_majority_and_dirty_wins_ties():
    # 4 pages a half cell: 2 dirty + 2 allocated -> tie -> dirty
    assert half_state(0b1111, 0b0011, 0, 4) == "D"
    # 1 dirty, 3 allocated -> allocated
    assert half_state(0b1111, 0b0001, 0, 4) == "A"
    assert half_state(0, 0, 0, 4) == "F"
    # 1024 bits in at most 32 cells -> 32 pages a cell
    assert overview_per_cell(1024, 32) == 32
    assert overview_per_cell(64, 100) == 2


# -- the map ------------------------------------------------------------------------------

def test_classify_row_one_page_per_cell_shows_guard_and_gap_pages():
    # GIVEN a vmalloc area of 3 pages at B (2 mapped + __get_vm_area_node's guard page),
    # and a lazily freed vmap area of 2 pages at B + 5 pages
    areas = [mk_area(B, B + 3 * PG, VM_VM_AREA, "vmalloc", 0, 1),
             mk_area(B + 5 * PG, B + 7 * PG, VM_VM_AREA | VM_LAZY_FREE, "vmap", 1, 2)]
    snap = snap_of(areas)
    # WHEN one row of 9 one-page cells is classified
    row = classify_row(snap, {}, B, PG, 9, CFG.vmalloc_end)
    # THEN pages 0-1 busy vmalloc, page 2 the guard page, page 3 the page the search
    # leaves after the area, page 4 free, pages 5-6 lazy, page 7 the page after the
    # lazy area, page 8 free.
    assert row == [P.VMALLOC, P.VMALLOC, P.GUARD, P.GUARD, P.FREE, P.LAZY, P.LAZY, P.GUARD, P.FREE]


def test_classify_row_block_pages_follow_the_bitmaps_in_the_cpu_hue():
    vb = BlockView(1, 2, B, B + 1024 * PG, 1020, 2, 0b1111, 0b0011, True, True)
    area = mk_area(B, B + 1024 * PG, 0, "vmap_block", 2, 1)
    snap = snap_of([area], [vb])
    row = classify_row(snap, {B: vb}, B, PG, 6, CFG.vmalloc_end)
    dirty, alloc, free = (P.block_class(2, s) for s in (P.BLOCK_DIRTY, P.BLOCK_ALLOC, P.BLOCK_FREE))
    assert row == [dirty, dirty, alloc, alloc, free, free]
    # 4 pages a cell: pages 0-3 are 2 dirty + 2 allocated: a tie, and dirty wins
    # ties as in the bitmaps; pages 4-7 are unused
    row4 = classify_row(snap, {B: vb}, B, 4 * PG, 2, CFG.vmalloc_end)
    assert row4 == [dirty, free]
    # 8 pages a cell: 2 dirty, 2 allocated, 4 unused: pages in use outrank unused ones
    assert classify_row(snap, {B: vb}, B, 8 * PG, 1, CFG.vmalloc_end) == [dirty]


def test_lazy_wins_a_cell_from_a_quarter_up():
    # a 4-page cell: 1 lazy page, 3 busy vmap pages -> lazy (1 * 4 >= 4)
    areas = [mk_area(B, B + PG, VM_LAZY_FREE, "vmap", 0, 1),
             mk_area(B + PG, B + 4 * PG, 0, "vmap", 0, 2)]
    assert classify_row(snap_of(areas), {}, B, 4 * PG, 1, CFG.vmalloc_end) == [P.LAZY]
    # an 8-page cell with 1 lazy page and 7 busy ones -> busy (4 < 8)
    areas = [mk_area(B, B + PG, VM_LAZY_FREE, "vmap", 0, 1),
             mk_area(B + PG, B + 8 * PG, 0, "vmap", 0, 2)]
    assert classify_row(snap_of(areas), {}, B, 8 * PG, 1, CFG.vmalloc_end) == [P.VMAP]


def test_row_segments_merge_runs_of_one_class():
    segs = row_segments([P.VMALLOC, P.VMALLOC, P.GUARD, P.GUARD, P.FREE], Style())
    assert [s.text for s in segs] == ["▓▓", "··", " "]


class CountingTuple(tuple):
    """A tuple that counts item accesses, to bound the work of a row."""

    reads = 0

    def __getitem__(self, i):
        CountingTuple.reads += 1
        return tuple.__getitem__(self, i)


def _dense(n: int) -> tuple:
    # n one-page areas, each followed by its free page, packed from B
    return tuple(mk_area(B + 2 * i * PG, B + (2 * i + 1) * PG, 0, "vmap", 0, i) for i in range(n))


def test_row_cost_does_not_grow_with_the_number_of_areas():
    cols = 64
    reads = {}
    for n in (100, 100_000):
        areas = CountingTuple(_dense(n))
        snap = Snapshot(config=CFG, stats=STATS, areas=areas)
        cell = max(PG, (2 * n * PG) // cols)  # the whole used range in one row
        CountingTuple.reads = 0
        row = classify_row(snap, {}, B, cell, cols, CFG.vmalloc_end)
        reads[n] = CountingTuple.reads
        assert P.VMAP in row
    # at most SAMPLES areas plus a bisect per cell, whatever the total
    assert reads[100_000] < cols * 40
    assert reads[100_000] < 3 * reads[100] + cols * 20


def test_address_map_render_line_without_an_app():
    k = Kernel(CFG)
    a = k.vmalloc(2 * PG)            # [B, B + 3 pages): 2 mapped + guard
    k.vfree(a)                        # lazy
    b = k.vmalloc(PG)                 # after a's guard and the search's free page
    assert b == B + 4 * PG
    snap = take(k)
    amap = AddressMap()
    amap.update_snapshot(snap)
    amap.set_size(80, 6)
    amap.fit = False
    amap._relayout(0)                 # one page a cell
    line = amap.render_line(0).text
    label = f"{B:016x} "
    assert line.startswith(label)
    cells = line[len(label):]
    # cursor on cell 0 (drawn as the glyph under it), pages 0-2 lazy, page 3 gap,
    # pages 4 mapped, 5 guard, 6 gap, then free
    assert cells[:8] == "╳╳╳·▓··" + " "
    assert "1 cell = 4 KiB" in amap.title()


def test_legend_names_every_state():
    texts = " ".join(seg.text for segs, _ in legend_items(CFG.generation.features, 4) for seg in segs)
    for word in ("cpu0-3", "dirty", "vmalloc", "vmap", "ioremap", "lazily freed", "guard"):
        assert word in texts


# -- panels' text ---------------------------------------------------------------------------

def test_gauge_and_flush_sparkline():
    assert gauge(12, 24, 10) == ("█" * 5, "░" * 5)
    assert gauge(50, 24, 10) == ("█" * 10, "")
    # flushes at ops 10 and 20, now op 40, 10 columns: 8 ops a column is the smallest
    # power of two with 10 columns past op 40; columns 0-7, 8-15, 16-23, ... 40-47: six of
    # them, right-aligned, op 10 in the second and op 20 in the third.
    h = FlushHistory()
    h.add(10)
    h.add(20)
    line, per = flush_sparkline(h.per, h.counts(), 40, 10)
    assert per == 8
    assert line == "     ██   "


def test_flush_history_counts_every_flush_in_bounded_memory():
    # a flush at every op 0-999: buckets of 2 ops (999 // 2 < 512), 2 flushes each
    h = FlushHistory()
    for op in range(1000):
        h.add(op)
    assert h.per == 2 and h.counts() == (2,) * 500
    # 10 columns: 128 ops each (64 * 10 <= 999 < 128 * 10); 8 columns, the last ops 896-999
    cols, per = columns(h.per, h.counts(), 999, 10)
    assert per == 128 and cols == [128] * 7 + [104]
    # a million ops later, still at most 512 buckets, every flush counted
    h.add(1_000_000)
    assert h.per == 2048 and len(h.counts()) == 489 and sum(h.counts()) == 1001


def test_parse_filter():
    assert parse_filter("flush cpu2", 4) == (frozenset({"flush"}), frozenset({2}))
    kinds, cpus = parse_filter("warn", 4)
    assert {"warn", "bug", "fault", "uaf"} <= kinds and cpus is None
    assert parse_filter("", 4) == (None, None)
    for bad in ("cpu9", "bogus", "cpux"):
        try:
            parse_filter(bad, 4)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


def test_log_line_tags_flushes_in_reverse_video():
    e = Entry(0, 12, 1, "flush", "flush_tlb_kernel_range(0x1, 0x2): 3 IPIs")
    strip = EventLog.entry_strip(e, 80)
    assert strip.text.startswith("     12 cpu1  ")
    assert " TLB FLUSH " in strip.text
    tag = next(s for s in strip if s.text == " TLB FLUSH ")
    assert tag.style.bgcolor is not None


def test_inspector_names_block_cpu_and_stale_tlbs():
    k = Kernel(CFG)
    addr = k.vm_map_ram(4, cpu=1)
    k.touch(addr, 4, cpu=1)
    k.vm_unmap_ram(addr, 4, cpu=1)
    snap = take(k)
    text = inspect(snap, addr, PG).plain
    assert "vmap_block" in text and "#1" in text and "cpu1" in text
    assert "bits 0-0: dirty" in text
    # cpu1 touched the 4 pages, then vb_free left them mapped: 4 stale entries
    assert stale_cpus(snap, addr, addr + 4 * PG) == [(1, 4)]
    assert "stale on cpu1" in summary(snap, addr, 4 * PG)


def test_human_bytes():
    assert human_bytes(4096) == "4 KiB"
    assert human_bytes(208 << 20) == "208 MiB"
    assert human_bytes(32 << 40) == "32 TiB"
    assert human_bytes(3 << 19) == "1.5 MiB"


# -- explanations ----------------------------------------------------------------------------

def _last(k: Kernel, call) -> Snapshot:
    k.drain_events()
    call()
    return take(k, last_op=tuple(k.drain_events()), op=k.op)


def test_explain_first_vm_map_ram_names_new_vmap_block():
    k = Kernel(CFG)
    text = " ".join(explain(_last(k, lambda: k.vm_map_ram(3, cpu=2))))
    assert "vb_alloc()" in text and "new_vmap_block()" in text
    assert "4 pages" in text and "3 asked" in text   # 3 pages take a region of 4
    assert "4 MiB" in text


def test_explain_vfree_says_why_no_flush_and_the_numbers():
    k = Kernel(CFG)
    a = k.vmalloc(2 * PG)
    text = " ".join(explain(_last(k, lambda: k.vfree(a))))
    # 2 pages + the guard page = 3 pages lazily freed; 4 CPUs: fls(4) = 3 -> 3 * 8192
    assert "No TLB flush" in text
    assert "vmap_lazy_nr is 3 of lazy_max_pages 24,576" in text
    assert "free_unmap_vmap_area()" in text


def test_explain_vm_unmap_aliases_flushes_dirty_runs():
    k = Kernel(CFG)
    addr = k.vm_map_ram(4, cpu=0)
    k.vm_unmap_ram(addr, 4, cpu=0)
    text = " ".join(explain(_last(k, lambda: k.vm_unmap_aliases(cpu=0))))
    assert "1 dirty run" in text and "flush_tlb_kernel_range" in text
    assert "3 IPIs" in text                      # nr_cpus - 1


def test_explain_warn_of_the_posted_descent():
    k = Kernel(Config(nr_cpus=1, bits=32, variant="posted"))
    a = k.vmalloc(PG)
    b = k.vmalloc(PG)
    k.touch(b, 1)
    k.vfree(a)
    k.purge()
    text = " ".join(explain(_last(k, lambda: k.vmalloc(4 * PG))))
    assert "WARNING: at mm/vmalloc.c vmap_page_range" in text
    assert "overlaps pages that are still mapped" in text and "agp_add_bridge" in text


def test_explain_before_the_first_op():
    assert "space" in explain(take(Kernel(CFG)))[0]


def test_explain_the_flush_moment():
    # 1 CPU: lazy_max_pages = fls(1) * 32 MiB / 4 KiB = 8,192 pages.  A vmalloc of
    # 4 MiB is 1,024 pages + 1 guard page; its page array (1,024 * 8 bytes = 2 pages,
    # over a page, so VM_VPAGES) is a second area of 2 + 1 guard = 3 pages: a vfree
    # frees 1,028 pages lazily.  After 7 vfrees vmap_lazy_nr = 7,196; the 8th frees
    # the 1,025-page area first: 8,221 > 8,192, so free_unmap_vmap_area() purges the
    # 15 lazy areas (8,221 pages) with one flush (0 IPIs: no other CPU); then the page
    # array is freed lazily and vmap_lazy_nr ends the op at 3.
    k = Kernel(Config(nr_cpus=1, bits=64))
    addrs = [k.vmalloc(4 << 20) for _ in range(8)]
    for a in addrs[:7]:
        k.vfree(a)
    assert k.vmap_lazy_nr == 7_196
    snap = _last(k, lambda: k.vfree(addrs[7]))
    text = " ".join(explain(snap))
    assert "went over lazy_max_pages (8,192)" in text
    assert "15 lazily freed areas (8,221 pages)" in text
    assert "0 IPIs" in text and "vmap_lazy_nr is now 3" in text


# -- before the rewrite: no gap page, no blocks, no lazy areas ------------------------------

def test_vanilla_map_has_guard_pages_and_no_gap_page():
    # GIVEN v2.6.27: vmalloc(8 KiB) at B (2 pages + guard), then vmap(1) right after the
    # guard page, at B + 3 pages (2 pages with its guard)
    k = Kernel(Config(variant="vanilla", nr_cpus=4, bits=64))
    a, b = k.vmalloc(2 * PG), k.vmap(1)
    assert (a, b) == (B, B + 3 * PG)
    # WHEN one row of 6 one-page cells is classified
    row = classify_row(take(k), {}, B, PG, 6, CFG.vmalloc_end)
    # THEN pages 0-1 vmalloc, 2 its guard, 3 vmap, 4 its guard, 5 free: no page left by
    # the search after either area (the rewrite's row would show page 5 as a gap)
    assert row == [P.VMALLOC, P.VMALLOC, P.GUARD, P.VMAP, P.GUARD, P.FREE]


def test_vanilla_legend_has_no_blocks_and_no_lazy_areas():
    feats = Config(variant="vanilla").generation.features
    texts = " ".join(seg.text for segs, _ in legend_items(feats, 4) for seg in segs)
    assert "guard page" in texts and "vmalloc" in texts
    assert "blocks" not in texts and "lazily" not in texts and "gap" not in texts


def test_cost_panel_helpers():
    # 0 is the lowest bar; 1, 2 and 4 of a top of 4 are round(7/4) = 2, round(3.5) = 4
    # and 7 eighths up: ▃ ▅ █
    assert sparkline([0, 1, 2, 4], 4) == "▁▃▅█"
    assert sparkline([5, 0, 1, 2, 4], 4) == "▁▃▅█"          # only the last `width`
    assert lock_counters("vmlist_lock") == ("vmlist_lock_write", "vmlist_lock_read")
    assert lock_counters("vb->lock") == ("vb_lock",)
    assert lock_counters("vbq->lock") == ("vbq_lock",)
    # a vunmap on 4 CPUs: one flush_tlb_all, 3 IPIs, 4 TLBs emptied; the area was the
    # 2nd node of vmlist
    k = Kernel(Config(variant="vanilla", nr_cpus=4, bits=64))
    k.vmap(1)
    addr = k.vmap(1)
    k.drain_events()
    k.vunmap(addr, cpu=2)
    bill = free_bill(k.drain_events(), 4)
    assert bill == {"op": 3, "cpu": 2, "call": "vunmap", "flushes": 1, "whole": 1, "ipis": 3,
                    "emptied": 4, "walks": [2]}


def test_log_styles_and_tags_follow_the_event_vocabulary():
    assert set(P.active().log) == set(KINDS) | {"gap"}
    assert P.LOG_TAGS["flush"] == " TLB FLUSH " and P.LOG_TAGS["refused"] == " NO SUCH CALL "
    assert set(P.LOG_TAGS) == {k for k, kind in KINDS.items() if kind.tag}
    # the filter knows every kind but the call lines; 'warn' takes in every notable one
    kinds, _ = parse_filter("warn", 4)
    assert kinds == {"warn", "bug", "corrupt", "fault", "uaf", "refused", "error"}
    assert parse_filter("bits refused", 4)[0] == {"bits", "refused"}


def test_cost_panel_text_without_an_app():
    # GIVEN v2.6.27 on 2 CPUs: vmap(1) twice (walks of 0 and 1 nodes), then vunmap of
    # the second, the 2nd node of vmlist: one flush_tlb_all, 1 IPI, 2 TLBs emptied
    k = Kernel(Config(variant="vanilla", nr_cpus=2, bits=64))
    k.vmap(1)
    addr = k.vmap(1)
    k.vunmap(addr, cpu=1)
    snap = take(k, events=tuple(k.drain_events()), op=k.op)
    panel = CostPanel()
    panel.update_snapshot(snap)
    # WHEN it renders unmounted (no width yet: the narrowest layout)
    text = panel.render().plain
    # THEN the bill, the totals, and both walks with their last and largest values
    assert "last free cpu1 vunmap()  1 flush_tlb_all  1 IPI · 2 TLBs emptied · walk 2 · op 3" in text
    assert "TLB flushes 1  IPIs 1  whole-TLB flushes cpu0 1 cpu1 1" in text
    assert "vmlist_lock write 3  vmlist_lock read 0  stale TLB entries 0" in text
    assert "alloc walk ▁█       last 1 max 1" in text
    assert "free walk  █        last 2 max 2" in text


@pytest.mark.parametrize("room, shown", [
    (60, "vm_map_ram(4) = 0xffffc20000300000 [block #3, bits 8-11]"),   # fits: as it is
    (50, "vm_map_ram(4) = 0xffffc20000300000 [block … 8-11]"),
    (40, "vm_map_ram(4) = … [block #3, bits 8-11]"),                   # the address whole or gone
    (20, "vm_map_ram(… 8-11]"),                                         # a call's name is a word
    (10, "…its 8-11]"),                                                 # too narrow: the end
])
def test_a_long_log_line_loses_words_from_its_middle_never_a_numbers_end(room, shown):
    from vmapviz.tui.panels.eventlog import fit
    assert fit("vm_map_ram(4) = 0xffffc20000300000 [block #3, bits 8-11]", room) == shown


def test_a_log_line_at_the_panels_edge_keeps_its_address_whole():
    text = "vm_unmap_aliases(): purge 0xffffc20000000000-0xffffc20000400000 (1024 pages)"
    line = EventLog.entry_strip(Entry(0, 21125, 1, "purge", text), 60).text
    assert len(line) == 60 and "…" in line
    numbers = re.findall(r"0x[0-9a-f]+", line)
    assert set(numbers) <= set(re.findall(r"0x[0-9a-f]+", text))   # whole addresses only
    assert line.rstrip().endswith("(1024 pages)")


def test_text_strip_draws_each_span_on_the_widgets_style_with_its_offset():
    # GIVEN a line of three runs (plain, bold, then a Style) on a widget style of white
    # on black WHEN drawn as one strip THEN each run is a segment on that style, its
    # span's style added, carrying the offset meta Textual's Content gives text
    # selection ({"offset": (x, 0)}, x the run's first cell), unpadded: 3 + 2 + 4 cells
    from rich.console import Console
    from rich.text import Text
    from vmapviz.tui.panels.lines import text_strip

    base = Style(color="white", bgcolor="black")
    line = Text("ab ")
    line.append("cd", style="bold")
    line.append("éfgh", style=Style(color="red"))
    strip = text_strip(line, base, Console())
    got = [(seg.text, seg.style) for seg in strip]
    assert got == [("ab ", base + Style.from_meta({"offset": (0, 0)})),
                   ("cd", base + Style(bold=True) + Style.from_meta({"offset": (3, 0)})),
                   ("éfgh", base + Style(color="red") + Style.from_meta({"offset": (5, 0)}))]
    assert strip.cell_length == 9
    assert got[1][1].bold and got[2][1].color.name == "red" and got[0][1].bgcolor.name == "black"
