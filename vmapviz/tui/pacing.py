"""Frame pacing: when the app shows the newest of the driver's snapshots.

At most FRAME_MIN apart (30 frames a second), and further apart when the last frames
cost more than the driver's `ui_share` of a CPU: the frame rate drops, the kernel does
not slow down.  A driver in the app's own process (run/driver.py) shares its
interpreter lock with the frames and leaves them 12% of a CPU, a few frames a second
at full speed; one in a child process (run/child.py) leaves them a whole CPU, so the
screen keeps its 30 frames a second.  A key makes the next snapshot or two show at
once, so its answer is on screen without waiting.

Frames are due on a grid (each one interval after the last one's due time, not after
the moment it was shown), and the driver is asked for a few more snapshots a second
than frames are shown: the driver's clock and the frames' beat, and on a busy machine
snapshots arrive unevenly, so at 30 frames a second with 30 snapshots a second a late
frame or two snapshots in one frame cost a frame each time (measured: 23 shown of 27
received a second at 120x40, a 15 ms frame).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..run.snapshot import Snapshot

FRAME_MIN = 1 / 30    # at most 30 snapshots a second on screen
EARLY = FRAME_MIN / 4  # a snapshot this close to its frame is shown now: the driver's
#                       30 a second and these frames' 30 a second are two clocks
UI_DUTY = 0.12        # and at most this share of a CPU spent applying and painting them,
#                       unless the driver says how much it leaves (`ui_share`)
AHEAD = 1.25          # snapshots asked for a second, per frame a second: a new one is
#                       there when a frame is due, though they arrive unevenly


class FramePacer:
    """Holds the newest snapshot not yet shown and shows it (`show`) when its frame is
    due; `app` lends its timers and its driver (asked for no more snapshots than are shown)."""

    def __init__(self, app: Any, show: Callable[[Snapshot], None]) -> None:
        self._app, self._show = app, show
        self._pending: Snapshot | None = None
        self._next_frame = 0.0
        self._eager_until = 0.0
        self._eager_frames = 0
        self._timer = False
        self._cpu_mark = time.thread_time()
        self._duty = getattr(app.driver, "ui_share", UI_DUTY)

    def offer(self, snap: Snapshot) -> None:
        """A new snapshot from the driver: it replaces one still waiting."""
        self._pending = snap
        self._show_pending()

    def hurry(self) -> None:
        """A key was pressed: show the snapshots of the next moments at once."""
        self._next_frame = 0.0
        self._eager_until = time.perf_counter() + 0.4
        self._eager_frames = 2
        self._app.driver.set_snapshot_hz(AHEAD / FRAME_MIN)

    def _show_pending(self) -> None:
        """Show the newest snapshot, unless the last frames cost so much that showing
        one now would take more than the driver's share of a CPU from the simulation: then wait,
        and show whatever is newest when the time comes."""
        if self._pending is None:
            return
        now = time.perf_counter()
        if now < self._next_frame - EARLY:
            if not self._timer:
                self._timer = True
                self._app.set_timer(self._next_frame - now, self._due)
            return
        snap, self._pending = self._pending, None
        cpu = time.thread_time()
        cost, self._cpu_mark = cpu - self._cpu_mark, cpu  # the UI's CPU since the last frame
        self._show(snap)
        interval = max(FRAME_MIN, min(1.0, cost / self._duty))
        # On the grid: a frame shown late does not put the next one off, unless it is
        # a whole interval late (then the grid starts again from now).
        base = self._next_frame if now - self._next_frame < interval else now
        if now < self._eager_until and self._eager_frames > 0:
            self._eager_frames -= 1   # the answer to a key: the next snapshot or two at once
            base, interval = now, 0.0
        self._next_frame = base + interval
        # Ask the driver for few more snapshots than are shown: each one costs it time.
        self._app.driver.set_snapshot_hz(AHEAD / min(max(interval, FRAME_MIN), 0.25))

    def _due(self) -> None:
        self._timer = False
        self._show_pending()
