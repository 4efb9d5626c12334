"""The TUI under abuse: keys faster than it handles them, terminals too small for it,
signals.  No key sequence may crash the app; a crash would exit non-zero."""

from __future__ import annotations

import asyncio
import os
import pty
import random
import select
import signal
import sys
import time

import pytest
from textual.containers import ScrollableContainer
from textual.widgets import Footer
from tui_helpers import burst, paused_app, screen_text, settle

import vmapviz
from vmapviz.tui.app import VmapvizApp
from vmapviz.tui.commands import CommandPalette
from vmapviz.tui.minsize import MIN_COLS, MIN_ROWS
from vmapviz.run.spec import RunSpec

SIZE = (120, 40)


def run(scenario, size=SIZE, tmp_path=None, **kw):
    async def main():
        app = paused_app(tmp_path, **kw)
        async with app.run_test(size=size) as pilot:
            for panel in app.query("LazyPanel"):
                panel.flash_seconds = 0
            await settle(app, pilot, 0)
            await scenario(app, pilot)
        app.stop_driver()
        assert app._exception is None and app.return_code in (None, 0)
    asyncio.run(main())


async def idle(app, pilot, seconds=0.3):
    await pilot.pause(seconds)
    assert app.is_running and app._exception is None


@pytest.mark.parametrize("keys", [("c", "enter", "enter"), ("w", "enter", "enter"),
                                  ("slash", "enter", "enter"), ("question_mark", "escape", "escape"),
                                  ("c", "escape", "escape"), ("ctrl+p", "enter", "enter")])
def test_a_modal_answers_once(keys):
    async def scenario(app, pilot):
        # the picker opens on the current choice: c enter is "4 CPUs", w enter the
        # current workload; the second key must not pop the main screen
        burst(app, *keys)
        await idle(app, pilot)
        # a busy machine can deliver the enters before the modal's list or input has the
        # focus (or the palette its list): nothing is chosen, the modal stays open
        if len(app.screen_stack) == 2:
            await pilot.press("escape")
        assert len(app.screen_stack) == 1 and app.screen is app.screen_stack[0]
        # a slow machine can also deliver the first enter after the palette has listed its
        # commands: it runs the first one (play), which is an answer too; pause to compare
        app.driver.pause()
        await settle(app, pilot)
        assert (app.snap.workload, app.snap.config.nr_cpus) == ("map-touch-unmap", 4)
    run(scenario)


@pytest.mark.parametrize("key", ["pageup", "pagedown"])
def test_page_keys_right_after_ctrl_p(key):
    async def scenario(app, pilot):
        burst(app, "ctrl+p", key, key)
        await idle(app, pilot)
        assert CommandPalette.is_open(app)
        await pilot.press(key, "escape")
        assert not CommandPalette.is_open(app)
    run(scenario)


# v cycles the five registered generations (vanilla, posted, merged, modern, modern-6.18), b the two widths: a full round of presses
# in one burst comes back to the start, one more does not.
@pytest.mark.parametrize("key, field, start, round_", [("v", "variant", "merged", 5), ("b", "bits", 64, 2)])
def test_a_full_round_of_toggles_returns_to_the_start(key, field, start, round_):
    async def scenario(app, pilot):
        burst(app, *[key] * round_)
        await idle(app, pilot)
        await settle(app, pilot)
        assert getattr(app.driver.config, field) == getattr(app.snap.config, field) == start
        burst(app, *[key] * (round_ + 1))
        await idle(app, pilot)
        await settle(app, pilot)
        assert getattr(app.snap.config, field) != start
    run(scenario)


def test_screenshots_at_one_op_never_overwrite(tmp_path):
    async def scenario(app, pilot):
        for _ in range(3):
            await pilot.press("s")
        await pilot.pause(0.2)
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == ["vmapviz-map-touch-unmap-op0-2.svg", "vmapviz-map-touch-unmap-op0-3.svg",
                         "vmapviz-map-touch-unmap-op0.svg"]
    run(scenario, tmp_path=tmp_path)


def overflow(app) -> list[str]:
    """Widgets drawn outside their container, or a layout that scrolls.  A scrolling
    panel's content (the explanation) may be taller than its box, never wider."""
    screen = app.screen
    bad = [f"the screen scrolls by {screen.max_scroll_x},{screen.max_scroll_y}"] \
        if screen.max_scroll_x or screen.max_scroll_y else []
    for w in screen.walk_children():
        if not (w.display and w.region.area) or isinstance(w.parent, Footer):
            continue
        box, r = w.parent.region, w.region
        if isinstance(w.parent, ScrollableContainer):
            inside = box.x <= r.x and r.right <= box.right and r.y >= box.y
        else:
            inside = box.contains_region(r)
        if not inside:
            bad.append(f"{w!r} at {r} outside {box}")
    return bad


def test_small_terminals_get_a_message_and_larger_ones_a_layout_that_fits():
    async def scenario(app, pilot):
        message = f"terminal too small (need {MIN_COLS}x{MIN_ROWS})"
        # every width from 5 to 17 (the map's cursor fell past the row there), the sizes
        # that drew outside the borders, and just below the minimum either way
        for size in [(w, 24) for w in range(5, 18)] + [(40, 12), (20, 8), (10, 5),
                                                         (MIN_COLS - 1, 40), (120, MIN_ROWS - 1)]:
            await pilot.resize_terminal(*size)
            await idle(app, pilot, 0.05)
            shown = "".join(screen_text(app).split())   # wrapped, even inside words
            assert message.replace(" ", "") in shown and overflow(app) == [], size
        for size in [(MIN_COLS, MIN_ROWS), (64, 22), (80, 24), (100, 30), (109, 31), (110, 32), (200, 60)]:
            await pilot.resize_terminal(*size)
            await idle(app, pilot, 0.05)
            text = screen_text(app)
            assert "too small" not in text and "vmalloc" in text and overflow(app) == [], size
        # and back to tiny then large, stepping on the way
        await pilot.resize_terminal(12, 6)
        await pilot.press("n")
        await pilot.resize_terminal(*SIZE)
        await settle(app, pilot, 1)
        assert "op 1 " in screen_text(app)
    run(scenario)


# Every key the app and its screens answer, and some they do not.  Not q: it quits.
KEYS = ["space", "n", "right", "left", "up", "down", "f", "plus", "minus", "z", "Z", "0", "enter",
        "escape", "w", "v", "c", "b", "a", "p", "r", "e", "slash", "s", "question_mark", "tab",
        "home", "pageup", "pagedown", "ctrl+p", "backspace", "x", "1", "4", "8"]


async def mash(app, pilot, rng: random.Random, n: int) -> None:
    """n random keys in bursts of 1 to 30, then check the app is alive and consistent."""
    sent = 0
    while sent < n:
        keys = [rng.choice(KEYS) for _ in range(min(n - sent, rng.randint(1, 30)))]
        burst(app, *keys)
        sent += len(keys)
        await pilot.pause(rng.choice([0, 0, 0.01, 0.05]))
        assert app.is_running and app._exception is None, keys
    # close whatever is open, stop the run, and the screen shows the driver's state
    for _ in range(4):
        if len(app.screen_stack) > 1:
            await pilot.press("escape")
    assert len(app.screen_stack) == 1
    app.driver.pause()
    await settle(app, pilot)
    assert app.snap is app.driver.latest and app.snap.config == app.driver.config
    assert f"op {app.snap.op:,}" in screen_text(app)
    cfg = app.snap.config
    assert cfg.vmalloc_start <= app.amap.cursor < cfg.vmalloc_end
    assert app.driver._thread.is_alive() and app.driver._delivery.is_alive()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_key_sequences_never_crash(tmp_path, seed):
    async def scenario(app, pilot):
        await mash(app, pilot, random.Random(seed), 150)
    run(scenario, tmp_path=tmp_path)


# -- signals: the terminal is restored as q restores it ------------------------------------

ROOT = os.path.dirname(os.path.dirname(vmapviz.__file__))   # this checkout, from any directory
RESTORE = {"alternate screen off": b"\x1b[?1049l", "mouse reporting off": b"\x1b[?1000l",
           "cursor shown": b"\x1b[?25h"}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_restore_the_terminal(sig, tmp_path):
    pid, fd = pty.fork()
    if pid == 0:  # the child: the TUI on the pty
        os.chdir(tmp_path)
        os.environ.update(TERM="xterm-256color", COLUMNS="100", LINES="30", PYTHONPATH=ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "vmapviz", "tui", "vmalloc-churn"])
    out = b""

    def read(until: bytes, seconds: float) -> None:
        nonlocal out
        end = time.monotonic() + seconds
        while until not in out and time.monotonic() < end:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    return
    read(b"vmalloc-churn", 60)          # the header is on screen
    assert b"\x1b[?1049h" in out         # in the alternate screen
    start = len(out)
    os.kill(pid, sig)
    read(b"\x1b[?1049l", 30)
    read(b"never", 1)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    tail = out[start:]
    assert {what: code in tail for what, code in RESTORE.items()} == {what: True for what in RESTORE}
    assert os.waitstatus_to_exitcode(status) == 130


def test_screenshot_waits_for_every_op_in_chunks(tmp_path, capsys):
    from vmapviz.faces.export import save_screenshot
    from vmapviz.tui.headless import SCREENSHOT_CHUNK
    ops = 2 * SCREENSHOT_CHUNK + 7    # three chunks, the last of 7 ops
    out = save_screenshot(tmp_path / "s.svg", RunSpec.of("map-touch-unmap", nr_cpus=1), ops, progress=True)
    svg = (tmp_path / "s.svg").read_text()
    assert out == str(tmp_path / "s.svg") and f"op&#160;{ops:,}" in svg
    # a workload that ends first: agp-bug has 7 ops; the picture is of its end
    save_screenshot(tmp_path / "a.svg", RunSpec.of("agp-bug"), SCREENSHOT_CHUNK + 1)
    assert "FINISHED" in (tmp_path / "a.svg").read_text()


@pytest.mark.parametrize("body, problem", [
    (b"\x7fELF\x02\x01\x01\x00\x00\x00\xe8\x00\n", "1: not UTF-8 text (byte 11), not a vmapviz trace"),
    (b'{"vmapviz": "trace", "version": 1, "config": {"vmalloc_start": 1.5}}\n',
     "1: config vmalloc_start must be a non-negative integer below 2**64 or null, not 1.5"),
    (b'{"vmapviz": "trace", "version": 1, "config": {}}\n{"cpu": 0, "call": [1]}\n', "2: unknown call [1]"),
])
def test_the_w_picker_names_a_bad_traces_line(tmp_path, body, problem):
    trace = tmp_path / "t.jsonl"
    trace.write_bytes(body)

    async def scenario(app, pilot):
        await pilot.press("w")
        app.screen.query_one("#pick-input").focus()
        await pilot.press(*str(trace), "enter")
        await settle(app, pilot)
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert len(errors) == 1 and errors[0].startswith(f"{trace}:{problem}")
        assert app.snap.workload == "map-touch-unmap"
    run(scenario)


@pytest.mark.parametrize("seed", [0, 3])
def test_palette_bursts_while_running_at_full_speed(seed):
    # ctrl+p and what a hurried user types after it, at full speed: found by key mashing,
    # a search started by a key behind the one that closed the palette (NoMatches), and
    # ctrl+p again while the last palette was being removed (DuplicateIds)
    rng = random.Random(seed)

    async def main():
        app = VmapvizApp(RunSpec.of("map-touch-unmap", speed=None))
        async with app.run_test(size=SIZE) as pilot:
            for _ in range(40):
                burst(app, "ctrl+p", *(rng.choice(["x", "question_mark", "a", "escape", "enter", "backspace"])
                                       for _ in range(rng.randint(1, 6))))
                await pilot.pause(rng.choice([0, 0.01, 0.03]))
                assert app._exception is None
            await pilot.pause(0.5)
            app.stop_driver()
            # Every key queued handled first: run_test() ends by closing the app's screens
            # itself, racing the app's own handling of a key still queued (on a loaded
            # machine: ScreenStackError); the app's own exit (q) drops such keys.
            await pilot.pause()
            assert app.is_running and app._exception is None
    asyncio.run(main())


def test_a_pick_list_pages_only_once_laid_out():
    # options added, and a page key, before the list has laid out its lines: nothing
    # moves (Textual 8.2.8's OptionList raises KeyError 2 here); after the layout, a
    # page down from option 2 of 8 (all in one page) lands on the last
    from textual.app import App
    from textual.widgets.option_list import Option

    from vmapviz.tui.screens.dialogs import PickList

    async def main():
        app = App()
        async with app.run_test() as pilot:
            pick = PickList()
            await app.screen.mount(pick)
            await pilot.pause()
            pick.add_options([Option(str(i), id=str(i)) for i in range(8)])
            pick.highlighted = 2
            pick.action_page_down()
            assert pick.highlighted == 2
            await pilot.pause()
            pick.action_page_down()
            assert pick.highlighted == 7
    asyncio.run(main())
