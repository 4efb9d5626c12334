"""The simulated kernel: the state of mm/vmalloc.c and its public API, one call per op.

Every public method is one op on one CPU: it emits a Call event, runs the kernel's
code, and emits a Return event.  Misuse ends in the WARN or BUG the kernel would
print; a BUG stops the call before it changes anything (where the real kernel would
oops), so the state stays consistent and the call returns None.
"""

from __future__ import annotations

import hashlib

from . import vmalloc as old
from .check import check
from .config import Config
from .events import VOID, Bug, Call, Fault, Return, UseAfterFree, Warn
from .kva import alloc_vmap_area, free_unmap_vmap_area, purge_vmap_area_lazy
from .pgtable import EBUSY, PageAllocator, PageTable
from .vmap_area import VmapArea, VmapAreaTree
from .vmap_block import (BlockView, QueueView, VmapBlock, VmapBlockQueue, addr_to_vb_idx,
                         vb_alloc, vb_free, vm_unmap_aliases)


ALLOCATING_CALLS = frozenset({"vmalloc", "vmalloc_align", "vmap", "get_vm_area", "vm_map_ram"})


class KernelBug(Exception):
    """Raised by Kernel.bug(): the call stops where the real kernel would oops."""


class Stats:
    """Counters of what happened, plus the state-derived figures under the same roof."""

    COUNTERS = ("ops", "tlb_flushes", "ipis", "purges", "warnings", "bugs", "alloc_failures", "failed_calls",
                "vm_unmap_aliases_calls", "faults", "use_after_free", "walk_total", "last_walk")

    def __init__(self, kernel: "Kernel") -> None:
        self._k = kernel
        for name in self.COUNTERS:
            setattr(self, name, 0)

    @property
    def lazy_pages(self) -> int:
        """vmap_lazy_nr: pages freed lazily and not yet purged."""
        return self._k.vmap_lazy_nr

    @property
    def lazy_max_pages(self) -> int:
        return self._k.config.lazy_max_pages

    @property
    def live_areas(self) -> int:
        """Areas in the tree that are busy (not awaiting a purge)."""
        return len(self._k.tree) - len(self._k.lazy)

    @property
    def lazy_areas(self) -> int:
        return len(self._k.lazy)

    @property
    def vmap_blocks(self) -> int:
        return len(self._k.vmap_block_tree)

    def as_dict(self) -> dict:
        d = {name: getattr(self, name) for name in self.COUNTERS}
        for name in ("lazy_pages", "lazy_max_pages", "live_areas", "lazy_areas", "vmap_blocks"):
            d[name] = getattr(self, name)
        d["blocks_per_cpu"] = self._k.blocks_per_cpu()
        return d


class Kernel:
    """One simulated machine's vmalloc layer.  See the module docstring."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = cfg = config or Config()
        self.tree = VmapAreaTree(cfg.page_size)
        self.lazy: dict[int, VmapArea] = {}          # VM_LAZY_FREE areas by start
        self.vmap_lazy_nr = 0
        self.pgtable = PageTable(cfg.nr_cpus, cfg.page_shift)
        self.pages = PageAllocator()
        self.vmlist: dict[int, old.VmStruct] = {}     # vmlist, and va->private
        self.vmap_block_tree: dict[int, VmapBlock] = {}  # the radix tree
        self.vbq = [VmapBlockQueue(c) for c in range(cfg.nr_cpus)]
        self.block_ids = 0
        self.ram_maps: dict[int, list[int]] = {}      # vm_map_ram address -> lent pages
        self.overlaps: set[int] = set()  # posted only: areas placed over a live one
        self.stats = Stats(self)
        self.events: list = []
        self.op = 0
        self.cpu = 0

    # -- events -----------------------------------------------------------------

    def emit(self, event) -> None:
        self.events.append(event)

    def drain_events(self) -> list:
        """The events since the last drain, oldest first."""
        out, self.events = self.events, []
        return out

    def warn(self, where: str, message: str) -> None:
        self.stats.warnings += 1
        self.emit(Warn(self.op, self.cpu, where, message))

    def bug(self, where: str, message: str) -> None:
        """BUG(): report it and end the current call."""
        self.stats.bugs += 1
        self.emit(Bug(self.op, self.cpu, where, message))
        raise KernelBug(message)

    def _begin(self, name: str, args: tuple, cpu: int) -> None:
        if not 0 <= cpu < self.config.nr_cpus:
            raise ValueError(f"cpu {cpu} is not online (this machine has CPUs 0-{self.config.nr_cpus - 1})")
        self.op += 1
        self.stats.ops += 1
        self.cpu = cpu
        self.emit(Call(self.op, cpu, name, args))

    def _end(self, name: str, args: tuple, result, detail: str = ""):
        if result is None and name in ALLOCATING_CALLS:
            self.stats.failed_calls += 1
        self.emit(Return(self.op, self.cpu, name, args, result, detail))
        return None if result is VOID else result

    def _run(self, name: str, args: tuple, cpu: int, body, void: bool = False):
        """One op: Call, the body (which returns (result, detail)), Return.  A void
        call's result is dropped."""
        self._begin(name, args, cpu)
        try:
            result, detail = body()
        except KernelBug:
            result, detail = None, "BUG"
        return self._end(name, args, VOID if void else result, detail)

    # -- page tables ----------------------------------------------------------------

    def vmap_page_range(self, start: int, end: int, frames: list) -> tuple[int, int]:
        """vmap_page_range() with its WARN_ON()s."""
        err, nr = self.pgtable.vmap_page_range(start, end, frames)
        if err:
            where = "vmap_page_range"
            addr = start + nr * self.config.page_size
            if err == -EBUSY:
                self.warn(where, f"WARN_ON(!pte_none(*pte)): PTE already present at {addr:#x}, -EBUSY")
            else:
                self.warn(where, f"WARN_ON(!page): no page for {addr:#x}, -ENOMEM")
        return err, nr

    # -- the old vmalloc API ----------------------------------------------------------

    def vmalloc(self, size: int, cpu: int = 0) -> int | None:
        """vmalloc(size): an area of size rounded up to pages, mapped to fresh pages."""
        return self._run("vmalloc", (size,), cpu, lambda: (old.vmalloc_node(self, size), ""))

    def vmalloc_align(self, size: int, align: int, cpu: int = 0) -> int | None:
        """vmalloc of `size` aligned to `align` (a power of two): the simulator's one
        extension, standing for the __vmalloc_node_range() that lib/test_vmalloc.c
        calls in later kernels; the 2008 kernel has no aligned vmalloc.  Python ints do
        not wrap, so an alignment past the top of the space fails (as later kernels
        make it fail) where the 2008 ALIGN() would wrap to 0."""
        if align < 1 or align & (align - 1):
            self._begin("vmalloc_align", (size, align), cpu)
            self.warn("vmalloc_align", f"alignment {align} is not a power of two")
            return self._end("vmalloc_align", (size, align), None)
        return self._run("vmalloc_align", (size, align), cpu,
                         lambda: (old.vmalloc_node(self, size, "vmalloc", align), ""))

    def vfree(self, addr: int, cpu: int = 0) -> None:
        """vfree(addr): free lazily: the PTEs stay until the next purge."""
        return self._run("vfree", (addr,), cpu, lambda: (old.vunmap_common(self, addr), ""), void=True)

    def vmap(self, nr_pages: int, cpu: int = 0, flags: int = old.VM_MAP) -> int | None:
        """vmap(pages, nr_pages, VM_MAP, PAGE_KERNEL) of nr_pages pages lent by the simulator."""
        return self._run("vmap", (nr_pages,), cpu, lambda: (old.vmap(self, nr_pages, flags), ""))

    def vunmap(self, addr: int, cpu: int = 0) -> None:
        """vunmap(addr)."""
        return self._run("vunmap", (addr,), cpu, lambda: (old.vunmap_common(self, addr), ""), void=True)

    def get_vm_area(self, size: int, flags: int = 0, start: int | None = None,
                    end: int | None = None, cpu: int = 0) -> int | None:
        """__get_vm_area(size, flags, start, end): an unmapped area; its address."""
        start = self.config.vmalloc_start if start is None else start
        end = self.config.VMALLOC_END if end is None else end

        def body():
            vm = old.get_vm_area_node(self, size, flags, start, end)
            return (None if vm is None else vm.addr), ""
        return self._run("get_vm_area", (size, flags, start, end), cpu, body)

    def find_vm_area(self, addr: int, cpu: int = 0) -> old.VmStruct | None:
        """find_vm_area(addr): the vm_struct of the area starting at addr."""
        return self._run("find_vm_area", (addr,), cpu, lambda: (old.find_vm_area(self, addr), ""))

    def remove_vm_area(self, addr: int, cpu: int = 0) -> int | None:
        """remove_vm_area(addr): free the area lazily; its address, or None."""
        def body():
            vm = old.remove_vm_area(self, addr)
            return (None if vm is None else vm.addr), ""
        return self._run("remove_vm_area", (addr,), cpu, body)

    def vmalloc_to_page(self, addr: int, cpu: int = 0) -> int | None:
        """vmalloc_to_page(addr): the page frame the page table maps there, or None."""
        return self._run("vmalloc_to_page", (addr,), cpu,
                         lambda: (self.pgtable.ptes.get(addr >> self.config.page_shift), ""))

    # -- the per-CPU API ---------------------------------------------------------------

    def vm_map_ram(self, count: int, cpu: int = 0) -> int | None:
        """vm_map_ram(pages, count): up to VMAP_MAX_ALLOC pages from this CPU's vmap
        blocks, more from the global allocator; mapped to `count` fresh pages."""
        return self._run("vm_map_ram", (count,), cpu, lambda: self._vm_map_ram(count))

    def _vm_map_ram(self, count: int):
        cfg = self.config
        if count < 1:
            self.warn("vm_map_ram", f"vm_map_ram({count}): nothing to map")
            return None, ""
        size = count * cfg.page_size
        if count <= cfg.vmap_max_alloc:
            got = vb_alloc(self, size)
            if got is None:
                return None, ""
            addr, vb, bit, nbits = got
            detail = f"block #{vb.id}, bits {bit}-{bit + nbits - 1}"
        else:
            va = alloc_vmap_area(self, size, cfg.page_size, cfg.vmalloc_start,
                                 cfg.VMALLOC_END, "vm_map_ram")
            if va is None:
                return None, ""
            addr, detail = va.va_start, "global allocator"
        frames = [self.pages.alloc() for _ in range(count)]
        if self.vmap_page_range(addr, addr + size, frames)[0]:
            self._vm_unmap_ram(addr, count)
            for pfn in frames:
                self.pages.free(pfn)
            return None, detail
        self.ram_maps[addr] = frames
        return addr, detail

    def vm_unmap_ram(self, addr: int, count: int, cpu: int = 0) -> None:
        """vm_unmap_ram(mem, count): give back what vm_map_ram() returned; the PTEs stay
        (lazily) and the simulator frees the pages it lent."""
        def body():
            detail = self._vm_unmap_ram(addr, count)
            for pfn in self.ram_maps.pop(addr, ()):
                self.pages.free(pfn)
            return None, detail
        return self._run("vm_unmap_ram", (addr, count), cpu, body, void=True)

    def _vm_unmap_ram(self, addr: int, count: int) -> str:
        cfg = self.config
        checks = (("!addr", not addr), ("addr < VMALLOC_START", addr < cfg.vmalloc_start),
                  ("addr > VMALLOC_END", addr > cfg.VMALLOC_END),
                  ("addr & (PAGE_SIZE-1)", bool(addr & (cfg.page_size - 1))))
        failed = [c for c, bad in checks if bad]
        if failed:
            # posted: one BUG_ON() of the four conditions; merged: four BUG_ON()s.
            cond = " || ".join(c for c, _ in checks) if cfg.variant == "posted" else failed[0]
            self.bug("vm_unmap_ram", f"BUG_ON({cond}) for {addr:#x}")
        if count <= cfg.vmap_max_alloc:
            vb = self.vmap_block_tree.get(addr_to_vb_idx(self, addr))
            vb_free(self, addr, count * cfg.page_size)
            bit = (addr - vb.va_start) // cfg.page_size
            return f"block #{vb.id}, bits {bit}-{bit + (1 << (count - 1).bit_length()) - 1} dirty"
        # free_unmap_vmap_area_addr()
        va = self.tree.find(addr)
        if va is None:
            self.bug("free_unmap_vmap_area_addr", f"BUG_ON(!va): no vmap area at {addr:#x}")
        if va.lazy:
            self.bug("free_unmap_vmap_area_addr", f"double vm_unmap_ram of {addr:#x}: the kernel "
                     "would add it to vmap_lazy_nr twice")
        free_unmap_vmap_area(self, va)
        return "lazily freed"

    def vm_unmap_aliases(self, cpu: int = 0) -> None:
        """vm_unmap_aliases(): unmap every dirty run of free-listed blocks, flush once."""
        return self._run("vm_unmap_aliases", (), cpu, lambda: (vm_unmap_aliases(self), ""), void=True)

    def purge(self, cpu: int = 0) -> None:
        """purge_vmap_area_lazy(): purge every lazily freed area now."""
        return self._run("purge_vmap_area_lazy", (), cpu, lambda: (purge_vmap_area_lazy(self), ""), void=True)

    # -- kernel accesses ------------------------------------------------------------------

    def touch(self, addr: int, nr_pages: int, cpu: int = 0) -> str:
        """A kernel access from `cpu` to nr_pages pages from addr: through that CPU's
        TLB, filled from the page table.  Returns "ok", "fault" (an unmapped page: the
        oops) or "use-after-free" (a stale TLB entry, or a PTE left for a page already
        freed)."""
        return self._run("touch", (addr, nr_pages), cpu, lambda: (self._touch(addr, nr_pages), ""))

    def _touch(self, addr: int, nr_pages: int) -> str:
        shift = self.config.page_shift
        ptes, tlb = self.pgtable.ptes, self.pgtable.tlbs[self.cpu]
        dead = self.pgtable.dead   # mapped pages whose user freed them
        faults, stale, freed = [], [], []
        first = addr >> shift
        for vpn in range(first, first + max(nr_pages, 0)):
            pte = ptes.get(vpn)
            cached = tlb.get(vpn)
            if cached is not None and cached != pte:
                stale.append(vpn)
            elif pte is None:
                faults.append(vpn)
            else:
                if cached is None:
                    tlb[vpn] = pte
                if vpn in dead:
                    freed.append(vpn)
        if stale:
            self.stats.use_after_free += 1
            self.emit(UseAfterFree(self.op, self.cpu, stale[0] << shift, len(stale), "a stale TLB entry"))
            return "use-after-free"
        if freed:
            self.stats.use_after_free += 1
            self.emit(UseAfterFree(self.op, self.cpu, freed[0] << shift, len(freed),
                                   "a PTE left for lazy flushing"))
            return "use-after-free"
        if faults:
            self.stats.faults += 1
            self.emit(Fault(self.op, self.cpu, faults[0] << shift, len(faults)))
            return "fault"
        return "ok"

    # -- views ---------------------------------------------------------------------------

    def areas(self) -> list[VmapArea]:
        """Every area in address order (busy and lazily freed), as immutable records."""
        return list(self.tree.list)

    def queue_view(self, cpu: int) -> QueueView:
        return self.vbq[cpu].view()

    def block_views(self, cpu: int | None = None) -> list[BlockView]:
        """Every live block (of one CPU, or all), in block id order."""
        blocks = sorted(self.vmap_block_tree.values(), key=lambda b: b.id)
        return [b.view() for b in blocks if cpu is None or b.cpu == cpu]

    def blocks_per_cpu(self) -> list[int]:
        counts = [0] * self.config.nr_cpus
        for vb in self.vmap_block_tree.values():
            counts[vb.cpu] += 1
        return counts

    def stale_tlb_entries(self) -> list[int]:
        """Per CPU: how many TLB entries still map pages their user freed."""
        return [len(self.pgtable.stale(c)) for c in range(self.config.nr_cpus)]

    def digest(self) -> str:
        """A hash of the whole kernel state: equal states, equal digests."""
        pt = self.pgtable
        blocks = sorted(self.vmap_block_tree.values(), key=lambda b: b.id)
        state = (tuple(self.tree.list), sorted(pt.ptes.items()),
                 [sorted(t.items()) for t in pt.tlbs], [b.view() for b in blocks],
                 [q.view() for q in self.vbq], self.vmap_lazy_nr, sorted(self.pages.allocated),
                 self.pages.free_list, [getattr(self.stats, n) for n in Stats.COUNTERS])
        return hashlib.sha256(repr(state).encode()).hexdigest()[:16]

    def check(self) -> list[str]:
        """Invariant violations; [] when the state is consistent."""
        return check(self)

