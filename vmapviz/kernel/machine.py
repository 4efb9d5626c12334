"""What every generation of the vmap layer runs on: the machine's page tables, page
frames, TLBs and IPIs, the event stream, and the counters.

Generations differ in how they place and free areas; they share how a page is mapped,
how a CPU's access goes through its TLB, and what a TLB flush costs.  Nothing here
knows a generation.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .compiled import mypyc_attr
from .config import Config
from .events import Bug, Corrupt, Fault, Record, TlbFlush, UseAfterFree, Warn, events_of
from .pgtable import EBUSY, PageAllocator, PageTable
from .stats import Stats


class KernelBug(Exception):
    """Raised by Machine.bug(): the call stops where the real kernel would oops."""


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class Machine:
    """The shared state and the primitives every generation calls.

    Every class of a kernel's state declares `__slots__` (each generation's classes
    add their own): a checkpoint pickles the kernel, and CPython 3.11's pickle reads
    an instance's `__dict__`, which turns its attributes into a real dict for good,
    after which every access takes a slower path (the triple measured 87.6k
    instructions fresh, 89.7k once pickled; 81.7k and 82.4k with slots)."""

    __slots__ = ("config", "page_shift", "page_size", "stats", "pgtable", "pages", "events", "op", "corruption")

    def __init__(self, config: Config) -> None:
        self.config = config
        # PAGE_SHIFT and PAGE_SIZE, read on every hot path (a Config read is two lookups).
        self.page_shift, self.page_size = config.page_shift, config.page_size
        self.stats = Stats(config.nr_cpus)
        self.pgtable = PageTable(config.nr_cpus, config.page_shift, self.stats, config.num_physpages)
        self.pages = PageAllocator(config.num_physpages)
        self.events: list[Record] = []      # the records since the last drain (events.py)
        self.op = 0
        # (op, function, what) of each misuse the C does not check and the simulator
        # followed (Machine.corrupt): the state is the kernel's own corruption from there.
        self.corruption: list[tuple[int, str, str]] = []

    # -- events ----------------------------------------------------------------------

    def emit(self, cls: type, *fields: Any) -> None:
        """Record the event `cls` made of `fields` (all of them, in order); the hot
        paths append the record `(cls, *fields)` themselves."""
        self.events.append((cls,) + fields)

    def drain_records(self) -> list[Record]:
        """The records of the events since the last drain, oldest first: what a run
        keeps, to make events of (events.events_of) when a view reads them."""
        out, self.events = self.events, []
        return out

    def drain_events(self) -> list[Any]:
        """The events since the last drain, oldest first."""
        return events_of(self.drain_records())

    # Does vmap_pte_range() WARN on a NULL page?  2.6.28 and 6.12 do (WARN_ON(!page));
    # 2.6.27 returns -ENOMEM without a word (mm/vmalloc.c v2.6.27 105-108).
    NULL_PAGE_WARNS = True

    def warn(self, cpu: int, where: str, message: str, check: str = "") -> None:
        """A WARN (or warn_alloc(), check "warn_alloc") the kernel prints in `where`."""
        self.stats.warnings += 1
        self.emit(Warn, self.op, cpu, where, message, check)

    def corrupt(self, cpu: int, where: str, what: str, next: str) -> None:
        """The C has no check for this misuse and the simulator follows it: say what is
        now inconsistent and what the real kernel would do next; remember it, so that
        check() knows the state is the kernel's own corruption."""
        self.corruption.append((self.op, where, what))
        self.emit(Corrupt, self.op, cpu, where, what, next)

    def own_corruption(self, violations: list[str]) -> list[str]:
        """check()'s answer once the kernel corrupted itself: the corruption first (op,
        function, what), then the invariants it broke."""
        if not self.corruption:
            return violations
        return [f"the kernel corrupted its own state at op {op} in {where}(): {what}"
                for op, where, what in self.corruption] + violations

    def bug(self, cpu: int, where: str, message: str, own: bool = False) -> NoReturn:
        """BUG(): report it and end the current call.  `own`: the simulator's refusal of
        a call the kernel would carry on with, corrupting its state (counted with the
        BUGs: the call stops in both)."""
        self.stats.bugs += 1
        self.emit(Bug, self.op, cpu, where, message, own)
        raise KernelBug(message)

    # -- page tables and TLBs -----------------------------------------------------------

    def vmap_failed(self, cpu: int, start: int, failed: tuple[int, int]) -> int:
        """vmap_page_range()'s WARN_ON()s, when PageTable.vmap_page_range() (which its
        callers call themselves: a call less on vmalloc's and vm_map_ram's paths) stopped
        (`failed`: its error and the PTEs it had set); returns the error."""
        err, nr = failed
        addr = start + nr * self.config.page_size
        # vmap_pte_range() returns -EBUSY or -ENOMEM; vmap_pmd_range() turns any error
        # into -ENOMEM, which is what the caller sees.
        if err == -EBUSY:
            self.warn(cpu, "vmap_page_range", f"WARN_ON(!pte_none(*pte)): PTE already present "
                      f"at {addr:#x}; the caller gets -ENOMEM (-12)", "WARN_ON(!pte_none(*pte))")
        elif self.NULL_PAGE_WARNS:
            self.warn(cpu, "vmap_page_range", f"WARN_ON(!page): no page for {addr:#x}; the "
                      "caller gets -ENOMEM (-12)", "WARN_ON(!page)")
        return err

    def flush_tlb_kernel_range(self, cpu: int, start: int, end: int, whole: bool | None = None) -> None:
        """flush_tlb_kernel_range(): on_each_cpu(), one IPI to every other online CPU,
        the caller waiting for all of them.  On x86 (Config.flush "all") each CPU
        empties its whole TLB, whatever the range (flush_tlb_all() in 2.6.27/28); on the
        "range" model, as on ARM, only [start, end) is dropped.  A generation whose x86
        code chooses per call passes `whole`."""
        if whole is None:
            whole = self.config.flush == "all"
        pt = self.pgtable
        entries, stale = pt.flush_all() if whole else pt.flush_range(start, end) if end > start else (0, 0)
        nr_cpus = self.config.nr_cpus
        s = self.stats
        s.tlb_flushes += 1
        s.ipis += nr_cpus - 1
        if whole:
            s.tlb_full_flushes += nr_cpus
            per_cpu = s.full_flushes_per_cpu
            for c in range(nr_cpus):
                per_cpu[c] += 1
        self.emit(TlbFlush, self.op, cpu, start, end, nr_cpus - 1, entries, stale, whole)

    def access_failed(self, cpu: int, found: tuple[list[int], list[int], int | None]) -> str:
        """A kernel access from `cpu` that PageTable.walk() stopped or caught
        (`found`, its answer): the first unmapped page oopses, so the access stops
        there ("fault"); a stale TLB entry, or a PTE left for a page its user already
        freed, is a "use-after-free"."""
        shift = self.page_shift
        stale, freed, fault = found
        if stale or freed:
            self.stats.use_after_free += 1
            how = "a stale TLB entry" if stale else "a PTE left for lazy flushing"
            pages = stale or freed
            self.emit(UseAfterFree, self.op, cpu, pages[0] << shift, len(pages), how)
            return "use-after-free"
        assert fault is not None        # no stale or dead page met: an unmapped one
        self.stats.faults += 1
        self.emit(Fault, self.op, cpu, fault << shift)
        return "fault"

    def stale_pages(self, cpu: int) -> frozenset[int]:
        """The virtual page numbers this CPU's TLB still maps although their user freed
        them."""
        return frozenset(self.pgtable.stale(cpu))

    def stale_bits(self, cpu: int) -> tuple[tuple[int, int], ...]:
        """The same pages as (group of PAGES pages, bitmap) pairs (pgtable)."""
        return self.pgtable.stale_bits(cpu)

    def stale_tlb_entries(self) -> list[int]:
        """Per CPU: how many TLB entries still map pages their user freed."""
        return [sum(bits.bit_count() for _, bits in self.pgtable.stale_bits(c))
                for c in range(self.config.nr_cpus)]
