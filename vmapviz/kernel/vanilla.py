"""The vmap layer before the rewrite: mm/vmalloc.c of v2.6.27 ("vanilla").

Every area is a vm_struct on `vmlist`, a singly linked list sorted by address, under
one rwlock, vmlist_lock, taken for write on every fast path.  __get_vm_area_node()
walks the list from its head for the first hole that fits (the area's size includes
its guard page, and no gap page is left: areas abut guard-to-start, exact fits are
taken); there is no purge and no retry.  remove_vm_area() walks the list again,
clears the PTEs and flushes the TLB at once, while still holding the lock: on x86
every vunmap empties every CPU's TLB, with an IPI to each other CPU.  No lazy areas,
no per-CPU blocks, no vm_map_ram.

The walk is counted node by node, as the C examines them (the simulator itself jumps
over packed areas, as the rewrite's search does; see VmapAreaTree).
"""

from __future__ import annotations

from .config import Config
from .events import AllocFail, AreaAlloc, AreaRemove
from .kernel import Kernel
from .views import VmapArea
from .vm_struct import (VM_ALLOC, VM_IOREMAP, VM_MAP, VM_VPAGES, VmStruct, area_kind,
                        ioremap_align, page_align, uint_pages, vmallocinfo_line)
from .vmap_area import ALIGN, VmapAreaTree

FAIL_MESSAGE = "allocation failed: out of vmalloc space - use vmalloc=<size> to increase size."


class VanillaKernel(Kernel):
    """v2.6.27's vmlist and the old API: `_<call>(cpu, *args)` -> (result, detail)."""

    __slots__ = ("vm", "vmlist")

    NULL_PAGE_WARNS = False

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config or Config(variant="vanilla"))
        self.vmlist = VmapAreaTree(gap=0, bits=self.config.bits)   # vmlist, in address order
        self.vm: dict[int, VmStruct] = {}        # its vm_structs, by address

    # -- __get_vm_area_node() and remove_vm_area() ----------------------------------------

    def get_vm_area_node(self, cpu: int, size: int, flags: int, start: int, end: int,
                         kind: str | None = None, align: int = 1) -> VmStruct | None:
        """__get_vm_area_node(): VM_IOREMAP alignment from the size as given, the size
        page-aligned plus one guard page, then under write_lock(&vmlist_lock) first fit
        from ALIGN(start, align), failing when `addr + size < addr` (the sum wrapped) or
        `addr > end - size`: a request near the top fails cleanly here, unlike v2.6.28.
        `align` is the simulator's vmalloc_align() extension."""
        cfg = self.config
        if flags & VM_IOREMAP:
            align = ioremap_align(size, cfg.page_shift)
        addr = ALIGN(start, align)
        size = page_align(size, cfg.page_size, cfg.ulong_max)
        if not size:
            return None
        if size + cfg.page_size > cfg.ulong_max:
            self.bug(cpu, "__get_vm_area_node", f"size {size:#x} plus the guard page wraps to 0; the "
                     "kernel's walk would place an empty area", own=True)
        size += cfg.page_size               # the guard page
        s = self.stats
        s.vmlist_lock_write += 1
        if align == 1 and (start, end) == (cfg.VMALLOC_START, cfg.VMALLOC_END):
            addr, ok, walk, low = self.vmlist.search(addr, size, align, end, exact_fit=True,
                                                     first_contains_addr=False)
            n = len(self.vmlist)
            # The nodes the loop examined: every one below the hole, and the one after it.
            if ok:
                at = low + walk
                examined = at + (at < n)
            else:
                examined = min(n, low + max(walk, 1))
        else:
            ok, addr, examined = self.vmlist_walk(addr, size, align, end)
        s.walk_total += examined
        s.last_walk = examined
        if not ok:
            s.alloc_failures += 1
            s.warnings += 1
            self.emit(AllocFail, self.op, cpu, size, FAIL_MESSAGE, True)
            return None
        kind = kind or area_kind(flags)
        va = VmapArea(addr, addr + size, kind, "busy", cfg.page_size, cpu, self.op)
        self.vmlist.insert(va)
        vm = self.vm[va.start] = VmStruct(va.start, size, flags, kind)
        self.emit(AreaAlloc, self.op, cpu, va.start, va.end, kind, examined, "__get_vm_area_node")
        return vm

    def vmlist_walk(self, addr: int, size: int, align: int, end: int) -> tuple[bool, int, int]:
        """__get_vm_area_node()'s loop over vmlist, literally (v2.6.27 236-256), in
        unsigned long arithmetic: (found, addr, nodes examined).  A node below addr moves
        addr past itself with no end test (245-250), and `found` has none either
        (253-254): with an explicit range an area can be placed past `end` when the next
        area lies beyond it.  (Used for aligned requests and explicit ranges; the common
        unaligned whole-range request gives the same answer from the fast search.)"""
        mask = self.config.ulong_max
        examined = 0
        if addr > mask:                             # ALIGN(start) wrapped: see below
            return False, addr, examined
        for tmp in self.vmlist.area_list:
            examined += 1
            if tmp.start < addr:
                if tmp.end >= addr:
                    addr = ALIGN(tmp.end, align)
                    if addr > mask:
                        # ALIGN() wrapped to 0: the C would go on and hand out address
                        # 0; the simulator fails instead (README: departures).
                        return False, addr & mask, examined
                continue
            if size + addr > mask:                  # (size + addr) < addr: wrapped
                return False, addr, examined
            if size + addr <= tmp.start:
                return True, addr, examined         # found: no end test
            addr = ALIGN(tmp.end, align)
            if addr > mask or addr > (end - size) & mask:
                return False, addr & mask, examined
        ok = size + addr <= mask and addr <= (end - size) & mask
        return ok, addr, examined

    def unlink_vm_area(self, cpu: int, addr: int) -> VmStruct | None:
        """remove_vm_area() (not named so: that is the public call): under
        write_lock(&vmlist_lock), walk from the head to the
        area starting at addr; unmap_vm_area() clears its PTEs (guard page included) and
        flush_tlb_kernel_range() flushes them at once, the lock still held; unlink it;
        its size loses the guard page."""
        s = self.stats
        s.vmlist_lock_write += 1
        va = self.vmlist.find(addr)
        if va is None:
            s.remove_walk_total += len(self.vmlist)
            return None
        walk = self.vmlist.index(addr) + 1
        s.remove_walk_total += walk
        self.pgtable.vunmap_page_range(va.start, va.end)
        self.flush_tlb_kernel_range(cpu, va.start, va.end)
        self.vmlist.erase([va])
        self.emit(AreaRemove, self.op, cpu, va.start, va.end, walk)
        vm = self.vm.pop(addr)
        vm.size -= self.config.page_size
        return vm

    def vunmap_common(self, cpu: int, addr: int, deallocate_pages: bool) -> None:
        """__vunmap(): WARN on a bad or unknown address; vfree() (deallocate_pages) frees
        the pages and the page array: vfree() of a VM_VPAGES array is a second remove,
        and a second flush.  vunmap() leaves a vmalloc'ed area's pages alone (they
        leak); the pages the simulator lent to vmap() are freed with it."""
        if not addr:
            return
        if addr & (self.config.page_size - 1):
            self.warn(cpu, "__vunmap", f"Trying to vfree() bad address ({addr:#x})")
            return
        vm = self.unlink_vm_area(cpu, addr)
        if vm is None:
            self.warn(cpu, "__vunmap", f"Trying to vfree() nonexistent vm area ({addr:#x})")
            return
        if deallocate_pages or vm.flags & VM_MAP:
            self.pages.free_pages(vm.pages)
        if deallocate_pages and vm.pages_area is not None:
            self.vunmap_common(cpu, vm.pages_area, True)

    def map_new_pages(self, cpu: int, vm: VmStruct, count: int) -> int | None:
        """Fresh pages for the area, then map_vm_area(); on failure vfree()/vunmap() it.
        vmalloc() fails before mapping when memory runs out; vmap()'s caller has a NULL
        page, which vmap_page_range() refuses with -ENOMEM."""
        vm.pages = self.pages.alloc_pages(count)
        if not (len(vm.pages) < count and vm.flags & VM_ALLOC):
            failed = self.pgtable.vmap_page_range(vm.addr, vm.addr + vm.size - self.config.page_size, vm.pages)
            if failed is None:
                return vm.addr
            self.vmap_failed(cpu, vm.addr, failed)      # a PTE there, or fewer pages: a NULL one
        self.vunmap_common(cpu, vm.addr, bool(vm.flags & VM_ALLOC))
        return None

    def vmalloc_node(self, cpu: int, size: int, kind: str = "vmalloc", align: int = 1) -> int | None:
        """__vmalloc_node() and __vmalloc_area_node(): NULL for 0 pages or more than
        num_physpages; a page array larger than a page is itself vmalloc'ed (VM_VPAGES,
        placed after the area), then the pages, then the mapping."""
        cfg = self.config
        size = page_align(size, cfg.page_size, cfg.ulong_max)
        if not size or size >> cfg.page_shift > cfg.num_physpages:
            return None
        vm = self.get_vm_area_node(cpu, size, VM_ALLOC, cfg.VMALLOC_START, cfg.VMALLOC_END, kind, align)
        if vm is None:
            return None
        nr_pages = size // cfg.page_size
        array_size = nr_pages * (cfg.bits // 8)
        if array_size > cfg.page_size:
            vm.pages_area = self.vmalloc_node(cpu, array_size, "vpages")
            vm.flags |= VM_VPAGES
            if vm.pages_area is None:
                self.unlink_vm_area(cpu, vm.addr)
                return None
        return self.map_new_pages(cpu, vm, nr_pages)

    # -- the calls ------------------------------------------------------------------------------

    def _vmalloc(self, cpu: int, size: int):
        return self.vmalloc_node(cpu, size), ""

    def _vmalloc_align(self, cpu: int, size: int, align: int):
        if self.bad_align(cpu, align):
            return None, ""
        return self.vmalloc_node(cpu, size, "vmalloc", align), ""

    def _vfree(self, cpu: int, addr: int):
        self.vunmap_common(cpu, addr, True)
        return None, ""

    def _vunmap(self, cpu: int, addr: int):
        self.vunmap_common(cpu, addr, False)
        return None, ""

    def _vmap(self, cpu: int, nr_pages: int):
        cfg = self.config
        if nr_pages > cfg.num_physpages:
            return None, ""
        size = uint_pages(nr_pages, cfg.page_shift)     # count << PAGE_SHIFT in unsigned int
        vm = self.get_vm_area_node(cpu, size, VM_MAP, cfg.VMALLOC_START, cfg.VMALLOC_END)
        return (None if vm is None else self.map_new_pages(cpu, vm, size >> cfg.page_shift)), ""

    def _get_vm_area(self, cpu: int, size: int, flags: int, start: int, end: int):
        vm = self.get_vm_area_node(cpu, size, flags, start, end)
        return (None if vm is None else vm.addr), ""

    def _find_vm_area(self, cpu: int, addr: int):
        """__find_vm_area() under read_lock(&vmlist_lock), as remap_vmalloc_range() calls
        it (2.6.27 exports no find_vm_area()): a walk from the head."""
        self.stats.vmlist_lock_read += 1
        return self.vm.get(addr), ""

    def _remove_vm_area(self, cpu: int, addr: int):
        vm = self.unlink_vm_area(cpu, addr)
        return (None if vm is None else vm.addr), ""

    # -- views ------------------------------------------------------------------------------------

    @property
    def area_generation(self) -> int:
        return self.vmlist.generation

    def areas(self) -> list[VmapArea]:
        return list(self.vmlist.area_list)

    def nr_areas(self) -> int:
        return len(self.vmlist)

    def vmallocinfo(self) -> tuple[list[str], str]:
        """s_show() walks vmlist, which holds every area before the rewrite."""
        return [vmallocinfo_line(self.vm[a.start], self.config.bits) for a in self.vmlist.area_list], ""

    def _state(self) -> tuple:
        return (tuple(self.vmlist.area_list),)

    def _check(self) -> list[str]:
        """vmlist is sorted and its areas, guard pages included, do not overlap; PTEs are
        present exactly for the mapped pages of live areas; no stale TLB entry survives
        any free (each free flushed at once)."""
        out = []
        cfg, shift = self.config, self.config.page_shift
        areas = list(self.vmlist.area_list)
        if set(self.vm) != {a.start for a in areas}:
            out.append("vmlist's vm_structs and its areas disagree")
        mapped: set[int] = set()
        prev = None
        for a in areas:
            vm = self.vm.get(a.start)
            if a.start % cfg.page_size or a.end % cfg.page_size or not 0 < a.start < a.end:
                out.append(f"area {a.start:#x}-{a.end:#x} is empty or not page aligned")
            if prev is not None and prev.end > a.start:
                out.append(f"areas {prev.start:#x}-{prev.end:#x} and {a.start:#x}-{a.end:#x} overlap")
            if a.state != "busy" or a.guard != cfg.page_size:
                out.append(f"area {a.start:#x} is {a.state} with a guard of {a.guard} bytes")
            if vm is not None:
                if vm.size != a.end - a.start:
                    out.append(f"vm_struct {a.start:#x} size {vm.size} != its area's")
                first = a.start >> shift
                for i, pfn in enumerate(vm.pages):
                    if self.pgtable.ptes.get(first + i) != pfn:
                        out.append(f"page {i} of {a.start:#x} is not mapped to its frame")
                        break
                mapped.update(range(first, first + len(vm.pages)))
            prev = a
        if set(self.pgtable.ptes) != mapped:
            out.append("PTEs are present outside the mapped pages of live areas")
        if self.pgtable.dead:
            out.append("pages are counted dead, but nothing is freed lazily before the rewrite")
        for cpu, tlb in enumerate(self.pgtable.tlbs):
            if any(self.pgtable.ptes.get(vpn) != pfn for vpn, pfn in tlb.items()):
                out.append(f"cpu{cpu}'s TLB holds a stale entry after a free flushed it")
        return out


KERNEL_CLASS = VanillaKernel
