"""The 2008 rewrite of the vmap layer (Nick Piggin), as posted and as merged in v2.6.28:
vmap areas in an rbtree, lazy TLB flushing, per-CPU vmap blocks.

One generation with two versions: their differences are the Policy of `state`.
"""

from __future__ import annotations

from array import array
from typing import Any

from ..config import Config, get_order
from ..views import BlockView, QueueView, VmapArea
from ..vmap_area import FLAG_NAMES, VM_VM_AREA
from ..vm_struct import VM_MAP, uint_pages, vmallocinfo_line
from . import vmalloc as old
from .check import check
from .kva import alloc_vmap_area, free_unmap_vmap_area, purge_vmap_area_lazy
from .state import RewriteState
from .vmap_block import VmapBlockQueue, vb_alloc, vb_free, vm_unmap_aliases


class RewriteKernel(RewriteState):
    """The rewrite's calls: `_<call>(cpu, *args)` -> (result, detail)."""

    __slots__ = ()

    FLAG_NAMES = FLAG_NAMES

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config or Config())
        self.vbq = [VmapBlockQueue(c) for c in range(self.config.nr_cpus)]

    # -- the old vmalloc API ------------------------------------------------------------

    def _vmalloc(self, cpu: int, size: int):
        return old.vmalloc_node(self, cpu, size), ""

    def _vmalloc_align(self, cpu: int, size: int, align: int):
        if self.bad_align(cpu, align):
            return None, ""
        return old.vmalloc_node(self, cpu, size, "vmalloc", align, checked=True), ""

    def _vfree(self, cpu: int, addr: int):
        """vfree(): free lazily: the PTEs stay until the next purge."""
        old.vunmap_common(self, cpu, addr, True)
        return None, ""

    def _vunmap(self, cpu: int, addr: int):
        old.vunmap_common(self, cpu, addr, False)
        return None, ""

    def _vmap(self, cpu: int, nr_pages: int):
        return old.vmap(self, cpu, nr_pages, VM_MAP), ""

    def _get_vm_area(self, cpu: int, size: int, flags: int, start: int, end: int):
        vm = old.get_vm_area_node(self, cpu, size, flags, start, end)
        return (None if vm is None else vm.addr), ""

    def _find_vm_area(self, cpu: int, addr: int):
        return old.find_vm_area(self, cpu, addr), ""

    def _remove_vm_area(self, cpu: int, addr: int):
        vm = old.remove_vm_area(self, cpu, addr)
        return (None if vm is None else vm.addr), ""

    # -- the per-CPU API -------------------------------------------------------------------

    def _vm_map_ram(self, cpu: int, count: int):
        """vm_map_ram(): up to VMAP_MAX_ALLOC pages from this CPU's vmap blocks, more
        from the global allocator; mapped to `count` fresh pages.  The size is
        `count << PAGE_SHIFT` in unsigned int (v2.6.28 933): it wraps past 4 GiB."""
        if count < 1:
            cfg = self.config
            self.bug(cpu, "vm_map_ram", "count 0: vm_map_ram() has no check; get_order(0) is "
                     f"{get_order(0, cfg.page_size, cfg.bits)}, so vb_alloc() would look for a region "
                     "of 1 << that many pages", own=True)
        shift = self.page_shift
        if count <= self.vmap_max_alloc:
            size, order = self.vb_size_order[count]
            got = vb_alloc(self, cpu, order)
            if got is None:
                return None, ""
            addr, vb_id, bit = got
            detail: str | tuple[Any, ...] = ("block #{}, bits {}-{}", vb_id, bit, bit + (1 << order) - 1)
        else:
            size = uint_pages(count, shift)
            if not size:
                # alloc_vmap_area() of 0 bytes succeeds (the kernel inserts an empty area
                # first; the simulator does not), then vmap_page_range(addr, addr).
                self.bug(cpu, "vmap_page_range", f"BUG_ON(addr >= end): count {count} << PAGE_SHIFT "
                         "wraps to 0 in unsigned int, so the area is empty")
            cfg = self.config
            va = alloc_vmap_area(self, cpu, size, cfg.page_size, cfg.VMALLOC_START,
                                 cfg.VMALLOC_END, "vm_map_ram", maps=True)
            if va is None:
                return None, ""
            addr, detail = va.start, "global allocator"
        frames = self.pages.alloc_pages(size >> shift)
        # Memory ran out: fewer frames, so the caller's page array has a NULL page,
        # which vmap_page_range() refuses.
        failed = self.pgtable.vmap_page_range(addr, addr + size, frames)
        if failed is not None:
            self.vmap_failed(cpu, addr, failed)
            self._vm_unmap_ram(cpu, addr, count, frames)
            return None, detail
        self.ram_maps[addr] = frames
        return addr, detail

    def _vm_unmap_ram(self, cpu: int, addr: int, count: int, failed: array[int] | None = None):
        """vm_unmap_ram(): the PTEs stay (lazily); the simulator frees the pages it lent.
        `failed`: vm_map_ram() giving back the region it just took, whose mapping
        failed, with the frames it had (not lent: not in ram_maps)."""
        if not self.VMALLOC_START <= addr <= self.VMALLOC_END or addr & (self.page_size - 1):
            self._bad_unmap_addr(cpu, addr)     # (VMALLOC_START > 0: addr 0 is below it)
        detail: str | tuple[Any, ...]
        if count <= self.vmap_max_alloc:
            size, order = self.vb_size_order[count]
            vb_id, bit = vb_free(self, cpu, addr, size, order, failed is not None)
            if count:
                detail = "block #{}, bits {}-{} dirty", vb_id, bit, bit + (1 << order) - 1
            else:
                detail = f"block #{vb_id}: vb->dirty past VMAP_BBMAP_BITS"
        else:
            detail = self._free_unmap_vmap_area_addr(cpu, addr, count)
        self.pages.free_pages(self.ram_maps.pop(addr, ()) if failed is None else failed)
        return None, detail

    def _free_unmap_vmap_area_addr(self, cpu: int, addr: int, count: int) -> str:
        """free_unmap_vmap_area_addr(): vm_unmap_ram() over VMAP_MAX_ALLOC pages."""
        # find_vmap_area() under vmap_area_lock
        self.stats.vmap_area_lock += 1
        va = self.tree.find(addr)
        if va is None:
            self.bug(cpu, "free_unmap_vmap_area_addr", f"BUG_ON(!va): no vmap area at {addr:#x}")
        if va.lazy:
            self.bug(cpu, "free_unmap_vmap_area_addr", f"double vm_unmap_ram of {addr:#x}: the "
                     f"kernel would add its {(va.end - va.start) // self.page_size} pages to "
                     "vmap_lazy_nr a second time", own=True)
        if va.flags & VM_VM_AREA:
            self.bug(cpu, "free_unmap_vmap_area_addr", f"vm_unmap_ram of {addr:#x}, an area with a "
                     "vm_struct (vmalloc, vmap, get_vm_area): the kernel would free the area and "
                     "leave its vm_struct on vmlist", own=True)
        if va.kind == "vmap_block":
            vb = self.block_at(addr)
            self.stolen[va.start] = self.op
            self.corrupt(cpu, "free_unmap_vmap_area_addr", f"vm_unmap_ram({addr:#x}, {count}): over "
                         f"VMAP_MAX_ALLOC, so the whole area of vmap block #{vb.id} "
                         f"({va.start:#x}-{va.end:#x}) was freed lazily while the block lives on in "
                         f"vmap_block_tree and on cpu{vb.cpu}'s lists",
                         "vb_alloc() keeps handing out its pages and the next purge clears all its "
                         "PTEs, so its mappings in use fault; the range can then go to another "
                         "area (vmap_page_range() WARNs on the PTEs it finds), a new block there "
                         "hits BUG_ON(radix_tree_insert()) in new_vmap_block(), and when the block "
                         "is all dirty free_vmap_block() frees its area a second time")
            free_unmap_vmap_area(self, cpu, va, mark=False)
            return "lazily freed (a vmap block's area)"
        free_unmap_vmap_area(self, cpu, va)
        return "lazily freed"

    def _bad_unmap_addr(self, cpu: int, addr: int) -> None:
        """vm_unmap_ram()'s BUG_ON()s on its address: merged has four, and the first
        that holds fires; the posted one BUG_ON() prints all four conditions."""
        cfg = self.config
        checks = (("!addr", not addr), ("addr < VMALLOC_START", addr < cfg.VMALLOC_START),
                  ("addr > VMALLOC_END", addr > cfg.VMALLOC_END),
                  ("addr & (PAGE_SIZE-1)", bool(addr & (cfg.page_size - 1))))
        failed = [c for c, bad in checks if bad]
        cond = " || ".join(c for c, _ in checks) if self.policy.one_bug_on else failed[0]
        self.bug(cpu, "vm_unmap_ram", f"BUG_ON({cond}) for {addr:#x}")

    def _vm_unmap_aliases(self, cpu: int):
        vm_unmap_aliases(self, cpu)
        return None, ""

    def _purge(self, cpu: int):
        purge_vmap_area_lazy(self, cpu)
        return None, ""

    # -- views -------------------------------------------------------------------------------

    @property
    def area_generation(self) -> int:
        return self.tree.generation

    def areas(self) -> list[VmapArea]:
        return list(self.tree.area_list)

    def nr_areas(self) -> int:
        return len(self.tree)

    def lazy_pages(self) -> int:
        return self.vmap_lazy_nr

    def lazy_areas(self) -> int:
        return len(self.lazy)

    def queue_views(self) -> list[QueueView]:
        return [q.view() for q in self.vbq]

    def block_views(self, cpu: int | None = None) -> list[BlockView]:
        blocks = sorted(self.vmap_block_tree.values(), key=lambda b: b.id)
        return [b.view() for b in blocks if cpu is None or b.cpu == cpu]

    def blocks_per_cpu(self) -> list[int]:
        counts = [0] * self.config.nr_cpus
        for vb in self.vmap_block_tree.values():
            counts[vb.cpu] += 1
        return counts

    def vmallocinfo(self) -> tuple[list[str], str]:
        """v2.6.28's s_show() still walks vmlist: the vm_structs of busy areas only.  The
        vmap blocks behind vm_map_ram(), large vm_map_ram() areas and lazily freed areas
        are vmap_areas without a vm_struct on vmlist, so the file does not show them."""
        lines = [vmallocinfo_line(self.vmlist[addr], self.config.bits) for addr in self.vmlist_order]
        hidden = [a for a in self.tree.area_list if a.lazy or a.start not in self.vmlist]
        if not hidden:
            return lines, ""
        lazy = [a for a in hidden if a.lazy]
        ram = [a for a in hidden if not a.lazy]
        pages = sum(a.end - a.start for a in hidden) // self.config.page_size
        note = (f"{self.generation.title}'s /proc/vmallocinfo walks vmlist only: it does not show "
                f"{len(ram)} vm_map_ram area{'s' * (len(ram) != 1)} (vmap blocks included) and "
                f"{len(lazy)} lazily freed area{'s' * (len(lazy) != 1)} awaiting a purge, "
                f"{pages:,} pages of address space in all.")
        return lines, note

    def _state(self) -> tuple:
        return (tuple(self.tree.area_list), self.block_views(), self.queue_views(), self.vmap_lazy_nr)

    def _check(self) -> list[str]:
        return check(self)


KERNEL_CLASS = RewriteKernel
