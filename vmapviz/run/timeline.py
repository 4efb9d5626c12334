"""Time travel: what a run needs to go back to any op it has run, and forward again.

A workload's streams are generators, which cannot be copied, so a run keeps instead:

- an `OpLog`: every op that ran (CPU, call, arguments, result), about 29 bytes each;
- checkpoints: the whole kernel (it is plain Python) pickled every K ops, with the
  records of the events that came just before, so a log panel can be rebuilt;
- marks: the ops that flushed, purged, warned or made or freed a vmap block, for a
  timeline strip and "back to the previous flush".

Going to op n restores the nearest checkpoint at or before n and re-executes the
logged ops up to n: the simulator is deterministic, so that is the state a straight
run reaches.  Past the log's end the run reads its live source again.

The policy (`Timeline`): K adapts so that restoring and re-executing stays under about
50 ms (K = (50 ms - 2 x the CPU time the last pickling took) / the CPU time an op
takes), unless checkpointing would then cost more than half the run's time, and stays
within 64 to 65,536 ops.  The whole timeline (checkpoints, op log and marks) costs at most
`budget` bytes (200 MiB).  Above it, while the log takes at most half the budget, the
checkpoint whose two neighbours are closest is dropped, sparing the first and the 32
made last (dense where the run or the user last was, sparser with age); otherwise the
oldest history goes: the first checkpoint, and the log and marks before the next one,
which is where history now begins (`start`).
"""

from __future__ import annotations

import bisect
import marshal
import pickle
import time
from array import array
from operator import attrgetter
from typing import Iterator, NamedTuple

from ..kernel.events import UNTIL
from ..workloads.base import Op, OpTuple

BLOCK = 1024              # the op log writes its ops a block of this many at a time
WAITING = 120             # bytes of an op waiting in the log's lists for its block
BUDGET = 200 << 20        # bytes of the whole timeline at most (checkpoints, log, marks)
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
    """Every op that ran, in order.  The newest ops wait in two lists (an append each:
    this is on the run's hot path); each full block of BLOCK ops is then written, in C,
    to one marshal string, about 29 bytes an op.  Op i (0-based) is op number i + 1.
    The oldest blocks can be forgotten (`forget`); block b keeps its number."""

    def __init__(self) -> None:
        self.blocks: dict[int, bytes] = {}   # full block b -> marshal of ([(cpu, call, args)], [result])
        self.nblocks = 0                 # full blocks written, forgotten ones included
        self.ops: list[OpTuple] = []          # the ops after the last full block
        self.results: list = []
        self.extras: set[int] = set()    # the ops not from the source, by index
        self.block_bytes = 0
        self.count = 0                   # one int, so the UI thread reads a consistent length
        self._unpacked: tuple = (-1, [], [])   # the block read last: peek() reads one op a time

    def __len__(self) -> int:
        return self.count

    @property
    def nbytes(self) -> int:
        return self.block_bytes + WAITING * len(self.ops)

    def append(self, op: OpTuple, result: object, from_source: bool = True) -> None:
        if not from_source:
            self.extras.add(self.count)
        self.ops.append(op)
        self.results.append(result)
        if len(self.ops) == BLOCK:
            blob = marshal.dumps((list(map(tuple, self.ops)), self.results))
            self.blocks[self.nblocks] = blob
            self.nblocks += 1
            self.block_bytes += len(blob)
            self.ops, self.results = [], []
        self.count += 1

    def _block(self, b: int) -> tuple[list, list]:
        """Block b's ops (as tuples) and results; the last one is the waiting ops."""
        if b == self.nblocks:
            return self.ops, self.results
        if self._unpacked[0] != b:
            self._unpacked = (b, *marshal.loads(self.blocks[b]))
        return self._unpacked[1:]

    def read(self, start: int, stop: int) -> Iterator[Logged]:
        """The ops start + 1 .. stop (0-based indices start .. stop - 1), stop at most
        the log's length."""
        stop = min(stop, self.count)
        for b in range(start // BLOCK, -(-stop // BLOCK)):
            ops, results = self._block(b)
            base = b * BLOCK
            for i in range(max(start, base), min(stop, base + len(ops))):
                cpu, call, args = ops[i - base]
                yield Logged(Op(cpu, call, tuple(args)), results[i - base], i not in self.extras)

    def truncate(self, n: int) -> None:
        """Forget every op after the first n."""
        if n >= len(self):
            return
        b, keep = divmod(n, BLOCK)
        ops, results = self._block(b)
        self.ops, self.results = [Op(c, call, tuple(a)) for c, call, a in ops[:keep]], results[:keep]
        for gone in range(b, self.nblocks):
            self.blocks.pop(gone, None)
        self.nblocks = b
        self._unpacked = (-1, [], [])
        self.block_bytes = sum(map(len, self.blocks.values()))
        self.extras = {i for i in self.extras if i < n}
        self.count = n

    def forget(self, n: int) -> None:
        """Forget the full blocks that hold only ops before the first n (read no more)."""
        for b in [b for b in self.blocks if (b + 1) * BLOCK <= n]:
            self.block_bytes -= len(self.blocks.pop(b))
        self.extras = {i for i in self.extras if i >= n}


class Checkpoint:
    """An object pickled (protocol 5) with its big buffers out of band: the page
    tables' frame arrays (pgtable.PageMap) are copied once each, not written through
    the pickle stream, which costs several times a plain copy.  len() is its bytes,
    every buffer counted.

    With `last` (a Timeline's, kept from one checkpoint to the next), a buffer equal
    to the copy the previous checkpoint made of the same object is not kept again:
    the two checkpoints share that immutable bytes object.  Most of a page table's
    groups are not written between two checkpoints, and copying them again cost most
    of a checkpoint's time (fresh memory, page by page).  Restoring copies every
    buffer into a new array anyway, so nothing aliases."""

    __slots__ = ("data", "buffers", "nbytes")

    def __init__(self, obj: object, last: Shared | None = None) -> None:
        buffers: list[pickle.PickleBuffer] = []
        self.data = pickle.dumps(obj, 5, buffer_callback=buffers.append)
        if last is None:
            self.buffers = [bytes(b) for b in buffers]     # copies: the object changes on
        else:
            self.buffers = last.share(buffers)
        self.nbytes = len(self.data) + sum(map(len, self.buffers))

    def __len__(self) -> int:
        return self.nbytes

    def load(self):
        """A fresh copy of the object."""
        return pickle.loads(self.data, buffers=self.buffers)


class Shared:
    """The buffers the last checkpoint copied: id of the object that exported each (an
    array) -> its copy, the objects kept so that their ids stay theirs."""

    __slots__ = ("copies", "sources")

    def __init__(self) -> None:
        self.copies: dict[int, bytes] = {}
        self.sources: list[object] = []

    def share(self, buffers: list[pickle.PickleBuffer]) -> list[bytes]:
        """A bytes copy of each buffer, or the one made last time where its object
        holds the same bytes again; these become the last ones.  Read in C but for
        the pass that picks: a copy made only to compare is freed at once, its memory
        reused by the next, and costs a fraction of a copy kept (fresh memory)."""
        sources = list(map(_EXPORTER, map(memoryview, buffers)))
        keys = list(map(id, sources))
        copies = [old if old == new else new for old, new in zip(map(self.copies.get, keys), map(bytes, buffers))]
        self.copies = dict(zip(keys, copies))
        self.sources = sources
        return copies


_EXPORTER = attrgetter("obj")     # of a memoryview: the object whose buffer it is


class Timeline:
    """The op log, the checkpoints and the marks of one run; see the module docstring.
    `every` fixes K (tests); None adapts it to the measured costs."""

    def __init__(self, every: int | None = None, budget: int = BUDGET) -> None:
        self.log = OpLog()
        self.fixed = every
        self.k = every or 1024
        self.budget = budget
        self.points: list[int] = []          # checkpoint ops, sorted
        self.blobs: dict[int, Checkpoint] = {}    # op -> (kernel, recent records) pickled
        self.made: list[int] = []            # checkpoint ops in the order they were made
        self.bytes = 0                       # of the checkpoints, a shared buffer once
        self.last = Shared()                 # the buffers the last save copied
        self.holders: dict[int, int] = {}    # id of a buffer kept -> checkpoints holding it
        self.start = 0                       # the first op history still holds
        self.marks: dict[str, array] = {name: array("Q") for name in UNTIL}
        self.op_cost = 20e-6                 # seconds per op, measured
        self._mark = (time.thread_time(), 0)       # CPU time and op at the last checkpoint

    @property
    def end(self) -> int:
        """The last op ever run (the log's length)."""
        return len(self.log)

    # -- recording ------------------------------------------------------------------------

    def record(self, op: OpTuple, result: object, records: list, from_source: bool = True) -> None:
        """A new op ran past the log's end: log it and mark it from its event records
        (kernel.events)."""
        log = self.log
        log.append(op, result, from_source)
        if not log.ops:       # a block was written: the log grew by its size
            self._fit(log.count)
        for r in records:
            name = MARK_OF.get(r[0].kind)
            if name is not None:
                n = len(self.log)
                marks = self.marks[name]
                if not marks or marks[-1] != n:
                    marks.append(n)

    def due(self, op: int) -> bool:
        """Whether a checkpoint should be taken at `op` (K ops after the one before)."""
        i = bisect.bisect_right(self.points, op)
        return i == 0 or op - self.points[i - 1] >= self.k

    def save(self, op: int, kernel, recent) -> None:
        """Checkpoint the kernel at `op`, with the recent event records."""
        if op in self.blobs:
            return
        t0 = time.thread_time()
        blob = Checkpoint((kernel, tuple(recent)), self.last)
        dump_s = time.thread_time() - t0
        bisect.insort(self.points, op)
        self.blobs[op] = blob
        self.made.append(op)
        self.bytes += self._held(blob, 1)
        self._adapt(op, dump_s)
        self._fit(op)

    def _fit(self, here: int) -> None:
        """Back within the budget, with room for a block of waiting ops (the log is
        fitted again when they are written), the kernel being at op `here`: thin the
        checkpoints while the log takes at most half the budget, otherwise (or when
        none may go) forget the oldest history, never past `here`.  Only the newest
        checkpoint and the log after it are always kept."""
        limit = self.budget - WAITING * BLOCK
        while self.nbytes > limit:
            if not (self.log.nbytes <= self.budget // 2 and self._thin()) and not self._forget(here):
                return

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

    def _forget(self, here: int) -> bool:
        """Forget the first checkpoint and everything before the next one, if that is
        at or before `here` and not the last made; False when it is not."""
        pts = self.points
        if len(pts) < 2 or pts[1] > here or pts[0] == self.made[-1]:
            return False
        self._drop(pts[0])
        self.start = start = pts[0]
        self.log.forget(start)
        for marks in self.marks.values():
            del marks[:bisect.bisect_left(marks, start)]
        return True

    def _drop(self, op: int) -> None:
        self.points.remove(op)
        self.bytes -= self._held(self.blobs.pop(op), -1)
        self.made.remove(op)

    def _held(self, blob: Checkpoint, step: int) -> int:
        """The bytes a checkpoint kept (step 1) or dropped (step -1) adds or frees: its
        pickle, and each buffer no other checkpoint holds (shared ones count once)."""
        n = len(blob.data)
        holders = self.holders
        for buf in blob.buffers:
            key = id(buf)            # unique while a checkpoint holds it
            count = holders.get(key, 0) + step
            if count:
                holders[key] = count
            else:
                del holders[key]
            if count == (step > 0):  # the first to hold it, or the last to let it go
                n += len(buf)
        return n

    # -- going back ----------------------------------------------------------------------

    def nearest(self, op: int) -> int:
        """The checkpoint at or before `op` (the first one for an op before `start`)."""
        return self.points[max(0, bisect.bisect_right(self.points, op) - 1)]

    def restore(self, op: int):
        """(kernel, recent event records) as checkpointed at `op`: fresh objects each time.
        The next checkpoint copies every buffer (the restored arrays are new objects)."""
        self.last = Shared()
        return self.blobs[op].load()

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
        """Memory of the checkpoints, the log and the marks."""
        return self.bytes + self.log.nbytes + sum(m.itemsize * len(m) for m in self.marks.values())
