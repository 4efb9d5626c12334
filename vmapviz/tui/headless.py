"""The app driven without a person: `vmapviz screenshot`, `vmapviz export` and the
Pilot tests wait here until the screen shows what the driver has done.

`Headless` is the one headless session the pictures use: the app paused, run to an
op (or to the first op that flushes), for as long as the ops take; SIGTERM, SIGINT or
ctrl+c ends it with KeyboardInterrupt (exit status 130), never a false timeout.
`slide()` dresses the screen for a slide: the presenter layout if asked, no footer of
keys, no PAUSED badge.  `screen()` (a screenshot) and `film()` (the frames of an
export) are the one sequence that runs such a session through its ops (`walk`);
faces/export.py turns what they show into image files.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ..kernel.events import UNTIL
from ..run.driver import where
from ..run.snapshot import Snapshot
from ..run.spec import RunSpec

SCREENSHOT_CHUNK = 5000  # `screenshot` runs this many ops per driver command (its progress bar)


async def settle(app, pilot, op: int | None = None, timeout: float | None = 30.0) -> None:
    """Wait until `app` shows the driver's newest snapshot (at op `op` or later, or the
    end of the workload, or an error), the run paused, and has repainted; TimeoutError
    after `timeout` seconds (None: as long as it takes)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while deadline is None or time.monotonic() < deadline:
        await pilot.pause(0.02)
        latest = app.driver.latest
        if latest is None:
            continue
        reached = op is None or latest.op >= op or latest.finished or latest.error
        if reached and app.snap is latest and not latest.running:
            await pilot.pause()
            return
    raise TimeoutError(f"the app did not reach op {op} within {timeout:.0f} s")


@dataclass(frozen=True)
class Reached:
    """Where a run_to() stopped: the op, whether that op emitted the event asked for,
    and whether the workload ended (or failed) first."""
    op: int
    hit: bool
    ended: bool


class Headless:
    """A paused app in Textual's headless test driver, stepped by its driver."""

    def __init__(self, app, pilot) -> None:
        self.app, self.pilot = app, pilot
        self.op = 0
        self.stopped = False   # a signal came

    def interrupt(self) -> None:
        self.stopped = True

    async def _wait(self, done: threading.Event) -> None:
        while not done.is_set():
            if self.stopped:
                raise KeyboardInterrupt
            await self.pilot.pause(0.02)

    async def run_to(self, op: int, until: str | None = None) -> Reached:
        """Run to op `op` (never back), or with `until` ("flush", "purge", ...) to the
        first op before it that emits such an event; wait, as long as the ops take, until
        the screen shows it."""
        driver = self.app.driver
        self.app.user_acted()   # show the answer at once, as after a key
        n = max(0, op - self.op)
        if n:
            driver.step_until(until, n) if until else driver.step(n)
        done, result = threading.Event(), list[tuple[int, bool]]()
        kinds = UNTIL[until] if until and n else frozenset()

        def reached(r: tuple[int, bool]) -> None:
            result.append(r)
            done.set()

        driver.apply(functools.partial(where, kinds=kinds), reached)
        await self._wait(done)
        self.op, hit = result[0]
        while True:   # the snapshot of that op, on screen
            latest = driver.latest
            if latest is not None and latest.op == self.op and self.app.snap is latest and not latest.running:
                break
            if self.stopped:
                raise KeyboardInterrupt
            await self.pilot.pause(0.02)
        await self.pilot.pause()
        snap: Snapshot = self.app.snap
        return Reached(self.op, hit, bool(snap.finished or snap.error) and self.op < op)

    def slide(self, presenter: bool) -> None:
        """The screen as a slide: no footer of keys, no PAUSED badge; the presenter
        layout (key l) if asked."""
        from .footer import FitFooter
        app = self.app
        if presenter:
            app.action_presenter()
        app.query_one(FitFooter).display = False
        app.header.slide = True
        app.header.refresh_text()
        app.clear_notifications()


@asynccontextmanager
async def headless(size: tuple[int, int], spec: RunSpec, theme: str | None = None):
    """A paused app at op 0 of `spec` in a `size` screen, its flashes off, signals caught."""
    from .app import VmapvizApp
    from .panels.lazy import LazyPanel
    app = VmapvizApp(spec, autoplay=False, theme=theme)
    async with app.run_test(size=(size[0], size[1])) as pilot:
        for panel in app.query(LazyPanel):
            panel.flash_seconds = 0
        session = Headless(app, pilot)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, session.interrupt)
        try:
            await session.run_to(0)
            yield session
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            app.stop_driver()


@dataclass(frozen=True)
class Span:
    """The ops a film shows: a frame at `start` (default: at `every`), then every
    `every` ops, up to `until`, or (`flush`) up to the first op after the first frame
    that flushes the TLB, which gets the last frame."""
    every: int
    until: int
    start: int | None = None
    flush: bool = False

    def targets(self) -> range:
        first = self.every if self.start is None else self.start
        return range(first, self.until + 1, self.every)


async def walk(session: Headless, targets: Iterable[int], flush: bool,
               plain_first: bool = False) -> AsyncIterator[Reached]:
    """Run `session` to each of `targets` in turn (with `flush`, stopping at the first op
    that flushes the TLB, though not on the way to the first target if `plain_first`);
    yield where each stop is, on screen; end at a flush or at the workload's end."""
    for i, target in enumerate(targets):
        plain = not flush or (i == 0 and plain_first)
        reached = await session.run_to(target, None if plain else "flush")
        yield reached
        if reached.hit or reached.ended:
            return


def frames_progress(count: int, progress: bool):
    """A bar on the real stderr: inside run_test, sys.stderr is Textual's capture, which
    claims a terminal, so a pipe would get the bar's animation."""
    from rich.console import Console
    from rich.progress import Progress
    bar = Progress(console=Console(file=sys.__stderr__), disable=not progress, transient=True)
    return bar, bar.add_task("frames", total=count)


def film(spec: RunSpec, span: Span, frame: Callable, size: tuple[int, int], layout: str,
         theme: str | None = None, progress: bool = True) -> None:
    """Run `spec` headless through `span`, dressed as a slide in `layout`; call
    `frame(app, op)` with each frame on screen."""
    async def play() -> None:
        async with headless(size, spec, theme) as session:
            session.slide(layout == "presenter")
            bar, task = frames_progress(len(span.targets()), progress)
            with bar:
                async for reached in walk(session, span.targets(), span.flush, span.start is not None):
                    frame(session.app, reached.op)
                    bar.advance(task)

    asyncio.run(play())


def screen(spec: RunSpec, last: int, first: int = 0, until_flush: bool = False,
           size: tuple[int, int] = (120, 40), layout: str = "full", theme: str | None = None,
           bar: Callable | None = None) -> str:
    """The SVG of the screen at op `last`, or with `until_flush` at the first op after
    `first` that flushes the TLB (before `last`), dressed as a slide in `layout`.  The
    ops run in chunks, as long as they take; `bar(ops)`, if given, makes a progress bar
    for a run of at least a chunk."""
    async def shoot() -> str:
        async with headless(size, spec, theme) as session:
            session.slide(layout == "presenter")
            base = first if until_flush else 0
            chunks = range(base + SCREENSHOT_CHUNK, last, SCREENSHOT_CHUNK)
            targets = [first] if until_flush else []
            targets += [*chunks, last] if base < last else []
            ops = last - base
            shown = bar(ops) if bar is not None and ops >= SCREENSHOT_CHUNK else None
            with shown or contextlib.nullcontext():
                task = shown.add_task("ops", total=ops) if shown else None
                async for _ in walk(session, targets, until_flush, plain_first=True):
                    if shown:
                        shown.update(task, completed=session.op - base)
            app = session.app
            return app.export_screenshot(title=f"vmapviz {app.snap.workload if app.snap else ''}")

    return asyncio.run(shoot())


def screen_lines(app) -> list:
    """The app's screen as lines of Rich segments (what Textual puts in its SVG)."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return [[seg for strip in line for seg in strip] for line in update.strips]
