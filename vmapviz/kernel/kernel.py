"""The simulated kernel's public API: one call per op, whatever the generation.

`Kernel(config)` boots the generation `config.variant` names (the registry in
`generations` says which module has its class).  Every public method is one op on one
CPU: its arguments are checked against their C types before anything changes; then it
calls the generation's body `_<call>()` directly (a call the generation does not have
keeps Kernel's body, which refuses it: a `Refused` event, NULL), and records its Call
and Return events as one record (events.py) when it returns.  Misuse
ends in the WARN or BUG the kernel would print; a BUG stops the call before it changes
anything (where the real kernel would oops), so the state stays consistent and the call
returns None.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from .calls import SIGNATURES, UINT_MAX, check_args
from .config import Config
from .events import VOID, Refused, Return
from .machine import KernelBug, Machine
from .views import COUNTERS, BlockView, FreeBlock, ModernBlockView, PoolView, QueueView, StatsView, VmapArea
from .vm_struct import ioremap_align


Result = tuple[Any, Any]    # a body's (result, detail): detail a str or a template and its values
# The calls whose bodies a generation brings (touch and vmalloc_to_page have one shared body).
REFUSABLE = tuple(name for name in SIGNATURES if name not in ("touch", "vmalloc_to_page"))


class Kernel(Machine):
    """One simulated machine's vmalloc layer, of the generation its config names.

    A generation subclasses Kernel and implements `_<call>(cpu, *args)` returning
    (result, detail) for each call it offers (a call it lacks keeps Kernel's refusing
    body), plus the view hooks below.  `detail` is a str, or a template and its values
    (events.Return), formatted only when a view reads it."""

    __slots__ = ("generation", "ulong_max", "nr_cpus")

    FLAG_NAMES: ClassVar[tuple[tuple[int, str], ...]] = ()   # what VmapArea.flags' bits mean here
    # Capabilities: what only some generations keep, each empty here (Features says who has it).
    drain_pending: bool = False    # kworker_purge: the drain work is queued

    def __new__(cls, config: Config | None = None) -> Kernel:
        if cls is Kernel:       # Kernel(config) makes the generation's class
            kernel_class = (config or Config()).generation.kernel_class()
            return kernel_class.__new__(kernel_class, config)
        return super().__new__(cls)

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config or Config())
        self.generation = gen = self.config.generation
        for name in REFUSABLE:      # a body of its own exactly for each call it has
            own = getattr(type(self), "_" + name) is not getattr(Kernel, "_" + name)
            assert own == (name in gen.calls), f"{gen.name}: _{name}() and its calls disagree"
        self.ulong_max = (1 << self.config.bits) - 1     # the public calls check their arguments
        self.nr_cpus = self.config.nr_cpus

    # -- one op ------------------------------------------------------------------------
    #
    # Each public call is one op, written out in full so that it costs no Python call
    # but its body's (a helper on either side cost about 950 instructions an op, the
    # simulator's hottest path):
    #
    #   1. its arguments and the CPU checked in one test; any failure takes bad_call(),
    #      which raises before anything changes;
    #   2. the op numbered (self.op, stats.ops);
    #   3. the generation's body called directly; a BUG in it stops the call where the
    #      real kernel would oops, and the call returns NULL;
    #   4. an allocating call that returned NULL (not refused) counted as failed;
    #   5. the op's record appended: (Return, op, cpu, name, args, result, detail), which
    #      stands for its Call and Return events (events.events_of);
    #   6. on a generation whose purge is a kworker's, the work it queued run
    #      (drain_vmap_area_work()).

    def bad_call(self, name: str, args: tuple[Any, ...], cpu: Any) -> None:
        """A public call whose arguments or CPU failed the call's quick check: TypeError or
        ValueError for an argument its C type cannot hold (check_args), else ValueError
        for a CPU that is not online."""
        check_args(name, args, self.config.bits)
        if type(cpu) is not int or not 0 <= cpu < self.nr_cpus:
            raise ValueError(f"cpu {cpu!r} is not online (this machine has CPUs 0-{self.nr_cpus - 1})")

    def drain_work(self) -> None:
        """drain_vmap_area_work(), on a generation with a kworker purge."""
        raise NotImplementedError

    def refuse(self, cpu: int, name: str) -> Result:
        """The body of a call this generation does not have: a Refused event, NULL,
        nothing changed."""
        self.stats.refused_calls += 1
        self.events.append((Refused, self.op, cpu, name, self.generation.version))
        return None, "refused"

    # The bodies of the calls only some generations have: Kernel's refuse them, and a
    # generation overrides those it has (`_<call>(cpu, *args)` -> (result, detail)).

    def _vmalloc(self, cpu: int, size: int) -> Result:
        return self.refuse(cpu, "vmalloc")

    def _vmalloc_align(self, cpu: int, size: int, align: int) -> Result:
        return self.refuse(cpu, "vmalloc_align")

    def _vfree(self, cpu: int, addr: int) -> Result:
        return self.refuse(cpu, "vfree")

    def _vmap(self, cpu: int, nr_pages: int) -> Result:
        return self.refuse(cpu, "vmap")

    def _vunmap(self, cpu: int, addr: int) -> Result:
        return self.refuse(cpu, "vunmap")

    def _get_vm_area(self, cpu: int, size: int, flags: int, start: int, end: int) -> Result:
        return self.refuse(cpu, "get_vm_area")

    def _remove_vm_area(self, cpu: int, addr: int) -> Result:
        return self.refuse(cpu, "remove_vm_area")

    def _find_vm_area(self, cpu: int, addr: int) -> Result:
        return self.refuse(cpu, "find_vm_area")

    def _vm_map_ram(self, cpu: int, count: int) -> Result:
        return self.refuse(cpu, "vm_map_ram")

    def _vm_unmap_ram(self, cpu: int, addr: int, count: int) -> Result:
        return self.refuse(cpu, "vm_unmap_ram")

    def _vm_unmap_aliases(self, cpu: int) -> Result:
        return self.refuse(cpu, "vm_unmap_aliases")

    def _purge(self, cpu: int) -> Result:
        return self.refuse(cpu, "purge")

    # -- the old vmalloc API --------------------------------------------------------------

    def vmalloc(self, size: int, cpu: int = 0) -> int | None:
        """vmalloc(size): an area of size rounded up to pages, mapped to fresh pages."""
        if (type(size) is not int or not 0 <= size <= self.ulong_max or
                type(cpu) is not int or not 0 <= cpu < self.nr_cpus):
            self.bad_call("vmalloc", (size,), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            addr, detail = self._vmalloc(cpu, size)
        except KernelBug:
            addr, detail = None, "BUG"
        if addr is None and detail != "refused":
            self.stats.failed_calls += 1
        self.events.append((Return, op, cpu, "vmalloc", (size,), addr, detail))
        if self.drain_pending:
            self.drain_work()
        return addr

    def vmalloc_align(self, size: int, align: int, cpu: int = 0) -> int | None:
        """vmalloc of `size` aligned to `align` (a power of two): the simulator's one
        extension, standing for the __vmalloc_node_range() that lib/test_vmalloc.c calls
        in later kernels; the 2008 kernel has no aligned vmalloc."""
        if (type(size) is not int or not 0 <= size <= self.ulong_max or
                type(align) is not int or not 0 <= align <= self.ulong_max or
                type(cpu) is not int or not 0 <= cpu < self.nr_cpus):
            self.bad_call("vmalloc_align", (size, align), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            addr, detail = self._vmalloc_align(cpu, size, align)
        except KernelBug:
            addr, detail = None, "BUG"
        if addr is None and detail != "refused":
            self.stats.failed_calls += 1
        self.events.append((Return, op, cpu, "vmalloc_align", (size, align), addr, detail))
        if self.drain_pending:
            self.drain_work()
        return addr

    def vfree(self, addr: int, cpu: int = 0) -> None:
        """vfree(addr)."""
        if (type(addr) is not int or not 0 <= addr <= self.ulong_max or
                type(cpu) is not int or not 0 <= cpu < self.nr_cpus):
            self.bad_call("vfree", (addr,), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            detail = self._vfree(cpu, addr)[1]
        except KernelBug:
            detail = "BUG"
        self.events.append((Return, op, cpu, "vfree", (addr,), VOID, detail))
        if self.drain_pending:
            self.drain_work()

    def vmap(self, nr_pages: int, cpu: int = 0) -> int | None:
        """vmap(pages, nr_pages, VM_MAP, PAGE_KERNEL) of nr_pages pages lent by the simulator."""
        if (type(nr_pages) is not int or not 0 <= nr_pages <= UINT_MAX or
                type(cpu) is not int or not 0 <= cpu < self.nr_cpus):
            self.bad_call("vmap", (nr_pages,), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            addr, detail = self._vmap(cpu, nr_pages)
        except KernelBug:
            addr, detail = None, "BUG"
        if addr is None and detail != "refused":
            self.stats.failed_calls += 1
        self.events.append((Return, op, cpu, "vmap", (nr_pages,), addr, detail))
        if self.drain_pending:
            self.drain_work()
        return addr

    def vunmap(self, addr: int, cpu: int = 0) -> None:
        """vunmap(addr)."""
        if (type(addr) is not int or not 0 <= addr <= self.ulong_max or
                type(cpu) is not int or not 0 <= cpu < self.nr_cpus):
            self.bad_call("vunmap", (addr,), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            detail = self._vunmap(cpu, addr)[1]
        except KernelBug:
            detail = "BUG"
        self.events.append((Return, op, cpu, "vunmap", (addr,), VOID, detail))
        if self.drain_pending:
            self.drain_work()

    def get_vm_area(self, size: int, flags: int = 0, start: int | None = None,
                    end: int | None = None, cpu: int = 0) -> int | None:
        """__get_vm_area(size, flags, start, end): an unmapped area; its address.  The
        range defaults to [VMALLOC_START, VMALLOC_END] (get_vm_area())."""
        start = self.config.VMALLOC_START if start is None else start
        end = self.config.VMALLOC_END if end is None else end
        assert start is not None        # Config sets its range
        if (type(size) is not int or not 0 <= size <= self.ulong_max or
                type(flags) is not int or not 0 <= flags <= self.ulong_max or
                type(start) is not int or not 0 <= start <= self.ulong_max or
                type(end) is not int or not 0 <= end <= self.ulong_max or
                type(cpu) is not int or not 0 <= cpu < self.nr_cpus):
            self.bad_call("get_vm_area", (size, flags, start, end), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            self._check_range(cpu, size, flags, start, end)
            addr, detail = self._get_vm_area(cpu, size, flags, start, end)
        except KernelBug:
            addr, detail = None, "BUG"
        if addr is None and detail != "refused":
            self.stats.failed_calls += 1
        self.events.append((Return, op, cpu, "get_vm_area", (size, flags, start, end), addr, detail))
        if self.drain_pending:
            self.drain_work()
        return addr

    def remove_vm_area(self, addr: int, cpu: int = 0) -> int | None:
        """remove_vm_area(addr): free the area; its address, or None."""
        if (type(addr) is not int or not 0 <= addr <= self.ulong_max or
                type(cpu) is not int or not 0 <= cpu < self.nr_cpus):
            self.bad_call("remove_vm_area", (addr,), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            result, detail = self._remove_vm_area(cpu, addr)
        except KernelBug:
            result, detail = None, "BUG"
        self.events.append((Return, op, cpu, "remove_vm_area", (addr,), result, detail))
        if self.drain_pending:
            self.drain_work()
        return result

    def find_vm_area(self, addr: int, cpu: int = 0) -> Any:
        """find_vm_area(addr): the vm_struct of the area starting at addr, or None."""
        if (type(addr) is not int or not 0 <= addr <= self.ulong_max or
                type(cpu) is not int or not 0 <= cpu < self.nr_cpus):
            self.bad_call("find_vm_area", (addr,), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            vm, detail = self._find_vm_area(cpu, addr)
        except KernelBug:
            vm, detail = None, "BUG"
        self.events.append((Return, op, cpu, "find_vm_area", (addr,), vm, detail))
        if self.drain_pending:
            self.drain_work()
        return vm

    def vmalloc_to_page(self, addr: int, cpu: int = 0) -> int | None:
        """vmalloc_to_page(addr): the page frame the page table maps there, or None."""
        if (type(addr) is not int or not 0 <= addr <= self.ulong_max or
                type(cpu) is not int or not 0 <= cpu < self.nr_cpus):
            self.bad_call("vmalloc_to_page", (addr,), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            frame, detail = self._vmalloc_to_page(cpu, addr)
        except KernelBug:
            frame, detail = None, "BUG"
        self.events.append((Return, op, cpu, "vmalloc_to_page", (addr,), frame, detail))
        if self.drain_pending:
            self.drain_work()
        return frame

    def touch(self, addr: int, nr_pages: int, cpu: int = 0) -> str:
        """A kernel access from `cpu` to nr_pages pages from addr: "ok", "fault" (at the first
        unmapped page) or "use-after-free" (Machine.access_failed)."""
        if (type(addr) is not int or not 0 <= addr <= self.ulong_max or
                type(nr_pages) is not int or not 0 <= nr_pages <= UINT_MAX or
                type(cpu) is not int or not 0 <= cpu < self.nr_cpus):
            self.bad_call("touch", (addr, nr_pages), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        # Page by page through the CPU's TLB (PageTable.walk()); nothing in it BUGs.
        found = self.pgtable.walk(cpu, addr >> self.page_shift, nr_pages)
        outcome = "ok" if found is None else self.access_failed(cpu, found)
        self.events.append((Return, op, cpu, "touch", (addr, nr_pages), outcome, ""))
        if self.drain_pending:
            self.drain_work()
        return outcome

    # -- the per-CPU API of the rewrite ------------------------------------------------------

    def vm_map_ram(self, count: int, cpu: int = 0) -> int | None:
        """vm_map_ram(pages, count): count fresh pages mapped at a new address."""
        if (type(count) is not int or not 0 <= count <= UINT_MAX or
                type(cpu) is not int or not 0 <= cpu < self.nr_cpus):
            self.bad_call("vm_map_ram", (count,), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            addr, detail = self._vm_map_ram(cpu, count)
        except KernelBug:
            addr, detail = None, "BUG"
        if addr is None and detail != "refused":
            self.stats.failed_calls += 1
        self.events.append((Return, op, cpu, "vm_map_ram", (count,), addr, detail))
        if self.drain_pending:
            self.drain_work()
        return addr

    def vm_unmap_ram(self, addr: int, count: int, cpu: int = 0) -> None:
        """vm_unmap_ram(mem, count): give back what vm_map_ram() returned."""
        if (type(addr) is not int or not 0 <= addr <= self.ulong_max or
                type(count) is not int or not 0 <= count <= UINT_MAX or
                type(cpu) is not int or not 0 <= cpu < self.nr_cpus):
            self.bad_call("vm_unmap_ram", (addr, count), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            detail = self._vm_unmap_ram(cpu, addr, count)[1]
        except KernelBug:
            detail = "BUG"
        self.events.append((Return, op, cpu, "vm_unmap_ram", (addr, count), VOID, detail))
        if self.drain_pending:
            self.drain_work()

    def vm_unmap_aliases(self, cpu: int = 0) -> None:
        """vm_unmap_aliases(): unmap and flush every lazily kept alias now."""
        if type(cpu) is not int or not 0 <= cpu < self.nr_cpus:
            self.bad_call("vm_unmap_aliases", (), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            detail = self._vm_unmap_aliases(cpu)[1]
        except KernelBug:
            detail = "BUG"
        self.events.append((Return, op, cpu, "vm_unmap_aliases", (), VOID, detail))
        if self.drain_pending:
            self.drain_work()

    def purge(self, cpu: int = 0) -> None:
        """purge_vmap_area_lazy(): purge every lazily freed area now."""
        if type(cpu) is not int or not 0 <= cpu < self.nr_cpus:
            self.bad_call("purge", (), cpu)
        self.op = op = self.op + 1
        self.stats.ops += 1
        try:
            detail = self._purge(cpu)[1]
        except KernelBug:
            detail = "BUG"
        self.events.append((Return, op, cpu, "purge", (), VOID, detail))
        if self.drain_pending:
            self.drain_work()

    # -- bodies every generation shares -----------------------------------------------------

    def _check_range(self, cpu: int, size: int, flags: int, start: int, end: int) -> None:
        """__get_vm_area()'s range is the caller's word: the kernel checks nothing.  An
        unaligned start or end, one at 0 (an area there reads as NULL) or an empty range
        would give areas no kernel path makes; the simulator refuses them itself."""
        page = self.config.page_size
        if not start or start % page or (end + 1) % page and end % page or end <= start:
            self.bug(cpu, "__get_vm_area", f"range {start:#x}-{end:#x}: not page aligned, at 0, or "
                     "empty; the kernel would place an area there anyway", own=True)

    def bad_align(self, cpu: int, align: int) -> bool:
        """vmalloc_align()'s check: later kernels refuse an alignment that is not a
        power of two (alloc_vmap_area()'s -EINVAL); so does the simulator, with a WARN."""
        if align and not align & (align - 1):
            return False
        self.warn(cpu, "vmalloc_align", f"alignment {align} is not a power of two")
        return True

    def _vmalloc_to_page(self, cpu: int, addr: int) -> Result:
        return self.pgtable.ptes.get(addr >> self.config.page_shift), ""

    # -- views (a generation overrides what it has) -------------------------------------------

    @property
    def area_generation(self) -> int:
        """Changes whenever the set of areas or their states change."""
        raise NotImplementedError

    def areas(self) -> list[VmapArea]:
        """Every area in address order, as immutable records."""
        raise NotImplementedError

    def nr_areas(self) -> int:
        raise NotImplementedError

    def lazy_pages(self) -> int:
        return 0

    def lazy_areas(self) -> int:
        return 0

    def queue_views(self) -> list[QueueView]:
        return []

    def block_views(self, cpu: int | None = None) -> list[BlockView]:
        """Every live vmap block (of one CPU, or all), in block id order."""
        return []

    def blocks_per_cpu(self) -> list[int]:
        return [0] * self.config.nr_cpus

    def free_blocks(self) -> list[FreeBlock]:
        """free_tree: the free blocks in address order."""
        return []

    def largest_free_block(self) -> FreeBlock | None:
        """free_tree: the largest free block."""
        return None

    def node_pools(self) -> list[PoolView]:
        """vmap_nodes: every non-empty pool of purged areas."""
        return []

    def extra_counters(self) -> dict[str, int]:
        """vmap_nodes: what the shared counters have no name for."""
        return {}

    def block_details(self, cpu: int | None = None) -> list[ModernBlockView]:
        """dirty_range: each live vmap block with its used map, bump pointer, dirty range."""
        return []

    @classmethod
    def ioremap_align(cls, size: int, config: Config) -> int:
        """The alignment __get_vm_area_node() gives a VM_IOREMAP area of `size` bytes."""
        return ioremap_align(size, config.page_shift)

    def stats_view(self) -> StatsView:
        s = self.stats
        return StatsView(*(getattr(s, n) for n in COUNTERS),
                         lazy_pages=self.lazy_pages(), lazy_max_pages=self.config.lazy_max_pages,
                         live_areas=self.nr_areas() - self.lazy_areas(), lazy_areas=self.lazy_areas(),
                         vmap_blocks=sum(self.blocks_per_cpu()),
                         blocks_per_cpu=tuple(self.blocks_per_cpu()),
                         full_flushes_per_cpu=tuple(s.full_flushes_per_cpu))

    def vmallocinfo(self) -> tuple[list[str], str]:
        """/proc/vmallocinfo as this generation's s_show() would print it now, and a
        sentence on what the file does not show (empty when it shows everything)."""
        raise NotImplementedError

    def _state(self) -> tuple[Any, ...]:
        """The generation's own state, for digest()."""
        raise NotImplementedError

    def digest(self) -> str:
        """A hash of the whole kernel state: equal states, equal digests."""
        pt = self.pgtable
        state = (self._state(), sorted(pt.ptes.items()), [sorted(t.items()) for t in pt.tlbs],
                 sorted(self.pages.allocated), self.pages.free_list,
                 [getattr(self.stats, n) for n in COUNTERS])
        return hashlib.sha256(repr(state).encode()).hexdigest()[:16]

    def check(self) -> list[str]:
        """Invariant violations; [] when the state is consistent.  Once the kernel has
        corrupted itself (a misuse the C does not check, Machine.corrupt()), the list
        starts with that corruption, and a walk the broken state defeats is reported,
        not raised."""
        try:
            found = self._check()
        except Exception as exc:      # only a state the kernel itself corrupted can do this
            if not self.corruption:
                raise
            found = [f"check() could not walk the corrupted state: {type(exc).__name__}: {exc}"]
        return self.own_corruption(found)

    def _check(self) -> list[str]:
        """The generation's invariants."""
        raise NotImplementedError

