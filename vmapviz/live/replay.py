"""replay-live: the simulator held against a recording of the real kernel.

The recorded requests go to a simulated kernel of the chosen generation on a machine of
the recorded CPU count and vmalloc range: each `alloc_vmap_area` as the same request
(vmalloc_align(size - guard, align) over the whole range, so that alloc_vmap_area()
sees size, align, vstart and vend as the kernel did; get_vm_area() over another
range), on the recorded CPU; each `free_vmap_area_noflush` as a vfree() of the
simulator's area that answered the same request.  What is compared:

- lazy_max_pages(): the simulated value against every recorded `nr_lazy_max`;
- vmap_lazy_nr after each free (the simulator's VaLazyFree event, before any purge,
  as the tracepoint reads it).  The simulation starts from the first recorded value:
  before the first op, lazily freed "ghost" areas of the pages the kernel already had
  lazy (the vmallocinfo snapshot's `unpurged vm_area` sizes, topped up to the value)
  are made.  A free of an area allocated before the recording began frees a ghost of
  the pages the recorded count rose by (else of the recording's most common size);
- purges: after which free each happens and how many areas it purged.  The simulated
  kworker runs right after the free that passed lazy_max_pages(); the real one when it
  gets a CPU.  Where the real purge comes later, the replay runs the simulator's purge
  there too (`purge`), as the real worker purged what was lazy by then, so that later
  counts stay comparable; a real purge the simulator did not make (another caller:
  vm_unmap_aliases(), an allocation's reclaim) is followed the same way;
- placement: for each allocation, whether the step from the previous allocation of
  the same (size, align) is the same in both; and, started from the snapshot's busy
  layout (only when its addresses are real), how many absolute addresses agree.

Every mismatch is listed with its class: the mechanism that most likely made it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..models import vmallocinfo as vi
from ..kernel import Config, Kernel
from .events import AllocVmapArea, FreeVmapAreaNoflush, LiveError, PurgeVmapAreaLazy
from .recording import Recording
from .tracefs import kernel_version

# Mismatch classes, each with the mechanism it names.
CLASSES = {
    "before": "state before the recording began: areas, lazy pages or free holes the "
              "simulator never saw",
    "timing": "the kworker's timing: the real purge worker ran later than the simulated one, "
              "which runs right after the free that passed lazy_max_pages()",
    "pools": "the vmap nodes' pools: one side took a purged area of the same size from its "
             "node's pool (the last purged first, so addresses fall by one area at a time), the "
             "other fresh space; the real pools were filled by purges before the recording",
    "other-purge": "a purge the simulator did not make: another caller (vm_unmap_aliases(), "
                   "an allocation's reclaim) or the pages lazy before the recording",
    "range": "a request outside the main vmalloc range (replayed without its alignment)",
    "lost": "events the kernel dropped (trace_pipe LOST lines)",
    "other": "not explained by the mechanisms above",
}
MAX_LISTED = 50


@dataclass
class Mismatch:
    what: str        # lazy, purge, placement, absolute, lazy_max
    seq: int         # the recorded event's sequence number
    cls: str         # a key of CLASSES
    real: object
    sim: object

    def as_json(self) -> dict:
        return {"what": self.what, "event": self.seq, "class": self.cls, "real": self.real,
                "sim": self.sim}


@dataclass
class Agreement:
    """N of M agree."""
    agree: int = 0
    total: int = 0

    def add(self, ok: bool) -> bool:
        self.total += 1
        self.agree += ok
        return ok

    def as_json(self) -> dict:
        return {"agree": self.agree, "total": self.total}


@dataclass
class Result:
    variant: str
    cpus: int
    events: int
    lazy_max_sim: int
    lazy_max_real: list[int]
    lazy: Agreement = field(default_factory=Agreement)
    purge_points: Agreement = field(default_factory=Agreement)
    purge_counts: Agreement = field(default_factory=Agreement)
    placement: Agreement = field(default_factory=Agreement)
    absolute: Agreement = field(default_factory=Agreement)
    absolute_note: str = ""
    purges_real: list = field(default_factory=list)   # (after free #, npurged)
    purges_sim: list = field(default_factory=list)    # (after free #, nr_areas)
    mismatches: list[Mismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def by_class(self) -> dict[str, int]:
        return dict(Counter(m.cls for m in self.mismatches))

    def as_json(self) -> dict:
        return {"variant": self.variant, "cpus": self.cpus, "events": self.events,
                "lazy_max_pages": {"sim": self.lazy_max_sim, "real": sorted(set(self.lazy_max_real)),
                                   "agree": set(self.lazy_max_real) <= {self.lazy_max_sim}},
                "lazy_nr": self.lazy.as_json(), "purge_points": self.purge_points.as_json(),
                "purge_counts": self.purge_counts.as_json(),
                "purges": {"real": [list(p) for p in self.purges_real],
                           "sim": [list(p) for p in self.purges_sim]},
                "placement_relative": self.placement.as_json(),
                "placement_absolute": {**self.absolute.as_json(), "note": self.absolute_note},
                "mismatch_classes": {k: {"count": v, "mechanism": CLASSES[k]}
                                     for k, v in self.by_class().items()},
                "mismatches": [m.as_json() for m in self.mismatches[:MAX_LISTED]],
                "notes": self.notes}


def default_variant(release: str) -> str:
    """The generation that follows a recorded kernel: modern-6.18 from 6.18 on, else
    modern (6.12)."""
    return "modern-6.18" if kernel_version(release) >= (6, 18) else "modern"


def main_range(rec: Recording) -> tuple[int, int]:
    """The (vstart, vend) most allocations asked for: VMALLOC_START, VMALLOC_END."""
    got = Counter((e.vstart, e.vend) for e in rec.events if type(e) is AllocVmapArea)
    if not got:
        raise LiveError(f"{rec.path}: no alloc_vmap_area event: nothing to replay")
    return got.most_common(1)[0][0]


def config_for(rec: Recording, variant: str) -> Config:
    vstart, vend = main_range(rec)
    return Config(nr_cpus=rec.cpus, bits=64, variant=variant, page_size=rec.page_size,
                  vmalloc_start=vstart, vmalloc_end=vend + 1, ram_size=1 << 34)


class _Sim:
    """One simulated kernel fed the recorded requests."""

    def __init__(self, config: Config) -> None:
        self.k = Kernel(config)
        self.cfg = config
        self.page = config.page_size
        self.by_real: dict[int, int] = {}    # real address -> the simulator's
        self.frees = 0                       # frees replayed so far
        self.purges: list[tuple[int, int]] = []

    def cpu(self, cpu: int) -> int:
        return cpu % self.cfg.nr_cpus

    def drain(self, own: bool = True) -> list:
        """The simulator's events since the last call; its own purges (not those the
        replay runs to follow the real kernel) noted by free number."""
        evs = self.k.drain_events()
        for e in evs:
            if own and e.kind == "purge" and getattr(e, "nr_areas", 0):
                self.purges.append((self.frees, e.nr_areas))
        return evs

    def follow_purge(self) -> int:
        """Purge what is lazy now, as the real kernel just did; the areas purged."""
        self.k.purge(0)
        return sum(getattr(e, "nr_areas", 0) for e in self.drain(own=False) if e.kind == "purge")

    def alloc(self, e: AllocVmapArea) -> tuple[int | None, bool]:
        """The request of `e`; (the simulator's address, taken from a pool)."""
        cfg, cpu = self.cfg, self.cpu(e.cpu)
        inner = max(e.size - self.page, self.page)
        if (e.vstart, e.vend) == (cfg.vmalloc_start, cfg.VMALLOC_END):
            addr = self.k.vmalloc_align(inner, max(e.align, 1), cpu)
        else:
            addr = self.k.get_vm_area(inner, 0, e.vstart, e.vend, cpu)
        pooled = any(getattr(ev, "pooled", False) for ev in self.drain())
        if addr is not None and not e.failed:
            self.by_real[e.addr] = addr
        return addr, pooled

    def ghost(self, pages: int, cpu: int = 0) -> None:
        """An area of `pages` (guard included) allocated and freed lazily: pages the
        real kernel had lazy that the simulator never saw allocated.  Outside the main
        range's end, so it is never pooled."""
        cfg = self.cfg
        addr = self.k.get_vm_area(max(pages - 1, 1) * self.page, 0, cfg.vmalloc_start,
                                  cfg.VMALLOC_END - self.page, self.cpu(cpu))
        if addr is not None:
            self.k.remove_vm_area(addr, self.cpu(cpu))

    def free(self, e: FreeVmapAreaNoflush, ghost_pages: int) -> int | None:
        """vfree() of the area answering the same request; a ghost for an area the
        simulator never saw.  Returns vmap_lazy_nr as the tracepoint reads it."""
        addr = self.by_real.pop(e.addr, None)
        self.frees += 1
        if addr is None:
            self.ghost(ghost_pages, e.cpu)
        else:
            self.k.vfree(addr, self.cpu(e.cpu))
        lazy = [ev.lazy_nr for ev in self.drain() if ev.kind == "lazy" and hasattr(ev, "lazy_nr")]
        return lazy[-1] if lazy else None


def replay(rec: Recording, variant: str = "modern") -> Result:
    cfg = config_for(rec, variant)
    page = cfg.page_size
    res = Result(variant, rec.cpus, len(rec.events), cfg.lazy_max_pages,
                 [e.nr_lazy_max for e in rec.events if type(e) is FreeVmapAreaNoflush])
    if rec.lost:
        res.notes.append(f"the kernel dropped {rec.lost} events while recording: {CLASSES['lost']}")
    if set(res.lazy_max_real) - {cfg.lazy_max_pages}:
        res.mismatches.append(Mismatch("lazy_max_pages", 0, "other", sorted(set(res.lazy_max_real)),
                                       cfg.lazy_max_pages))
    sizes = Counter(e.size for e in rec.events if type(e) is AllocVmapArea and not e.failed)
    usual = (sizes.most_common(1)[0][0] if sizes else page) // page
    sim = _Sim(cfg)
    _seed_lazy(sim, rec, usual, res)
    sim.drain()
    sim.purges.clear()
    sim.frees = 0
    _relative(sim, rec, usual, res)
    _absolute(rec, cfg, res)
    return res


def _seed_lazy(sim: _Sim, rec: Recording, usual: int, res: Result) -> None:
    """Ghost lazy areas up to the pages lazy before the first recorded free."""
    allocated = {e.addr: e.size for e in rec.events if type(e) is AllocVmapArea}
    first = next((e for e in rec.events if type(e) is FreeVmapAreaNoflush), None)
    if first is None:
        return
    before = first.nr_lazy - allocated.get(first.addr, usual * sim.page) // sim.page
    unpurged = [a.size // sim.page for a in _snapshot(rec) if a.kind == vi.UNPURGED]
    left = max(before, 0)
    for pages in unpurged:
        if pages > left:
            break
        sim.ghost(pages)
        left -= pages
    if left:
        sim.ghost(left)
    res.notes.append(f"started from vmap_lazy_nr = {before} pages lazy before the first recorded "
                     f"free ({len(unpurged)} unpurged areas in the vmallocinfo snapshot)")


def _snapshot(rec: Recording) -> list:
    if not rec.vmallocinfo:
        return []
    return vi.parse(rec.vmallocinfo, f"{rec.path} (header)", rec.page_size).areas


def _relative(sim: _Sim, rec: Recording, usual: int, res: Result) -> None:
    prev_real: dict[tuple[int, int], int] = {}
    prev_sim: dict[tuple[int, int], int] = {}
    last_lazy: int | None = None        # the previous recorded nr_lazy, if no purge since
    purged_real: set[int] = set()       # addresses the real kernel purged (pool candidates)
    lazy_real: set[int] = set()
    sizes: dict[int, int] = {}
    timing = False                      # a real purge came later than the simulator's
    matched = 0                         # the simulator's purges paired with real ones
    for e in rec.events:
        if type(e) is AllocVmapArea:
            addr, pooled = sim.alloc(e)
            if e.failed or addr is None:
                continue
            sizes[e.addr] = e.size
            key = (e.size, e.align)
            if key in prev_real and key in prev_sim:
                ok = e.addr - prev_real[key] == addr - prev_sim[key]
                if not res.placement.add(ok):
                    real_pool = e.addr in purged_real or (e.addr < prev_real[key] and not pooled
                                                          and addr > prev_sim[key])
                    cls = ("range" if (e.vstart, e.vend) != (sim.cfg.vmalloc_start, sim.cfg.VMALLOC_END)
                           else "pools" if pooled or real_pool else "timing" if timing else "before")
                    res.mismatches.append(Mismatch("placement", e.op, cls,
                                                   e.addr - prev_real[key], addr - prev_sim[key]))
            purged_real.discard(e.addr)
            prev_real[key], prev_sim[key] = e.addr, addr
        elif type(e) is FreeVmapAreaNoflush:
            known = e.addr in sim.by_real
            grew = e.nr_lazy - last_lazy if last_lazy is not None else 0
            lazy = sim.free(e, grew if grew > 0 else usual)
            last_lazy = e.nr_lazy
            lazy_real.add(e.addr)
            if not res.lazy.add(lazy == e.nr_lazy):
                late = len(sim.purges) > matched    # the simulator purged, the real worker not yet
                cls = "before" if not known else "timing" if timing or late else "other"
                res.mismatches.append(Mismatch("lazy", e.op, cls, e.nr_lazy, lazy))
        elif type(e) is PurgeVmapAreaLazy:
            res.purges_real.append((sim.frees, e.npurged))
            purged_real |= lazy_real
            lazy_real = set()
            last_lazy = None
            if matched < len(sim.purges):          # the simulator purged: when?
                at, n = sim.purges[matched]
                matched += 1
                if not res.purge_points.add(at == sim.frees):
                    timing = True
                    res.mismatches.append(Mismatch("purge", e.op, "timing", sim.frees, at))
                    n += sim.follow_purge()        # what the real worker found lazy later
                cls = "timing" if timing else "before"
            else:                                  # a purge the simulator did not make
                res.purge_points.add(False)
                res.mismatches.append(Mismatch("purge", e.op, "other-purge", sim.frees, None))
                n, cls = sim.follow_purge(), "other-purge"
            if not res.purge_counts.add(n == e.npurged):
                res.mismatches.append(Mismatch("purge areas", e.op, cls, e.npurged, n))
    res.purges_sim = list(sim.purges)
    for at, n in sim.purges[matched:]:
        res.purge_points.add(False)
        res.mismatches.append(Mismatch("purge", 0, "timing", None, at))


def _absolute(rec: Recording, cfg: Config, res: Result) -> None:
    """Started from the snapshot's busy and lazy layout: how many addresses agree."""
    areas = _snapshot(rec)
    if not areas:
        res.absolute_note = "no vmallocinfo snapshot in the recording"
        return
    if rec.addresses != vi.REAL:
        res.absolute_note = (f"not run: the snapshot's addresses are {rec.addresses or 'unknown'} "
                             "(kernel.kptr_restrict=0 hashes them), so the layout is not known")
        return
    k = Kernel(cfg)
    page, end = cfg.page_size, cfg.VMALLOC_END - cfg.page_size
    seen = {e.addr for e in rec.events if type(e) is AllocVmapArea}
    fillers, lazy, at = [], [], cfg.vmalloc_start
    for a in sorted((a for a in areas if cfg.vmalloc_start <= a.start < end and a.start not in seen),
                    key=lambda a: a.start):
        if a.start < at:
            continue                      # overlapping lines: keep the first
        for gap_start, size, dest in ((at, a.start - at, fillers), (a.start, a.size, lazy if a.kind == vi.UNPURGED else None)):
            if size <= 0:
                continue
            got = k.get_vm_area(max(size - page, page), 0, cfg.vmalloc_start, end, 0)
            if got is not None and dest is not None:
                dest.append(got)
        at = a.end
    for addr in fillers:
        k.remove_vm_area(addr, 0)
    k.purge(0)
    for addr in lazy:
        k.remove_vm_area(addr, 0)
    k.drain_events()
    sim = _Sim(cfg)
    sim.k = k
    for e in rec.events:
        if type(e) is AllocVmapArea:
            addr, _ = sim.alloc(e)
            if not e.failed and addr is not None:
                if not res.absolute.add(addr == e.addr):
                    res.mismatches.append(Mismatch("absolute", e.op, "before", e.addr, addr))
        elif type(e) is FreeVmapAreaNoflush:
            sim.free(e, 1)
        elif type(e) is PurgeVmapAreaLazy:
            sim.follow_purge()
    res.absolute_note = "started from the snapshot's busy and unpurged areas"
