"""The vmap layer of a current kernel: mm/vmalloc.c of Linux 6.12 LTS, as read in
6.12.33.  What changed since 2008, in the order a call meets it:

- free space is an augmented rbtree of free blocks (v5.2): lowest fit, blocks merge
  when space comes back (`free_space`);
- one guard page after a vm_struct area and no gap page; VM_IOREMAP aligns to the
  size rounded up to a power of two (`vmalloc`);
- vmap nodes (v6.9): areas are on the busy and lazy lists of a node; purged areas of
  up to 256 pages wait in per-node pools of their exact size, tried first by the next
  request of that size on a CPU of the node (`kva`);
- a freed area's PTEs are cleared at once; only the TLB flush is lazy, and past
  lazy_max_pages() the purge runs in a kworker (`kva`);
- vmap blocks hand out pages with a bump pointer and keep a dirty range; fragmented
  blocks are retired; vm_unmap_aliases() flushes each dirty range once (`vmap_block`).

The purge worker.  free_vmap_area_noflush() only queues drain_vmap_work; a kworker
runs it later.  Here it runs right after the public call that queued it returns,
before the next call (as if the worker got a CPU at once): its events follow that
call's Return, carry that call's op number, and have cpu = KWORKER (-1).  Between two
calls vmap_lazy_nr is therefore never over lazy_max_pages().
"""

from __future__ import annotations

from ..config import Config
from ..views import BlockView, FreeBlock, ModernBlockView, PoolView, QueueView, VmapArea
from ..vm_struct import VM_MAP, vmallocinfo_line
from . import vmalloc as vm
from .check import check
from ..events import KWORKER
from .kva import alloc_vmap_area, drain_vmap_area_work, free_unmap_vmap_area, purge_vmap_area_lazy
from .state import FLAG_NAMES, VMAP_RAM, ModernState, NodeView
from .vmap_block import queue_view, vb_alloc, vb_free, vm_unmap_aliases

__all__ = ["ModernKernel", "ModernKernel618", "KWORKER", "FreeBlock", "PoolView", "NodeView", "ModernBlockView"]


class ModernKernel(ModernState):
    """6.12's calls: `_<call>(cpu, *args)` -> (result, detail)."""

    __slots__ = ()

    FLAG_NAMES = FLAG_NAMES

    @classmethod
    def ioremap_align(cls, size: int, config: Config) -> int:
        """6.12's VM_IOREMAP rule, of the page-aligned size (vmalloc.ioremap_align)."""
        return vm.ioremap_align(-(-size // config.page_size) * config.page_size, config.page_shift, config.bits)

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config or Config())

    def drain_work(self) -> None:
        """The kworker runs the drain work an op queued, before the next op."""
        drain_vmap_area_work(self)

    # -- the vm_struct API ------------------------------------------------------------

    def _vmalloc(self, cpu: int, size: int):
        return vm.vmalloc_node(self, cpu, size), ""

    def _vmalloc_align(self, cpu: int, size: int, align: int):
        if self.bad_align(cpu, align):
            return None, ""
        return vm.vmalloc_node(self, cpu, size, align), ""

    def _vfree(self, cpu: int, addr: int):
        """vfree(): the PTEs go now, the TLB flush waits for the purge."""
        vm.vfree(self, cpu, addr)
        return None, ""

    def _vunmap(self, cpu: int, addr: int):
        """vunmap(): remove_vm_area() and kfree(vm); the pages stay its caller's."""
        vm.vunmap(self, cpu, addr)
        return None, ""

    def _vmap(self, cpu: int, nr_pages: int):
        return vm.vmap(self, cpu, nr_pages, VM_MAP), ""

    def _get_vm_area(self, cpu: int, size: int, flags: int, start: int, end: int):
        area = vm.get_vm_area_node(self, cpu, size, 1, flags, start, end)
        return (None if area is None else area.addr), ""

    def _find_vm_area(self, cpu: int, addr: int):
        return vm.find_vm_area(self, addr), ""

    def _remove_vm_area(self, cpu: int, addr: int):
        area = vm.remove_vm_area(self, cpu, addr)
        return (None if area is None else area.addr), ""

    # -- vm_map_ram ------------------------------------------------------------------------

    def _vm_map_ram(self, cpu: int, count: int):
        """vm_map_ram(pages, count, node): up to VMAP_MAX_ALLOC pages from this CPU's
        vmap blocks, more from alloc_vmap_area() (no guard page); mapped to `count`
        fresh pages.  The size is (unsigned long)count << PAGE_SHIFT: no truncation."""
        size = count << self.page_shift
        if not count:
            # vb_alloc() (6.12.19 2763-2770, 6.18.2 2821-2828): WARN_ON(size == 0) returns
            # ERR_PTR(-EINVAL), and vm_map_ram() returns NULL on IS_ERR(mem) (2981-2983).
            self.warn(cpu, "vb_alloc", "WARN_ON(size == 0)", "WARN_ON(size == 0)")
            return None, "vmap block"
        if count <= self.vmap_max_alloc:
            addr = vb_alloc(self, cpu, size)
            detail = "vmap block"
        else:
            cfg = self.config
            va = alloc_vmap_area(self, cpu, size, cfg.page_size, cfg.VMALLOC_START, cfg.VMALLOC_END,
                                 "vm_map_ram", 0, VMAP_RAM)
            addr, detail = (None if va is None else va.start), "alloc_vmap_area"
        if addr is None:
            return None, detail
        frames = self.pages.alloc_pages(count)
        failed = self.pgtable.vmap_page_range(addr, addr + size, frames)
        if failed is not None:                  # fewer frames: a NULL page
            self.vmap_failed(cpu, addr, failed)
            self.ram_maps[addr] = frames
            self._vm_unmap_ram(cpu, addr, count)
            return None, detail
        self.ram_maps[addr] = frames
        return addr, detail

    def _vm_unmap_ram(self, cpu: int, addr: int, count: int):
        """vm_unmap_ram(mem, count): PTEs cleared now; the simulator frees the pages it
        lent.  6.12 checks the address (four BUG_ON()s) and nothing else: where it would
        go on corrupting itself, the simulator refuses the call (Bug.own)."""
        cfg = self.config
        if not addr or addr < cfg.VMALLOC_START or addr > cfg.VMALLOC_END or addr & (cfg.page_size - 1):
            # The four BUG_ON()s, in order: the first that holds fires.
            for cond, bad in (("!addr", not addr), ("addr < VMALLOC_START", addr < cfg.VMALLOC_START),
                              ("addr > VMALLOC_END", addr > cfg.VMALLOC_END),
                              ("!PAGE_ALIGNED(addr)", bool(addr & (cfg.page_size - 1)))):
                if bad:
                    self.bug(cpu, "vm_unmap_ram", f"BUG_ON({cond}) for {addr:#x}")
        if count <= self.vmap_max_alloc:
            vb_free(self, cpu, addr, count << self.page_shift)
            detail = "vmap block"
        else:
            va = self.find_busy(addr)
            if va is None:
                self.warn(cpu, "vm_unmap_ram", f"WARN_ON_ONCE(!va): no busy area holds {addr:#x}",
                          "WARN_ON_ONCE(!va)")
                return None, ""
            if va.kind != "vm_map_ram":
                self.bug(cpu, "vm_unmap_ram", f"{addr:#x} lies in a {va.kind} area: 6.12's "
                         "find_unlink_vmap_area() takes any busy area holding the address and "
                         "free_unmap_vmap_area() would free it under its user", own=True)
            vm.find_unlink_vmap_area(self, addr)
            free_unmap_vmap_area(self, cpu, va)
            addr, detail = va.start, "lazily freed"
        self.pages.free_pages(self.ram_maps.pop(addr, ()))
        return None, detail

    def _vm_unmap_aliases(self, cpu: int):
        vm_unmap_aliases(self, cpu)
        return None, ""

    def _purge(self, cpu: int):
        """What drain_vmap_area_work() does, run now on this CPU: under vmap_purge_lock,
        __purge_vmap_area_lazy(ULONG_MAX, 0, false).  (6.12 exports no purge call; this
        is the simulator's way to run the worker's body on demand.)"""
        self.stats.purge_lock += 1
        purge_vmap_area_lazy(self, cpu, self.config.ulong_max, 0, False, "purge")
        return None, ""

    # -- views -------------------------------------------------------------------------------

    @property
    def area_generation(self) -> int:
        return self.area_gen

    def areas(self) -> list[VmapArea]:
        """Busy and lazy areas in address order.  `flags` is 6.12's va->flags: VMAP_RAM
        0x1, VMAP_BLOCK 0x2 (FLAG_NAMES in .state), the node id as (id + 1) << 8."""
        return list(self.va.values())

    def nr_areas(self) -> int:
        return len(self.va)

    def lazy_pages(self) -> int:
        return self.vmap_lazy_nr

    def lazy_areas(self) -> int:
        return sum(len(vn.lazy) for vn in self.nodes)

    def queue_views(self) -> list[QueueView]:
        return [queue_view(self, c) for c in range(self.config.nr_cpus)]

    def block_views(self, cpu: int | None = None) -> list[BlockView]:
        return [vb.generic_view() for vb in self.blocks() if cpu is None or vb.cpu == cpu]

    def block_details(self, cpu: int | None = None) -> list[ModernBlockView]:
        """Every live vmap block as 6.12 keeps it: used_map, bump pointer, dirty range,
        xarray slot."""
        return [vb.view(self) for vb in self.blocks() if cpu is None or vb.cpu == cpu]

    def blocks_per_cpu(self) -> list[int]:
        counts = [0] * self.config.nr_cpus
        for vb in self.blocks():
            counts[vb.cpu] += 1
        return counts

    def free_blocks(self) -> list[FreeBlock]:
        """free_vmap_area_list: the free blocks in address order."""
        return [FreeBlock(s, e) for s, e in self.free.blocks()]

    def largest_free_block(self) -> FreeBlock | None:
        got = self.free.largest()
        return None if got is None else FreeBlock(*got)

    def node_pools(self) -> list[PoolView]:
        """Every non-empty pool of every node, by node then size."""
        return [PoolView(vn.id, idx + 1, tuple(pool)) for vn in self.nodes
                for idx, pool in sorted(vn.pool.items()) if pool]

    def node_views(self) -> list[NodeView]:
        """Each vmap node's busy and lazy areas (the order /proc/vmallocinfo prints:
        node by node, busy areas, then every node's lazy ones) and pool size."""
        return [NodeView(vn.id, tuple(vn.busy), tuple(vn.lazy), vn.pool_len()) for vn in self.nodes]

    def extra_counters(self) -> dict[str, int]:
        """What the shared counters have no name for: acquisitions of
        free_vmap_area_lock, the nodes' busy, lazy and pool locks and the xarray
        locks; pool hits and misses."""
        names = ("free_vmap_area_lock", "busy_lock", "lazy_lock", "pool_lock", "xa_lock",
                 "pool_hits", "pool_misses")
        return {n: self.counts[n] for n in names}

    def vmallocinfo(self) -> tuple[list[str], str]:
        """vmalloc_info_show() of 6.12: node by node, each node's busy areas in address
        order (so the file is not sorted once there are several nodes): a vm_struct's
        line, or `vm_map_ram` for a VMAP_RAM area without one (vmap blocks, large
        vm_map_ram() areas); then show_purge_info(): every node's lazy areas as
        `unpurged vm_area`.  %pK is printed as the real address (what root sees with
        kptr_restrict=1)."""
        width = self.config.bits // 4
        lines = []
        for vn in self.nodes:
            for start in vn.busy:
                vm = self.vms.get(start)
                if vm is not None:
                    lines.append(vmallocinfo_line(vm, self.config.bits, vm.pages_area is not None))
                elif self.va[start].flags & VMAP_RAM:
                    end = self.va[start].end
                    lines.append(f"0x{start:0{width}x}-0x{end:0{width}x} {end - start:7d} vm_map_ram")
        for vn in self.nodes:
            for start in vn.lazy:
                end = self.va[start].end
                lines.append(f"0x{start:0{width}x}-0x{end:0{width}x} {end - start:7d} unpurged vm_area")
        return lines, ""

    def _state(self) -> tuple:
        return (tuple(self.va.values()), tuple(self.free.blocks()), self.node_pools(),
                self.block_details(), self.queue_views(), self.vmap_lazy_nr, self.drain_pending)

    def _check(self) -> list[str]:
        return check(self)


class ModernKernel618(ModernKernel):
    """Linux 6.18 (mm/vmalloc.c of 6.18.2): what differs from 6.12 in what the simulator
    models is decay_va_pool_node(), which now tests `if (!n_decay--) break;` before
    taking an area, so a normal purge takes len >> 2 areas from each pool and keeps
    pools of fewer than four whole (and restores the pool's length to what is left).
    The change is "mm/vmalloc.c: optimize code in decay_va_pool_node() a little bit"
    (Baoquan He, April 2025), a clean-up without a Fixes: or stable tag: 6.12.y keeps
    the wrap."""

    __slots__ = ()

    POOL_DECAY_WRAPS = False


KERNEL_CLASS = ModernKernel
KERNEL_6_18 = ModernKernel618
