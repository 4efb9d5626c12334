"""Unit tests, without an app, of what the TUI draws for a generation with a free
tree, vmap nodes, a kworker purge and bump-allocated blocks (Linux 6.12, "modern"),
and of the snapshot fields it reads.  Expected values are worked out by hand from
6.12's rules (see the README's "modern generation"): 2 CPUs on 64-bit make 2 vmap
nodes, a vmalloc area has one guard page and no gap page, a purged area of up to 256
pages goes to the pool of the node that allocated it.
"""

from __future__ import annotations

from rich.style import Style

from vmapviz.kernel import Config, Kernel
from vmapviz.kernel.events import TlbFlush
from vmapviz.kernel.modern import FreeBlock, PoolView
from vmapviz.kernel.events import KWORKER
from vmapviz.kernel.modern.events import Purge
from vmapviz.run.snapshot import take
from vmapviz.tui import palette as P
from vmapviz.tui.panels.addrmap import classify_row, legend_items
from vmapviz.tui.panels.blocks import marked_segments
from vmapviz.tui.panels.eventlog import Entry, EventLog, op_entries, parse_filter
from vmapviz.tui.panels.freespace import largest_blocks, pool_lines
from vmapviz.tui.panels.inspector import inspect, summary

PG = 4096
S = 0xFFFFC90000000000          # 6.12's x86_64 VMALLOC_START (pgtable_64_types.h)


def modern(nr_cpus: int = 2) -> Kernel:
    return Kernel(Config(variant="modern", nr_cpus=nr_cpus, bits=64))


def pooled_kernel() -> Kernel:
    """a = vmalloc(12 KiB) on cpu0 at S (4 pages with its guard page), b = vmalloc(4 KiB)
    on cpu1 at S + 16 KiB (2 pages); vfree(a); purge(): a waits in node 0's pool of
    4-page areas; the free tree is the one block [S + 24 KiB, VMALLOC_END)."""
    k = modern()
    a = k.vmalloc(3 * PG)
    assert a == S and k.vmalloc(PG, cpu=1) == S + 0x4000
    k.vfree(a)
    k.purge()
    return k


# -- the snapshot contract --------------------------------------------------------------

def test_take_fills_what_the_features_offer_and_nothing_else():
    k = pooled_kernel()
    snap = take(k)
    assert snap.free_blocks == (FreeBlock(S + 0x6000, k.config.vmalloc_end),)
    assert snap.largest_free == FreeBlock(S + 0x6000, k.config.vmalloc_end)
    assert snap.pools == (PoolView(0, 4, (S,)),)
    assert snap.pooled == ((S, S + 0x4000, 0),)
    assert snap.counter("pool_misses") == 2 and snap.counter("pool_hits") == 0
    assert snap.drain_pending is False and snap.block_details == ()
    merged = take(Kernel(Config(variant="merged", nr_cpus=2)))
    assert (merged.free_blocks, merged.largest_free, merged.pools, merged.extra_counters,
            merged.block_details, merged.pooled) == ((), None, (), (), (), ())


def test_free_blocks_are_reused_only_while_areas_and_pools_are_unchanged():
    k = pooled_kernel()
    first = take(k)
    again = take(k, first)
    assert again.free_blocks is first.free_blocks          # nothing changed: reused
    # purge() with nothing lazy still decays the pools: a pool of fewer than four
    # areas goes back to the tree entirely, merging [S, S + 16 KiB) with nothing
    # (b follows it): no area changed, the pools did, so the blocks are taken again
    k.purge()
    after = take(k, again)
    assert after.area_generation == again.area_generation and after.pools == ()
    assert after.free_blocks == (FreeBlock(S, S + 0x4000), FreeBlock(S + 0x6000, k.config.vmalloc_end))
    assert after.largest_free == FreeBlock(S + 0x6000, k.config.vmalloc_end)


def test_block_details_carry_the_bump_pointer_and_dirty_range():
    k = modern()
    block = k.vm_map_ram(3)              # block #1 at S: pages 0-3
    k.vm_map_ram(2)                      # pages 4-5
    k.vm_unmap_ram(block, 3)             # pages 0-3 freed: dirty range [0, 4)
    d = take(k).block_detail(1)
    assert (d.free, d.used_map, d.dirty_min, d.dirty_max) == (1024 - 6, 0b110000, 0, 4)


# -- the map and its legend ---------------------------------------------------------------

def test_pooled_areas_are_drawn_apart_from_free_space():
    snap = take(pooled_kernel())
    # one page a cell from S: a's 4 pooled pages, b's page and its guard page, free
    row = classify_row(snap, {}, S, PG, 8, snap.config.vmalloc_end)
    assert row == [P.POOLED] * 4 + [P.VMALLOC, P.GUARD, P.FREE, P.FREE]
    # 16 KiB a cell: the first cell is a's, the second b's and free space
    row = classify_row(snap, {}, S, 4 * PG, 3, snap.config.vmalloc_end)
    assert row == [P.POOLED, P.VMALLOC, P.FREE]


def test_the_legend_names_pooled_areas_and_freed_block_pages_only_on_modern():
    def texts(variant):
        gen = Config(variant=variant).generation
        return " ".join(seg.text for segs, _ in legend_items(gen.features, 2, compact=True) for seg in segs)
    assert "pooled" in texts("modern") and " freed" in texts("modern") and " dirty" not in texts("modern")
    assert "pooled" not in texts("merged") and " dirty" in texts("merged")


def test_a_dirty_range_is_underlined_in_the_bitmap():
    # pages 0-7 handed out, 0-3 of them freed; dirty range [2, 6): two pages a cell,
    # so cells 1 and 2 (pages 2-5) are underlined; cells 0-1 freed, 2-3 in use
    segs = marked_segments(0xFF, 0x0F, 0, 0, 16, 2, Style(), (2, 6))
    assert [(s.text, bool(s.style.underline)) for s in segs] == [("▄", False), ("▄█", True), ("█    ", False)]
    # an empty range (dirty_min = BITS, dirty_max = 0): nothing underlined
    segs = marked_segments(0xFF, 0x0F, 0, 0, 16, 2, Style(), (16, 0))
    assert len(segs) == 1 and not segs[0].style.underline


# -- the inspector -------------------------------------------------------------------------

def test_the_inspector_names_the_pooled_area_and_the_free_block():
    snap = take(pooled_kernel())
    text = inspect(snap, S, PG).plain
    assert "pooled ffffc90000000000-ffffc90000004000" in text
    assert "in node 0's pool of 4-page areas" in text and "free block" not in text
    text = inspect(snap, S + 0x6000, PG).plain
    assert "free block 1 of 1 (the largest)" in text and "ffffc90000006000-ffffe90000000000" in text
    # 32 TiB less the 24 KiB below it
    assert summary(snap, S + 0x8000, PG).endswith("free block 1 of 1, 32.0 TiB")


def test_the_inspector_gives_a_blocks_bump_pointer_dirty_range_and_xarray_slot():
    k = modern()
    block = k.vm_map_ram(3)
    k.vm_map_ram(2)
    k.vm_unmap_ram(block, 3)
    # block #1 at S: bump 6, pages 4-5 in use, dirty range 0-3; S >> 22 is even:
    # cpu0's xarray of 2, at index (S - S) >> 22 = 0
    text = inspect(take(k), S + 2 * PG, 4 * PG).plain
    assert "block #1 of cpu0: bump 6, 2 in use, dirty range 0-3 · free list" in text
    assert "xarray of cpu0, index 0" in text
    assert "bits 2-5: freed*, freed*, in use, in use (*: in the dirty range)" in text


# -- the event log ---------------------------------------------------------------------------

def test_the_kworkers_events_have_their_own_lines():
    purge = Purge((7, KWORKER, S, S + 0x4000, 1, 4, 1, 0, 0, False, "kworker: drain_vmap_area_work", False, ()))
    flush = TlbFlush((7, KWORKER, S, S + 0x4000, 1, 0, 0, False))
    from vmapviz.kernel.events import Return
    ret = Return((7, 0, "vfree", (S,), None, ""))
    entries = op_entries([ret, purge, flush], 0)
    assert [(e.cpu, e.kind, e.indent) for e in entries] == [
        (0, "return", False), (KWORKER, "purge", False), (KWORKER, "flush", False)]
    line = EventLog.entry_strip(entries[1], 100).text
    assert line.startswith("      7 kworker kworker: drain_vmap_area_work")
    assert EventLog.entry_strip(Entry(1, 7, None, "gap", "… op 6 not shown"), 40).text.startswith(" " * 14)
    assert parse_filter("kworker purge", 2) == (frozenset({"purge"}), frozenset({KWORKER}))


# -- the free tree and pools panel -----------------------------------------------------------

def test_the_largest_free_blocks_and_the_pools_by_node():
    blocks = (FreeBlock(0, 4), FreeBlock(10, 20), FreeBlock(30, 34), FreeBlock(40, 42))
    assert largest_blocks(blocks) == [FreeBlock(10, 20), FreeBlock(0, 4), FreeBlock(30, 34)]
    pools = (PoolView(0, 1, (5, 6)), PoolView(0, 4, (7,)), PoolView(1, 2, (8, 9, 10)), PoolView(1, 8, (11, 12, 13)))
    assert pool_lines(pools) == [(0, 3, [(1, 2), (4, 1)]), (1, 6, [(2, 3), (8, 3)])]
