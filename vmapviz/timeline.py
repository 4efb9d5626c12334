"""Time travel: what a run needs to go back to any op it has run, and forward again.

A workload's streams are generators, which cannot be copied, so a run keeps instead:

- an `OpLog`: every op that ran (CPU, call, arguments, result), a few bytes each;
- checkpoints: the whole kernel (it is plain Python) pickled every K ops, with the
  events that came just before, so a log panel can be rebuilt;
- marks: the ops that flushed, purged, warned or made or freed a vmap block, for a
  timeline strip and "back to the previous flush".

Going to op n restores the nearest checkpoint at or before n and re-executes the
logged ops up to n: the simulator is deterministic, so that is the state a straight
run reaches.  Past the log's end the run reads its live source again.

The policy (`Timeline`): K adapts so that restoring and re-executing stays under about
50 ms (K = (50 ms - 2 x the CPU time the last pickling took) / the CPU time an op
takes), unless checkpointing would then cost more than half the run's time, and stays
within 64 to 65,536 ops; checkpoints cost at most `budget` bytes (200 MiB): above it
the checkpoint whose two neighbours are closest is dropped, sparing op 0 and the 32
made last (dense where the run or the user last was, sparser with age).
"""

from __future__ import annotations

import bisect
import pickle
import time
from array import array
from typing import Iterator, NamedTuple

from .kernel.calls import CALLS
from .kernel.events import UNTIL
from .workloads.base import Op

CALL_NAMES = tuple(CALLS)
CALL_INDEX = {name: i for i, name in enumerate(CALL_NAMES)}
ARG_BLOCK = 1024          # the log keeps the offset of its arguments every this many ops
BUDGET = 200 << 20        # bytes of checkpoints at most
KEEP_RECENT = 32          # the checkpoints made last are never thinned
TARGET_S = 0.050          # restore + re-execution, the goal for a step back
OVERHEAD = 0.5            # checkpointing costs at most this share of a run's time
K_MIN, K_MAX = 64, 65_536
MARK_OF = {kind: name for name, kinds in UNTIL.items() for kind in kinds}  # event kind -> mark


class Logged(NamedTuple):
    """One op of the log: the op, its result, and whether it came from the workload's
    source (False for an extra call: the TUI's purge or vm_unmap_aliases)."""

    op: Op
    result: object
    from_source: bool


class OpLog:
    """Every op that ran, in order, in flat arrays: 2 bytes of CPU, 1 of call, 1 of
    argument count, 8 per argument, 1 + 8 of result.  Op i (0-based) is op number i + 1."""

    _NONE, _INT, _STR = 0, 1, 2     # result tags; bit 7 marks an extra call

    def __init__(self) -> None:
        self.cpus, self.calls, self.nargs = array("H"), array("B"), array("B")
        self.args, self.values, self.tags = array("Q"), array("Q"), array("B")
        self.arg_base = array("Q")  # offset into args of op k * ARG_BLOCK
        self.strings: list[str] = []           # the results that are strings, by first use
        self.string_ids: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.cpus)

    @property
    def nbytes(self) -> int:
        return sum(a.itemsize * len(a) for a in (self.cpus, self.calls, self.nargs, self.args,
                                                 self.values, self.tags, self.arg_base))

    def append(self, op: Op, result: object, from_source: bool = True) -> None:
        cpu, call, args = op
        if not len(self.cpus) % ARG_BLOCK:
            self.arg_base.append(len(self.args))
        self.cpus.append(cpu)
        self.calls.append(CALL_INDEX[call])
        self.nargs.append(len(args))
        self.args.extend(args)
        if result is None:
            tag, value = self._NONE, 0
        elif type(result) is str:
            value = self.string_ids.get(result)
            if value is None:
                value = self.string_ids[result] = len(self.strings)
                self.strings.append(result)
            tag = self._STR
        else:
            tag, value = self._INT, result
        self.tags.append(tag if from_source else tag | 0x80)
        self.values.append(value)

    def _offset(self, i: int) -> int:
        block = i // ARG_BLOCK
        return self.arg_base[block] + sum(self.nargs[block * ARG_BLOCK:i])

    def read(self, start: int, stop: int) -> Iterator[Logged]:
        """The ops start + 1 .. stop (0-based indices start .. stop - 1)."""
        a = self._offset(start) if start < len(self.cpus) else 0
        cpus, calls, nargs, args, tags, values = (self.cpus, self.calls, self.nargs, self.args,
                                                  self.tags, self.values)
        for i in range(start, stop):
            n = nargs[i]
            tag = tags[i]
            kind = tag & 0x7F
            result = None if kind == self._NONE else values[i] if kind == self._INT else self.strings[values[i]]
            yield Logged(Op(cpus[i], CALL_NAMES[calls[i]], tuple(args[a:a + n])), result, not tag & 0x80)
            a += n

    def truncate(self, n: int) -> None:
        """Forget every op after the first n."""
        if n >= len(self.cpus):
            return
        cut = self._offset(n)
        for arr in (self.cpus, self.calls, self.nargs, self.values, self.tags):
            del arr[n:]
        del self.args[cut:]
        del self.arg_base[-(-n // ARG_BLOCK):]


class Timeline:
    """The op log, the checkpoints and the marks of one run; see the module docstring.
    `every` fixes K (tests); None adapts it to the measured costs."""

    def __init__(self, every: int | None = None, budget: int = BUDGET) -> None:
        self.log = OpLog()
        self.fixed = every
        self.k = every or 1024
        self.budget = budget
        self.points: list[int] = []          # checkpoint ops, sorted
        self.blobs: dict[int, bytes] = {}    # op -> pickle of (kernel, recent events)
        self.made: list[int] = []            # checkpoint ops in the order they were made
        self.bytes = 0
        self.marks: dict[str, array] = {name: array("Q") for name in UNTIL}
        self.op_cost = 20e-6                 # seconds per op, measured
        self._mark = (time.thread_time(), 0)       # CPU time and op at the last checkpoint

    @property
    def end(self) -> int:
        """The last op ever run (the log's length)."""
        return len(self.log)

    # -- recording ------------------------------------------------------------------------

    def record(self, op: Op, result: object, events: list, from_source: bool = True) -> None:
        """A new op ran past the log's end: log it and mark it."""
        self.log.append(op, result, from_source)
        n = len(self.log)
        for e in events:
            name = MARK_OF.get(e.kind)
            if name is not None:
                marks = self.marks[name]
                if not marks or marks[-1] != n:
                    marks.append(n)

    def due(self, op: int) -> bool:
        """Whether a checkpoint should be taken at `op` (K ops after the one before)."""
        i = bisect.bisect_right(self.points, op)
        return i == 0 or op - self.points[i - 1] >= self.k

    def save(self, op: int, kernel, recent) -> None:
        """Checkpoint the kernel at `op`, with the recent events."""
        if op in self.blobs:
            return
        t0 = time.thread_time()
        blob = pickle.dumps((kernel, tuple(recent)), pickle.HIGHEST_PROTOCOL)
        dump_s = time.thread_time() - t0
        bisect.insort(self.points, op)
        self.blobs[op] = blob
        self.made.append(op)
        self.bytes += len(blob)
        self._adapt(op, dump_s)
        while self.bytes > self.budget and self._thin():
            pass

    def _adapt(self, op: int, dump_s: float) -> None:
        """K from the measured CPU cost of an op and of a pickling: restoring (about
        twice the pickling) plus K ops should take TARGET_S, unless checkpointing would
        then cost more than OVERHEAD of the run."""
        cpu = time.thread_time()
        cpu0, op0 = self._mark
        self._mark = (cpu, op)
        if op - op0 >= 32:   # the driver thread's time per op, showing snapshots included
            self.op_cost = max(1e-7, (cpu - cpu0 - dump_s) / (op - op0))
        if self.fixed is None:
            k = max((TARGET_S - 2 * dump_s) / self.op_cost, dump_s / (OVERHEAD * self.op_cost))
            self.k = max(K_MIN, min(K_MAX, int(k)))

    def measured(self, ops: int, seconds: float) -> None:
        """A re-execution of `ops` ops took `seconds`: the best measure of an op's cost."""
        if ops >= 32:
            self.op_cost = max(1e-7, seconds / ops)
            self._mark = (time.thread_time(), self._mark[1])

    def _thin(self) -> bool:
        """Drop the checkpoint whose neighbours are closest, sparing op 0, the last one
        made, and if they can be spared, the KEEP_RECENT made last; False when none
        may go."""
        pts = self.points
        for keep in (set(self.made[-KEEP_RECENT:]), {self.made[-1]}):
            gaps = [(pts[i + 1] - pts[i - 1], pts[i]) for i in range(1, len(pts) - 1) if pts[i] not in keep]
            if pts and pts[-1] not in keep and len(pts) > 1:
                gaps.append((2 * (pts[-1] - pts[-2]), pts[-1]))
            if gaps:
                self._drop(min(gaps)[1])
                return True
        return False

    def _drop(self, op: int) -> None:
        self.points.remove(op)
        self.bytes -= len(self.blobs.pop(op))
        self.made.remove(op)

    # -- going back ----------------------------------------------------------------------

    def nearest(self, op: int) -> int:
        """The checkpoint at or before `op`."""
        return self.points[bisect.bisect_right(self.points, op) - 1]

    def restore(self, op: int):
        """(kernel, recent events) as checkpointed at `op`: fresh objects each time."""
        return pickle.loads(self.blobs[op])

    def truncate(self, n: int) -> None:
        """The run goes another way after op n: forget the log, the checkpoints and the
        marks past it."""
        self.log.truncate(n)
        for op in [p for p in self.points if p > n]:
            self._drop(op)
        for marks in self.marks.values():
            del marks[bisect.bisect_right(marks, n):]

    # -- marks ---------------------------------------------------------------------------

    def marks_until(self, name: str, op: int, count: int) -> tuple[int, ...]:
        """The last `count` ops at or before `op` marked `name`."""
        marks = self.marks[name]
        hi = bisect.bisect_right(marks, op)
        return tuple(marks[max(0, hi - count):hi])

    def previous(self, name: str, op: int) -> int | None:
        """The last op before `op` marked `name`, or None."""
        marks = self.marks[name]
        i = bisect.bisect_left(marks, op)
        return marks[i - 1] if i else None

    @property
    def nbytes(self) -> int:
        """Memory of the checkpoints and the log."""
        return self.bytes + self.log.nbytes
