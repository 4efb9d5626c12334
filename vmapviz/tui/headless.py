"""The app driven without a person: `vmapviz screenshot`, `vmapviz export` and the
Pilot tests wait here until the screen shows what the driver has done.

`Headless` is the one headless session the pictures use: the app paused, run to an
op (or to the first op that flushes), for as long as the ops take; SIGTERM, SIGINT or
ctrl+c ends it with KeyboardInterrupt (exit status 130), never a false timeout.
`slide()` dresses the screen for a slide: the presenter layout if asked, no footer of
keys, no PAUSED badge.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ..kernel.events import UNTIL
from ..run.driver import where
from ..run.snapshot import Snapshot
from ..run.spec import RunSpec

MAX_UNTIL = 1_000_000   # ops `--until-flush` runs at most looking for a flush


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
        done, result = threading.Event(), {}
        kinds = UNTIL[until] if until and n else frozenset()
        driver.apply(functools.partial(where, kinds=kinds), lambda r: (result.setdefault("r", r), done.set()))
        await self._wait(done)
        self.op, hit = result["r"]
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
    async with app.run_test(size=tuple(size)) as pilot:
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
