"""Pilot tests: every binding of the app, pressed, and its effect asserted on the state
and on the screen.  The app runs on the real driver, paused, so every op comes from a
key press and the results are deterministic (seed 1)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

from tui_helpers import MODES, paused_app, screen_text, settle, step_to

from vmapviz.tui.panels.addrmap import AddressMap
from vmapviz.tui.panels.blocks import BlockList
from vmapviz.tui.panels.eventlog import EventLog
from vmapviz.tui.panels.timeline import SeekScreen
from vmapviz.tui.screens.dialogs import FilterScreen, HelpScreen, PickScreen

SIZE = (120, 40)


def run(scenario, size=SIZE, tmp_path=None, **kw):
    """`scenario(app, pilot)` on a paused app (`child=True`: its driver in a child process)."""
    async def main():
        app = paused_app(tmp_path, **kw)
        async with app.run_test(size=size) as pilot:
            for panel in app.query("LazyPanel"):
                panel.flash_seconds = 0
            await settle(app, pilot, 0)
            await scenario(app, pilot)
        app.stop_driver()
    asyncio.run(main())


def notes(app) -> str:
    """The text of every notification shown so far."""
    return " ".join(n.message for n in app._notifications)


async def press(app, pilot, *keys, op=None):
    await pilot.press(*keys)
    await settle(app, pilot, op)


@MODES
def test_space_plays_and_pauses(child):
    async def scenario(app, pilot):
        # GIVEN a paused app WHEN space THEN the driver runs and the header says so
        await pilot.press("space")
        for _ in range(200):
            await pilot.pause(0.02)
            if app.snap.running:
                break
        assert app.driver.running and app.snap.running
        assert "RUNNING" in screen_text(app)
        # WHEN space again THEN paused
        await press(app, pilot, "space")
        assert not app.driver.running
        assert "PAUSED" in screen_text(app)
    run(scenario, child=child)


@MODES
def test_n_and_right_step_one_op(child):
    async def scenario(app, pilot):
        await press(app, pilot, "n", op=1)
        assert app.snap.op == 1
        text = screen_text(app)
        assert "op 1 " in text
        # the first op of map-touch-unmap maps 4 pages on some CPU through a new block
        assert "vm_map_ram(4) = 0xffffc2" in text and "new_vmap_block" in text
        # right steps when the map does not have the focus
        app.query_one(EventLog).focus()
        await press(app, pilot, "right", op=2)
        assert app.snap.op == 2
    run(scenario, child=child)


@MODES
def test_f_runs_to_the_next_tlb_flush(child):
    async def scenario(app, pilot):
        await press(app, pilot, "f", op=1)
        s = app.snap.stats
        assert s.tlb_flushes == 1
        # a broadcast: nr_cpus - 1 = 3 IPIs, and vmap_lazy_nr back under the threshold
        assert s.ipis == 3
        assert s.lazy_pages < s.lazy_max_pages
        text = screen_text(app)
        assert "TLB FLUSH" in text
        assert "flush_tlb_kernel_range" in text            # the explanation names it
    run(scenario, child=child)


@MODES
def test_plus_and_minus_change_the_speed(child):
    async def scenario(app, pilot):
        assert app.driver.speed == 20
        await press(app, pilot, "plus")
        assert app.driver.speed == 50
        assert "50 ops/s" in screen_text(app)
        await press(app, pilot, "minus")
        await press(app, pilot, "minus")
        assert app.driver.speed == 10
    run(scenario, child=child)


def test_z_and_Z_zoom_and_the_title_says_the_cell_size():
    async def scenario(app, pilot):
        await step_to(app, pilot, 40)
        amap = app.query_one(AddressMap)
        shift = amap.view.shift
        await press(app, pilot, "z")
        assert (amap.view.shift, amap.fit) == (shift - 1, False), (shift, amap.title())
        await press(app, pilot, "Z")
        await press(app, pilot, "Z")
        assert amap.view.shift == shift + 1, (shift, amap.title())
        cell = 4 << (shift + 1)
        text = screen_text(app)
        assert f"1 cell = {cell} KiB" in text or f"1 cell = {cell // 1024} MiB" in text, amap.title()
        # zoom in to one page a cell, then one more is refused with a notice
        for _ in range(amap.view.shift):
            await press(app, pilot, "z")
        assert amap.view.shift == 0
        assert "1 cell = 4 KiB" in screen_text(app)
        await press(app, pilot, "z")
        assert amap.view.shift == 0
        # 0 fits again
        await press(app, pilot, "0")
        assert amap.fit, (app.focused, amap.title())
    run(scenario)


def test_arrows_and_mouse_move_the_cursor_and_the_inspector_follows():
    async def scenario(app, pilot):
        await step_to(app, pilot, 8)
        amap = app.query_one(AddressMap)
        start = amap.cursor
        cell = amap.view.cell_bytes
        await press(app, pilot, "right")
        assert amap.cursor == start + cell
        await press(app, pilot, "down")
        assert amap.cursor == start + cell + amap.view.row_bytes
        await press(app, pilot, "left", "up")
        assert amap.cursor == start
        assert app.snap.op == 8, "on the map the arrows move the cursor, they do not step"
        # click the third cell of the second row
        await pilot.click(AddressMap, offset=(1 + amap.label_width + 2, 2))
        await settle(app, pilot)
        assert amap.cursor == start + amap.view.row_bytes + 2 * cell
        assert f"cell {amap.cursor:#x}" in screen_text(app)
    run(scenario)


def test_enter_selects_the_block_under_the_cursor_and_shows_every_bit():
    async def scenario(app, pilot):
        await step_to(app, pilot, 12)
        amap = app.query_one(AddressMap)
        blocks = app.query_one(BlockList)
        first = min(app.snap.blocks, key=lambda b: b.start)
        amap._move_cursor_to(first.start)
        await press(app, pilot, "enter")
        assert blocks.selected == first.id
        keys = [k for k in blocks._keys if k[0] == "bits"]
        assert len(keys) == 1024 // 128                 # 8 rows of 128 bits
        text = screen_text(app)
        assert "allocated" in text and "dirty (freed, still mapped)" in text
        # escape deselects
        await press(app, pilot, "escape")
        assert blocks.selected is None
        # enter on free space says so instead of failing
        amap._move_cursor_to(app.snap.config.vmalloc_end - 1)
        await press(app, pilot, "enter")
        assert blocks.selected is None
        assert "No vmap block under the cursor" in notes(app)
    run(scenario)


def test_blocks_panel_keys_select_and_scroll():
    async def scenario(app, pilot):
        await step_to(app, pilot, 12)
        blocks = app.query_one(BlockList)
        blocks.focus()
        await press(app, pilot, "down", "enter")
        assert blocks.selected == blocks.block_ids()[0]
        await press(app, pilot, "enter")
        assert blocks.selected is None
    run(scenario)


def test_w_picks_a_workload_and_restarts():
    async def scenario(app, pilot):
        await step_to(app, pilot, 5)
        await press(app, pilot, "w")
        assert isinstance(app.screen, PickScreen)
        ol = app.screen.query_one("#pick-list")
        names = [ol.get_option_at_index(i).id for i in range(ol.option_count)]
        ol.highlighted = names.index("vmalloc-churn")
        await press(app, pilot, "enter")
        for _ in range(200):
            await pilot.pause(0.02)
            if app.snap.workload == "vmalloc-churn":
                break
        assert app.snap.workload == "vmalloc-churn" and app.snap.op == 0
        assert "vmalloc-churn" in screen_text(app)
    run(scenario)


def test_w_with_a_bad_trace_path_is_a_notification_not_a_traceback(tmp_path):
    async def scenario(app, pilot):
        await press(app, pilot, "w")
        app.screen.query_one("#pick-input").focus()
        await pilot.press(*"nonexistent/trace.jsonl")
        await press(app, pilot, "enter")
        assert app.is_running
        assert app.snap.workload == "map-touch-unmap"
        assert any(n.severity == "error" for n in app._notifications)
    run(scenario, tmp_path=tmp_path)


def test_c_changes_the_cpu_count_and_b_the_width():
    async def scenario(app, pilot):
        await press(app, pilot, "c")
        assert isinstance(app.screen, PickScreen)
        ol = app.screen.query_one("#pick-list")
        ol.highlighted = [ol.get_option_at_index(i).id for i in range(ol.option_count)].index("64")
        await press(app, pilot, "enter")
        for _ in range(200):
            await pilot.pause(0.02)
            if app.snap.config.nr_cpus == 64:
                break
        assert app.snap.config.nr_cpus == 64
        await step_to(app, pilot, 200)
        assert "64 CPUs" in screen_text(app)
        await press(app, pilot, "b")
        for _ in range(200):
            await pilot.pause(0.02)
            if app.snap.config.bits == 32:
                break
        assert app.snap.config.bits == 32 and app.snap.config.nr_cpus == 64
        await step_to(app, pilot, 50)
        assert "32-bit" in screen_text(app)
    run(scenario)


@MODES
def test_a_calls_vm_unmap_aliases_and_p_purges(child):
    async def scenario(app, pilot):
        await step_to(app, pilot, 9)
        await press(app, pilot, "a", op=10)
        s = app.snap.stats
        assert s.vm_unmap_aliases_calls == 1
        text = screen_text(app)
        assert "vm_unmap_aliases()" in text
        await press(app, pilot, "p", op=11)
        assert "purge_vmap_area_lazy()" in screen_text(app)
    run(scenario, child=child)


@MODES
def test_r_resets_to_op_0(child):
    async def scenario(app, pilot):
        await step_to(app, pilot, 30)
        await press(app, pilot, "r")
        for _ in range(200):
            await pilot.pause(0.02)
            if app.snap.op == 0:
                break
        await settle(app, pilot)
        assert app.snap.op == 0
        assert app.query_one(EventLog).entries == []
    run(scenario, child=child)


def test_a_dead_simulation_process_is_one_line_and_r_starts_it_again():
    async def scenario(app, pilot):
        await step_to(app, pilot, 5)
        os.kill(app.driver._proc.pid, signal.SIGKILL)
        for _ in range(500):
            await pilot.pause(0.02)
            if app.snap.error:
                break
        error = app.snap.error
        assert error.startswith("the simulation's process ended (killed by SIGKILL)") and "\n" not in error
        assert (app.snap.op, app.snap.running) == (5, False)    # the last state, paused
        assert error in notes(app) and "Traceback" not in screen_text(app)
        await pilot.press("r")
        for _ in range(500):
            await pilot.pause(0.02)
            if app.snap.op == 0 and not app.snap.error:
                break
        await press(app, pilot, "n", op=1)
        assert app.snap.op == 1 and app.snap.error is None
    run(scenario, child=True)


def test_e_hides_and_shows_the_explanations():
    async def scenario(app, pilot):
        await press(app, pilot, "n", op=1)
        assert "what just happened" in screen_text(app)
        await press(app, pilot, "e")
        assert not app.query_one("#explain").display
        assert "what just happened" not in screen_text(app)
        await press(app, pilot, "e")
        assert app.query_one("#explain").display
    run(scenario)


def test_slash_filters_the_log_and_a_bad_filter_is_a_notification():
    async def scenario(app, pilot):
        await step_to(app, pilot, 30)
        await press(app, pilot, "slash")
        assert isinstance(app.screen, FilterScreen)
        await pilot.press(*"block cpu0")
        await press(app, pilot, "enter")
        log = app.query_one(EventLog)
        assert log.kinds == frozenset({"block"}) and log.cpus == frozenset({0})
        assert log.shown and all(e.kind in ("block", "gap") and e.cpu in (0, None) for e in log.shown)
        await press(app, pilot, "slash")
        app.screen.query_one("#filter-input").value = ""
        await pilot.press(*"bogus")
        await press(app, pilot, "enter")
        assert app.is_running
        assert "not a kind" in notes(app)
    run(scenario)


def test_s_saves_a_screenshot_and_says_where(tmp_path):
    async def scenario(app, pilot):
        await press(app, pilot, "s")
        files = list(tmp_path.glob("*.svg"))
        assert len(files) == 1 and files[0].read_text().startswith("<svg")
        assert f"Screenshot saved: {files[0]}" in notes(app)
    run(scenario, tmp_path=tmp_path)


def test_question_mark_opens_help():
    async def scenario(app, pilot):
        await press(app, pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "vm_unmap_aliases" in screen_text(app)
        await press(app, pilot, "end")        # the panels and glyphs, further down
        assert "areas 3 live, 2 lazy" in screen_text(app)       # the last line of the legend
        await press(app, pilot, "pageup")
        assert "per-CPU vmap blocks" in screen_text(app)
        await press(app, pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)
    run(scenario)


def test_q_quits():
    async def scenario(app, pilot):
        await pilot.press("q")
        await pilot.pause(0.1)
        assert not app.is_running
        assert not app.driver._thread.is_alive()
    run(scenario)


def test_command_palette_offers_workloads_and_actions():
    async def scenario(app, pilot):
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"workload xfs-dir")
        await pilot.pause(0.5)
        await pilot.press("enter")
        for _ in range(200):
            await pilot.pause(0.02)
            if app.snap.workload == "xfs-dir":
                break
        assert app.snap.workload == "xfs-dir"
    run(scenario)


def test_driver_errors_become_notifications_and_log_lines():
    async def scenario(app, pilot):
        # GIVEN a kernel call the driver refuses (a CPU that is not online)
        app.driver.call("purge", cpu=99)
        for _ in range(200):
            await pilot.pause(0.02)
            if app.snap.error:
                break
        await settle(app, pilot)
        assert app.is_running
        text = screen_text(app)
        assert "ERROR" in text and "cpu 99 is not online" in text
        assert "cpu 99 is not online" in notes(app)
    run(scenario)


def test_80x24_collapses_panels_and_keeps_them_readable():
    async def scenario(app, pilot):
        await step_to(app, pilot, 100)
        text = screen_text(app)
        assert not app.query_one("#inspector").display
        for title in ("vmalloc · 1 cell = ", "per-CPU vmap blocks", "lazy TLB flushing", "events",
                      "what just happened", "cursor ffffc2"):
            assert title in text, title
        await pilot.resize_terminal(200, 60)
        await settle(app, pilot)
        assert app.query_one("#inspector").display
        assert "under the cursor" in screen_text(app)
    run(scenario, size=(80, 24))


def test_agp_bug_on_32_bit_shows_the_warn_and_the_oops():
    async def scenario(app, pilot):
        # GIVEN the thread's AGP report replayed on the posted variant (1 CPU, 32-bit)
        # WHEN it runs to its end (9 ops)
        await step_to(app, pilot, 100)
        assert app.snap.finished and app.snap.op == 9
        text = screen_text(app)
        # THEN the header, the inspector at VMALLOC_START (0xf8800000 on i386), the
        # WARN and the oops tagged in the log
        assert "agp-bug · posted 2008-08-18 · 1 CPU (NR_CPUS 8) · 32-bit" in text and "FINISHED" in text
        assert "cell 0xf8800000" in text
        # (the log is 62 cells wide here: the WARN line drops whole words from its middle,
        # keeping its start and the error number; the event keeps where it fired)
        assert " WARN " in text and "WARNING: at mm/vmalloc.c … (-12)" in text
        assert [e.where for e in app.snap.events if e.kind == "warn"] == ["vmap_page_range"]
        assert " OOPS " in text
        assert app.snap.stats.warnings == 1
    run(scenario, workload="agp-bug")


def log_rows(app) -> list[str]:
    """The events panel's rows as the terminal shows them (its border left out)."""
    log = app.query_one(EventLog)
    region = log.scrollable_content_region
    rows = screen_text(app).splitlines()[region.y:region.y + region.height]
    return [row[region.x:region.x + region.width].rstrip() for row in rows]


def test_the_log_follows_its_end_through_a_run_until_behind_the_progress_screen():
    # xfs-dir at 16 CPUs, seed 1: f runs to op 69,353, the first flush: the op unmaps the
    # last clean page of block #111, so (2.6.28 vb_free) the block is all dirty,
    # free_vmap_block() frees its 1024 pages lazily, vmap_lazy_nr goes over lazy_max_pages
    # (fls(16) * 32 MiB / 4 KiB = 40,960 pages), the purge runs and flushes the TLB: six
    # lines, under ops 69,351 (an unmap: two lines) and 69,352 (a touch: one).  The log
    # first outgrows its 9 rows while the progress screen covers it.
    async def scenario(app, pilot):
        run, covered = app.driver._run, threading.Event()
        report = run.interrupt   # Driver._interrupted: notes the progress the screen shows

        def held(op, target):   # the run waits at its first progress note until covered
            stop = report(op, target)
            covered.wait(30)
            return stop

        run.interrupt = held
        await pilot.press("f")
        for _ in range(1500):
            await pilot.pause(0.02)
            if isinstance(app.screen, SeekScreen):
                break
        assert isinstance(app.screen, SeekScreen)
        covered.set()
        await settle(app, pilot, 69353)
        for _ in range(500):
            await pilot.pause(0.02)
            if not isinstance(app.screen, SeekScreen):
                break
        await pilot.pause()
        assert app.snap.op == 69353
        rows = log_rows(app)
        assert [row[:13] for row in rows] == ["  69351 cpu14"] * 2 + ["  69352 cpu3 "] + ["  69353 cpu5 "] * 6
        assert "vm_unmap_ram(0xffffc200373d3000, 1)" in rows[3]
        assert [row.split()[2].split("(")[0].rstrip(":") for row in rows[4:8]] == [
            "vb_free", "free_vmap_block", "lazy", "__purge_vmap_area_lazy"]
        assert "TLB FLUSH" in rows[8] and "flush_tlb_kernel_range(" in rows[8]
        log = app.query_one(EventLog)
        assert log.follow
        # the scrollbar's thumb at the end too: 9 rows shown of the log's lines
        assert log.vertical_scrollbar.position == log.scroll_y == len(log.shown) - 9
    run(scenario, workload="xfs-dir")


def test_the_log_follows_ops_run_under_a_modal_unless_the_reader_scrolled_up():
    async def scenario(app, pilot):
        log = app.query_one(EventLog)
        # Empty, the log fits its panel; 60 ops run while help covers it (108 lines).
        await press(app, pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await step_to(app, pilot, 60)
        await press(app, pilot, "escape")
        rows = log_rows(app)
        # map-touch-unmap, seed 1: op 60 unmaps 4 pages on cpu0 (two lines: the call, vb_free)
        assert rows[-2].startswith("     60 cpu0  vm_unmap_ram(") and "vb_free: #2 bits 24-27" in rows[-1]
        assert rows[0].startswith("     56 cpu2  touch(")
        # The reader goes to the top: the log stays there through more ops under help.
        log.focus()
        await press(app, pilot, "home")
        assert not log.follow
        await press(app, pilot, "question_mark")
        await step_to(app, pilot, 30)
        await press(app, pilot, "escape")
        rows = log_rows(app)
        assert rows[0].startswith("      1 cpu1  vm_map_ram(4) = 0xffffc2")   # op 1 maps 4 pages
        assert not any(row.startswith("     90 ") for row in rows)
    run(scenario)


def test_lazy_panel_lines_are_drawn_as_textuals_visual_draws_them():
    # GIVEN the app after 300 ops of map-touch-unmap (the gauge, counters, sparkline and
    # stale counts all non-zero) WHEN each line of the lazy panel is drawn THEN its
    # strips equal Textual's own drawing of that line (Visual.to_strips: segments,
    # styles, the offset meta of text selection), which the panel skips for a line that
    # fits (lines.text_strip) because it costs five times as much
    from rich.segment import Segment
    from textual.visual import Visual, visualize

    from vmapviz.tui.panels.lazy import LazyPanel

    async def scenario(app, pilot):
        await step_to(app, pilot, 300)
        panel = app.query_one(LazyPanel)
        width, lines = panel.content_size.width, panel._text_lines()
        assert len(lines) >= 9 and any("TLB flushes" in line.plain for line in lines)
        for line in lines:
            ours = panel._line_strips(line, width)
            textual = Visual.to_strips(panel, visualize(panel, line), width, None, panel.visual_style)
            assert [list(Segment.simplify(s)) for s in ours] == [list(Segment.simplify(s)) for s in textual], line.plain

    run(scenario)
