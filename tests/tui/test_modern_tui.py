"""Pilot tests of the TUI on the modern generation (Linux 6.12): the panels its
features call for, the kworker's lines, the pools after a purge, the free block under
the cursor.

tests/data/modern-tour.jsonl is a trace worked out by hand on 2 CPUs, 64-bit (2 vmap
nodes; lazy_max_pages() = fls(2) * 8,192 = 16,384 pages; S = VMALLOC_START, M = 1 MiB):

  1 cpu0 vmalloc(12 KiB)        -> S          4 pages with the guard page, node 0's pool missed
  2 cpu1 vmalloc(4 KiB)         -> S + 16 KiB 2 pages, node 1's pool missed
  3 cpu0 vm_map_ram(3)          -> S + 4 M    block #1 (4 MiB aligned), pages 0-3
  4 cpu1 vm_map_ram(2)          -> S + 8 M    block #2, pages 0-1
  5 cpu0 get_vm_area(32 MiB - 4 KiB) -> S + 12 M  8,192 pages with the guard page
  6 cpu0 get_vm_area(32 MiB - 4 KiB) -> S + 44 M
  7 cpu0 vfree(S)                lazy: 4 pages
  8 cpu1 vfree(S + 16 KiB)       lazy: 6
  9 cpu0 vm_unmap_ram(S + 4 M, 3)   block #1: pages 0-3 freed, dirty range 0-3
 10 cpu0 remove_vm_area(S + 12 M)   lazy: 8,198
 11 cpu0 remove_vm_area(S + 44 M)   lazy: 16,390 > 16,384: the drain is queued and the
    kworker purges 4 areas (16,390 pages): the two small ones to their nodes' pools
    (node 0: one of 4 pages, node 1: one of 2), the two large ones back to the free
    tree, merged with the free space above; one flush of [S, S + 76 M) = 19,456 pages,
    over x86's 33-page ceiling: a full flush, 1 IPI.

After it: free blocks [S + 24 KiB, S + 4 M) (4,072 KiB) and [S + 12 M, VMALLOC_END)
(32 TiB - 12 MiB); pool hits 0, misses 6 (each of the six allocations tried its
node's pool).
"""

from __future__ import annotations

import re
from pathlib import Path

from test_app import run
from tui_helpers import screen_text, settle

from vmapviz.kernel.events import KWORKER

TOUR = str(Path(__file__).parents[1] / "data" / "modern-tour.jsonl")
S = 0xFFFFC20000000000
M = 1 << 20


async def tour(app, pilot) -> None:
    app.driver.step(11)
    await settle(app, pilot, 11)


def test_modern_has_blocks_free_tree_and_pools_and_the_lazy_gauge():
    async def scenario(app, pilot):
        assert app.blocks.display and app.panels["free"].display and app.panels["lazy"].display
        assert not app.panels["costs"].display
        text = screen_text(app)
        assert "free tree and pools" in text and "kworker idle · no drain yet" in text
        assert "free blocks 1 · 32 TiB" in text and "every pool is empty" in text  # the whole range
    run(scenario, variant="modern")


def test_the_tour_kworker_line_pools_after_the_purge_and_the_blocks_dirty_ranges():
    async def scenario(app, pilot):
        await tour(app, pilot)
        snap = app.snap
        assert snap.op == 11 and snap.stats.lazy_pages == 0 and snap.stats.purges == 1
        text = screen_text(app)
        # the event log: the kworker's purge and flush after op 11's return, on their
        # own lines, not indented under the call
        worker = [e for e in app.log_panel.shown if e.cpu == KWORKER]
        assert [(e.op, e.kind, e.indent) for e in worker] == [(11, "purge", False), (11, "flush", False)]
        # (the log is 60 cells wide here: a long line keeps its start and its last word,
        # the words between give way to "…"; the entries keep their whole text)
        assert re.search(r"│ +11 kworker kworker: drain_vmap_area_work: ", text)
        assert re.search(r"│ +11 kworker  TLB FLUSH  flush_tlb_kernel_range\(", text)
        assert "__purge_vmap_area_lazy" in worker[0].text
        assert f"flush_tlb_kernel_range({S:#x}" in worker[1].text
        assert [(e.start, e.end, e.whole, e.ipis) for e in snap.last_op if e.kind == "flush"] == [
            (S, S + 76 * M, True, 1)]
        # the lazy panel: the drain ran after op 11 and purged 4 areas
        assert " drained  this op: 4 areas" in text
        # the free tree and the pools
        assert "free blocks 2 · 32.0 TiB" in text
        assert "largest 32.0 TiB" in text and f"at {S + 12 * M:016x}" in text
        assert "next 4.0 MiB" in text     # 4,072 KiB
        assert "pools · hits 0 · misses 6" in text
        assert "node 0  1 area: 4p×1" in text and "node 1  1 area: 2p×1" in text
        # the blocks: bump pointers and dirty ranges, no dirty list
        assert "↑ bump, d dirty range: underlined" in text
        assert re.search(r"#1 +▕.*▏ ↑4 +d 0-3 ", text) and re.search(r"#2 +▕.*▏ ↑2 +d none ", text)
        assert "dirty→" not in text and "dirty list" not in text
        # the explanation, in 6.12's terms
        explained = " ".join(app.explain_text.render().plain.split())
        assert "The kworker's drain_vmap_area_work() ran __purge_vmap_area_lazy()" in explained
        assert "purged 4 lazy areas (16,390 pages) of every node: 2 to their node's pool" in explained
        assert "covered 19,456 pages: over x86's tlb_single_page_flush_ceiling of 33 pages" in explained
        # the inspector at S: node 0's pooled area, then the free block above the pools
        app.amap._move_cursor_to(S)
        await pilot.pause(0.1)
        inspector = app.inspector.render().plain
        assert "pooled ffffc20000000000-ffffc20000004000" in inspector
        assert "in node 0's pool of 4-page areas" in inspector
        assert "free block 1 of 2" in inspector and "ffffc20000006000-ffffc20000400000" in inspector
        # the log filter takes the kworker alone
        app.log_panel.set_filter("kworker", 2)
        assert {e.cpu for e in app.log_panel.shown if e.kind != "gap"} == {KWORKER}
    run(scenario, workload=TOUR)


def test_at_80x24_the_free_panel_folds_away_and_the_map_border_names_the_pool():
    async def scenario(app, pilot):
        await tour(app, pilot)
        assert not app.panels["free"].display and app.blocks.display and app.panels["lazy"].display
        app.amap._move_cursor_to(S)
        await pilot.pause(0.1)
        assert app.amap.border_subtitle.startswith("cursor ffffc20000000000: pooled")
        assert "in node 0's pool" in app.amap.border_subtitle
    run(scenario, size=(80, 24), workload=TOUR)
