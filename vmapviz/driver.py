"""The driver: runs a workload against the kernel, an op at a time, in its own thread.

`Run` is the loop without a thread (the headless CLI uses it directly).  `Driver` owns
a Run in a background thread, obeys commands sent from any thread (play, pause, step,
step until an event, speed, reset, restart, extra calls), paces the ops, and publishes
immutable snapshots at a bounded rate to a consumer through a delivery thread, so a
consumer that lags only ever receives the newest snapshot and never slows the kernel.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from typing import IO, Callable, NamedTuple

from .kernel import Config, Kernel
from .kernel.events import UNTIL, VOID
from .snapshot import Snapshot, take
from .workloads import CALLS, Recorder, Workload, get
from .workloads.trace import TraceSource

RECENT_EVENTS = 400
BURST_S = 0.005  # at full speed, commands are looked at this often


class DriverError(NamedTuple):
    """An exception inside the driver, shown by views like a kernel event."""

    op: int
    cpu: int
    message: str
    kind = "error"

    def line(self) -> str:
        return f"driver error: {self.message}"


class Run:
    """One workload on one kernel: `step()` runs one op and returns its events."""

    def __init__(self, workload: Workload, config: Config, record: IO[str] | None = None) -> None:
        self.workload, self.config = workload, config
        self.kernel = Kernel(config)
        self.source = workload.source(config)
        self.recorder = Recorder(record, workload.name, config) if record is not None else None
        self.calls = {name: getattr(self.kernel, name) for name in CALLS}
        self.done = False

    def step(self) -> list | None:
        """Run the next op; its events, or None when the workload has ended."""
        op = self.source.next()
        if op is None:
            self.done = True
            return None
        result = self.calls[op.call](*op.args, cpu=op.cpu)
        self.source.feed(result)
        if self.recorder is not None:
            self.recorder.op(op, None if result is VOID else result)
        return self.kernel.drain_events()

    def call(self, name: str, *args, cpu: int = 0) -> list:
        """An extra call outside the workload (the TUI's purge and vm_unmap_aliases)."""
        if name not in CALLS:
            raise ValueError(f"unknown call {name!r}")
        self.calls[name](*args, cpu=cpu)
        return self.kernel.drain_events()

    @property
    def mismatches(self) -> list[str]:
        """For a trace replay: every result that differed from the recorded one."""
        return self.source.mismatches if isinstance(self.source, TraceSource) else []


class Driver:
    """A background thread running a workload; see the module docstring.

    Commands are safe from any thread.  `on_snapshot` is called from a delivery thread
    with the newest Snapshot, at most `snapshot_hz` times a second, and promptly after
    a command; it should return quickly (post a message, store a reference).
    """

    def __init__(self, workload: str | Workload = "map-touch-unmap", *, variant: str | None = None,
                 nr_cpus: int | None = None, bits: int | None = None, seed: int | None = 1,
                 flush: str | None = None, speed: float | None = 20.0, on_snapshot: Callable[[Snapshot], None] | None = None,
                 snapshot_hz: float = 30.0, max_ops: int | None = None) -> None:
        self._options = dict(variant=variant, nr_cpus=nr_cpus, bits=bits, seed=seed, flush=flush)
        self._workload = get(workload) if isinstance(workload, str) else workload
        self._run = self._new_run()       # raises ConfigError/TraceError here, not in the thread
        self.speed = speed
        self.max_ops = max_ops
        self.on_snapshot = on_snapshot
        self.snapshot_period = 1.0 / snapshot_hz
        self.running = False
        self._commands: queue.Queue = queue.Queue()
        self._wake = threading.Event()
        self._stop = False
        self._reset_view_state()
        self.latest: Snapshot = self._snapshot()
        self._deliver = threading.Condition()
        self._pending: Snapshot | None = None
        self._thread = threading.Thread(target=self._loop, name="vmapviz-driver", daemon=True)
        self._delivery = threading.Thread(target=self._delivery_loop, name="vmapviz-snapshots",
                                          daemon=True)

    # -- commands (any thread) ----------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._delivery.start()
        self._publish()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop = True
        self._wake.set()
        with self._deliver:
            self._deliver.notify()
        for t in (self._thread, self._delivery):
            if t.is_alive():
                t.join(timeout)

    def play(self) -> None:
        self._send(lambda: self._set_running(True))

    def pause(self) -> None:
        self._send(lambda: self._set_running(False))

    def toggle(self) -> None:
        self._send(lambda: self._set_running(not self.running))

    def step(self, n: int = 1) -> None:
        """Pause and run n ops."""
        self._send(lambda: self._steps(n))

    def step_until(self, kind: str) -> None:
        """Pause, then run until an op emits an event of `kind`: purge, flush, block,
        or warn (a WARN or a BUG)."""
        if kind not in UNTIL:
            raise ValueError(f"unknown event kind {kind!r}; one of {', '.join(UNTIL)}")
        self._send(lambda: self._until(kind))

    def set_speed(self, ops_per_s: float | None) -> None:
        self._send(lambda: setattr(self, "speed", ops_per_s))

    def set_snapshot_hz(self, hz: float) -> None:
        """Publish at most `hz` snapshots a second: a view that paints less often
        asks for fewer, so none is built for nothing."""
        self.snapshot_period = 1.0 / max(hz, 0.1)

    def reset(self) -> None:
        """Start the same workload with the same options from op 0."""
        self._send(self._reset)

    def restart(self, workload: str | Workload | None = None, variant: str | None = None,
                nr_cpus: int | None = None, bits: int | None = None, seed: int | None = None,
                flush: str | None = None) -> None:
        """Start over with another workload, variant, CPU count, width, seed or flush model.  Bad
        values raise here, in the caller's thread, and change nothing."""
        wl = self._workload if workload is None else get(workload) if isinstance(workload, str) else workload
        opts = dict(self._options)
        opts.update({k: v for k, v in dict(variant=variant, nr_cpus=nr_cpus, bits=bits,
                                            seed=seed, flush=flush).items() if v is not None})
        if workload is not None and nr_cpus is None and bits is None and variant is None:
            opts.update(variant=None, nr_cpus=None, bits=None)  # the new workload's defaults
        wl.config(**opts)  # validate now
        self._send(lambda: self._restart(wl, opts))

    def call(self, name: str, *args, cpu: int = 0) -> None:
        """Run one extra kernel call in the driver thread (e.g. "purge")."""
        if name not in CALLS:
            raise ValueError(f"unknown call {name!r}")
        self._send(lambda: self._extra(name, args, cpu))

    @property
    def config(self) -> Config:
        return self._run.config

    @property
    def workload(self) -> Workload:
        return self._workload

    # -- the thread -------------------------------------------------------------------------

    def _send(self, command: Callable[[], None]) -> None:
        self._commands.put(command)
        self._wake.set()

    def _loop(self) -> None:
        next_op = time.monotonic()
        last_pub = 0.0
        while not self._stop:
            changed = self._drain_commands()
            now = time.monotonic()
            if self.running and not self._run.done:
                if self.speed is None:
                    self._guard(lambda: self._burst(now + BURST_S))
                    next_op = time.monotonic()
                elif now >= next_op:
                    self._op()
                    next_op = max(next_op + 1.0 / self.speed, now - 0.1)
                changed = True
            if changed and (time.monotonic() - last_pub >= self.snapshot_period or not self.running):
                self._publish()
                last_pub = time.monotonic()
            if not self.running or self._run.done:
                self._wake.wait(self.snapshot_period)
            elif self.speed is not None:
                self._wake.wait(max(0.0, min(next_op - time.monotonic(), self.snapshot_period)))
            self._wake.clear()

    def _drain_commands(self) -> bool:
        changed = False
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return changed
            self._guard(command)
            changed = True

    def _guard(self, fn):
        """Run fn(); an exception becomes a DriverError event, pauses the run, and
        gives False."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - any failure must reach the views
            self.running = False
            self._error = f"{type(e).__name__}: {e}"
            self._remember([DriverError(self._run.kernel.op, 0, self._error)])
            return False

    def _op(self) -> bool:
        """One op of the workload; False when there was none to run."""
        if self.max_ops is not None and self._run.kernel.op >= self.max_ops:
            self._run.done = True
        events = None if self._run.done else self._guard(self._run.step)
        if events is None or events is False:
            self.running = False
            return False
        self._remember(events)
        self._ops_done += 1
        return True

    def _burst(self, deadline: float) -> None:
        """As fast as possible until the deadline: _op() without its per-op checks."""
        step, clock, keep = self._run.step, time.monotonic, self._recent.extend
        stats = self._run.kernel.stats
        left = None if self.max_ops is None else self.max_ops - self._run.kernel.op
        n, events = 0, None
        while clock() < deadline and (left is None or n < left):
            for _ in range(64 if left is None else min(64, left - n)):
                ran = step()
                if ran is None:
                    self.running = False
                    break
                events = ran
                keep(events)
                if stats.tlb_flushes != self._flushes_seen:
                    self._note_flushes(events)
                n += 1
            else:
                continue
            break
        if events is not None:
            self._last_op = events
        self._ops_done += n
        if left is not None and n >= left:
            self._run.done = True
            self.running = False

    def _note_flushes(self, events: list) -> None:
        self._flushes_seen = self._run.kernel.stats.tlb_flushes
        self._flush_ops.extend(e.op for e in events if e.kind == "flush")

    def _remember(self, events: list) -> None:
        self._last_op = events           # a fresh list per op, never changed afterwards
        self._recent.extend(events)
        if self._run.kernel.stats.tlb_flushes != self._flushes_seen:
            self._note_flushes(events)

    def _set_running(self, on: bool) -> None:
        self.running = on and not self._run.done
        self._rate_mark = (time.monotonic(), self._ops_done)

    def _steps(self, n: int) -> None:
        self.running = False
        for _ in range(n):
            if not self._op():
                break

    def _until(self, kind: str, limit: int = 1_000_000) -> None:
        self.running = False
        wanted = UNTIL[kind]
        for _ in range(limit):
            if not self._op():
                return
            if any(e.kind in wanted for e in self._last_op):
                return

    def _extra(self, name: str, args: tuple, cpu: int) -> None:
        events = self._guard(lambda: self._run.call(name, *args, cpu=cpu))
        if events:
            self._remember(events)

    def _reset(self) -> None:
        self._run = self._new_run()
        self._reset_view_state()

    def _restart(self, workload: Workload, options: dict) -> None:
        self._workload, self._options = workload, options
        self._reset()

    def _new_run(self) -> Run:
        return Run(self._workload, self._workload.config(**self._options))

    def _reset_view_state(self) -> None:
        self._recent: deque = deque(maxlen=RECENT_EVENTS)
        self._flush_ops: deque = deque(maxlen=256)
        self._last_op: list = []
        self._flushes_seen = 0
        self._ops_done = 0
        self._rate_mark = (time.monotonic(), 0)
        self._error: str | None = None
        self.latest = None

    # -- snapshots ------------------------------------------------------------------------------

    def _rate(self) -> float:
        """Ops per second measured since the run last started playing."""
        t0, n0 = self._rate_mark
        elapsed = time.monotonic() - t0
        return (self._ops_done - n0) / elapsed if self.running and elapsed > 0.2 else 0.0

    def _snapshot(self) -> Snapshot:
        run = self._run
        return take(run.kernel, self.latest, workload=run.workload.name,
                    translation=run.workload.translation_note(run.config), op=run.kernel.op,
                    total_ops=run.source.total if run.source.total is not None else self.max_ops,
                    running=self.running, finished=run.done, speed=self.speed, ops_per_s=self._rate(),
                    events=tuple(self._recent), last_op=tuple(self._last_op),
                    flush_ops=tuple(self._flush_ops), error=self._error)

    def _publish(self) -> None:
        snap = self._snapshot()
        self.latest = snap
        with self._deliver:
            self._pending = snap
            self._deliver.notify()

    def _delivery_loop(self) -> None:
        while True:
            with self._deliver:
                while self._pending is None and not self._stop:
                    self._deliver.wait()
                if self._stop:
                    return
                snap, self._pending = self._pending, None
            if self.on_snapshot is not None:
                try:
                    self.on_snapshot(snap)
                except Exception:  # noqa: BLE001 - a broken view must not stop delivery
                    pass
