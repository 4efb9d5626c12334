"""The cost model: from each op's raw kernel counts to simulated time on a modelled machine.

t threads each loop a workload on their own CPU of a c-CPU machine.  Every op's counts
(`OpCounts`) become steps: local work, critical sections under a global lock, and
TLB flushes.  A deterministic discrete-event simulation plays the threads' steps
against the contended resources:

- the global locks (`vmlist_lock`, a reader-writer lock whose write side serialises;
  `vmap_area_lock`), FIFO; a lock handed to another CPU moves its lock word and the list
  head it guards between caches (a remote atomic plus a line transfer);
- the flush of 2.6.27's `smp_call_function_mask()` (KERNEL-HISTORY A.5): the initiator
  sends one IPI to the c-1 other CPUs and waits; each target enters its handler, reads
  the global queue and the call data (two lines from the initiator), flushes its whole
  TLB, then the c-1 acknowledgements serialise on `data->lock`, one line that moves from
  acknowledger to acknowledger; the last one also takes `call_function_lock` and clears
  the flag the initiator spins on.  A handler steals its time from the thread on the
  target CPU, and the flushed thread refills its kernel TLB entries afterwards.

Per-CPU locks (vb->lock, vbq->lock) are never shared in these workloads: each costs a
local atomic.  The constants are meant to be published measurements (`PARAMS`; `SOURCES`
says which were checked against a source and which were not); the only
calibrated numbers are one residual per generation, the uncounted work of an
iteration, set so that one thread reproduces the thread's 1-thread row exactly.
Everything here reads counts and never touches a kernel.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from operator import attrgetter

from ..kernel.views import COUNTERS

GENERATIONS = ("vanilla", "merged", "posted")


@dataclass(frozen=True)
class OpCounts:
    """What one op did, as the kernel counts it (the interface the kernel generations report)."""

    walk: int = 0             # list/tree nodes examined
    vmlist_write: int = 0     # vmlist_lock write acquisitions
    vmlist_read: int = 0      # vmlist_lock read acquisitions
    vmap_area_lock: int = 0   # vmap_area_lock acquisitions
    vb_lock: int = 0          # per-CPU vbq/vb lock acquisitions
    tlb_flushes: int = 0      # TLB flush calls (each a flush_tlb_all on x86)
    ipis: int = 0             # IPIs sent
    full_flushes: int = 0     # whole-TLB flushes received per CPU
    ptes_set: int = 0
    ptes_cleared: int = 0
    pages_touched: int = 0    # TLB misses taken touching the mapping

    def __add__(self, other: "OpCounts") -> "OpCounts":
        return OpCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class Locking:
    """Which global lock a generation's walk sits under, and whether its flush runs inside it."""

    walk_lock: str            # the lock an op's walk runs under, when the op takes that lock
    flush_under_lock: bool    # vanilla: remove_vm_area() flushes holding vmlist_lock


LOCKING = {
    "vanilla": Locking("vmlist_lock", True),
    # The rewrite's purge flushes under purge_lock only (one purger at a time, never on
    # the allocation path): no other thread waits for it.
    "merged": Locking("vmap_area_lock", False),
    "posted": Locking("vmap_area_lock", False),
}


@dataclass(frozen=True)
class Params:
    """Machine constants in ns (see SOURCES: which were checked against a source read here,
    and which were not).  Cycle counts become ns at 2.3 GHz, the clock of the
    Family 10h rev B3 Opterons behind `line_remote_ns`; the thread does not give its machine's clock."""

    l2_hit_ns: float = 7.0
    line_socket_ns: float = 45.0
    line_remote_ns: float = 85.0
    atomic_ns: float = 7.4
    ipi_ns: float = 1000.0
    full_flush_ns: float = 100.0
    tlb_refill_ns: float = 25.0
    kernel_refills_after_flush: int = 4


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
              "read here (Baumann et al., 'The Multikernel', SOSP 2009: only its abstract was readable); "
              "the value is the earlier one, from memory. The one figure read, Barrelfish TN-009 'Message "
              "Notifications' (2010; doc/009-notifications/Notify.tex in the Barrelfish source), is an "
              "estimate, not a measurement: sending an IPI 'a few hundred' extra cycles, taking and "
              "acking it 'probably between 500 and 1000 cycles'",
    "full_flush_ns": "the CR4.PGE toggle of __flush_tlb_all, refills excluded. NOT CHECKED: an assumption; "
                     "no measurement of its cost could be read here (the AMD64 Architecture Programmer's "
                     "Manual vol. 2, cited before, is cited for global pages and CR4.PGE, not a cost)",
    "tlb_refill_ns": "a TLB miss walked with the page-walk cache warm and the PTE in L2. NOT CHECKED: "
                     "Bhargava, Serebrin, Spadini, Manne, ASPLOS 2008 (AMD Barcelona page-walk caches) "
                     "could be read only as an abstract; the value is the earlier one, from memory",
    "kernel_refills_after_flush": "model assumption, counted from the x86_64 layout: after a full flush "
                                  "the loop misses again on kernel text, its stack, the slab object and "
                                  "the page-table page, each one large or small page",
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


def measured(generation: str, threads: int, cpus: int, thread: int,
             workload: str = "map-touch-unmap", quick: bool = False) -> tuple[list[list[OpCounts]], int]:
    """One thread's iterations of `workload` as the simulated kernel counted them, and
    their number (the cycle the simulation repeats).  See `_measure`."""
    runs = _measure(generation, threads, cpus, workload, quick)
    return runs[thread], len(runs[thread])


def op_counts(before: tuple, after: tuple) -> OpCounts:
    """One op's OpCounts: the differences of the kernel's counters (Kernel.stats, in the
    order of views.COUNTERS) across it."""
    d = dict(zip(COUNTERS, (y - x for x, y in zip(before, after))))
    return OpCounts(
        walk=d["walk_total"] + d["link_walk_total"] + d["remove_walk_total"] + d["purge_walk_total"],
        vmlist_write=d["vmlist_lock_write"], vmlist_read=d["vmlist_lock_read"],
        vmap_area_lock=d["vmap_area_lock"],
        # per-CPU locks, and the radix tree's lock (once per block made or freed)
        vb_lock=d["vb_lock"] + d["vbq_lock"] + d["vmap_block_tree_lock"],
        tlb_flushes=d["tlb_flushes"], ipis=d["ipis"], full_flushes=d["tlb_full_flushes"],
        ptes_set=d["ptes_set"], ptes_cleared=d["ptes_cleared"], pages_touched=d["tlb_misses"])


@lru_cache(maxsize=None)
def _measure(generation: str, threads: int, cpus: int, workload: str,
             quick: bool = False) -> tuple[tuple[tuple[OpCounts, ...], ...], ...]:
    """Run `workload` on a kernel of `generation` with `cpus` CPUs, its streams on CPUs
    0..threads-1 taking turns op by op (so every thread's mapping is live while the
    others map theirs, as when they run at once), and return each thread's iterations as
    tuples of per-op counts.  Enough iterations are recorded to hold one purge cycle of
    the machine (after as many again to warm up, and at least up to the first purge: the
    blocks of many CPUs take long to fill), so purges come at their natural rate;
    a generation without lazy flushing needs only a few hundred.  `quick` (tens of
    threads): with lazy flushing, from the first purge to the next one; else 50."""
    from ..kernel import Kernel
    from ..workloads import get

    try:
        wl = get(workload)
        cfg = wl.config(variant=generation, nr_cpus=cpus, bits=64)
    except Exception as e:   # an unknown workload, or one this generation cannot run
        raise ModelError(str(e)) from None
    k = Kernel(cfg)
    streams = wl.streams_for(cfg)
    calls = {cpu: streams[cpu] for cpu in range(threads)}
    per_it = OPS_PER_ITERATION[workload]
    pages = PAGES_PER_ITERATION[workload]
    if cfg.generation.features.lazy_flush and quick:
        iterations = math.ceil(cfg.vmap_bbmap_bits / pages)
    elif cfg.generation.features.lazy_flush:
        blocks = cfg.lazy_max_pages // cfg.vmap_bbmap_bits + 1       # freed blocks per purge
        iterations = math.ceil(math.ceil(blocks * cfg.vmap_bbmap_bits / pages) / threads)
    else:
        iterations = 50 if quick else 200
    read = attrgetter(*COUNTERS)
    pending = {cpu: next(gen) for cpu, gen in calls.items()}
    runs: dict[int, list] = {cpu: [] for cpu in calls}

    def play(iterations: int, record: bool) -> None:
        for _ in range(iterations * per_it):
            for cpu, gen in calls.items():
                call, args = pending[cpu]
                before = read(k.stats) if record else None
                result = getattr(k, call)(*args, cpu=cpu)
                if record:
                    runs[cpu].append(op_counts(before, read(k.stats)))
                pending[cpu] = gen.send(result)
            k.drain_events()

    lazy = cfg.generation.features.lazy_flush
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
                 for ops in runs.values())


WORKLOADS = {"map-touch-unmap": measured, "xfs-dir": measured}


# -- from counts to steps -------------------------------------------------------------------

def steps_for(generation: str, iterations: list[list[OpCounts]], residual_ns: float, p: Params) -> list[tuple]:
    """A thread's cycle as steps: ("work", ns, kind), ("lock", name, write), ("unlock", name),
    ("flush",).  Runs of local work merge into one step.  `kind` names what the time is
    spent on ("walk" or "work") for the breakdown."""
    locking = LOCKING[generation]
    out: list[tuple] = []

    def work(ns: float, kind: str = "work") -> None:
        if ns <= 0:
            return
        if out and out[-1][0] == "work" and out[-1][2] == kind:
            out[-1] = ("work", out[-1][1] + ns, kind)
        else:
            out.append(("work", ns, kind))

    for ops in iterations:
        work(residual_ns)
        for op in ops:
            work(op.vb_lock * p.atomic_ns + op.ptes_set * p.l2_hit_ns + op.pages_touched * p.tlb_refill_ns)
            sections = [(name, write) for name, n, write in
                        (("vmlist_lock", op.vmlist_write, True), ("vmlist_lock", op.vmlist_read, False),
                         ("vmap_area_lock", op.vmap_area_lock, True)) for _ in range(n)]
            walked = [s for s in sections if s[0] == locking.walk_lock]
            walk_each = op.walk * p.l2_hit_ns / len(walked) if walked else 0.0
            if not walked:
                work(op.walk * p.l2_hit_ns, "walk")
            flush_inside = locking.flush_under_lock and walked
            clear_ns = op.ptes_cleared * p.l2_hit_ns
            if not flush_inside:
                work(clear_ns)
                for _ in range(op.tlb_flushes):
                    out.append(("flush",))
            for i, (name, write) in enumerate(sections):
                out.append(("lock", name, write))
                work(p.atomic_ns)
                if (name, write) in walked:
                    work(walk_each, "walk")
                if flush_inside and i == len(sections) - 1:
                    work(clear_ns)
                    for _ in range(op.tlb_flushes):
                        out.append(("flush",))
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
        self.kind = "work"
        self.acc = {"lock_wait": 0.0, "flush": 0.0, "irq": 0.0, "walk": 0.0, "work": 0.0}
        self.wait_since = 0.0
        self.cycle_end: list[float] = []
        self.cycle_acc: list[dict] = []


class Simulation:
    """Threads running step programs on one machine; `run()` returns ns per iteration."""

    def __init__(self, programs: list[list[tuple]], cpus: int, p: Params = PARAMS,
                 cores_per_socket: int = CORES_PER_SOCKET) -> None:
        if len(programs) > cpus:
            raise ModelError(f"{len(programs)} threads need at least as many CPUs, not {cpus}")
        self.p, self.cpus, self.cps = p, cpus, cores_per_socket
        order = placement(cpus, cores_per_socket)
        self.threads = [_Thread(i, order[i], prog) for i, prog in enumerate(programs)]
        self.on_cpu = {t.cpu: t for t in self.threads}
        self.irq_free = [0.0] * cpus
        self.locks: dict[str, _Lock] = {}
        self.heap: list = []
        self.seq = 0
        self.now = 0.0
        self.cfl_last = 0                 # CPU that last held call_function_lock

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

    # a thread's program
    def resume(self, t: _Thread, when: float) -> None:
        """Continue t at `when`, or after the handler holding its CPU."""
        self.at(when, self.advance, t)

    def owe(self, t: _Thread, cause: str, ns: float) -> None:
        t.debt[cause] = t.debt.get(cause, 0.0) + ns

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
                t.running, t.kind = True, step[2]
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
            self.flush(t)
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
    def flush(self, t: _Thread) -> None:
        p = self.p
        start = self.now
        me = t.cpu
        # call_function_lock around list_add_tail_rcu onto the global queue
        send = start + self.atomic(self.cfl_last, me)
        self.cfl_last = me
        arrive = send + p.ipi_ns
        ready = []
        for cpu in range(self.cpus):
            if cpu == me:
                continue
            begin = max(arrive, self.irq_free[cpu])
            ready.append((begin + 2 * self.line(me, cpu) + p.full_flush_ns, cpu, begin))
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
        for cpu, begin, end in handlers:
            self.irq_free[cpu] = end
            self.at(begin, self.handler, cpu, end)
        back = free_at + self.line(holder, me) + p.full_flush_ns
        self.owe(t, "flush", p.kernel_refills_after_flush * p.tlb_refill_ns)
        t.acc["flush"] += back - start
        t.running = False
        self.resume(t, back)

    def handler(self, cpu: int, end: float) -> None:
        """A flush handler holds `cpu` until `end`; the thread on it, if any, pays."""
        t = self.on_cpu.get(cpu)
        if t is None:
            return
        self.owe(t, "irq", self.p.kernel_refills_after_flush * self.p.tlb_refill_ns)
        if t.running:                      # the work step ends later by the handler's length
            t.acc["irq"] += end - self.now
            t.end += end - self.now
            t.version += 1
            self.at(t.end, self.work_done, t, t.version)
        else:                              # waiting: it loses only what outlasts the wait
            t.frozen_until = max(t.frozen_until, end)

    def per_iteration(self, iterations_per_cycle: int, warmup: int = 1) -> tuple[float, dict]:
        """Mean ns per iteration over the threads, cycles after `warmup`, and its breakdown."""
        totals, parts = [], {k: 0.0 for k in self.threads[0].acc}
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


# -- the public API ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    ns: float                   # per iteration, mean over threads
    parts: dict                 # lock_wait, flush, irq, walk, work: ns per iteration


def simulate(generation: str, threads: int, cpus: int, residual_ns: float, p: Params = PARAMS,
             workload: str = "map-touch-unmap", quick: bool = False) -> Result:
    """ns per iteration of `workload` with `threads` threads on `cpus` CPUs.  `quick`, for
    tens of threads: a shorter measured window (`_measure`) and two cycles after the
    warm-up instead of at least 600 iterations."""
    if generation not in LOCKING:
        raise ModelError(f"unknown generation {generation!r} (known: {', '.join(GENERATIONS)})")
    if workload not in WORKLOADS:
        raise ModelError(f"the cost model has no counts for workload {workload!r} "
                         f"(known: {', '.join(WORKLOADS)})")
    if not 1 <= threads <= cpus:
        raise ModelError(f"threads must be between 1 and the CPU count {cpus}, not {threads}")
    programs, per_cycle = [], 1
    for k in range(threads):
        iterations, per_cycle = WORKLOADS[workload](generation, threads, cpus, k, workload, quick)
        programs.append(steps_for(generation, iterations, residual_ns, p))
    cycles = 2 if quick else max(3, math.ceil(600 / per_cycle))
    sim = Simulation(programs, cpus, p)
    sim.run(cycles + 1)
    ns, parts = sim.per_iteration(per_cycle)
    return Result(ns, parts)


@lru_cache(maxsize=None)
def residual(generation: str, p: Params = PARAMS) -> float:
    """The uncounted work per iteration that makes one thread on the calibration machine take
    the thread's 1-thread time (a map+touch+unmap).  One thread's time is linear in the
    residual (nothing contends), so one simulation at residual 0 solves it exactly."""
    base = simulate(generation, 1, CALIBRATION_CPUS, 0.0, p).ns
    return CALIBRATION[generation] - base


@lru_cache(maxsize=None)
def flush_ns(cpus: int, p: Params = PARAMS) -> float:
    """One flush with nothing else running, as the simulation plays it: the initiator's
    round trip to the cpus - 1 others and its kernel TLB refills after."""
    sim = Simulation([[("flush",), ("work", 0.0, "work")]], cpus, p)
    sim.run(3)
    return sim.per_iteration(1)[0]


def op_ns(generation: str, counts: OpCounts, cpus: int, ops: int = 1, p: Params = PARAMS) -> float:
    """Simulated ns of `ops` ops that did `counts` in all, on one thread with nothing
    contending (so it is linear in the counts): each count times its unit cost, every
    flush an uncontended round trip (`flush_ns`), and the generation's residual spread
    over the ops of a map+touch+unmap, whatever the workload."""
    c = counts
    locks = c.vmlist_write + c.vmlist_read + c.vmap_area_lock + c.vb_lock
    return ((c.walk + c.ptes_set + c.ptes_cleared) * p.l2_hit_ns + locks * p.atomic_ns
            + c.pages_touched * p.tlb_refill_ns + c.tlb_flushes * flush_ns(cpus, p)
            + ops * residual(generation, p) / OPS_PER_ITERATION["map-touch-unmap"])


def counts_of(stats) -> OpCounts:
    """The OpCounts of everything a kernel did so far, from its counters (Kernel.stats
    or a snapshot's StatsView)."""
    return op_counts((0,) * len(COUNTERS), attrgetter(*COUNTERS)(stats))


def scaling(threads: list[int], cpus: int = CALIBRATION_CPUS, workload: str = "map-touch-unmap",
            generations: tuple[str, ...] = ("vanilla", "merged"), p: Params = PARAMS) -> dict:
    """The scaling table: ns per iteration per generation at each thread count, the speed-up
    (vanilla over the rewrite), the breakdowns and the parameters.  Past the calibration
    machine's 8 threads the simulation is `quick`."""
    table = {"workload": workload, "threads": list(threads), "ns": {}, "parts": {}}
    residuals = {}
    for gen in generations:
        residuals[gen] = residual(gen, p)
        results = [simulate(gen, t, cpus, residuals[gen], p, workload, quick=t > CALIBRATION_CPUS)
                   for t in threads]
        table["ns"][gen] = [round(r.ns, 1) for r in results]
        table["parts"][gen] = [{k: round(v, 1) for k, v in r.parts.items()} for r in results]
    a, b = generations[0], generations[-1]
    table["speedup"] = [round(x / y, 2) for x, y in zip(table["ns"][a], table["ns"][b])]
    table["params"] = {**asdict(p), "cpus": cpus, "cores_per_socket": CORES_PER_SOCKET,
                       "calibration_ns": {g: CALIBRATION[g] for g in generations},
                       "residual_ns": {g: round(r, 1) for g, r in residuals.items()},
                       "sources": SOURCES}
    return table


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
        r = simulate(gen, threads, cpus, residual(gen, p), p, workload, quick=True)
        total = sum(r.parts.values())
        out["model"][gen] = {"ns": round(r.ns, 1),
                             "shares": {k: round(v / total, 5) for k, v in r.parts.items()}}
        out["profile"][gen] = {k: round(v, 5) for k, v in profile_shares(gen).items()}
    return out
