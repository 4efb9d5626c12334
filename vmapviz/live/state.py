"""What `vmapviz live` shows, built from the real kernel's events off the UI thread: the
areas seen since start at their real addresses, vmap_lazy_nr against lazy_max_pages(),
the purges, allocations by size and by task, rates, and the newest events, handed to the
views as a Snapshot (the one contract the panels read).

Areas the trace has not seen come from /proc/vmallocinfo read at start.  With real
addresses they are placed where they are; with hashed ones (kernel.kptr_restrict=0)
they are placed by order and size: packed from VMALLOC_START in the file's order,
around the areas the trace has placed, and the header says so.
"""

from __future__ import annotations

import time
from collections import Counter, deque

from ..models import vmallocinfo as vi
from ..kernel import Config
from ..kernel.views import COUNTERS, StatsView
from ..kernel.vmap_area import VmapArea
from ..run.snapshot import Snapshot
from .events import AllocVmapArea, FreeVmapAreaNoflush, PurgeVmapAreaLazy

KEEP_EVENTS = 400       # the newest events a snapshot carries for the log
RATE_WINDOW = 5.0       # seconds the rates are averaged over
X86_64_VMALLOC = (0xFFFFC90000000000, 0xFFFFE90000000000)   # until the trace says


class LiveState:
    """The real kernel's vmap layer as the trace and vmallocinfo have shown it."""

    def __init__(self, kernel: str, cpus: int, page_size: int, vmallocinfo: list[str] | None = None,
                 addresses: str = "") -> None:
        self.kernel, self.cpus, self.page = kernel, cpus, page_size
        self.range = X86_64_VMALLOC
        self.areas: dict[int, VmapArea] = {}          # traced, by start
        self.seq = 0
        self.nr_lazy = 0
        self.nr_lazy_max = 0
        self.purges: deque = deque(maxlen=20)          # PurgeVmapAreaLazy, newest last
        self.nr_purges = 0
        self.allocs = self.frees = self.failed = 0
        self.by_size: Counter = Counter()
        self.by_task: Counter = Counter()
        self.recent: deque = deque(maxlen=KEEP_EVENTS)
        self.times: deque = deque()                    # (monotonic, kind) for the rates
        self.generation = 0
        self.dump = vi.parse(vmallocinfo or [], "/proc/vmallocinfo", page_size)
        self.addresses = addresses or (vi.address_kind(self.dump.areas)[0] if self.dump.areas else "")
        self._placed: tuple[VmapArea, ...] = ()
        self._placed_for = -1

    # -- events ---------------------------------------------------------------------------

    def apply(self, events: list, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for e in events:
            self.seq = e.op
            self.recent.append(e)
            self.times.append((now, e.kind))
            t = type(e)
            if t is AllocVmapArea:
                if e.failed:
                    self.failed += 1
                    continue
                self.allocs += 1
                self.by_size[(e.size, e.align)] += 1
                self.by_task[e.task] += 1
                if (e.vstart, e.vend + 1) != self.range and e.vend - e.vstart > 1 << 40:
                    self.range = (e.vstart, e.vend + 1)
                self.areas[e.addr] = VmapArea(e.addr, e.addr + e.size, "vmalloc", "busy", self.page,
                                              e.cpu, e.op, 0)
            elif t is FreeVmapAreaNoflush:
                self.frees += 1
                self.nr_lazy, self.nr_lazy_max = e.nr_lazy, e.nr_lazy_max
                va = self.areas.get(e.addr)
                if va is not None:
                    self.areas[e.addr] = va._replace(state="lazy")
            elif t is PurgeVmapAreaLazy:
                self.nr_purges += 1
                self.purges.append(e)
                for start in [s for s, va in self.areas.items()
                              if va.state == "lazy" and e.start <= s < e.end]:
                    del self.areas[start]
                self.nr_lazy = 0     # the tracepoint follows the subtraction; the next free says
            self.generation += 1
        while self.times and self.times[0][0] < now - RATE_WINDOW:
            self.times.popleft()

    def rates(self) -> dict[str, float]:
        """Events a second over the last RATE_WINDOW seconds, by kind."""
        c = Counter(k for _, k in self.times)
        return {k: c[k] / RATE_WINDOW for k in ("area", "lazy", "purge")}

    # -- vmallocinfo ------------------------------------------------------------------------

    def placed(self) -> tuple[VmapArea, ...]:
        """The vmallocinfo snapshot's busy areas the trace has not placed: at their
        addresses when real, else by order and size around the traced areas."""
        if self._placed_for == self.generation:
            return self._placed
        start, end = self.range
        busy = [a for a in self.dump.areas if a.kind != vi.UNPURGED]
        out = []
        if self.addresses == vi.REAL:
            out = [VmapArea(a.start, a.end, a.kind, "busy", self.page, -1, 0, 0) for a in busy
                   if start <= a.start < end and a.start not in self.areas]
        else:
            taken = sorted((va.start, va.end) for va in self.areas.values())
            at, i = start, 0
            for a in busy:
                while True:
                    while i < len(taken) and taken[i][1] <= at:
                        i += 1
                    if i < len(taken) and taken[i][0] < at + a.size:
                        at = taken[i][1]
                        continue
                    break
                if at + a.size > end:
                    break
                out.append(VmapArea(at, at + a.size, a.kind, "busy", self.page, -1, 0, 0))
                at += a.size
        self._placed, self._placed_for = tuple(out), self.generation
        return self._placed

    # -- the snapshot -----------------------------------------------------------------------

    def config(self) -> Config:
        return Config(nr_cpus=self.cpus, bits=64, variant="merged", page_size=self.page,
                      vmalloc_start=self.range[0], vmalloc_end=self.range[1])

    def snapshot(self, config: Config | None = None) -> Snapshot:
        areas = tuple(sorted((*self.areas.values(), *self.placed())))
        lazy = sum(1 for va in self.areas.values() if va.state == "lazy")
        zero = dict.fromkeys(COUNTERS, 0)
        zero["purges"] = self.nr_purges
        zero["alloc_failures"] = self.failed
        stats = StatsView(**zero, lazy_pages=self.nr_lazy, lazy_max_pages=self.nr_lazy_max,
                          live_areas=len(areas) - lazy, lazy_areas=lazy, vmap_blocks=0,
                          blocks_per_cpu=(0,) * self.cpus, full_flushes_per_cpu=(0,) * self.cpus)
        return Snapshot(config=config or self.config(), stats=stats, workload="live", op=self.seq,
                        running=True, areas=areas, area_generation=self.generation,
                        events=tuple(self.recent), last_op=tuple(self.recent)[-1:])
