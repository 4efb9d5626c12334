"""Helpers for the TUI tests: a paused app on the real driver, and the screen as text."""

from __future__ import annotations

import io

import pytest

from rich.console import Console

from vmapviz.run.child import ChildDriver
from vmapviz.run.spec import RunSpec
from vmapviz.tui.app import VmapvizApp
from vmapviz.tui.headless import settle


def screen_text(app) -> str:
    """What the terminal shows, as plain text."""
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(),
                      record=True, color_system=None, legacy_windows=False, force_terminal=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def paused_app(tmp_path=None, child: bool = False, **kw) -> VmapvizApp:
    """An app on the real driver, not playing: every op comes from a key or a step.
    The driver is a thread of this process, or with `child` a child process's
    (run/child.py, the CLI's default)."""
    kw.setdefault("seed", 1)
    app_kw = {k: kw.pop(k) for k in ("theme", "lesson", "driver") if k in kw}
    spec = RunSpec.of(kw.pop("workload", "map-touch-unmap"), **kw)
    if child:
        app_kw["driver"] = ChildDriver(spec)
    return VmapvizApp(spec, autoplay=False, screenshot_dir=tmp_path, **app_kw)


MODES = pytest.mark.parametrize("child", [False, True], ids=["thread", "child"])   # where the driver runs


async def step_to(app, pilot, ops: int) -> None:
    """Run `ops` more ops in one driver command and wait until they are on screen."""
    target = (app.driver.latest.op if app.driver.latest else 0) + ops
    app.driver.step(ops)
    await settle(app, pilot, target)


CHARS = {"space": " ", "slash": "/", "question_mark": "?", "plus": "+", "minus": "-",
         "equals_sign": "="}


def burst(app, *keys) -> None:
    """Send keys with no wait between them, as a terminal delivers fast typing or a
    paste: each is queued before the app has handled the one before."""
    from textual import events
    for key in keys:
        event = events.Key(key, CHARS.get(key, key if len(key) == 1 else None))
        event.set_sender(app)
        app._driver.send_message(event)
