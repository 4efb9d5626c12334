"""The driver: runs a workload against the kernel, an op at a time, in its own thread.

`Run` is the loop without a thread (the headless CLI uses it directly).  `Driver` owns
a Run in a background thread, obeys commands sent from any thread (play, pause, step,
step until an event, speed, reset, restart, extra calls), paces the ops, and publishes
immutable snapshots at a bounded rate to a consumer through a delivery thread, so a
consumer that lags only ever receives the newest snapshot and never slows the kernel.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections import deque
from typing import IO, Any, Callable, Collection, Iterator, NamedTuple, Sequence

from ..models.flush_history import FlushHistory
from ..kernel import Config, Kernel
from ..kernel.events import UNTIL, VOID, Record, TlbFlush, classes_of, events_of
from .snapshot import Snapshot, TimelineView, take, watch_fields
from .spec import RunSpec
from .timeline import Logged, Timeline
from ..workloads import CALLS, Op, Recorder, Workload
from ..workloads.base import OpTuple
from ..workloads.trace import TraceSource

Events = list[Any]   # one op's events: kernel events, or a DriverError
Records = list[Record]   # one op's event records (kernel.events), made into events when read
RECENT_EVENTS = 400
INTERRUPT_EVERY = 1024   # ops of a long seek or run-until between two looks at Esc (a power of two)
BURST_S = 0.005  # at full speed, commands are looked at this often
NEVER = sys.maxsize   # an op no run reaches: no checkpoint is ever due without a timeline


class DriverError(NamedTuple):
    """An exception inside the driver, shown by views like a kernel event."""

    op: int
    cpu: int
    message: str
    kind: str = "error"

    def line(self) -> str:
        return f"driver error: {self.message}"


def describe(e: BaseException) -> str:
    """An exception as one line: its type, then its message, or what the type means
    when it has none (MemoryError: Out of memory.)."""
    meaning = str(e) or (type(e).__doc__ or "").strip().split("\n")[0]
    return f"{type(e).__name__}: {meaning}" if meaning else type(e).__name__


class Run:
    """One workload on one kernel: `advance()` runs one op and returns its event
    records, `step()` the same op's events.

    The run keeps records (kernel.events), not events: the newest `keep` events' and
    the last op's; `recent` and `last_op` make the events they stand for when read
    (a snapshot, a view, a lesson), most ops being read by no one.

    With a `timeline` (vmapviz.run.timeline), every op is logged and the kernel is
    checkpointed, so `seek(n)` can go back to any op run so far; `advance()` then
    replays the logged ops, and reads the workload's source again past the log's end."""

    def __init__(self, workload: Workload, config: Config, record: IO[str] | None = None,
                 timeline: Timeline | None = None, keep: int | None = RECENT_EVENTS) -> None:
        self.workload, self.config = workload, config
        self.kernel = Kernel(config)
        self.source = workload.source(config)
        self.recorder = Recorder(record, workload.name, config) if record is not None else None
        self.timeline = timeline
        # The records of the newest `keep` events, oldest first (None: every event's, for
        # a caller that reads and clears them between two runs of ops: the headless report).
        self.keep = keep
        self.records: deque[Record] = deque(maxlen=keep)
        self.last_records: Records = []                       # every record of the last op
        self._recent: tuple[Any, tuple[Any, ...]] = (None, ())  # (newest record, recent) read last
        self.flushes = FlushHistory()                       # TLB flushes per bucket of ops
        self.done = False
        # Asked every INTERRUPT_EVERY ops of a long seek with (op, target): True stops it
        # there (the driver's Esc); None: nothing can stop it.
        self.interrupt: Callable[[int, int | None], bool] | None = None
        self._exhausted = False      # the source has no more ops
        self._replay: Iterator[Logged] | None = None
        self._ahead: OpTuple | None = None  # the source's next op, peeked and not yet run
        self._bind()
        self._due = NEVER            # the op of the next checkpoint due (_noted)
        if timeline is not None:
            timeline.save(0, self.kernel, self.records)
            self._due = timeline.k

    def _bind(self) -> None:
        self.calls = {name: getattr(self.kernel, name) for name in CALLS}
        self._flushes_seen = self.kernel.stats.tlb_flushes   # _noted() looks for new ones

    def step(self) -> Events | None:
        """Run the next op; its events, or None when the workload has ended."""
        records = self.advance()
        return None if records is None else events_of(records)

    def advance(self) -> Records | None:
        """Run the next op; its event records, or None when the workload has ended."""
        return self.last_records if self._run_ops(1) else None

    def _run_ops(self, n: int | None, wanted: Collection[type] = (), stop: Callable[[], bool] | None = None) -> int:
        """Up to `n` ops (None: to the workload's end), stopping after the first op with
        a record of a class in `wanted` and before an op when `stop()` says so; how many
        ran.  The one body of an op: advance() runs one, run() many in one frame (a
        frame an op less, and no _ran(): about 1,000 instructions an op).  Ops come from
        the log while going forward again through it (a seek), then from the workload's
        source."""
        source, calls, kernel, replay = self.source, self.calls, self.kernel, self._replay
        op: OpTuple | None
        i = 0
        while (n is None or i < n) and not (stop is not None and stop()):
            if replay is not None:
                logged = next(replay, None)
                if logged is None:                  # the log's end: on with the source
                    self._replay = replay = None
                    continue
                op = logged.op
            else:
                op, self._ahead = self._ahead or source.next(), None
                if op is None:
                    self.done = self._exhausted = True
                    break
            # The kernel's public method, called with its arguments spelled out (a call
            # with *args and a keyword costs twice a plain one: a dict and a tuple an op).
            cpu, call, args = op
            method, k = calls[call], len(args)
            result = (method(args[0], cpu=cpu) if k == 1 else method(args[0], args[1], cpu=cpu) if k == 2
                      else method(*args, cpu=cpu))
            records = kernel.drain_records()
            if replay is None:
                source.feed(result)
                if self.recorder is not None:
                    self.recorder.op(op, None if result is VOID else result)
                if self.timeline is not None:
                    self.timeline.record(op, result, records)
            self.records.extend(records)
            self.last_records = records
            if kernel.stats.tlb_flushes != self._flushes_seen or kernel.op >= self._due:
                self._noted(records)
            i += 1
            if wanted and any(r[0] in wanted for r in records):
                break
        return i

    def run(self, n: int | None = None, until: str | Collection[str] | None = None,
            stop: Callable[[], bool] | None = None) -> int:
        """Up to `n` ops (None: to the workload's end); with `until` (a name of UNTIL, or
        event kinds), stop after the first op that emits such an event; `stop()` is
        asked before each op.  How many ops ran.  A run-until, or a run longer than
        INTERRUPT_EVERY ops, asks `interrupt` every INTERRUPT_EVERY ops (Esc, quit)."""
        interrupt = self.interrupt
        if stop is None and interrupt is not None and (until is not None or n is None or n > INTERRUPT_EVERY):
            every = INTERRUPT_EVERY - 1
            goal = None if until is not None or n is None else self.kernel.op + n

            def stop() -> bool:
                op = self.kernel.op
                return not op & every and interrupt(op, goal)
        wanted = () if until is None else classes_of(UNTIL[until] if isinstance(until, str) else until)
        return self._run_ops(n, wanted, stop)

    def peek(self) -> Op | None:
        """The op step() will run next, without running it (None at the end)."""
        tl, n = self.timeline, self.kernel.op
        if tl is not None and n < tl.end:
            return next(tl.log.read(n, n + 1)).op
        if self._ahead is None and not self._exhausted:
            self._ahead = self.source.next()
        return None if self._ahead is None else Op(*self._ahead)

    def _noted(self, records: Records) -> None:
        """What an op may bring besides its records: TLB flushes for the flush history,
        and a checkpoint of the timeline when one is due."""
        flushes = self.kernel.stats.tlb_flushes
        if flushes != self._flushes_seen:
            self._flushes_seen = flushes
            for r in records:
                if r[0] is TlbFlush:
                    self.flushes.add(r[1])
        tl = self.timeline
        if tl is not None and self.kernel.op >= self._due:
            op = self.kernel.op
            if tl.due(op):
                tl.save(op, self.kernel, self.records)
            self._due = tl.nearest(op) + tl.k

    @property
    def recent(self) -> tuple[Any, ...]:
        """The newest `keep` events, oldest first, made from the records when
        read: only the records new since the last read, when that read's newest record
        is still kept (the events read before are the same objects: the child's codec
        sends only the new ones)."""
        records = self.records
        seen, events = self._recent
        if not records or records[-1] is seen:
            return events if records else ()
        new: list[Record] = []
        for r in reversed(records):    # back to the newest record read last (ops end whole)
            if r is seen:
                break
            new.append(r)
        else:
            events = ()                # gone from the window (or a seek): all anew
        new.reverse()
        events += tuple(events_of(new))
        if self.keep is not None:
            events = events[-self.keep:]
        self._recent = (records[-1], events)
        return events

    @property
    def last_op(self) -> Events:
        """Every event of the last op."""
        return events_of(self.last_records)

    def note(self, error: DriverError) -> None:
        """An error of the driver's, shown as the newest event and the last op."""
        record = (DriverError, *error)
        self.records.append(record)
        self.last_records = [record]

    def previous(self, kind: str) -> int | None:
        """The last op before this one marked `kind` (an UNTIL name), or None."""
        if self.timeline is None:
            raise RuntimeError("this run keeps no timeline")
        return self.timeline.previous(kind, self.kernel.op)

    def call(self, name: str, *args: int, cpu: int = 0) -> Events:
        """An extra call outside the workload (the TUI's purge and vm_unmap_aliases);
        its events.  Made after stepping back, it changes the future: the ops logged
        after this point are forgotten."""
        if name not in CALLS:
            raise ValueError(f"unknown call {name!r}")
        tl = self.timeline
        if tl is not None and self.kernel.op < tl.end:
            self._diverge()
        result = self.calls[name](*args, cpu=cpu)
        records = self.kernel.drain_records()
        if tl is not None:
            tl.record(Op(cpu, name, args), result, records, from_source=False)
        self.records.extend(records)
        self.last_records = records
        self._noted(records)
        return events_of(records)

    def seek(self, n: int) -> None:
        """Go to op n: the state, recent events and last op a straight run has after n
        ops.  Back, or far ahead in the log: restore the nearest checkpoint and replay
        the log from it; past the log's end, run the source (until it ends)."""
        tl = self.timeline
        if tl is None:
            raise RuntimeError("this run keeps no timeline")
        n = max(tl.start, n)     # the oldest history may have gone (the timeline's budget)
        here = self.kernel.op
        if not here <= n <= here + tl.k:
            c = tl.nearest(n)
            if not c <= here <= n:
                self.kernel, recent = tl.restore(c)
                self._bind()
                self.records = deque(recent, maxlen=self.keep)
                self.last_records = [r for r in recent if r[1] == c] if c else []
                self.flushes = FlushHistory()
                for op in tl.marks_until("flush", c, len(tl.marks["flush"])):
                    self.flushes.add(op)
        start = self.kernel.op
        self._replay = tl.log.read(start, tl.end) if start < tl.end else None
        self._due = tl.nearest(start) + tl.k
        self.done = False
        t0 = time.thread_time()
        self.run(n - self.kernel.op)
        if self.kernel.op <= tl.end:
            tl.measured(self.kernel.op - start, time.thread_time() - t0)
        self.done = self._exhausted and self.kernel.op >= tl.end

    def _diverge(self) -> None:
        """The run goes another way from op n (an extra call after stepping back):
        forget the logged future and bring a fresh source to op n by feeding it the
        logged results (no kernel needed: a source only sees results)."""
        tl, n = self.timeline, self.kernel.op
        assert tl is not None      # only a run with a timeline steps back
        if tl.start:
            # A source is a set of generators: it can only be brought to op n by feeding
            # it every op from the first, and those before tl.start are gone.
            raise RuntimeError(f"the ops before op {tl.start:,} were forgotten to keep the timeline "
                               f"within its budget, so the workload cannot be brought back to op {n:,}; "
                               "go to the last op to make this call")
        source = self.workload.source(self.config)
        for logged in tl.log.read(0, n):
            if logged.from_source:
                if source.next() != logged.op:
                    raise RuntimeError(f"the workload is not deterministic: op {n} differs")
                source.feed(logged.result)
        tl.truncate(n)
        self.source, self._replay, self._exhausted, self._ahead = source, None, False, None

    @property
    def mismatches(self) -> list[str]:
        """For a trace replay: the first results that differed from the recorded ones."""
        return self.source.mismatches if isinstance(self.source, TraceSource) else []

    @property
    def mismatch_count(self) -> int:
        """For a trace replay: how many results differed."""
        return self.source.mismatch_count if isinstance(self.source, TraceSource) else 0



def where(run: Run, kinds: Collection[str] = ()) -> tuple[Run, tuple[int, bool]]:
    """Driver.apply's function that asks where the run is: its op, and whether its last
    op emitted an event of one of `kinds`."""
    return run, (run.kernel.op, any(e.kind in kinds for e in run.last_op))


def run_loop(advance: Callable[[], Records | None], n: int | None = None,
             until: str | Collection[str] | None = None, stop: Callable[[], bool] | None = None) -> int:
    """Run.run's loop for what runs ops with `advance()` alone (compare mode's pair):
    `advance()` (an op's records) up to `n` times (None: until it gives None, the
    workload's end); with `until` (a name of UNTIL, or event kinds), stop after the
    first op that emits such an event; `stop()` is asked before each op.  How many
    ops ran."""
    i = 0
    wanted = classes_of(UNTIL[until] if isinstance(until, str) else until or ())
    while (n is None or i < n) and not (stop is not None and stop()):
        records = advance()
        if records is None:
            break
        i += 1
        if wanted and any(r[0] in wanted for r in records):
            break
    return i


class Driver:
    """A background thread running a workload; see the module docstring.

    Commands are safe from any thread.  `on_snapshot` is called from a delivery thread
    with the newest Snapshot, at most `snapshot_hz` times a second, and promptly after
    a command; it should return quickly (post a message, store a reference).
    """

    BURST_OPS = 64   # at full speed, ops run between two looks at the clock
    # The share of a CPU a view's frames may take (tui/pacing.py): this thread shares
    # the view's interpreter lock, so every frame is time the simulation waits.
    ui_share = 0.12

    def __init__(self, spec: RunSpec, *, on_snapshot: Callable[[Snapshot], None] | None = None,
                 snapshot_hz: float = 30.0, max_ops: int | None = None) -> None:
        self.spec = spec                  # the run in the thread
        self.requested = spec             # what the last restart asked for (the caller's thread)
        self._run = self._new_run()
        self.speed = spec.speed
        self.max_ops = max_ops
        self.on_snapshot = on_snapshot
        self.snapshot_period = 1.0 / snapshot_hz
        self.running = False
        self._commands: queue.Queue[Callable[[], None]] = queue.Queue()
        self._wake = threading.Event()
        self._stop = False
        # A long jump or run-until in progress: (op reached, target op or None for
        # "until", time.monotonic() when it began); cancel() stops it where it is.
        self.seeking: tuple[int, int | None, float] | None = None
        self._cancel = False
        self._error: str | None = None
        self._reset_view_state()
        self.latest: Snapshot | None = self._snapshot()
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

    def step_until(self, kind: str, limit: int = 1_000_000) -> None:
        """Pause, then run until an op emits an event of `kind`: purge, flush, block,
        or warn (a WARN or a BUG); `limit` ops at most."""
        if kind not in UNTIL:
            raise ValueError(f"unknown event kind {kind!r}; one of {', '.join(UNTIL)}")
        self._send(lambda: self._until(kind, limit))

    def step_back(self, n: int = 1) -> None:
        """Pause and go back n ops (to op 0 at most)."""
        self._send(lambda: self._seek(self._run.kernel.op - n))

    def back_to(self, kind: str = "flush") -> None:
        """Pause and go back to the last op before this one that emitted an event of
        `kind` (flush, purge, block, warn), or to op 0 when none did."""
        if kind not in UNTIL:
            raise ValueError(f"unknown event kind {kind!r}; one of {', '.join(UNTIL)}")
        self._send(lambda: self._back_to(kind))

    def back_to_flush(self) -> None:
        self.back_to("flush")

    def cancel(self) -> None:
        """Stop a jump or a run-until in progress where it is (any thread; the command
        queue waits behind it).  Nothing happens if there is none."""
        if self.seeking is not None:
            self._cancel = True

    def _interrupted(self, op: int, target: int | None) -> bool:
        """Run.interrupt: note the progress; True once cancel() or stop() was called."""
        began = self.seeking[2] if self.seeking is not None else time.monotonic()
        self.seeking = (op, target, began)
        return self._cancel or self._stop

    def jump(self, n: int) -> None:
        """Pause and go to op n: back through the timeline, or forward (replaying what
        was run, then running the workload)."""
        if n < 0:
            raise ValueError(f"op {n} is before the start")
        self._send(lambda: self._seek(n if self.max_ops is None else min(n, self.max_ops)))

    def apply(self, fn: Callable[[Run], tuple[Run, object]], done: Callable[[object], None] | None = None) -> None:
        """Pause and run fn(run) in the driver's thread (a lesson's step, a quiz's
        look ahead).  fn returns (run, result): a new Run replaces the current one
        (a lesson's restart); `done(result)` is called in the driver's thread."""
        def command() -> None:
            self.running = False
            run, result = fn(self._run)
            if run is not self._run:
                self._run = run
                run.interrupt = self._interrupted
                self._reset_view_state()
            if done is not None:
                done(result)
        self._send(lambda: self._guard(command))

    @property
    def timeline(self) -> Timeline | None:
        """The run's Timeline: its marks and log (read it from the driver's thread, or
        after a snapshot, as a view)."""
        return self._run.timeline

    def set_speed(self, ops_per_s: float | None) -> None:
        self._send(lambda: setattr(self, "speed", ops_per_s))

    def set_snapshot_hz(self, hz: float) -> None:
        """Publish at most `hz` snapshots a second: a view that paints less often
        asks for fewer, so none is built for nothing."""
        self.snapshot_period = 1.0 / max(hz, 0.1)

    def reset(self) -> None:
        """Start the same workload with the same options from op 0."""
        self._send(self._reset)

    def restart(self, spec: RunSpec) -> None:
        """Start over with another run (built, so validated, in the caller's thread:
        `driver.requested.replace(...)`); the pace stays the one the keys set."""
        self.requested = spec
        self._send(lambda: self._restart(spec))

    def call(self, name: str, *args: int, cpu: int = 0) -> None:
        """Run one extra kernel call in the driver thread (e.g. "purge")."""
        if name not in CALLS:
            raise ValueError(f"unknown call {name!r}")
        self._send(lambda: self._extra(name, args, cpu))

    @property
    def config(self) -> Config:
        return self._run.config

    @property
    def workload(self) -> Workload:
        return self._run.workload

    def running_spec(self) -> RunSpec:
        """The run now in the thread as a spec (a lesson may have replaced the one
        started with): for compare mode from the main screen."""
        return RunSpec(self._run.workload, self._run.config, self.speed)

    def paired(self, pair: tuple[str, str]) -> Driver:
        """Compare mode's driver (compare.CompareDriver) for this run's machine on the two
        generations `pair`, of this driver's kind (run/child.py has one in a process)."""
        from .compare import CompareDriver
        return CompareDriver(self.running_spec(), pair)

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
            now = time.monotonic()
            if changed and (now - last_pub >= self.snapshot_period or not self.running):
                self._publish()
                # on the period's grid, so that a burst's overshoot does not lower the rate
                last_pub = max(last_pub + self.snapshot_period, now - self.snapshot_period)
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
            self._cancel = False
            try:
                self._guard(command)
            finally:
                self.seeking = None
            changed = True

    def _guard(self, fn: Callable[[], Any]) -> Any:
        """Run fn(); an exception becomes a DriverError event, pauses the run, and
        gives False."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - any failure must reach the views
            self.running = False
            self._error = describe(e)
            self._run.note(DriverError(self._run.kernel.op, 0, self._error))
            return False

    def _op(self) -> bool:
        """One op of the workload; False when there was none to run."""
        if self.max_ops is not None and self._run.kernel.op >= self.max_ops:
            self._run.done = True
        records = None if self._run.done else self._guard(self._run.advance)
        if records is None or records is False:
            self.running = False
            return False
        self._ops_done += 1
        return True

    def _burst(self, deadline: float) -> None:
        """As fast as possible until the deadline, BURST_OPS ops between two looks at
        the clock: _op() without its per-op checks."""
        left = None if self.max_ops is None else self.max_ops - self._run.kernel.op
        n = 0
        while time.monotonic() < deadline and (left is None or n < left):
            chunk = self.BURST_OPS if left is None else min(self.BURST_OPS, left - n)
            ran = self._run.run(chunk)
            n += ran
            if ran < chunk:     # the workload ended
                self.running = False
                break
        self._ops_done += n
        if left is not None and n >= left:
            self._run.done = True
            self.running = False

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
        if self.max_ops is not None:
            limit = min(limit, self.max_ops - self._run.kernel.op)
        self._ops_done += self._guard(lambda: self._run.run(max(limit, 0), until=kind)) or 0
        if self.max_ops is not None and self._run.kernel.op >= self.max_ops:
            self._run.done = True

    def _extra(self, name: str, args: tuple[int, ...], cpu: int) -> None:
        self._guard(lambda: self._run.call(name, *args, cpu=cpu))

    def _seek(self, n: int) -> None:
        self.running = False
        self._guard(lambda: self._run.seek(n))

    def _back_to(self, kind: str) -> None:
        op = self._run.previous(kind)
        self._seek(0 if op is None else op)

    def _reset(self) -> None:
        self._run = self._new_run()
        self._reset_view_state()

    def _restart(self, spec: RunSpec) -> None:
        self.spec = spec
        self._reset()

    def _new_run(self) -> Run:
        run = Run(self.spec.workload, self.spec.config, timeline=Timeline())
        run.interrupt = self._interrupted
        return run

    def _reset_view_state(self) -> None:
        self._ops_done = 0
        self._rate_mark = (time.monotonic(), 0)
        self._error = None
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
                    **watch_fields(run),
                    total_ops=run.source.total if run.source.total is not None else self.max_ops,
                    running=self.running, finished=run.done, speed=self.speed, ops_per_s=self._rate(),
                    events=run.recent, last_op=tuple(run.last_op),
                    flush_per=run.flushes.per, flush_counts=run.flushes.counts(),
                    error=self._error, timeline=self._timeline_view())

    def _timeline_view(self) -> TimelineView | None:
        """The timeline's span and marks for the snapshot: the marks copied (C memcpy)
        only when they changed, else the previous snapshot's."""
        tl = self._run.timeline
        if tl is None:
            return None
        old = self.latest.timeline if self.latest is not None else None
        if old is None or any(len(old.marks[k]) != len(m) or len(m) and old.marks[k][-1] != m[-1]
                              for k, m in tl.marks.items()):
            marks: dict[str, Sequence[int]] = {k: m[:] for k, m in tl.marks.items()}
        else:
            marks = old.marks
        return TimelineView(tl.start, tl.end, marks)

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
            if self.on_snapshot is not None and snap is not None:
                try:
                    self.on_snapshot(snap)
                except Exception:  # noqa: BLE001 - a broken view must not stop delivery
                    pass
