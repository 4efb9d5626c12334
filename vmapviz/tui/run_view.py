"""A run on screen, written once for the main screen and compare mode: its driver's
thread, the delivery of its snapshots, and the keys that act on it (play/pause, step,
run until, step back, back to a flush, go to op, faster and slower, zoom and fit,
reset: the action table's rows, actions.py).

`RunView` is mixed into the app (the main run) and into compare mode's screen (the
pair).  Each offers `driver` (a `Driver`, or a `CompareDriver`: the same commands),
`snap` (its newest snapshot on screen), `_speed` (the pace last asked for) and
`on_snapshot_ready()`, and says what differs: `run_span()` (the time strip's span),
`key_map()` (the map the zoom keys act on), and, if it has them, `user_acted()`
(frame pacing), `expect()` (the header's badge), `paced()` (frames a second),
`after_reset()`.  Every handler that can fail ends in an error notification.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from textual.message import Message

from .panels.header import next_speed, speed_text
from .panels.timeline import OpScreen


class SnapshotReady(Message, bubble=False):
    """A new snapshot (or pair of them) from the driver's thread, for the view that runs
    it only; a newer one replaces it while it waits, so a busy view skips to the newest
    state and never slows the kernel."""

    def __init__(self, snapshot: Any) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run an action; any exception becomes an error notification."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except Exception as e:  # noqa: BLE001 - the app must keep running
            self.report_error(e)
            return None

    return wrapper


class RunView:
    """See the module docstring."""

    driver: Any
    snap: Any
    _speed: float | None
    _started = False
    BOTH = ""                     # what the speed and reset notes add: compare's " on both"

    # -- what differs (the main screen's defaults are the app's own) -------------------

    def run_span(self) -> Any:
        """The span of the timeline on screen (TimelineView), or None."""
        raise NotImplementedError

    def key_map(self) -> Any:
        """The map that z, Z and 0 act on."""
        raise NotImplementedError

    def user_acted(self) -> None:
        """A key was pressed (the app shows the answer at once)."""

    def expect(self, state: str | None) -> None:
        """A key asked for `state` ("PAUSED"), or (None) toggled play/pause."""

    def paced(self, speed: float | None) -> None:
        """The pace is now `speed`: fit the frames a second to it."""

    def after_reset(self) -> None:
        """The run went back to op 0."""

    # -- the driver's thread ---------------------------------------------------------

    def start_driver(self, play: bool) -> None:
        """Start the driver (playing if `play`); its thread posts each snapshot to this
        view as a SnapshotReady."""
        self.driver.on_snapshot = lambda snap: self.post_message(SnapshotReady(snap))  # type: ignore[attr-defined]
        self.driver.start()
        self._started = True
        if play:
            self.driver.play()

    def stop_driver(self) -> None:
        if self._started:
            self._started = False
            self.driver.on_snapshot = None
            self.driver.stop()

    def report_error(self, error: BaseException | str) -> None:
        message = error if isinstance(error, str) else (str(error) or type(error).__name__)
        self.notify(message, title="vmapviz", severity="error", timeout=6)  # type: ignore[attr-defined]

    # -- the keys --------------------------------------------------------------------

    @guarded
    def action_toggle(self) -> None:
        self.user_acted()
        self.driver.toggle()
        self.expect(None)

    @guarded
    def action_step(self) -> None:
        self.user_acted()
        self.driver.step(1)
        self.expect("PAUSED")   # a step pauses the run

    @guarded
    def action_until(self, kind: str) -> None:
        """Run to the next op with an event of `kind` (events.UNTIL)."""
        self.user_acted()
        self.driver.step_until(kind)

    @guarded
    def action_step_back(self) -> None:
        self.user_acted()
        self.driver.step_back(1)
        self.expect("PAUSED")

    @guarded
    def action_back_to_flush(self) -> None:
        self.user_acted()
        self.driver.back_to("flush")

    @guarded
    def action_jump(self) -> None:
        def chosen(op: int | None) -> None:
            if op is not None:
                self.user_acted()
                self.driver.jump(op)

        span = self.run_span()
        self.app.push_screen(OpScreen(span.end if span else 0, span.start if span else 0),  # type: ignore[attr-defined]
                             chosen)

    @guarded
    def action_speed(self, direction: int) -> None:
        self._speed = next_speed(self._speed, direction)
        self.user_acted()
        self.paced(self._speed)
        self.driver.set_speed(self._speed)
        self.notify(f"Speed {speed_text(self._speed)} ops/s{self.BOTH}"  # type: ignore[attr-defined]
                    + (" (as fast as possible)" if self._speed is None else ""), timeout=1.5)

    @guarded
    def action_zoom(self, steps: int) -> None:
        self.key_map().zoom(steps)

    @guarded
    def action_fit(self) -> None:
        self.key_map().action_fit()

    @guarded
    def action_reset(self) -> None:
        self.user_acted()
        self.driver.reset()
        self.after_reset()
        self.notify(("Both runs reset" if self.BOTH else "Reset") + " to op 0.", timeout=2)  # type: ignore[attr-defined]
