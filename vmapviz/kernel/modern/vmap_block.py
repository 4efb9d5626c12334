"""/*** Per cpu kva allocator ***/ in 6.12: vmap blocks for small vm_map_ram().

A block is one VMAP_BLOCK_SIZE area (VMAP_RAM | VMAP_BLOCK) handed out by a bump
pointer: the next region starts at VMAP_BBMAP_BITS - free pages, with no natural
alignment, and freed space is never handed out again.  `used_map` has a bit per page
handed out and not yet freed; vb_free() clears the region's PTEs at once and widens the
dirty range [dirty_min, dirty_max), what a TLB may still hold.  When every page is
dirty the block's area is freed lazily.  A block with nothing in use is retired early
by purge_fragmented_block().  Blocks are found through per-CPU xarrays, the CPU chosen
by a hash of the address (`ModernState.xa_of`); bitmaps are Python ints.
"""

from __future__ import annotations

from ..compiled import mypyc_attr
from ..config import get_order
from ..events import BlockAlloc, BlockDirty, BlockFree, BlockNew, FragmentedPurge
from ..views import BlockView, ModernBlockView, QueueView
from .events import DirtyFlush
from .kva import alloc_vmap_area, flush_tlb_kernel_range, free_vmap_area_noflush, purge_vmap_area_lazy, unlink_busy
from .state import VMAP_BLOCK, VMAP_RAM, ModernState


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class VmapBlock:
    """struct vmap_block; `id` numbers blocks in creation order for the views."""

    __slots__ = ("id", "cpu", "start", "end", "bits", "free", "dirty", "used_map",
                 "dirty_min", "dirty_max", "on_free_list")

    def __init__(self, id: int, cpu: int, start: int, end: int, bits: int, first: int) -> None:
        self.id = id
        self.cpu = cpu              # the CPU whose free list it is on
        self.start = start
        self.end = end
        self.bits = bits
        self.free = bits - first    # new_vmap_block() hands out the first region at once
        self.dirty = 0
        self.used_map = (1 << first) - 1
        self.dirty_min = bits       # an empty dirty range
        self.dirty_max = 0
        self.on_free_list = True

    def view(self, k: ModernState) -> ModernBlockView:
        xa_cpu, idx = k.xa_of(self.start)
        return ModernBlockView(self.id, self.cpu, self.start, self.end, self.free, self.dirty,
                           self.used_map, self.dirty_min, self.dirty_max, self.on_free_list,
                           xa_cpu, idx)

    def generic_view(self) -> BlockView:
        """The 2008 panels' record: alloc_map = every page below the bump pointer,
        dirty_map = those handed out and freed since (flushed or not)."""
        handed = (1 << (self.bits - self.free)) - 1
        return BlockView(self.id, self.cpu, self.start, self.end, self.free, self.dirty,
                         handed, handed & ~self.used_map, self.on_free_list, False)


def queue_view(k: ModernState, cpu: int) -> QueueView:
    """A CPU's vmap_block_queue: its free list (6.12 has no dirty list)."""
    return QueueView(cpu, tuple(vb.id for vb in k.vbq[cpu]), (), 0)


def new_vmap_block(k: ModernState, cpu: int, order: int) -> int | None:
    """new_vmap_block(order): a block-sized, block-aligned area; its first 2^order
    pages are handed out at once; it goes into the xarray its address hashes to and at
    the tail of this CPU's free list.  Returns the address, or None."""
    cfg = k.config
    va = alloc_vmap_area(k, cpu, cfg.vmap_block_size, cfg.vmap_block_size, cfg.VMALLOC_START,
                         cfg.VMALLOC_END, "vmap_block", 0, VMAP_RAM | VMAP_BLOCK)
    if va is None:
        return None
    k.block_ids += 1
    vb = VmapBlock(k.block_ids, cpu, va.start, va.end, cfg.vmap_bbmap_bits, 1 << order)
    xa_cpu, idx = k.xa_of(vb.start)
    k.counts["xa_lock"] += 1
    if idx in k.xa[xa_cpu]:
        # xa_insert() == -EBUSY (a block whose area was freed under it still holds the
        # slot): 6.12 frees the new area at once and returns ERR_PTR(-EBUSY).
        unlink_busy(k, va)
        k.drop_area(va.start)
        k.free.merge_or_add(va.start, va.end)
        k.block_ids -= 1
        return None
    k.xa[xa_cpu][idx] = vb
    k.stats.vbq_lock += 1
    k.vbq[cpu].append(vb)                     # list_add_tail_rcu()
    k.emit(BlockNew, k.op, cpu, vb.id, vb.start, vb.end)
    k.emit(BlockAlloc, k.op, cpu, vb.id, 0, 1 << order, vb.start)
    return vb.start


def free_vmap_block(k: ModernState, cpu: int, vb: VmapBlock) -> None:
    """free_vmap_block(): out of the xarray and its node's busy list; the area is
    freed lazily (its PTEs were cleared page by page already)."""
    xa_cpu, idx = k.xa_of(vb.start)
    k.counts["xa_lock"] += 1
    del k.xa[xa_cpu][idx]
    va = k.va[vb.start]
    unlink_busy(k, va)
    k.emit(BlockFree, k.op, cpu, vb.id, vb.start, vb.end)
    free_vmap_area_noflush(k, cpu, va)


def vb_alloc(k: ModernState, cpu: int, size: int) -> int | None:
    """vb_alloc(): the first block on this CPU's free list with at least 2^order free
    pages (3 pages take 4) gives the region at its bump pointer; a block left with no
    free page leaves the list; none: a new block.  Returns the address, or None."""
    order = get_order(size, k.config.page_size)
    n = 1 << order
    vbq = k.vbq[cpu]
    for vb in vbq:
        if vb.free < n:                       # READ_ONCE(vb->free), no lock
            continue
        k.stats.vb_lock += 1
        off = vb.bits - vb.free
        vb.free -= n
        vb.used_map |= ((1 << n) - 1) << off
        if not vb.free:
            k.stats.vbq_lock += 1
            vbq.remove(vb)
            vb.on_free_list = False
        addr = vb.start + (off << k.page_shift)
        k.emit(BlockAlloc, k.op, cpu, vb.id, off, n, addr)
        return addr
    return new_vmap_block(k, cpu, order)


def vb_free(k: ModernState, cpu: int, addr: int, size: int) -> None:
    """vb_free(): clear the region's used_map bits, clear its PTEs now, widen the
    dirty range and count the pages dirty; all dirty: free the block.

    6.12 checks none of the following (2810-2850).  With no block in the xarray it
    dereferences NULL (an oops); size 0 reaches BUG_ON(addr >= end) in
    __vunmap_range_noflush() (449); pages not in use would be counted dirty twice,
    which the simulator refuses (Bug.own)."""
    vb = k.block_at(addr)
    if vb is None:
        k.bug(cpu, "vb_free", f"unable to handle kernel NULL pointer dereference: no vmap "
              f"block in the xarray for {addr:#x}")
    if not size:
        # get_order(0) is BITS_PER_LONG - PAGE_SHIFT (asm-generic/getorder.h); bitmap_clear()
        # takes its nbits as an unsigned int (include/linux/bitmap.h 484 of 6.12.19): on
        # x86_64 1UL << 52 is 0 there and nothing is cleared; on i386 1 << 20 bits are, 128
        # KiB of kernel memory from the used_map on (lib/bitmap.c 379-397).  Then
        # vunmap_range_noflush(addr, addr).
        first = ("" if k.config.bits == 64 else "vb_free() first zeroed 2^20 bits (128 KiB of kernel "
                 "memory from the block's used_map on: get_order(0) is 20 on i386), then ")
        k.bug(cpu, "__vunmap_range_noflush", f"BUG_ON(addr >= end): vm_unmap_ram({addr:#x}, 0): "
              f"{first}vunmap_range_noflush(addr, addr + 0)")
    shift = k.page_shift
    n = 1 << get_order(size, 1 << shift)
    off = (addr & (k.vmap_block_size - 1)) >> shift
    region = ((1 << n) - 1) << off
    if vb.used_map & region != region:
        k.bug(cpu, "vb_free", f"{addr:#x} (pages {off}-{off + n - 1} of block #{vb.id}) is not "
              "in use: never handed out, or freed already; 6.12's vb_free() has no check and "
              f"would add {n} to vb->dirty again, so the block could be freed while pages of it "
              "are still in use", own=True)
    k.stats.vb_lock += 2                      # bitmap_clear(), then the dirty range
    vb.used_map &= ~region
    k.pgtable.vunmap_page_range(addr, addr + size)
    vb.dirty_min = min(vb.dirty_min, off)
    vb.dirty_max = max(vb.dirty_max, off + n)
    vb.dirty += n
    k.emit(BlockDirty, k.op, cpu, vb.id, off, n, vb.dirty)
    if vb.dirty == vb.bits:
        assert not vb.free, "BUG_ON(vb->free)"
        free_vmap_block(k, cpu, vb)


def purge_fragmented_block(k: ModernState, cpu: int, vb: VmapBlock, purge: list, force: bool) -> bool:
    """purge_fragmented_block(): a block with nothing in use (free + dirty == BITS)
    and not already all dirty is retired: when forced, or when less than a quarter of
    it is still free (VMAP_PURGE_THRESHOLD).  It leaves the free list; its whole range
    counts as dirty."""
    bits = vb.bits
    if vb.free + vb.dirty != bits or vb.dirty == bits:
        return False
    if not (force or vb.free < bits // 4):
        return False
    k.emit(FragmentedPurge, k.op, cpu, vb.id, vb.start, vb.end, vb.free, vb.dirty, force)
    vb.free, vb.dirty = 0, bits
    vb.dirty_min, vb.dirty_max = 0, bits
    k.stats.vbq_lock += 1
    k.vbq[vb.cpu].remove(vb)
    vb.on_free_list = False
    purge.append(vb)
    return True


def purge_fragmented_blocks_allcpus(k: ModernState, cpu: int) -> None:
    """purge_fragmented_blocks_allcpus(): each CPU's free list in turn, forced, then
    free_purged_blocks() for that CPU."""
    for vbq in k.vbq:
        purge: list = []
        for vb in list(vbq):
            if vb.free + vb.dirty == vb.bits and vb.dirty != vb.bits:
                k.stats.vb_lock += 1
                purge_fragmented_block(k, cpu, vb, purge, True)
        for vb in purge:
            free_vmap_block(k, cpu, vb)


def vm_unmap_aliases(k: ModernState, cpu: int) -> None:
    """_vm_unmap_aliases(ULONG_MAX, 0, 0) under vmap_purge_lock: every block of every
    CPU's xarray, in index order: retire it if fragmented (unforced), else add its
    dirty range to the flush and reset the range, so no range is flushed twice.  Then
    the purge; if it purged nothing but a range was taken, one flush of the ranges."""
    cfg = k.config
    page = cfg.page_size
    start, end, flush = cfg.ulong_max, 0, False
    purge: list = []
    k.stats.vm_unmap_aliases_calls += 1
    k.stats.purge_lock += 1
    for xa in k.xa:
        for idx in sorted(xa):
            vb = xa[idx]
            k.stats.vb_lock += 1
            if purge_fragmented_block(k, cpu, vb, purge, False) or not vb.dirty_max:
                continue
            s, e = vb.start + vb.dirty_min * page, vb.start + vb.dirty_max * page
            start, end = min(start, s), max(end, e)
            vb.dirty_min, vb.dirty_max = vb.bits, 0
            flush = True
            k.emit(DirtyFlush, k.op, cpu, vb.id, s, e)
    for vb in purge:
        free_vmap_block(k, cpu, vb)
    if not purge_vmap_area_lazy(k, cpu, start, end, False, "vm_unmap_aliases", flush) and flush:
        flush_tlb_kernel_range(k, cpu, start, end)
