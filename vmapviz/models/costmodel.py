"""The cost model: from each op's raw kernel counts to simulated time on a modelled machine.

t threads each loop a workload on their own CPU of a c-CPU machine.  Every op's counts
(`OpCounts`) become steps: local work, critical sections under a global lock, and
TLB flushes.  A deterministic discrete-event simulation plays the threads' steps
against the contended resources:

- the global locks (`vmlist_lock`, a reader-writer lock whose write side serialises;
  `vmap_area_lock`; 6.12's `free_vmap_area_lock`), FIFO; a lock handed to another CPU
  moves its lock word and the list head it guards between caches (a remote atomic plus
  a line transfer);
- the flush of 2.6.27's `smp_call_function_mask()` (KERNEL-HISTORY A.5): the initiator
  sends one IPI to the c-1 other CPUs and waits; each target enters its handler, reads
  the global queue and the call data (two lines from the initiator), flushes its TLB,
  then the c-1 acknowledgements serialise on `data->lock`, one line that moves from
  acknowledger to acknowledger; the last one also takes `call_function_lock` and clears
  the flag the initiator spins on.  A handler steals its time from the thread on the
  target CPU, and a flushed thread refills its kernel TLB entries afterwards.

Per-CPU and per-node locks are never shared in these workloads: each costs a local
atomic.  The machine constants are meant to be published measurements (`PARAMS`;
`SOURCES` says which were checked against a source and which were not).  The only
calibrated numbers come from the thread's 1-thread row (`calibrate`): the work per
iteration the counts do not cover, which the rewrite's 2.9 us iteration also does (its
*common work*), and what vanilla's row holds beyond that and beyond its counted
mechanisms, which the model puts where 2.6.27 spends it: in the IPI round trip of the
flush that `remove_vm_area()` waits for holding `vmlist_lock` for write (its *residual
round trip*).  Every nanosecond of a calibrated 1-thread row is attributed to a
mechanism and the lock held while it runs (`attribution`).

The counts come from the shared run loop (`Run.run()`) on a kernel of each
generation; generations are known by their registry features.  Everything else here
reads counts and never touches a kernel.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections import deque
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from operator import attrgetter
from typing import Callable

from ..kernel.generations import GENERATIONS as REGISTRY
from ..kernel.views import COUNTERS

GENERATIONS = tuple(REGISTRY)
MECHANISMS = ("lock_wait", "ipi", "flush", "irq", "walk", "work")


@dataclass(frozen=True)
class OpCounts:
    """What one op did, as the kernel counts it (the interface the kernel generations report)."""

    walk: int = 0             # list/tree nodes examined
    vmlist_write: int = 0     # vmlist_lock write acquisitions
    vmlist_read: int = 0      # vmlist_lock read acquisitions
    vmap_area_lock: int = 0   # the rewrite's global area lock: vmap_area_lock (2.6.28),
                              # free_vmap_area_lock (6.12)
    vb_lock: int = 0          # per-CPU vbq/vb lock acquisitions
    node_locks: int = 0       # 6.12's per-node busy/lazy/pool locks and the per-CPU xarray locks
    tlb_flushes: int = 0      # TLB flush calls
    ipis: int = 0             # IPIs sent
    full_flushes: int = 0     # whole-TLB flushes received per CPU (0: a flush by INVLPG)
    ptes_set: int = 0
    ptes_cleared: int = 0
    pages_touched: int = 0    # TLB misses taken touching the mapping

    def __add__(self, other: "OpCounts") -> "OpCounts":
        return OpCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class Locking:
    """What a generation's ops hold, from its registry features: the global lock its
    walk runs under (the first of `Features.locks`), and whether its flush runs inside
    it (no lazy flushing: 2.6.27's remove_vm_area() flushes holding vmlist_lock)."""

    area_lock: str
    flush_under_lock: bool


def locking(generation: str) -> Locking:
    f = _generation(generation).features
    return Locking(f.locks[0], not f.lazy_flush)


def _generation(name: str):
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown generation {name!r} (known: {', '.join(GENERATIONS)})") from None


@dataclass(frozen=True)
class Params:
    """Machine constants in ns (see SOURCES: which were checked against a source read here,
    and which were not).  Cycle counts become ns at 2.3 GHz, the clock of the
    Family 10h rev B3 Opterons behind `line_remote_ns`; the thread does not give its
    machine's clock.  `wake_share` is not a constant of the machine but the model's
    one assumption about the residual round trip (see SOURCES)."""

    l2_hit_ns: float = 7.0
    line_socket_ns: float = 45.0
    line_remote_ns: float = 85.0
    atomic_ns: float = 7.4
    ipi_ns: float = 1000.0
    full_flush_ns: float = 100.0
    tlb_refill_ns: float = 25.0
    kernel_refills_after_flush: int = 4
    wake_share: float = 0.0


PARAMS = Params()

SOURCES = {
    "l2_hit_ns": "a pointer chase or PTE store hitting L2: 16 cycles, 7.0 ns at 2.3 GHz. Read here (a "
                 "secondary measurement, not AMD's): AnandTech, 'AMD's 12-core Magny-Cours Opteron 6174 vs. "
                 "Intel's 6-core Xeon', 2010, p. 5 (anandtech.com/show/2978/.../5), Sisoft Sandra table: L2 "
                 "16 clocks on the Family 10h Opteron 2435 (rev D0) and 6174. Not read here: AMD pub. "
                 "40546; Hackenberg, Molka, Nagel, MICRO-42, 2009 (approximate)",
    "line_socket_ns": "a modified line fetched from another core of the same Opteron die. NOT CHECKED: no "
                      "source giving this figure could be read here (Hackenberg, Molka, Nagel, MICRO-42, "
                      "2009, Opteron 2384, is the intended one: only its abstract was readable); the value "
                      "is the earlier one, from memory",
    "line_remote_ns": "a modified line fetched from the other socket over HyperTransport: 85 ns. Read here: "
                      "J. D. McCalpin, 'AMD Opteron Local Memory Latency Chart', 2010: 85 ns open-page "
                      "latency on 2-socket Family 10h rev B3 (2.3 GHz), 'controlled by the longer of' the "
                      "DRAM access and the other chips' snoop responses (sites.utexas.edu/jdm4372/2010/10/01/"
                      "amd-opteron-memory-latency-chart/); the model takes a dirty line in the "
                      "other socket as arriving with that snoop response (approximate). Hackenberg, Molka, "
                      "Nagel, MICRO-42, 2009, could not be read here",
    "atomic_ns": "a LOCK-prefixed read-modify-write once the line is here: 17 cycles, 7.4 ns at 2.3 GHz. "
                 "Read here (a secondary measurement, not Agner Fog's tables): the results in F. Giesen's "
                 "(rygorous) atomic_ops_test gist (gist.github.com/rygorous/153ea6493ce2efabd41c), AMD "
                 "Phenom II 925 (Family 10h), no interference: LOCK XADD 17, XCHG 16, LOCK ADD and LOCK "
                 "CMPXCHG 18 cycles an op; 17 is XADD, the instruction of 2.6.27's ticket spin_lock(). "
                 "A. Fog, 'Instruction tables' (AMD K10), could not be read here (approximate)",
    "ipi_ns": "IPI from the ICR write to the target's handler running. NOT CHECKED: no measurement could be "
              "read here (Baumann et al., 'The Multikernel', SOSP 2009: searched again, only its first "
              "pages were readable); the value is the earlier one, from memory. The one figure read, "
              "Barrelfish TN-009 'Message Notifications' (2010; doc/009-notifications/Notify.tex in the "
              "Barrelfish source), is an estimate, not a measurement: sending an IPI 'a few hundred' extra "
              "cycles, taking and acking it 'probably between 500 and 1000 cycles'. Its weight is small: "
              "calibration moves what it does not cover into the residual round trip",
    "full_flush_ns": "the CR4.PGE toggle of __flush_tlb_all, refills excluded (also taken for a 6.12 flush "
                     "of at most 33 pages by INVLPG). NOT CHECKED: an assumption; no measurement of its cost "
                     "could be read here (the AMD64 Architecture Programmer's Manual vol. 2, cited before, "
                     "is cited for global pages and CR4.PGE, not a cost)",
    "tlb_refill_ns": "a TLB miss walked with the page-walk cache warm and the PTE in L2. NOT CHECKED: "
                     "Bhargava, Serebrin, Spadini, Manne, ASPLOS 2008 (AMD Barcelona page-walk caches) "
                     "could be read only as an abstract; the value is the earlier one, from memory",
    "kernel_refills_after_flush": "model assumption, counted from the x86_64 layout: after a full flush "
                                  "the loop misses again on kernel text, its stack, the slab object and "
                                  "the page-table page, each one large or small page",
    "wake_share": "the share of the residual round trip that is idle targets waking (paid only while a "
                  "target CPU has no thread: the 1-thread row's 7 idle CPUs sit in HLT or C1E, "
                  "KERNEL-HISTORY A.5); the rest is handler time on every target, which a busy target "
                  "loses. NOT CHECKED: the 1-thread row cannot tell them apart and no measurement of an "
                  "idle Family 10h's IPI wake-up could be read here (AMD's revision guide 41322 describes "
                  "C1E's exit, not its latency); 0 takes a busy target's round trip as the idle one's",
}

# The thread's 1-thread row: ns per map+touch+unmap on the 4-core 2-socket Opteron, 8 CPUs.
CALIBRATION = {"vanilla": 14_700.0, "merged": 2_900.0, "posted": 2_900.0}
CALIBRATION_CPUS = 8
CORES_PER_SOCKET = 4


class ModelError(ValueError):
    """A machine or workload the model cannot take."""


# -- the kernel's own counts ---------------------------------------------------------------

# An iteration is one buffer: its map, its touch and its unmap (on vanilla, xfs-dir's
# vunmaps come later, in XFS's batches of 65, still one per buffer), and the pages it
# maps: xfs-dir's buffers are 1, 1, 2, 4, 4, 8 or 16 pages, equally likely.
OPS_PER_ITERATION = {"map-touch-unmap": 3, "xfs-dir": 3}
PAGES_PER_ITERATION = {"map-touch-unmap": 4, "xfs-dir": 36 / 7}
NODE_LOCKS = ("busy_lock", "lazy_lock", "pool_lock", "xa_lock")


def measured(generation: str, threads: int, cpus: int, thread: int,
             workload: str = "map-touch-unmap", quick: bool = False) -> tuple[list[list[OpCounts]], int]:
    """One thread's iterations of `workload` as the simulated kernel counted them, and
    their number (the cycle the simulation repeats).  See `_measure`."""
    runs = _measure(generation, threads, cpus, workload, quick)
    return runs[thread], len(runs[thread])


def op_counts(before: tuple, after: tuple, extra: dict | None = None) -> OpCounts:
    """One op's OpCounts: the differences of the kernel's counters (Kernel.stats, in the
    order of views.COUNTERS) across it; `extra`, the differences of a generation's
    extra counters (6.12: free_vmap_area_lock and the node locks)."""
    d = dict(zip(COUNTERS, (y - x for x, y in zip(before, after))))
    e = extra or {}
    return OpCounts(
        walk=d["walk_total"] + d["link_walk_total"] + d["remove_walk_total"] + d["purge_walk_total"],
        vmlist_write=d["vmlist_lock_write"], vmlist_read=d["vmlist_lock_read"],
        vmap_area_lock=d["vmap_area_lock"] + e.get("free_vmap_area_lock", 0),
        # per-CPU locks, and the radix tree's lock (once per block made or freed)
        vb_lock=d["vb_lock"] + d["vbq_lock"] + d["vmap_block_tree_lock"],
        node_locks=sum(e.get(n, 0) for n in NODE_LOCKS),
        tlb_flushes=d["tlb_flushes"], ipis=d["ipis"], full_flushes=d["tlb_full_flushes"],
        ptes_set=d["ptes_set"], ptes_cleared=d["ptes_cleared"], pages_touched=d["tlb_misses"])


@lru_cache(maxsize=None)
def _measure(generation: str, threads: int, cpus: int, workload: str,
             quick: bool = False) -> tuple[tuple[tuple[OpCounts, ...], ...], ...]:
    """Run `workload` on a kernel of `generation` with `cpus` CPUs through the shared
    run loop (`Run.run()` on `Workload.taking_turns()`: CPUs 0..threads-1 one op each
    in turn), and return each thread's iterations as tuples of per-op counts.  Enough iterations
    are recorded to hold one purge cycle of the machine (after as many again to warm
    up, and at least up to the first purge: the blocks of many CPUs take long to
    fill), so purges come at their natural rate; a generation without lazy flushing
    needs only a few hundred.  `quick` (tens of threads or many CPUs): with lazy
    flushing, from the first purge to the next one; else 50."""
    from ..run.driver import Run
    from ..workloads import get

    try:
        wl = get(workload)
        cfg = wl.config(variant=generation, nr_cpus=cpus, bits=64)
    except Exception as e:   # an unknown workload, or one this generation cannot run
        raise ModelError(str(e)) from None
    run = Run(wl.taking_turns(threads), cfg)      # CPUs 0..threads-1, one op each in turn
    k = run.kernel
    extra = k.extra_counters if cfg.generation.features.vmap_nodes else None
    per_it = OPS_PER_ITERATION[workload]
    pages = PAGES_PER_ITERATION[workload]
    lazy = cfg.generation.features.lazy_flush
    if lazy and quick:
        iterations = math.ceil(cfg.vmap_bbmap_bits / pages)
    elif lazy:
        blocks = cfg.lazy_max_pages // cfg.vmap_bbmap_bits + 1       # freed blocks per purge
        iterations = math.ceil(math.ceil(blocks * cfg.vmap_bbmap_bits / pages) / threads)
    else:
        iterations = 50 if quick else 200
    read = attrgetter(*COUNTERS)
    runs: list[list[OpCounts]] = [[] for _ in range(threads)]
    stop = getattr(_STOP, "fn", None)
    ran = 0                          # ops so far: op i runs on CPU i % threads

    def play(iterations: int, record: bool) -> None:
        """iterations x threads iterations through Run.run(); recording, the counters
        are read before each op (run_loop asks `stop` then) and after the last."""
        nonlocal ran
        n = iterations * per_it * threads
        readings: list[tuple] = []
        asked = [0]

        def before_op() -> bool:
            asked[0] += 1
            if stop is not None and not asked[0] & 0xFF:
                stop()
            if record:
                readings.append((read(k.stats), extra() if extra else None))
            return False

        done = run.run(n, stop=before_op if record or stop is not None else None)
        if record:
            readings.append((read(k.stats), extra() if extra else None))
            for i in range(done):
                (before, e0), (after, e1) = readings[i], readings[i + 1]
                runs[(ran + i) % threads].append(
                    op_counts(before, after, {name: e1[name] - e0[name] for name in e1} if extra else None))
        ran += done

    play(iterations, False)          # the warm-up, and with lazy flushing up to the first purge
    while lazy and not k.stats.purges:
        play(1, False)
    if lazy and quick:               # one purge cycle: up to the next purge
        purges = k.stats.purges
        while k.stats.purges == purges:
            play(1, True)
    else:
        play(iterations, True)
    return tuple(tuple(tuple(ops[i:i + per_it]) for i in range(0, len(ops), per_it))
                 for ops in runs)


WORKLOADS = {"map-touch-unmap": measured, "xfs-dir": measured}
_STOP = threading.local()     # fn: what a table's `stop` is, while the counts are measured


# -- from counts to steps -------------------------------------------------------------------

def steps_for(generation: str, iterations: list[list[OpCounts]], common_ns: float, p: Params) -> list[tuple]:
    """A thread's cycle as steps: ("work", ns, kind), ("lock", name, write), ("unlock", name),
    ("flush", whole).  Runs of local work merge into one step.  `kind` names what the
    time is spent on ("walk" or "work") for the breakdown.

    `common_ns`, the work per iteration the counts do not cover, is shared equally by
    its ops and sits where each op's C spends it: inside the section that unmaps when
    the flush runs under the lock (2.6.27's vunmap: __remove_vm_area() descends the
    page tables in unmap_kernel_range() holding vmlist_lock; its kfree() after the
    unlock is left inside, a simplification), and outside every global lock otherwise
    (kmalloc and map_vm_area() run after __get_vm_area_node() unlocks; the rewrite's
    fast path takes only per-CPU locks)."""
    lk = locking(generation)
    out: list[tuple] = []

    def work(ns: float, kind: str = "work") -> None:
        if ns <= 0:
            return
        if out and out[-1][0] == "work" and out[-1][2] == kind:
            out[-1] = ("work", out[-1][1] + ns, kind)
        else:
            out.append(("work", ns, kind))

    for ops in iterations:
        share = common_ns / len(ops)
        for op in ops:
            work(op.vb_lock * p.atomic_ns + op.node_locks * p.atomic_ns + op.ptes_set * p.l2_hit_ns
                 + op.pages_touched * p.tlb_refill_ns)
            sections = [(name, write) for name, n, write in
                        (("vmlist_lock", op.vmlist_write, True), ("vmlist_lock", op.vmlist_read, False),
                         (lk.area_lock, op.vmap_area_lock, True)) for _ in range(n)]
            walked = [s for s in sections if s[0] == lk.area_lock]
            walk_each = op.walk * p.l2_hit_ns / len(walked) if walked else 0.0
            if not walked:
                work(op.walk * p.l2_hit_ns, "walk")
            flush_inside = lk.flush_under_lock and walked and op.tlb_flushes
            whole = op.full_flushes > 0
            clear_ns = op.ptes_cleared * p.l2_hit_ns
            if not flush_inside:
                work(share + clear_ns)
                for _ in range(op.tlb_flushes):
                    out.append(("flush", whole))
            for i, (name, write) in enumerate(sections):
                out.append(("lock", name, write))
                work(p.atomic_ns)
                if (name, write) in walked:
                    work(walk_each, "walk")
                if flush_inside and i == len(sections) - 1:
                    work(share + clear_ns)
                    for _ in range(op.tlb_flushes):
                        out.append(("flush", whole))
                out.append(("unlock", name))
    return out


# -- the discrete-event simulation ----------------------------------------------------------

class _Lock:
    """A FIFO reader-writer lock (spinlocks use only the write side)."""

    def __init__(self) -> None:
        self.writer = False
        self.readers = 0
        self.queue: deque = deque()
        self.last_cpu: int | None = None


class _Thread:
    def __init__(self, tid: int, cpu: int, steps: list[tuple]) -> None:
        self.tid, self.cpu, self.steps = tid, cpu, steps
        self.pc = 0
        self.cycles = 0
        self.end = 0.0            # when the current work step ends
        self.version = 0          # invalidates a rescheduled work-end event
        self.running = False      # in a work step (vs waiting for a lock or a flush)
        self.frozen_until = 0.0   # a handler holds this CPU until then
        self.debt: dict[str, float] = {}   # time owed to the next work step, by cause
        self.acc = dict.fromkeys(MECHANISMS, 0.0)
        self.wait_since = 0.0
        self.cycle_end: list[float] = []
        self.cycle_acc: list[dict] = []


class Simulation:
    """Threads running step programs on one machine; `run()` plays them.

    `handler_ns` and `wake_ns` are the residual round trip of a flush (`calibrate`):
    `handler_ns` more handler time on every target, busy or idle (a busy target's
    thread loses it); `wake_ns` more time before an idle target (one no thread runs
    on) starts its handler."""

    def __init__(self, programs: list[list[tuple]], cpus: int, p: Params = PARAMS,
                 cores_per_socket: int = CORES_PER_SOCKET, handler_ns: float = 0.0,
                 wake_ns: float = 0.0, stop: Callable[[], None] | None = None) -> None:
        if len(programs) > cpus:
            raise ModelError(f"{len(programs)} threads need at least as many CPUs, not {cpus}")
        self.p, self.cpus, self.cps = p, cpus, cores_per_socket
        self.handler_ns, self.wake_ns, self.stop = handler_ns, wake_ns, stop
        order = placement(cpus, cores_per_socket)
        self.threads = [_Thread(i, order[i], prog) for i, prog in enumerate(programs)]
        self.on_cpu = {t.cpu: t for t in self.threads}
        self.irq_free = [0.0] * cpus
        self.locks: dict[str, _Lock] = {}
        self.heap: list = []
        self.seq = 0
        self.now = 0.0
        self.cfl_last = 0                 # CPU that last held call_function_lock
        self.events = 0

    # distances
    def line(self, a: int, b: int) -> float:
        if a == b:
            return 0.0
        return self.p.line_socket_ns if a // self.cps == b // self.cps else self.p.line_remote_ns

    def atomic(self, a: int, b: int) -> float:
        return self.p.atomic_ns + self.line(a, b)

    def at(self, time: float, fn, *args) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (time, self.seq, fn, args))

    def run(self, cycles: int) -> None:
        for t in self.threads:
            self.at(0.0, self.advance, t)
        self.target = cycles
        while self.heap:
            self.now, _, fn, args = heapq.heappop(self.heap)
            fn(*args)
            self.events += 1
            if self.stop is not None and not self.events & 0xFFF:
                self.stop()

    # a thread's program
    def resume(self, t: _Thread, when: float) -> None:
        """Continue t at `when`, or after the handler holding its CPU."""
        self.at(when, self.advance, t)

    def owe(self, t: _Thread, cause: str, ns: float) -> None:
        t.debt[cause] = t.debt.get(cause, 0.0) + ns

    def owe_refills(self, t: _Thread, cause: str, ns: float) -> None:
        """Kernel TLB refills after a full flush, paid in t's next work step.  Not
        additive: a TLB emptied twice before that step is refilled once."""
        t.debt[cause] = max(t.debt.get(cause, 0.0), ns)

    def advance(self, t: _Thread) -> None:
        if self.now < t.frozen_until:     # a handler took the CPU meanwhile
            t.acc["irq"] += t.frozen_until - self.now
            self.at(t.frozen_until, self.advance, t)
            return
        while True:
            if t.pc == len(t.steps):
                t.pc = 0
                t.cycles += 1
                t.cycle_end.append(self.now)
                t.cycle_acc.append(dict(t.acc))
                if t.cycles == self.target:
                    return
            step = t.steps[t.pc]
            t.pc += 1
            kind = step[0]
            if kind == "work":
                ns = step[1] + sum(t.debt.values())
                for cause, owed in t.debt.items():
                    t.acc[cause] += owed
                t.debt.clear()
                t.acc[step[2]] += step[1]
                t.running = True
                t.end = self.now + ns
                t.version += 1
                self.at(t.end, self.work_done, t, t.version)
                return
            if kind == "lock":
                if not self.acquire(t, step[1], step[2]):
                    t.running, t.wait_since = False, self.now
                    return
                continue
            if kind == "unlock":
                self.release(t, step[1])
                continue
            self.flush(t, step[1] if len(step) > 1 else True)
            return

    def work_done(self, t: _Thread, version: int) -> None:
        if version == t.version:
            t.running = False
            self.advance(t)

    def lock(self, name: str) -> _Lock:
        return self.locks.setdefault(name, _Lock())

    def acquire(self, t: _Thread, name: str, write: bool) -> bool:
        lk = self.lock(name)
        free = not lk.writer and (lk.readers == 0 if write else True) and not lk.queue
        if free:
            self.take(t, lk, write)
            return True
        lk.queue.append((t, write))
        return False

    def take(self, t: _Thread, lk: _Lock, write: bool) -> float:
        """Grant lk to t; the lock word and the list head it guards come from the last holder."""
        if write:
            lk.writer = True
        else:
            lk.readers += 1
        handover = 0.0
        if lk.last_cpu is not None and lk.last_cpu != t.cpu:
            handover = self.atomic(lk.last_cpu, t.cpu) + self.line(lk.last_cpu, t.cpu)
        lk.last_cpu = t.cpu
        self.owe(t, "lock_wait", handover)
        return handover

    def release(self, t: _Thread, name: str) -> None:
        lk = self.locks[name]
        if lk.writer:
            lk.writer = False
        else:
            lk.readers -= 1
        while lk.queue and not lk.writer:
            nxt, write = lk.queue[0]
            if write and lk.readers:
                break
            lk.queue.popleft()
            self.take(nxt, lk, write)
            nxt.acc["lock_wait"] += self.now - nxt.wait_since
            self.resume(nxt, self.now)
            if write:
                break

    # the 2.6.27 flush: smp_call_function_mask(all others, wait=1), then the local flush
    def flush(self, t: _Thread, whole: bool = True) -> None:
        """One flush from t's CPU.  `whole`: every TLB emptied (CR4.PGE), so every
        flushed CPU refills its kernel entries after; else 6.12's INVLPG of at most
        33 pages, which leaves the global kernel entries (its cost per CPU is taken as
        full_flush_ns: a simplification)."""
        p = self.p
        start = self.now
        me = t.cpu
        # call_function_lock around list_add_tail_rcu onto the global queue
        send = start + self.atomic(self.cfl_last, me)
        self.cfl_last = me
        arrive = send + p.ipi_ns
        body = p.full_flush_ns + self.handler_ns
        ready = []
        for cpu in range(self.cpus):
            if cpu == me:
                continue
            wake = self.wake_ns if cpu not in self.on_cpu else 0.0
            begin = max(arrive + wake, self.irq_free[cpu])
            ready.append((begin + 2 * self.line(me, cpu) + body, cpu, begin))
        ready.sort()
        holder, free_at = me, send         # data->lock, last written by the initiator
        handlers = []
        for r, cpu, begin in ready:
            free_at = max(r, free_at) + self.atomic(holder, cpu)
            holder = cpu
            handlers.append([cpu, begin, free_at])
        if handlers:                       # the last acknowledger unlinks the call data
            free_at += self.atomic(self.cfl_last, holder)
            self.cfl_last = holder
            handlers[-1][2] = free_at
        refills = p.kernel_refills_after_flush * p.tlb_refill_ns if whole else 0.0
        for cpu, begin, end in handlers:
            self.irq_free[cpu] = end
            if cpu in self.on_cpu:         # an idle CPU's handler takes nobody's time
                self.at(begin, self.handler, cpu, end, refills)
        acked = free_at + self.line(holder, me)
        self.owe_refills(t, "flush", refills)
        t.acc["ipi"] += acked - start
        t.acc["flush"] += p.full_flush_ns
        t.running = False
        self.resume(t, acked + p.full_flush_ns)

    def handler(self, cpu: int, end: float, refills: float) -> None:
        """A flush handler holds `cpu` until `end`; the thread on it pays."""
        t = self.on_cpu[cpu]
        self.owe_refills(t, "irq", refills)
        if t.running:                      # the work step ends later by the handler's length
            t.acc["irq"] += end - self.now
            t.end += end - self.now
            t.version += 1
            self.at(t.end, self.work_done, t, t.version)
        else:                              # waiting: it loses only what outlasts the wait
            t.frozen_until = max(t.frozen_until, end)

    def per_iteration(self, iterations_per_cycle: int, warmup: int = 1) -> tuple[float, dict]:
        """Mean ns per iteration over the threads, cycles after `warmup`, and its breakdown."""
        totals, parts = [], dict.fromkeys(MECHANISMS, 0.0)
        for t in self.threads:
            n = (len(t.cycle_end) - warmup) * iterations_per_cycle
            totals.append((t.cycle_end[-1] - t.cycle_end[warmup - 1]) / n)
            for k in parts:
                parts[k] += (t.cycle_acc[-1][k] - t.cycle_acc[warmup - 1][k]) / n / len(self.threads)
        return sum(totals) / len(totals), parts


def placement(cpus: int, cores_per_socket: int = CORES_PER_SOCKET) -> list[int]:
    """CPU of thread k: sockets in turn (the 2.6.27 scheduler spreads busy tasks over
    packages), then cores: 0, 4, 1, 5, ... on two 4-core sockets."""
    sockets = math.ceil(cpus / cores_per_socket)
    order = [s * cores_per_socket + c for c in range(cores_per_socket) for s in range(sockets)]
    return [cpu for cpu in order if cpu < cpus]


# -- calibration ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """What the 1-thread rows decide: each generation's common work per iteration, and
    the residual round trip of one flush (the same machine for every generation)."""

    common_ns: dict            # generation -> ns per iteration
    roundtrip_ns: float        # per flush: more than the counted IPI round trip

    def sim_args(self, p: Params) -> dict:
        return {"handler_ns": (1 - p.wake_share) * self.roundtrip_ns,
                "wake_ns": p.wake_share * self.roundtrip_ns}


def _flushes_per_iteration(generation: str) -> float:
    its, n = measured(generation, 1, CALIBRATION_CPUS, 0)
    return sum(op.tlb_flushes for ops in its for op in ops) / n


@lru_cache(maxsize=None)
def calibrate(p: Params = PARAMS) -> Calibration:
    """Solve the 1-thread rows exactly.  One thread's time is linear in the common work
    (slope 1) and in the residual round trip (slope: its flushes per iteration; every
    target is idle and nothing contends), so one simulation of each at zero gives
    `base`, and:

    - each lazily flushing generation with a row (the rewrite, posted and merged)
      keeps its own common work: row - base - flushes * roundtrip;
    - the generation that flushes at every unmap (2.6.27) has no common work of its
      own to solve for: its vmap, touch and vunmap do the rewrite's work on the same
      4 pages (the mean of theirs), and what its row holds beyond that and its counted
      mechanisms is its one flush's residual round trip."""
    rows = {g: r for g, r in CALIBRATION.items() if g in REGISTRY}
    base = {g: simulate(g, 1, CALIBRATION_CPUS, Calibration({g: 0.0}, 0.0), p).ns for g in rows}
    f = {g: _flushes_per_iteration(g) for g in rows}
    lazy = [g for g in rows if REGISTRY[g].features.lazy_flush]
    eager = [g for g in rows if not REGISTRY[g].features.lazy_flush]
    mean = sum(rows[g] - base[g] for g in lazy) / len(lazy)
    mean_f = sum(f[g] for g in lazy) / len(lazy)
    (v,) = eager
    roundtrip = (rows[v] - base[v] - mean) / (f[v] - mean_f)
    common = {g: rows[g] - base[g] - f[g] * roundtrip for g in lazy}
    common[v] = sum(common[g] for g in lazy) / len(lazy)
    return Calibration(common, roundtrip)


def common_ns(generation: str, cal: Calibration) -> float:
    """A generation's common work: its own if its row was calibrated, else the mean
    of the lazily flushing generations' (6.12 on the thread's machine)."""
    if generation in cal.common_ns:
        return cal.common_ns[generation]
    lazy = [g for g in cal.common_ns if REGISTRY[g].features.lazy_flush]
    return sum(cal.common_ns[g] for g in lazy) / len(lazy)


def residual(generation: str, p: Params = PARAMS) -> float:
    """Everything a 1-thread iteration of `generation` holds beyond its counted
    mechanisms: its common work plus its flushes' residual round trip."""
    cal = calibrate(p)
    return common_ns(generation, cal) + _flushes_per_iteration(generation) * cal.roundtrip_ns


# -- the public API ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    ns: float                   # per iteration, mean over threads
    parts: dict                 # MECHANISMS: ns per iteration


def is_quick(threads: int, cpus: int) -> bool:
    """Past the calibration machine's 8 threads or 64 CPUs the simulation is quick."""
    return threads > CALIBRATION_CPUS or cpus > 64


def simulate(generation: str, threads: int, cpus: int, cal: Calibration | None = None,
             p: Params = PARAMS, workload: str = "map-touch-unmap", quick: bool = False,
             stop: Callable[[], None] | None = None) -> Result:
    """ns per iteration of `workload` with `threads` threads on `cpus` CPUs.  `quick`, for
    tens of threads: a shorter measured window (`_measure`) and two cycles after the
    warm-up instead of at least 600 iterations.  `stop` is called now and then: it may
    raise to cancel."""
    _generation(generation)
    if workload not in WORKLOADS:
        raise ModelError(f"the cost model has no counts for workload {workload!r} "
                         f"(known: {', '.join(WORKLOADS)})")
    if not 1 <= threads <= cpus:
        raise ModelError(f"threads must be between 1 and the CPU count {cpus}, not {threads}")
    cal = calibrate(p) if cal is None else cal
    common = common_ns(generation, cal)
    programs, per_cycle = [], 1
    for k in range(threads):
        iterations, per_cycle = WORKLOADS[workload](generation, threads, cpus, k, workload, quick)
        programs.append(steps_for(generation, iterations, common, p))
    cycles = 2 if quick else max(3, math.ceil(600 / per_cycle))
    sim = Simulation(programs, cpus, p, stop=stop, **cal.sim_args(p))
    sim.run(cycles + 1)
    ns, parts = sim.per_iteration(per_cycle)
    return Result(ns, parts)


def flush_ns(cpus: int, p: Params = PARAMS, cal: Calibration | None = None) -> float:
    """One whole flush with nothing else running, as the simulation plays it: the
    initiator's round trip to the cpus - 1 others (with the residual round trip when
    `cal` is given) and its kernel TLB refills after."""
    args = cal.sim_args(p) if cal is not None else {}
    sim = Simulation([[("flush", True), ("work", 0.0, "work")]], cpus, p, **args)
    sim.run(3)
    return sim.per_iteration(1)[0]


def op_ns(generation: str, counts: OpCounts, cpus: int, ops: int = 1, p: Params = PARAMS) -> float:
    """Simulated ns of `ops` ops that did `counts` in all, on one thread with nothing
    contending (so it is linear in the counts): each count times its unit cost, every
    flush an uncontended round trip with the residual one (`flush_ns`), and the
    generation's common work spread over the ops of a map+touch+unmap, whatever the
    workload."""
    _generation(generation)
    cal = calibrate(p)
    c = counts
    locks = c.vmlist_write + c.vmlist_read + c.vmap_area_lock + c.vb_lock + c.node_locks
    return ((c.walk + c.ptes_set + c.ptes_cleared) * p.l2_hit_ns + locks * p.atomic_ns
            + c.pages_touched * p.tlb_refill_ns + c.tlb_flushes * flush_ns(cpus, p, cal)
            + ops * common_ns(generation, cal) / OPS_PER_ITERATION["map-touch-unmap"])


def counts_of(stats, extra: dict | None = None) -> OpCounts:
    """The OpCounts of everything a kernel did so far, from its counters (Kernel.stats
    or a snapshot's StatsView) and its extra counters."""
    return op_counts((0,) * len(COUNTERS), attrgetter(*COUNTERS)(stats), extra)


# -- where a 1-thread row goes ----------------------------------------------------------------

def attribution(generation: str, p: Params = PARAMS) -> list[dict]:
    """Every ns of one thread's iteration on the calibration machine, by mechanism:
    {"mechanism", "ns", "lock" (held while it runs), "source"}.  Worked from the
    counts and the constants (one thread: nothing contends), not from the simulation;
    the rows sum to the simulated 1-thread time (the row, for a calibrated generation)."""
    its, n = measured(generation, 1, CALIBRATION_CPUS, 0)
    c = OpCounts()
    for ops in its:
        for op in ops:
            c += op
    cal = calibrate(p)
    lk = locking(generation)
    under = lk.area_lock if lk.flush_under_lock else "none (nobody waits for purge_lock or 6.12's kworker)"
    area = lk.area_lock
    c = OpCounts(*(getattr(c, f.name) / n for f in fields(OpCounts)))      # per iteration
    f = c.tlb_flushes
    whole = c.full_flushes > 0
    counted_rt = flush_ns(CALIBRATION_CPUS, p) - p.full_flush_ns - (
        p.kernel_refills_after_flush * p.tlb_refill_ns)
    share = common_ns(generation, cal) / OPS_PER_ITERATION["map-touch-unmap"]
    if generation not in CALIBRATION:
        common_src = "the rewrite's residual: no row of its own (this code on the thread's machine)"
    elif lk.flush_under_lock:
        common_src = "the rewrite's residual (posted's and merged's): the same work on the same 4 pages"
    else:
        common_src = "the residual of its own row: row - counted - flushes x residual round trip"
    rows = [
        ("nodes walked", c.walk * p.l2_hit_ns, area, "l2_hit_ns per node"),
        ("global lock taken (lock word here)", (c.vmlist_write + c.vmlist_read + c.vmap_area_lock) * p.atomic_ns,
         area, "atomic_ns per acquisition"),
        ("per-CPU and per-node locks", (c.vb_lock + c.node_locks) * p.atomic_ns, "their own", "atomic_ns each"),
        ("PTEs set", c.ptes_set * p.l2_hit_ns, "none", "l2_hit_ns per PTE"),
        ("PTEs cleared", c.ptes_cleared * p.l2_hit_ns, area if lk.flush_under_lock else "none",
         "l2_hit_ns per PTE"),
        ("TLB misses touching the pages", c.pages_touched * p.tlb_refill_ns, "none", "tlb_refill_ns per miss"),
        ("IPI round trip, counted (call_function_lock, IPI, handlers, serialised acks)", f * counted_rt, under,
         "ipi_ns, line_*_ns, atomic_ns, full_flush_ns (the targets')"),
        ("IPI round trip, residual (7 idle targets)", f * cal.roundtrip_ns, under,
         "the residual: vanilla's row beyond the rewrite's work and its counted mechanisms"),
        ("own TLB flush (CR4.PGE toggle)", f * p.full_flush_ns, under, "full_flush_ns"),
        ("kernel TLB refills after the flush", f * p.kernel_refills_after_flush * p.tlb_refill_ns if whole else 0.0,
         "none", "kernel_refills_after_flush x tlb_refill_ns"),
    ]
    for i, op in enumerate(("map", "touch", "unmap")):
        inside = lk.flush_under_lock and op == "unmap"
        rows.append((f"common work, the {op}'s third", share, area if inside else "none", common_src))
    out = [{"mechanism": m, "ns": round(ns, 3), "lock": lock, "source": src} for m, ns, lock, src in rows if ns]
    if generation in CALIBRATION:
        out.append({"row": CALIBRATION[generation]})
    return out


# -- the table, its cost, and what the constants weigh ----------------------------------------

MAX_WORK = 750_000_000   # work units a table may cost (WORK_PER_S of them a CPU second, measured here)
WORK_PER_S = 3_000_000
OP_UNITS = 60            # a kernel op the counts are read around


def cost_estimate(threads: list[int], cpus: int, generations: tuple[str, ...],
                  workload: str = "map-touch-unmap") -> int:
    """About how much a table costs, in work units: the kernel ops run for the counts
    (`_measure`: each a Run step and a reading of the counters; an eager flush also
    touches every CPU's TLB), and every flush the simulation plays (each walks all
    `cpus` CPUs and schedules a handler on each of the t threads' CPUs)."""
    total = 0
    per_it = OPS_PER_ITERATION.get(workload, 3)
    for gen in generations:
        lazy = _generation(gen).features.lazy_flush
        for t in threads:
            quick = is_quick(t, cpus)
            if lazy:
                blocks = cpus.bit_length() * 8 + 1          # lazy_max_pages() / 1,024 pages, + 1
                ops = per_it * 256 * (t + 2 * blocks) if quick else 2 * per_it * 256 * blocks
                total += ops * OP_UNITS
            else:
                its = 50 if quick else 200
                played = (3 if quick else 1 + max(3, math.ceil(600 / its))) * its * t
                total += 2 * per_it * its * t * (OP_UNITS + cpus // 2) + played * (cpus + 6 * t)
    return total


def scaling(threads: list[int], cpus: int = CALIBRATION_CPUS, workload: str = "map-touch-unmap",
            generations: tuple[str, ...] = ("vanilla", "merged"), p: Params = PARAMS,
            progress: Callable[[str], None] | None = None, stop: Callable[[], None] | None = None) -> dict:
    """The scaling table: ns per iteration per generation at each thread count, the speed-up
    (the first generation over the second), the breakdowns and the parameters.  Past
    the calibration machine's 8 threads or 64 CPUs the simulation is `quick`.
    `progress` hears a line before each simulation; `stop` may raise to cancel."""
    for gen in generations:
        _generation(gen)
    if workload not in WORKLOADS:
        raise ModelError(f"the cost model has no counts for workload {workload!r} "
                         f"(known: {', '.join(WORKLOADS)})")
    if len(generations) < 2:
        raise ModelError("the table compares at least two generations (its speed-up is the first over the second)")
    table: dict = {"workload": workload, "threads": list(threads), "ns": {}, "parts": {}}
    todo, done = len(generations) * len(threads), 0
    if progress:
        progress(f"calibrating on the 1-thread rows ({CALIBRATION_CPUS} CPUs)")
    _STOP.fn = stop
    try:
        cal = calibrate(p)
        for gen in generations:
            results = []
            for t in threads:
                done += 1
                if progress:
                    progress(f"{gen}, {t} thread{'s' * (t > 1)} on {cpus} CPUs ({done}/{todo})")
                results.append(simulate(gen, t, cpus, cal, p, workload, is_quick(t, cpus), stop))
            table["ns"][gen] = [round(r.ns, 1) for r in results]
            table["parts"][gen] = [{k: round(v, 1) for k, v in r.parts.items()} for r in results]
    finally:
        _STOP.fn = None
    a, b = generations[0], generations[1]
    table["speedup"] = [round(x / y, 2) for x, y in zip(table["ns"][a], table["ns"][b])]
    table["params"] = {**asdict(p), "cpus": cpus, "cores_per_socket": CORES_PER_SOCKET,
                       "calibration_ns": {g: CALIBRATION[g] for g in generations if g in CALIBRATION},
                       "common_ns": {g: round(common_ns(g, cal), 1) for g in generations},
                       "roundtrip_ns": round(cal.roundtrip_ns, 1),
                       "residual_ns": {g: round(residual(g, p), 1) for g in generations},
                       "sources": SOURCES}
    return table


def sensitivity(threads: int = CALIBRATION_CPUS, p: Params = PARAMS,
                progress: Callable[[str], None] | None = None,
                stop: Callable[[], None] | None = None, constants: tuple[str, ...] | None = None) -> dict:
    """For each constant (all of Params, or `constants`) at 0.5x and 2x (wake_share,
    which is 0, at 0.5 and 1), with the model calibrated again: vanilla's ns at
    `threads` threads on the calibration machine and the speed-up over merged."""
    def point(q: Params) -> dict:
        cal = calibrate(q)
        v = simulate("vanilla", threads, CALIBRATION_CPUS, cal, q, stop=stop).ns
        m = simulate("merged", threads, CALIBRATION_CPUS, cal, q, stop=stop).ns
        return {"vanilla": round(v, 1), "speedup": round(v / m, 2), "roundtrip_ns": round(cal.roundtrip_ns, 1)}

    if progress:
        progress("the model as it stands")
    out = {"threads": threads, "cpus": CALIBRATION_CPUS, "base": point(p), "constants": {}}
    for f in fields(Params):
        if constants is not None and f.name not in constants:
            continue
        value = getattr(p, f.name)
        scaled = (0.5, 1.0) if f.name == "wake_share" and not value else (value * 0.5, value * 2)
        if f.type in ("int", int):
            scaled = tuple(int(round(x)) for x in scaled)
        row: dict = {"now": value}
        for label, x in zip(("low", "high"), scaled):
            if progress:
                progress(f"{f.name} = {x:g}")
            row[label] = {"value": x, **point(replace(p, **{f.name: x}))}
        out["constants"][f.name] = row
    return out


def with_params(**changes) -> Params:
    """PARAMS with some constants replaced (for what-if runs and tests)."""
    return replace(PARAMS, **changes)


# -- the thread's XFS profiles ----------------------------------------------------------------

# Nick Piggin's "Before" and "After" kernel profiles of an XFS directory workload on a
# 64-CPU ia64 SN2 (the thread, lines ~80-110): total ticks, and the listed functions by
# what the model calls them.  Everything not listed is work; idle and other locks the
# model does not have.
XFS_PROFILES = {
    "vanilla": (1_352_059, {
        "idle": {"default_idle": 529_313},
        "lock_wait": {"_write_lock": 798_784},                      # vmlist_lock
        "flush": {"smp_call_function": 15_242, "sn_send_IPI_phys": 252, "sn2_send_IPI": 136,
                  "pio_phys_write_mmr": 130},                        # the flush and its IPIs
        "walk": {"__get_vm_area_node": 2_472, "remove_vm_area": 1_762},
        "other_locks": {"_spin_lock": 300},
    }),
    "merged": (78_406, {
        "idle": {"default_idle": 40_053},
        "other_locks": {"ia64_spinlock_contention": 33_576, "_spin_lock": 1_650,
                        "_atomic_dec_and_lock": 281},
    }),
}
SPLIT = ("lock_wait", "other_locks", "flush", "irq", "walk", "work")


def profile_shares(generation: str) -> dict[str, float]:
    """The profile's shares of the busy (not idle) ticks by the model's categories (those
    it lists lines for, and work: the rest), and `idle`: the idle share of all ticks."""
    total, lines = XFS_PROFILES[generation]
    ticks = {cat: sum(fns.values()) for cat, fns in lines.items()}
    busy = total - ticks["idle"]
    shares = {cat: ticks[cat] / busy for cat in SPLIT if cat in ticks}
    shares["work"] = 1 - sum(shares.values())
    shares["idle"] = ticks["idle"] / total
    return shares


def profile_split(workload: str = "xfs-dir", cpus: int = 64, threads: int = 64,
                  p: Params = PARAMS) -> dict:
    """How the model splits a thread's time with `threads` threads on `cpus` CPUs, per
    generation (quick: see `simulate`), beside the thread's XFS profiles."""
    out = {"workload": workload, "cpus": cpus, "threads": threads, "model": {}, "profile": {}}
    for gen in ("vanilla", "merged"):
        r = simulate(gen, threads, cpus, calibrate(p), p, workload, quick=True)
        parts = dict(r.parts)
        parts["flush"] += parts.pop("ipi")       # the profile's smp_call_function: the whole wait
        total = sum(parts.values())
        out["model"][gen] = {"ns": round(r.ns, 1),
                             "shares": {k: round(v / total, 5) for k, v in parts.items()}}
        out["profile"][gen] = {k: round(v, 5) for k, v in profile_shares(gen).items()}
    return out
