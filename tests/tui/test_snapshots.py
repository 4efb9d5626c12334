"""SVG snapshots of the main screen (pytest-textual-snapshot).

The app runs paused on the real driver with seed 1; the ops are run in one driver
command, so exactly one snapshot reaches the app after them and the picture does not
depend on timing.  Regenerate with `pytest tests/tui --snapshot-update` and look at
the SVGs in tests/tui/__snapshots__/ before committing them."""

from __future__ import annotations

from tui_helpers import paused_app, settle

from vmapviz.tui.panels.addrmap import AddressMap
from vmapviz.tui.panels.blocks import BlockList


def stepped(ops: int, select_block: bool = False):
    async def run_before(pilot) -> None:
        app = pilot.app
        for panel in app.query("LazyPanel"):
            panel.flash_seconds = 0
        await settle(app, pilot, 0)
        app.driver.step(ops)
        await settle(app, pilot, ops)
        if select_block:
            # GIVEN the cursor on the lowest block WHEN enter THEN every bit is drawn
            first = min(app.snap.blocks, key=lambda b: b.start)
            app.query_one(AddressMap)._move_cursor_to(first.start + 8 * app.snap.config.page_size)
            await pilot.press("enter")
            await settle(app, pilot)
            assert app.query_one(BlockList).selected == first.id
        await pilot.pause()
    return run_before


def test_main_screen_80x24(snap_compare):
    assert snap_compare(paused_app(), terminal_size=(80, 24), run_before=stepped(300))


def test_main_screen_160x50(snap_compare):
    assert snap_compare(paused_app(), terminal_size=(160, 50), run_before=stepped(300))


def test_block_selected_with_its_bitmaps(snap_compare):
    assert snap_compare(paused_app(), terminal_size=(160, 50), run_before=stepped(300, True))


def test_xfs_dir_16_cpus_after_a_flush(snap_compare):
    async def run_before(pilot) -> None:
        app = pilot.app
        for panel in app.query("LazyPanel"):
            panel.flash_seconds = 0
        await settle(app, pilot, 0)
        app.driver.step_until("flush")
        await settle(app, pilot, 1)
        await pilot.pause()
    assert snap_compare(paused_app(workload="xfs-dir"), terminal_size=(120, 40), run_before=run_before)


def test_vanilla_120x40_after_300_ops(snap_compare):
    # v2.6.27: no block panel; what a free costs where the lazy gauge was
    assert snap_compare(paused_app(variant="vanilla"), terminal_size=(120, 40), run_before=stepped(300))


def test_modern_tour_120x40(snap_compare):
    # Linux 6.12: the hand-worked trace of test_modern_tui.py after its kworker purge:
    # free blocks and pools, blocks with bump pointers and dirty ranges, kworker lines
    from pathlib import Path
    tour = str(Path(__file__).parents[1] / "data" / "modern-tour.jsonl")
    assert snap_compare(paused_app(workload=tour), terminal_size=(120, 40), run_before=stepped(11))
