"""The simulation in a child process, so that the UI's frames and the simulation do not
share one interpreter lock.

`ChildDriver` has the public interface of `driver.Driver` (and, given a pair of
generations, of `compare.CompareDriver`): the same commands, the same snapshots.  The
Driver itself runs in a child, `python -c "...child import serve; serve()"` (a new
interpreter, never a fork of the parent's Textual threads), in a session of its own, so
that the terminal's Ctrl+C and hangup reach only the parent.  Commands go over a socket
pair as (method, arguments); `apply(fn)` sends `fn` pickled (a module-level function or
a partial of one) and its result comes back.  Snapshots come back as only the fields
that changed since the last one sent: a field the driver reused (the areas while
`area_generation` holds, the config, the marks) is not sent again, and the recent
events are sent as the ones new since then (`Codec`).

The child ends with its parent: when the parent's end of the socket closes (a normal
stop, a crash, SIGKILL) or its parent changes.  A child that dies is reported as one
line in the snapshot's `error`; `reset` or `restart` then starts a new one.
"""

from __future__ import annotations

import copyreg
import dataclasses
import io
import itertools
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from multiprocessing.connection import Connection
from typing import IO, Any, Callable

from ..kernel import Config, Kernel, StatsView
from ..workloads import WORKLOADS, Workload, get
from .compare import PairSnapshot, parse_variants
from .snapshot import Snapshot, take
from .spec import RunSpec

FIELDS = tuple(f.name for f in dataclasses.fields(Snapshot))
POLL_S = 0.1         # the child looks at its parent and at a seek's progress this often
STOP_WAIT_S = 2.0    # a child that has not ended this long after `stop` is killed


# -- pickling: what crosses the socket ---------------------------------------------------------

Reduced = tuple[Callable[..., Any], tuple[Any, ...]]   # what a dispatch_table entry returns
Packed = tuple[list[type] | None, Any]                     # events as their classes and tuples
STATS_FIELDS = tuple(f.name for f in dataclasses.fields(StatsView))   # type: ignore[arg-type]


def _stats(values: tuple[Any, ...]) -> StatsView:
    return StatsView(*values)


def _reduce_stats(s: StatsView) -> Reduced:
    # StatsView is made by make_dataclass, which names no module: pickle it by value.
    return _stats, (tuple(getattr(s, name) for name in STATS_FIELDS),)


def _reduce_workload(w: Workload) -> Reduced:
    """A built-in workload by name (its streams are closures); any other cannot cross."""
    if WORKLOADS.get(w.name) is not w:
        raise pickle.PicklingError(f"workload {w.name!r} is not a built-in: it cannot run in a child process")
    return get, (w.name,)


_TABLE = copyreg.dispatch_table.copy()
_TABLE.update({StatsView: _reduce_stats, Workload: _reduce_workload})   # exact types (a trace: its fields)


def dumps(obj: Any) -> bytes:
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    p.dispatch_table = _TABLE
    p.dump(obj)
    return buf.getvalue()


class Codec:
    """Snapshots as the fields that changed since the previous one (per side: slot 0, and
    slot 1 for compare mode's second).  The child's encoder and the parent's decoder see
    the same sequence, so each holds the same previous snapshot."""

    def __init__(self) -> None:
        self._prev: dict[int, Snapshot] = {}

    def encode(self, snap: Snapshot | PairSnapshot) -> tuple[dict[str, Any], ...]:
        if isinstance(snap, PairSnapshot):
            return tuple(self._encode(i, s) for i, s in enumerate(snap.sides))
        return (self._encode(0, snap),)

    def decode(self, parts: tuple[dict[str, Any], ...]) -> Snapshot | PairSnapshot:
        if len(parts) == 1:
            return self._decode(0, parts[0])
        return PairSnapshot((self._decode(0, parts[0]), self._decode(1, parts[1])))

    def _encode(self, slot: int, snap: Snapshot) -> dict[str, Any]:
        prev, self._prev[slot] = self._prev.get(slot), snap
        if prev is None:
            changed = {f: getattr(snap, f) for f in FIELDS}
            changed["events"] = (0, snap.events)
        else:
            changed = {f: v for f in FIELDS if (v := getattr(snap, f)) is not getattr(prev, f)}
            if "events" in changed:
                changed["events"] = _tail(prev.events, snap.events)
        if "events" in changed:
            kept, new = changed["events"]
            changed["events"] = kept, _pack(new)
        if "last_op" in changed:
            changed["last_op"] = _pack(snap.last_op)
        return changed

    def _decode(self, slot: int, fields: dict[str, Any]) -> Snapshot:
        prev = self._prev.get(slot)
        if "last_op" in fields:
            fields["last_op"] = _unpack(fields["last_op"])
        if "events" in fields:
            kept, new = fields["events"]
            new = _unpack(new)
            fields["events"] = prev.events[len(prev.events) - kept:] + new if kept and prev else new
        if prev is None:
            snap = Snapshot(**fields)
        else:
            snap = dataclasses.replace(prev, **fields)
        self._prev[slot] = snap
        return snap


def _pack(events: tuple[Any, ...]) -> Packed:
    """Events that are tuples (NamedTuples) as their classes and plain tuples, which
    pickle in C, about three times faster than NamedTuples one by one."""
    if all(isinstance(e, tuple) for e in events):
        return list(map(type, events)), list(map(tuple, events))
    return None, events


def _unpack(packed: Packed) -> tuple[Any, ...]:
    kinds, rows = packed
    return tuple(rows) if kinds is None else tuple(map(tuple.__new__, kinds, rows))


def _tail(old: tuple[Any, ...], new: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
    """`new` as (how many of `old`'s last events it starts with, the events after them):
    the recent events are a window that slides over the run."""
    if old:
        last = old[-1]
        for i in range(len(new) - 1, -1, -1):
            if new[i] is last:
                kept = i + 1
                if kept <= len(old) and new[0] is old[len(old) - kept]:
                    return kept, new[kept:]
                break
    return 0, new


# -- the parent's side -------------------------------------------------------------------------

class ChildDriver:
    """A Driver (or, with `pair`, a CompareDriver) in a child process; the same commands,
    attributes and snapshots as the Driver's public interface.  See the module docstring."""

    ui_share = 1.0   # the UI has its own process: its frames may take a whole CPU
    CODE = "from vmapviz.run.child import serve; serve()"   # what the child runs

    def __init__(self, spec: RunSpec, pair: tuple[str, str] | None = None, *,
                 on_snapshot: Callable[[Any], None] | None = None, snapshot_hz: float = 30.0,
                 max_ops: int | None = None) -> None:
        if pair is not None:
            self.variants = parse_variants(",".join(pair))
            for v in self.variants:
                spec.on(v)     # a workload either generation cannot run is refused here, as by CompareDriver
        self.pair = pair
        self.spec = self.requested = spec
        self.speed = spec.speed
        self.max_ops = max_ops
        self.on_snapshot = on_snapshot
        self.latest: Snapshot | PairSnapshot | None = None
        self.seeking: tuple[int, int | None, float] | None = None
        self.error: str | None = None          # why the child ended, once it has
        self._hz = snapshot_hz
        self._running_spec: RunSpec | None = None
        self._waiting: dict[int, Callable[[object], None] | None] = {}
        self._tokens = itertools.count()
        self._send_lock = threading.Lock()
        self._started = self._stopping = False
        self._spawn(spec)

    def _spawn(self, spec: RunSpec) -> None:
        ours, theirs = socket.socketpair()
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH")))))
        # The child's stderr, never the terminal the UI draws on: its last line says why a
        # child that died outside Python's reach (its start, a fatal error) ended.
        self._stderr = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", self.CODE, str(theirs.fileno()), str(os.getpid())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self._stderr, start_new_session=True, env=env)
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._codec = Codec()
        self.error = None
        self._send("build", dumps((spec, self.pair, dict(snapshot_hz=self._hz, max_ops=self.max_ops))))
        self._receiver = threading.Thread(target=self._receive, args=(self._conn, self._proc, self._stderr),
                                          name="vmapviz-child", daemon=True)
        self._receiver.start()

    # -- commands (any thread) ----------------------------------------------------------

    def start(self) -> None:
        self._started = True
        self._send("start")

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """End the child: asked, then killed if it has not ended within `timeout`."""
        self._stopping = True
        self._send("stop")
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._conn.close()
        self._stderr.close()

    def play(self) -> None:
        self._send("play")

    def pause(self) -> None:
        self._send("pause")

    def toggle(self) -> None:
        self._send("toggle")

    def step(self, n: int = 1) -> None:
        self._send("step", n)

    def step_until(self, kind: str, limit: int = 1_000_000) -> None:
        self._send("step_until", kind, limit)

    def step_back(self, n: int = 1) -> None:
        self._send("step_back", n)

    def back_to(self, kind: str = "flush") -> None:
        self._send("back_to", kind)

    def back_to_flush(self) -> None:
        self.back_to("flush")

    def cancel(self) -> None:
        if self.seeking is not None:
            self._send("cancel")

    def jump(self, n: int) -> None:
        if n < 0:
            raise ValueError(f"op {n} is before the start")
        self._send("jump", n)

    def apply(self, fn: Callable[[Any], tuple[Any, object]], done: Callable[[object], None] | None = None) -> None:
        """Driver.apply in the child: `fn` must pickle (a module-level function, or a
        partial of one); `done(result)` is called in this process's receiving thread."""
        token = next(self._tokens)
        payload = dumps(fn)        # unpicklable: raised here, in the caller's thread
        self._waiting[token] = done
        self._send("apply", token, payload)

    def set_speed(self, ops_per_s: float | None) -> None:
        self.speed = ops_per_s
        self._send("set_speed", ops_per_s)

    def set_snapshot_hz(self, hz: float) -> None:
        if hz != self._hz:        # the pacer asks after every frame: send changes only
            self._hz = hz
            self._send("set_snapshot_hz", hz)

    def reset(self) -> None:
        if self.error is not None:      # the child died: a new one, from op 0
            self.restart(self.requested)
        else:
            self._send("reset")

    def restart(self, spec: RunSpec) -> None:
        self.requested = spec
        self._running_spec = None
        if self.error is not None:
            self._respawn(spec)
        else:
            self._send("restart", dumps(spec))

    def call(self, name: str, *args: int, cpu: int = 0) -> None:
        self._send("call", name, *args, cpu=cpu)

    @property
    def running(self) -> bool:
        return bool(self.latest is not None and self.latest.running)

    @property
    def config(self) -> Config:
        return self.running_spec().config

    @property
    def workload(self) -> Workload:
        return self.running_spec().workload

    def running_spec(self) -> RunSpec:
        """The run now in the child as a spec (a lesson may have replaced the one started
        with), as the child last told."""
        spec = self._running_spec or self.requested
        return RunSpec(spec.workload, spec.config, self.speed, spec.asked)

    def paired(self, pair: tuple[str, str]) -> ChildDriver:
        """Compare mode's driver for this run's machine, in a child of its own."""
        return ChildDriver(self.running_spec(), pair)

    # -- the socket ---------------------------------------------------------------------------

    def _send(self, name: str, *args: Any, **kwargs: Any) -> None:
        """A command to the child: the Driver method `name` and its arguments."""
        with self._send_lock:
            try:
                self._conn.send_bytes(pickle.dumps((name, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL))
            except (OSError, ValueError):
                pass            # the child has gone: _receive reports it

    def _receive(self, conn: Connection, proc: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
        crash = None
        try:
            while True:
                message = pickle.loads(conn.recv_bytes())
                kind = message[0]
                if kind == "snap":
                    self._show(self._codec.decode(message[1]))
                elif kind == "done":
                    done = self._waiting.pop(message[1], None)
                    if done is not None:
                        done(message[2])
                elif kind == "seeking":
                    self.seeking = message[1]
                elif kind == "run":
                    self._running_spec = message[1]
                elif kind == "crash":
                    crash = message[1]
        except (EOFError, OSError, pickle.UnpicklingError):
            pass
        if self._stopping or conn is not self._conn:
            return
        try:
            status = proc.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait()
        self._died(crash or _ended(status, _last_line(stderr)))

    def _show(self, snap: Snapshot | PairSnapshot) -> None:
        self.latest = snap
        on = self.on_snapshot
        if on is not None:
            try:
                on(snap)
            except Exception:  # noqa: BLE001 - a broken view must not stop delivery
                pass

    def _died(self, why: str) -> None:
        """The child ended on its own: the newest snapshot, paused, with one line saying so."""
        self.error = (f"the simulation's process ended ({why}); r or a restart starts it again, "
                      "and --in-process runs it without a second process")
        self.seeking = None
        for done in self._waiting.values():
            if done is not None:
                done(None)
        self._waiting.clear()
        latest = self.latest if self.latest is not None else self._blank()
        self._show(_with_error(latest, self.error))

    def _blank(self) -> Snapshot | PairSnapshot:
        spec = self.requested
        if self.pair is None:
            return _blank(spec)
        first, second = self.variants
        return PairSnapshot((_blank(spec.on(first)), _blank(spec.on(second))))

    def _respawn(self, spec: RunSpec) -> None:
        self.latest = None
        self._spawn(spec)
        if self._started:
            self._send("start")


def _blank(spec: RunSpec) -> Snapshot:
    """Op 0 of `spec`: what a child that died before its first snapshot leaves shown."""
    return take(Kernel(spec.config), workload=spec.workload.name)


def _with_error(snap: Snapshot | PairSnapshot, error: str) -> Snapshot | PairSnapshot:
    if isinstance(snap, PairSnapshot):
        first, second = snap.sides
        return PairSnapshot((dataclasses.replace(first, running=False, error=error), second))
    return dataclasses.replace(snap, running=False, error=error)


def _ended(status: int, said: str = "") -> str:
    """How a child ended, as words: its signal or exit status, and its last line."""
    if status < 0:
        try:
            how = f"killed by {signal.Signals(-status).name}"
        except ValueError:
            how = f"killed by signal {-status}"
    else:
        how = f"exit status {status}"
    return f"{how}: {said}" if said else how


def _last_line(f: IO[bytes], limit: int = 200) -> str:
    """The last non-empty line a file holds (read from its last 4 KiB), at most `limit`
    characters; "" once the file is closed (the driver stopped meanwhile)."""
    try:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 4096))
        text = f.read().decode(errors="replace")
    except (OSError, ValueError):
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


# -- the child's side ------------------------------------------------------------------------

class _Child:
    """The child's end: a Driver (or CompareDriver) obeying the parent's messages."""

    COMMANDS = frozenset(("play", "pause", "toggle", "step", "step_until", "step_back", "back_to",
                          "cancel", "jump", "set_speed", "set_snapshot_hz", "reset", "call"))

    def __init__(self, conn: Connection, parent: int) -> None:
        self.conn, self.parent = conn, parent
        self.lock = threading.Lock()
        self.codec = Codec()
        self.driver: Any = None
        self._run: object = None
        self._seeking: object = None

    def send(self, *message: Any) -> None:
        data = dumps(message)
        with self.lock:
            self.conn.send_bytes(data)

    def build(self, payload: bytes) -> None:
        from .compare import CompareDriver
        from .driver import Driver
        spec, pair, options = pickle.loads(payload)
        self.driver = (CompareDriver(spec, pair, **options) if pair is not None
                       else Driver(spec, **options))
        self.driver.on_snapshot = self.deliver

    def deliver(self, snap: Any) -> None:
        """The driver's delivery thread: the snapshot's changes, and the run's spec when
        the run was replaced (a restart, a lesson's step)."""
        with self.lock:      # encode and send in one order: the parent decodes in it
            run = self.driver._run
            if run is not self._run:
                self._run = run
                self.conn.send_bytes(dumps(("run", self.driver.running_spec())))
            self.conn.send_bytes(dumps(("snap", self.codec.encode(snap))))

    def obey(self, message: tuple[str, tuple[Any, ...], dict[str, Any]]) -> None:
        """One message from the parent: a Driver method's name and its arguments."""
        name, args, kwargs = message
        d = self.driver
        if name == "stop":
            os._exit(0)     # nothing to keep: the driver's threads are daemons
        if name == "start":
            d.start()
        elif name == "build":
            self.build(*args)
        elif name == "restart":
            d.restart(pickle.loads(args[0]))
        elif name == "apply":
            token, payload = args
            d.apply(pickle.loads(payload), lambda result: self.send("done", token, result))
        elif name in self.COMMANDS:
            getattr(d, name)(*args, **kwargs)

    def loop(self) -> None:
        while True:
            if self.conn.poll(POLL_S):
                self.obey(pickle.loads(self.conn.recv_bytes()))
            if os.getppid() != self.parent:
                return                   # the parent is gone (and the socket leaked)
            seeking = self.driver.seeking if self.driver is not None else None
            if seeking != self._seeking:
                self._seeking = seeking
                self.send("seeking", seeking)


def serve() -> None:
    """The child's entry point: argv holds the socket's descriptor and the parent's pid."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the parent decides when this ends
    fd, parent = int(sys.argv[1]), int(sys.argv[2])
    conn = Connection(fd)
    child = _Child(conn, parent)
    status = 0
    try:
        child.loop()
    except (EOFError, OSError):
        pass                            # the parent has gone: end with it
    except BaseException as e:  # noqa: BLE001 - the parent shows it as one line
        from .driver import describe
        try:
            child.send("crash", describe(e))
        except Exception:  # noqa: BLE001
            pass
        status = 1
    os._exit(status)      # the driver's threads are daemons: do not wait for them
