"""Pilot tests of the classroom keys: stepping back, the timeline strip, quiz mode and
a lesson played to its end."""

import asyncio
import io

import pytest
from rich.console import Console
from textual.widgets import Input

from vmapviz.teaching.lesson import catalog, find
from vmapviz.tui.app import VmapvizApp
from vmapviz.tui.headless import settle
from vmapviz.tui.panels.lesson import LessonPanel
from vmapviz.tui.screens.quiz import QuizScreen
from vmapviz.tui.panels.timeline import OpScreen, TimelineStrip, cell_of, cells
from vmapviz.run.child import ChildDriver
from vmapviz.run.spec import RunSpec

from tui_helpers import MODES, paused_app, screen_text, step_to

SIZE = (120, 40)


def without_strip(text: str) -> list[str]:
    """The screen but the timeline strip's line: after stepping back the strip still
    shows the ops run beyond (that is its point); everything else must be the same."""
    lines = text.splitlines()
    return lines[:1] + lines[2:]


async def steady_text(app, pilot) -> str:
    """The screen once the log has scrolled to its newest line (after a refresh)."""
    log = app.log_panel
    for _ in range(100):
        await pilot.pause(0.05)
        if log.scroll_y == log.max_scroll_y:
            break
    await pilot.pause(0.1)
    return screen_text(app)


async def fresh_screen(ops: int) -> str:
    app = paused_app()
    async with app.run_test(size=SIZE) as pilot:
        await step_to(app, pilot, ops)
        text = await steady_text(app, pilot)
        app.stop_driver()
    return text


async def wait_op(app, pilot, op):
    for _ in range(500):
        await settle(app, pilot)
        if app.snap is not None and app.snap.op == op:
            await pilot.pause(0.2)
            return
    raise AssertionError(f"op {app.snap.op if app.snap else None}, not {op}")


def test_step_back_shows_what_a_fresh_run_to_that_op_shows():
    async def go():
        expected_49, expected_50 = await fresh_screen(49), await fresh_screen(50)
        app = paused_app()
        async with app.run_test(size=SIZE) as pilot:
            await step_to(app, pilot, 50)
            await pilot.press("N")
            await wait_op(app, pilot, 49)
            back = await steady_text(app, pilot)
            assert " op 49 of 50 " in back.splitlines()[1]
            await pilot.press("n")                        # forward again: the same op 50
            await wait_op(app, pilot, 50)
            forward = await steady_text(app, pilot)
            app.stop_driver()
        assert without_strip(back) == without_strip(expected_49)
        assert without_strip(forward) == without_strip(expected_50)
    asyncio.run(go())


def test_the_strip_marks_blocks_and_a_click_jumps():
    async def go():
        app = paused_app(nr_cpus=1)
        async with app.run_test(size=SIZE) as pilot:
            await step_to(app, pilot, 7000)               # 1 CPU: the first flush is op 6912
            strip = app.query_one(TimelineStrip)
            drawn = cells(strip.marks, strip.end, strip._width())
            flush_cells = [i for i, (g, op) in enumerate(drawn) if g == "F"]
            assert len(flush_cells) == 1 and drawn[flush_cells[0]][1] == 6912
            assert any(g == "b" for g, _ in drawn)
            await pilot.click(TimelineStrip, offset=(len(" time ") + flush_cells[0], 0))
            await wait_op(app, pilot, 6912)
            assert any(e.kind == "flush" for e in app.snap.last_op)
            await pilot.press("g")
            await pilot.press(*"25", "enter")
            await wait_op(app, pilot, 25)
            app.stop_driver()
    asyncio.run(go())


@MODES
def test_quiz_mode_right_and_wrong(child):
    async def go():
        app = paused_app(workload="agp-bug", child=child)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("t")
            for _ in range(100):
                await pilot.pause(0.05)
                if isinstance(app.screen, QuizScreen):
                    break
            screen = app.screen
            q = screen.question
            assert q.op == 1 and q.kind in ("address", "walk", "fails")   # vmalloc(4096)
            assert q.answer == {"address": "0xf8800000", "walk": 0, "fails": "no"}[q.kind]  # the tree is empty
            assert app.driver.latest.op == 0                              # not run yet
            assert app.focused is screen.query_one(Input)
            await pilot.press("y", "e", "s", "enter")                     # typed, wrong
            await wait_op(app, pilot, 1)
            assert f"Not quite: the answer is {q.answer}" in str(screen.query_one("#quiz-verdict").render())
            assert (app.score.right, app.score.asked) == (0, 1)
            await pilot.press("enter")                                    # the next question
            for _ in range(100):
                await pilot.pause(0.05)
                if isinstance(app.screen, QuizScreen) and app.screen is not screen:
                    break
            screen = app.screen
            assert screen.question.op == 2
            screen.query_one(Input).value = str(screen.question.answer)
            await pilot.press("enter")
            await wait_op(app, pilot, 2)
            assert str(screen.query_one("#quiz-verdict").render()).startswith("Right!")
            assert (app.score.right, app.score.asked) == (1, 2)
            await pilot.press("escape")
            assert not isinstance(app.screen, QuizScreen)
            app.stop_driver()
    asyncio.run(go())


@MODES
def test_a_lesson_played_to_its_end(child):
    async def go():
        lesson = find("agp-warn")
        spec = RunSpec.of(lesson.workload.name)
        app = VmapvizApp(spec, autoplay=False, lesson=lesson, driver=ChildDriver(spec) if child else None)
        async with app.run_test(size=SIZE) as pilot:
            panel = app.query_one(LessonPanel)
            stops = []
            for i in range(len(lesson.steps)):
                if i:
                    await pilot.press("right_square_bracket")
                for _ in range(200):
                    await pilot.pause(0.05)
                    if app.lesson.index == i:
                        break
                if isinstance(app.screen, QuizScreen):            # stop 3 asks about op 6
                    app.screen.query_one(Input).value = "yes"
                    await pilot.press("enter")
                    await wait_op(app, pilot, 6)
                    assert str(app.screen.query_one("#quiz-verdict").render()).startswith("Right!")
                    await pilot.press("escape")
                await settle(app, pilot)
                stops.append((app.lesson.stop.op, app.snap.op))
                assert "MISMATCH" not in str(panel.render())
            assert [s for s, _ in stops] == [5, 5, 6, 9, 0, 9]
            assert [o for _, o in stops] == [5, 5, 6, 9, 0, 9]
            assert "The end of the lesson" in str(panel.render())
            assert app.snap.config.variant == "merged" and app.snap.stats.warnings == 0
            assert "-lesson-highlight" not in app.amap.classes
            await pilot.press("left_square_bracket")               # back a stop: the restart
            for _ in range(200):
                await pilot.pause(0.05)
                if app.lesson.index == 4:
                    break
            await wait_op(app, pilot, 0)
            assert "stop 5 of 6" in panel.border_title
            app.stop_driver()
    asyncio.run(go())


def cell_styles(app) -> list[list]:
    """The style of every cell the terminal shows, row by row, through any dialog."""
    from rich.segment import Segment
    from rich.style import Style
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(),
                      record=True, color_system="truecolor", legacy_windows=False, force_terminal=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    rows, row = [], []
    for text, style, _ in Segment.simplify(console._record_buffer):
        for ch in text:
            if ch == "\n":
                rows.append(row)
                row = []
            else:
                row.append(style or Style())
    return rows


def coloured_map_cell(app) -> tuple[int, int]:
    """A cell inside the map that shows an area (not the plain panel background)."""
    region = app.amap.content_region
    styles = cell_styles(app)
    plain = styles[region.y + region.height - 1][region.x + region.width - 1].bgcolor
    for y in range(region.y, region.y + region.height):
        for x in range(region.x, region.x + region.width):
            if styles[y][x].bgcolor not in (None, plain):
                return x, y
    raise AssertionError("no coloured cell in the map")


@pytest.mark.parametrize("key,size", [("t", SIZE), ("g", SIZE), ("t", (80, 24))])
def test_the_quiz_and_go_to_dialogs_keep_the_map_in_sight(key, size):
    """Issue 23: the map, blocks and lazy gauge stay visible behind the dialog, in
    their own colours (the dialogs' screen is see-through, the box sits at the bottom)."""
    async def go():
        app = paused_app()
        async with app.run_test(size=size) as pilot:
            await step_to(app, pilot, 40)
            x, y = coloured_map_cell(app)
            before = cell_styles(app)
            await pilot.press(key)
            for _ in range(100):
                await pilot.pause(0.05)
                if isinstance(app.screen, (QuizScreen, OpScreen)):
                    break
            assert isinstance(app.screen, (QuizScreen, OpScreen))
            await pilot.pause(0.2)
            after = cell_styles(app)
            assert after[y][x].bgcolor == before[y][x].bgcolor and after[y][x].color == before[y][x].color
            box = app.screen.query_one("#quiz-box" if key == "t" else "#op-box").region
            for panel in (app.blocks, app.panels["lazy"]):                      # above the dialog's box
                r = panel.region
                assert r.y + r.height <= box.y, (panel, r, box)
                row = r.y + 1
                assert [s.bgcolor for s in after[row][r.x:r.right]] == [s.bgcolor for s in before[row][r.x:r.right]]
            app.stop_driver()
    asyncio.run(go())


@pytest.mark.parametrize("name", [item.name.split("-", 1)[1] for item in catalog()])
def test_every_builtin_lesson_plays_to_its_last_stop(name):
    """Every built-in lesson in the TUI, each stop reached and matching (no MISMATCH),
    each lesson question answered right, to 'The end of the lesson'. lazy-flush's stop 3
    note holds "[VMALLOC_START, +80 KiB)", which markup would choke on (issue 23 §5)."""
    async def go():
        lesson = find(name)
        app = VmapvizApp(RunSpec.of(lesson.workload.name), autoplay=False, lesson=lesson)
        async with app.run_test(size=SIZE) as pilot:
            panel = app.query_one(LessonPanel)
            for i, step in enumerate(lesson.steps):
                if i:
                    await pilot.press("right_square_bracket")
                for _ in range(600):
                    await pilot.pause(0.05)
                    if app.lesson.index == i or isinstance(app.screen, QuizScreen):
                        break
                if isinstance(app.screen, QuizScreen):
                    screen = app.screen
                    screen.query_one(Input).value = str(screen.question.answer)
                    await pilot.press("enter")
                    for _ in range(200):
                        await pilot.pause(0.05)
                        if "Right!" in str(screen.query_one("#quiz-verdict").render()):
                            break
                    assert str(screen.query_one("#quiz-verdict").render()).startswith("Right!")
                    await pilot.press("escape")
                for _ in range(600):
                    await pilot.pause(0.05)
                    if app.lesson.index == i:
                        break
                await settle(app, pilot)
                shown = str(panel.render())
                assert app.lesson.index == i and f"stop {i + 1} of {len(lesson.steps)}" in panel.border_title
                assert "MISMATCH" not in shown
                if step.note:                                  # the note as written, brackets and all
                    assert step.note.split("\n")[0][:40] in shown
                if step.action == "highlight" and isinstance(step.value, str):
                    target = {"map": app.amap, "blocks": app.blocks, "lazy": app.panels["lazy"], "log": app.log_panel,
                              "explain": app.explain_box, "inspector": app.inspector}[step.value]
                    assert target.styles.border_top[0] == "heavy"          # the highlight shows
                    assert app.amap.styles.border_top[0] != "heavy" or target is app.amap
            assert "The end of the lesson" in str(panel.render())
            app.stop_driver()
    asyncio.run(go())


def test_the_presenter_layout_keeps_the_lazy_panel_and_l_is_in_the_footer():
    async def go():
        app = paused_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await step_to(app, pilot, 10)
            assert " l " in screen_text(app).splitlines()[-1] or "l presenter" in screen_text(app)
            await pilot.press("l")
            await pilot.pause(0.3)
            assert app.panels["lazy"].display and app.panels["lazy"].region.height >= 5 and app.panels["lazy"].region.width >= 60
            assert not app.blocks.region.height and app.amap.region.height >= 10, app.amap.region
            assert "lazy TLB flushing" in screen_text(app)
            app.stop_driver()
    asyncio.run(go())


def test_the_strip_starts_where_history_begins():
    """Issue 28 item 4: once the timeline has forgotten ops before 1,000, ops
    1,000..1,999 over 10 cells are 100 a cell (worked by hand), the current op's cell is
    found from the start, and the tail says where history begins."""
    marks = {"flush": [1250, 1999], "block": [1000, 1310], "warn": [], "purge": []}
    drawn = cells(marks, 1999, 10, start=1000)
    assert drawn[0] == ("b", 1000) and drawn[2] == ("F", 1250) and drawn[3] == ("b", 1310)
    assert drawn[9] == ("F", 1999) and drawn[5] == ("·", 1500)
    assert cell_of(1000, 1999, 10, 1000) == 0 and cell_of(1999, 1999, 10, 1000) == 9
    strip = TimelineStrip()
    strip.start, strip.op, strip.end = 1000, 1500, 1999
    assert strip._tail() == " op 1,500 of 1,999 from op 1,000 "
    strip.start = 0
    assert strip._tail() == " op 1,500 of 1,999 "


def test_quiz_kinds_and_skipping_ahead():
    """T picks one kind; enter alone skips a question (the op runs, unscored); +N skips
    N ops ahead before the next question."""
    async def go():
        app = paused_app(workload="vmalloc-churn")
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)

            async def quiz_screen(old=None):
                for _ in range(300):
                    await pilot.pause(0.05)
                    if isinstance(app.screen, QuizScreen) and app.screen is not old:
                        return app.screen
                raise AssertionError("no question")
            await pilot.press("T")
            await pilot.pause(0.3)
            app.screen.dismiss("lazy")
            screen = await quiz_screen()
            first = screen.question
            assert first.kind == "lazy" and app.driver.latest.op == first.op - 1
            await pilot.press("enter")                                  # skip it
            screen = await quiz_screen(screen)
            assert screen.question.kind == "lazy" and screen.question.op > first.op
            assert app.score.asked == 0
            at = screen.question.op
            screen.query_one(Input).value = "+500"
            await pilot.press("enter")
            screen = await quiz_screen(screen)
            assert screen.question.kind == "lazy" and screen.question.op > at + 500 - 1
            screen.query_one(Input).value = str(screen.question.answer)
            await pilot.press("enter")
            await wait_op(app, pilot, screen.question.op)
            assert (app.score.right, app.score.asked) == (1, 1)
            app.stop_driver()
    asyncio.run(go())


def test_the_header_names_the_tiny_preset_and_its_constants():
    async def go():
        app = paused_app(tiny=True)
        async with app.run_test(size=(160, 40)) as pilot:
            await step_to(app, pilot, 3)
            header = screen_text(app).splitlines()[0]
            assert ("tiny: 64-page range, VMAP_BBMAP_BITS 16, VMAP_MAX_ALLOC 4, "
                    "lazy_max_pages 16") in header and "2 CPUs" in header
            app.stop_driver()
        app = paused_app(tiny=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await step_to(app, pilot, 3)
            assert "tiny" in screen_text(app).splitlines()[0]
            app.stop_driver()
    asyncio.run(go())


def test_the_help_explains_the_blocks_lists_the_strip_letters_and_the_area_counts():
    """Issue 23 §4: F-/FD, the time strip's W F P b and 'areas N live, M lazy' were
    explained nowhere; the help (?) has a line for each, next to the panels that show them."""
    async def go():
        app = paused_app()
        async with app.run_test(size=SIZE) as pilot:
            await step_to(app, pilot, 5)
            assert "live, 0 lazy" in screen_text(app)              # the lazy panel's wording
            await pilot.press("question_mark")
            await pilot.pause(0.3)
            console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
            console.print(app.screen.query_one("#help-text").content)
            help_text = console.export_text()
            for legend in ("F- FD -D --", "free list (F)", "dirty list (D)", "W F P b ·",
                           "a WARN or BUG, a TLB flush, a purge, a vmap block", "areas 3 live, 2 lazy"):
                assert legend in help_text, legend
            app.stop_driver()
    asyncio.run(go())


def test_quiz_kinds_several_at_once():
    """T's free text takes several kinds: the questions are of those kinds only."""
    async def go():
        app = paused_app(workload="vmalloc-churn")
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("T")
            await pilot.pause(0.3)
            app.screen.query_one("#pick-input", Input).value = "address, flush"
            app.screen.query_one("#pick-input", Input).focus()
            await pilot.press("enter")
            seen = set()
            old = None
            for _ in range(4):
                for _ in range(300):
                    await pilot.pause(0.05)
                    if isinstance(app.screen, QuizScreen) and app.screen is not old:
                        break
                old = app.screen
                assert isinstance(old, QuizScreen)
                seen.add(old.question.kind)
                await pilot.press("enter")                              # skip to the next one
            assert app.quiz_kinds == ["address", "flush"] and seen <= {"address", "flush"}
            assert seen == {"address", "flush"}
            app.stop_driver()
    asyncio.run(go())
