"""Pilot tests of compare mode: C from the main screen, both maps in lockstep, the
counters and their ratios worked by hand, the keys acting on both runs, the layouts
(stacked at 80x24, side by side at 160x50) and the way back.

map-touch-unmap with 4 CPUs and seed 1: the interleaving picks a CPU for every op with
`random.Random("vmapviz-schedule:1").randrange(4)` (every stream is always ready), so a
CPU's 3rd, 6th, ... op is an unmap.  Vanilla flushes at every vunmap: 1 flush and 3 IPIs
per iteration; merged flushes nothing before its first purge (op ~19,200).
"""

from __future__ import annotations

import asyncio
import random

from textual.screen import Screen
from tui_helpers import MODES, paused_app, screen_text, settle

from vmapviz.tui.commands import palette_entries
from vmapviz.tui.app import VmapvizApp
from vmapviz.tui.screens.compare import CompareScreen, TwinMap
from vmapviz.tui.screens.scaling import ScalingScreen
from vmapviz.run.spec import RunSpec


def unmaps(ops: int, cpus: int = 4) -> tuple[int, int]:
    """(vunmaps in the first `ops` ops, the op of the first one)."""
    rng = random.Random("vmapviz-schedule:1")
    done, n, first = [0] * cpus, 0, None
    for op in range(1, ops + 1):
        cpu = rng.randrange(cpus)
        done[cpu] += 1
        if done[cpu] % 3 == 0:
            n += 1
            first = first or op
    return n, first


def run(scenario, size=(120, 40), **kw):
    """`scenario(app, pilot)` on a paused app (`child=True`: its driver, and so compare
    mode's, in a child process)."""
    async def main():
        app = paused_app(None, nr_cpus=4, **kw)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot, 0)
            await scenario(app, pilot)
        app.stop_driver()
    asyncio.run(main())


async def open_compare(app, pilot, paused: bool = True) -> CompareScreen:
    await pilot.press("C")
    for _ in range(100):
        await pilot.pause(0.02)
        if isinstance(app.screen, CompareScreen):
            break
    screen = app.screen
    assert isinstance(screen, CompareScreen)
    if paused:
        await settle(screen, pilot, 0)
    return screen


async def step(screen, pilot, ops: int) -> None:
    target = screen.driver.latest.op + ops
    screen.driver.step(ops)
    await settle(screen, pilot, target)


async def until(pilot, condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)


def counter_line(app, name: str) -> list[str]:
    line = next(l for l in screen_text(app).splitlines() if f" {name} " in l)
    return line.split("│")[1].split()[-3:]


@MODES
def test_both_maps_advance_in_lockstep_and_the_ratios_are_the_hand_counts(child):
    async def scenario(app, pilot):
        screen = await open_compare(app, pilot)
        assert screen.driver.variants == ("vanilla", "merged")   # the running merged against vanilla
        await step(screen, pilot, 300)
        vanilla, merged = screen.snap.sides
        assert vanilla.op == merged.op == 300
        assert screen.maps[0].snap is vanilla and screen.maps[1].snap is merged
        n, _ = unmaps(300)
        assert counter_line(app, "flushes") == [f"{n}", "0", "∞"]
        assert counter_line(app, "IPIs") == [f"{3 * n:,}", "0", "∞"]
        # n steps one op on both
        await pilot.press("n")
        await settle(screen, pilot, 301)
        assert [s.op for s in screen.snap.sides] == [301, 301]
        n301, _ = unmaps(301)
        assert counter_line(app, "flushes") == [f"{n301}", "0", "∞"]
    run(scenario, child=child)


@MODES
def test_f_runs_both_to_the_next_flush_on_either(child):
    async def scenario(app, pilot):
        screen = await open_compare(app, pilot)
        _, first = unmaps(100)
        await pilot.press("f")
        await settle(screen, pilot, first)
        assert screen.snap.op == first              # vanilla's first vunmap
        text = screen_text(app)
        assert "vanilla: vunmap() unlinked the area from vmlist" in text.replace("\n", " ")
        assert counter_line(app, "flushes") == ["1", "0", "∞"]
        assert counter_line(app, "IPIs") == ["3", "0", "∞"]
    run(scenario, child=child)


@MODES
def test_space_and_speed_keys_act_on_the_pair(child):
    async def scenario(app, pilot):
        screen = await open_compare(app, pilot)
        assert screen.driver.speed == 20
        await pilot.press("plus")
        await pilot.pause(0.1)
        assert screen.driver.speed == 50
        await pilot.press("minus", "minus")
        await pilot.pause(0.1)
        assert screen.driver.speed == 10
        await pilot.press("space")
        for _ in range(200):
            await pilot.pause(0.02)
            if screen.snap.running and screen.snap.op > 0:
                break
        assert screen.snap.running and screen.snap.sides[1].running
        await pilot.press("space")
        await settle(screen, pilot)
        assert not screen.driver.running
        assert screen.snap.sides[0].op == screen.snap.sides[1].op > 0
    run(scenario, child=child)


def test_the_maps_share_one_zoom_and_one_cursor():
    async def scenario(app, pilot):
        screen = await open_compare(app, pilot)
        await step(screen, pilot, 900)
        a, b = screen.maps
        assert a.view.shift == b.view.shift          # both fit the larger used span
        await pilot.press("z", "z")                  # the first map has the focus
        await pilot.pause(0.1)
        assert not a.fit and not b.fit
        assert a.view.shift == b.view.shift
        await pilot.press("down", "down", "right")
        await pilot.pause(0.1)
        assert a.cursor == b.cursor == a.view.base + 2 * a.view.row_bytes + a.view.cell_bytes
        b.focus()                                    # the other one leads as well
        await pilot.press("Z")
        await pilot.pause(0.1)
        assert a.view.shift == b.view.shift and a.top == b.top and a.cursor == b.cursor
        await pilot.press("0")
        await pilot.pause(0.1)
        assert a.fit and b.fit and a.view.shift == b.view.shift
    run(scenario)


def test_stacked_at_80x24():
    async def scenario(app, pilot):
        screen = await open_compare(app, pilot)
        await step(screen, pilot, 300)
        a, b = (m.region for m in screen.maps)
        assert a.x == b.x and b.y >= a.y + a.height and a.width == 80
        text = screen_text(app)
        assert "vanilla v2.6.27" in text and "merged v2.6.28" in text
        assert counter_line(app, "flushes")[2] == "∞"     # the counters fit
    run(scenario, size=(80, 24))


def test_side_by_side_at_160x50():
    async def scenario(app, pilot):
        screen = await open_compare(app, pilot)
        a, b = (m.region for m in screen.maps)
        assert a.y == b.y and b.x >= a.x + a.width and a.width == b.width == 80
    run(scenario, size=(160, 50))


@MODES
def test_escape_returns_to_the_main_screen_and_its_run(child):
    async def scenario(app, pilot):
        await pilot.press("space")                    # the main run plays ...
        screen = await open_compare(app, pilot, paused=False)
        await until(pilot, lambda: screen.driver.running and not app.driver.running)
        assert not app.driver.running                 # ... and waits while compare mode plays
        await pilot.press("escape")
        await until(pilot, lambda: app.driver.running)
        assert type(app.screen) is Screen
        d = screen.driver        # compare mode's driver ended: its thread, or its process
        assert app.driver.running and (d._proc.poll() is not None if child else not d._thread.is_alive())
        await pilot.press("space")
        await settle(app, pilot)
    run(scenario, child=child)


def test_the_palette_compares_with_any_other_generation():
    async def scenario(app, pilot):
        titles = {t: cb for t, _, cb in palette_entries(app)}
        assert {"compare with vanilla", "compare with posted", "compare with modern"} <= set(titles)
        assert "compare with merged" not in titles       # the running one
        titles["compare with modern"]()
        for _ in range(100):
            await pilot.pause(0.02)
            if isinstance(app.screen, CompareScreen):
                break
        assert app.screen.driver.variants == ("merged", "modern")
    run(scenario)


def test_a_workload_the_other_generation_cannot_run_is_refused():
    async def scenario(app, pilot):
        await pilot.press("C")
        await pilot.pause(0.2)
        assert type(app.screen) is Screen
        assert any("vanilla v2.6.27 does not have" in n.message for n in app._notifications)
    run(scenario, workload="vm-map-ram-test")


def test_the_scaling_chart_shows_where_the_run_stands(monkeypatch):
    from vmapviz.models import costmodel
    from vmapviz.tui.screens import scaling
    monkeypatch.setattr(scaling, "chart_table", lambda **kw: costmodel.scaling([1, 2]))

    async def scenario(app, pilot):
        screen = await open_compare(app, pilot)
        await step(screen, pilot, 300)
        await pilot.press("S")
        for _ in range(500):
            await pilot.pause(0.05)
            if "this run" in screen_text(app):
                break
        assert isinstance(app.screen, ScalingScreen)
        text = screen_text(app)
        assert "14,700" in text and "2,900" in text             # the model's 1-thread row
        from vmapviz.tui.words.contrast import sim_ns_per_op
        ns = sim_ns_per_op(screen.snap.sides[0])
        assert f"vanilla: {ns:,.0f} ns per op, {3 * ns:,.0f} per 3 ops" in text
        # where the time goes, as stacked bars per thread count: at 2 threads vanilla
        # waits for vmlist_lock (█) as long as it spends in the IPI round trip (▓)
        assert "where the time goes, per iteration" in text and "█ lock wait" in text
        bar = next(line for line in text.splitlines() if "vanilla   2 " in line and " ns" in line)
        assert "█" in bar and "▓" in bar
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is screen
    run(scenario)


def test_vmapviz_compare_opens_on_compare_mode_and_escape_quits():
    from vmapviz.run.compare import CompareDriver

    async def main():
        app = VmapvizApp(compare=CompareDriver(RunSpec.of("map-touch-unmap", nr_cpus=4), ("vanilla", "modern")))
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(100):
                await pilot.pause(0.02)
                if isinstance(app.screen, CompareScreen):
                    break
            screen = app.screen
            assert isinstance(screen, CompareScreen) and screen.standalone
            assert [type(m) for m in screen.maps] == [TwinMap, TwinMap]
            # one driver: the pair's (no idle main run behind compare mode)
            import threading
            assert [t.name for t in threading.enumerate()].count("vmapviz-driver") == 1
            await pilot.press("escape")
            await pilot.pause(0.2)
        assert app.return_code == 0
        app.stop_driver()
    asyncio.run(main())


def test_the_scaling_chart_takes_one_generation_per_feature_set():
    # posted and merged share their registry features (the model cannot tell them
    # apart): the chart keeps the later, merged; vanilla's are its own.
    from vmapviz.kernel.generations import GENERATIONS
    from vmapviz.tui.screens.scaling import chart_generations
    gens = chart_generations()
    assert "vanilla" in gens and "merged" in gens and "posted" not in gens
    assert len({GENERATIONS[g].features for g in gens}) == len(gens)
    assert {GENERATIONS[g].features for g in gens} == {g.features for g in GENERATIONS.values()}


def unmap_ops(ops: int, cpus: int = 4) -> list[int]:
    """The ops among the first `ops` that are a vunmap (a CPU's 3rd, 6th, ... op):
    vanilla flushes the TLB at each of them."""
    rng = random.Random("vmapviz-schedule:1")
    done, found = [0] * cpus, []
    for op in range(1, ops + 1):
        cpu = rng.randrange(cpus)
        done[cpu] += 1
        if done[cpu] % 3 == 0:
            found.append(op)
    return found


async def at_op(screen, pilot, op: int) -> None:
    """Wait until compare mode shows both sides at `op`, paused."""
    for _ in range(1500):
        await pilot.pause(0.02)
        snap = screen.snap
        if snap is not None and snap is screen.driver.latest and not snap.running and \
                [s.op for s in snap.sides] == [op, op]:
            return
    raise AssertionError(f"compare mode did not reach op {op}")


def test_compare_mode_travels_in_time_on_both_sides():
    """Issue 23 §4: N, F and g act on both sides; ? opens compare mode's own help."""
    from vmapviz.tui.screens.dialogs import HelpScreen

    async def scenario(app, pilot):
        screen = await open_compare(app, pilot)
        assert screen.driver.variants == ("vanilla", "merged")
        # GIVEN both sides at op 20
        screen.driver.step(20)
        await at_op(screen, pilot, 20)
        # WHEN N: both go back one op, to what a fresh run shows at op 19: vanilla has
        # flushed once per vunmap so far, merged not at all (no purge yet)
        await pilot.press("N")
        await at_op(screen, pilot, 19)
        vanilla, merged = screen.snap.sides
        assert vanilla.stats.tlb_flushes == len(unmap_ops(19)) and merged.stats.tlb_flushes == 0
        # F: back to the last op before 19 that flushed on either side (vanilla's last vunmap)
        await pilot.press("F")
        last = max(u for u in unmap_ops(18))
        await at_op(screen, pilot, last)
        assert screen.snap.sides[0].stats.tlb_flushes == len(unmap_ops(last))
        # g 5 enter: both at op 5
        await pilot.press("g")
        await pilot.pause(0.1)
        await pilot.press("5", "enter")
        await at_op(screen, pilot, 5)
        assert screen.snap.sides[0].stats.tlb_flushes == len(unmap_ops(5))
        # ?: compare mode's own keys, the time travel among them
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "go back to the previous TLB flush" in text and "leave compare mode" in text
        assert "time strip" not in text and "every key, panel and glyph" not in text   # not here
    run(scenario)


def test_compare_footer_offers_help():
    async def scenario(app, pilot):
        await open_compare(app, pilot)
        assert "? help" in screen_text(app)
    run(scenario)


def test_the_palette_in_compare_mode_offers_its_rows_of_the_action_table():
    """Compare mode is a mode of the app: while it is open, ctrl+p lists its keys (and
    its way out), not the main run's restarts, and an entry acts on both sides."""
    async def scenario(app, pilot):
        screen = await open_compare(app, pilot)
        entries = {title: run for title, _, run in palette_entries(app)}
        assert {"play", "step", "back", "go to op"} <= set(entries)
        assert not [t for t in entries if t.startswith(("workload:", "variant:", "compare with", "CPUs:"))]
        entries["step"]()
        await at_op(screen, pilot, 1)
    run(scenario)
