"""/*** Per cpu kva allocator ***/: vmap blocks for small vm_map_ram() mappings.

Each CPU has a vmap_block_queue with a free list and a dirty list.  A block is one
VMAP_BLOCK_SIZE area of the global allocator with two bitmaps of VMAP_BBMAP_BITS bits:
`alloc_map` (handed out; never cleared, so freed space is not reused) and `dirty_map`
(freed but maybe still in some TLB).  When every bit is dirty the whole block's area
is freed lazily.  Bitmaps are Python ints, bit N for page N of the block.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..compiled import mypyc_attr
from ..events import AliasUnmap, BlockAlloc, BlockDirty, BlockFree, BlockNew
from ..views import BlockView, QueueView
from .kva import __purge_vmap_area_lazy, alloc_vmap_area, free_unmap_vmap_area, mark_freed
from .state import RewriteState, addr_to_vb_idx


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class VmapBlock:
    """struct vmap_block; `id` numbers blocks in creation order for the views."""

    __slots__ = ("id", "cpu", "start", "end", "free", "dirty", "alloc_map",
                 "dirty_map", "on_free_list", "on_dirty_list")

    def __init__(self, id: int, cpu: int, start: int, end: int, bits: int) -> None:
        self.id = id
        self.cpu = cpu          # vb->vbq: the queue of the CPU that made it
        self.start = start
        self.end = end
        self.free = bits
        self.dirty = 0
        self.alloc_map = 0
        self.dirty_map = 0
        self.on_free_list = False
        self.on_dirty_list = False

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its fields in one tuple, for checkpoints, made again by one call
        (_vmap_block): half the time of pickle's default, a dict of the slots by name.
        The end goes as the size (a small int: an address costs a conversion to
        bytes); dirty_map, most often alloc_map again (every page handed out since
        freed), as None then, since a bitmap of VMAP_BBMAP_BITS bits costs one too."""
        dirty_map = self.dirty_map
        return _vmap_block, (self.id, self.cpu, self.start, self.end - self.start, self.free, self.dirty, self.alloc_map,
                             None if dirty_map == self.alloc_map else dirty_map,
                             self.on_free_list, self.on_dirty_list)

    def view(self) -> BlockView:
        return BlockView(self.id, self.cpu, self.start, self.end, self.free, self.dirty,
                         self.alloc_map, self.dirty_map, self.on_free_list, self.on_dirty_list)


def _vmap_block(id: int, cpu: int, start: int, size: int, free: int, dirty: int, alloc_map: int,
                dirty_map: int | None, on_free_list: bool, on_dirty_list: bool) -> VmapBlock:
    """The block of these fields (VmapBlock.__reduce__; dirty_map None: alloc_map)."""
    vb = VmapBlock(id, cpu, start, start + size, free)
    vb.dirty, vb.alloc_map, vb.on_free_list, vb.on_dirty_list = dirty, alloc_map, on_free_list, on_dirty_list
    vb.dirty_map = alloc_map if dirty_map is None else dirty_map
    return vb


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class VmapBlockQueue:
    """struct vmap_block_queue: list heads in list order (index 0 is the head)."""

    __slots__ = ("cpu", "free", "dirty", "nr_dirty")

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu
        self.free: list[VmapBlock] = []
        self.dirty: list[VmapBlock] = []
        self.nr_dirty = 0  # declared by the patch, never updated by it

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its fields, for checkpoints: a quarter of pickle's default (its
        slots by name, rebuilt through copyreg)."""
        return _vmap_block_queue, (self.cpu, self.free, self.dirty, self.nr_dirty)

    def view(self) -> QueueView:
        return QueueView(self.cpu, tuple(b.id for b in self.free),
                         tuple(b.id for b in self.dirty), self.nr_dirty)


def _vmap_block_queue(cpu: int, free: list[VmapBlock], dirty: list[VmapBlock], nr_dirty: int) -> VmapBlockQueue:
    """The queue of these fields (VmapBlockQueue.__reduce__)."""
    vbq = VmapBlockQueue(cpu)
    vbq.free, vbq.dirty, vbq.nr_dirty = free, dirty, nr_dirty
    return vbq


@lru_cache(maxsize=None)
def _aligned_starts(bits: int, order: int) -> int:
    """A mask with bit p set for every p that is a multiple of 1 << order."""
    return sum(1 << p for p in range(0, bits, 1 << order))


def bitmap_find_free_region(bitmap: int, bits: int, order: int) -> int:
    """bitmap_find_free_region()'s search: the lowest position, a multiple of
    1 << order, of 1 << order clear bits; -1 if none."""
    nbits = 1 << order
    # The first aligned position at or above the lowest clear bit is the answer when
    # its region is clear (no lower aligned position can be), as it is while a block
    # fills from the bottom.
    lowest = (bitmap ^ (bitmap + 1)).bit_length() - 1
    pos = (lowest + nbits - 1) & -nbits
    if pos + nbits <= bits and not (bitmap >> pos) & ((1 << nbits) - 1):
        return pos
    run = ~bitmap & ((1 << bits) - 1)   # bit p set: p is clear
    width = 1
    while width < nbits:                # bit p set: p .. p + 2*width - 1 clear
        run &= run >> width
        width <<= 1
    run &= _aligned_starts(bits, order)
    return (run & -run).bit_length() - 1 if run else -1


def dirty_runs(bitmap: int):
    """(first, last + 1) of every run of set bits, lowest first: the find_first_bit /
    find_next_zero_bit loop of vm_unmap_aliases()."""
    pos = 0
    while bitmap:
        skip = (bitmap & -bitmap).bit_length() - 1
        bitmap >>= skip
        pos += skip
        length = (~bitmap & (bitmap + 1)).bit_length() - 1
        yield pos, pos + length
        bitmap >>= length
        pos += length


def new_vmap_block(k: RewriteState, cpu: int) -> VmapBlock | None:
    """new_vmap_block(): a block-sized, block-aligned area, put in the radix tree
    (under vmap_block_tree_lock) and at the head of this CPU's free list (under its
    vbq->lock)."""
    cfg = k.config
    va = alloc_vmap_area(k, cpu, cfg.vmap_block_size, cfg.vmap_block_size,
                         cfg.VMALLOC_START, cfg.VMALLOC_END, "vmap_block")
    if va is None:
        return None
    k.block_ids += 1
    vb = VmapBlock(k.block_ids, cpu, va.start, va.end, cfg.vmap_bbmap_bits)
    idx = addr_to_vb_idx(cfg, va.start)
    if idx in k.vmap_block_tree:
        # A block whose area vm_unmap_ram() freed under it still holds the slot
        # (Machine.corrupt() said so): radix_tree_insert() returns -EEXIST.
        k.bug(cpu, "new_vmap_block", f"BUG_ON(err): radix_tree_insert() of the block at "
              f"{va.start:#x} returned -EEXIST: block #{k.vmap_block_tree[idx].id} still holds "
              "that slot (the new area stays allocated, leaked)")
    k.stats.vmap_block_tree_lock += 1
    k.vmap_block_tree[idx] = vb
    k.stats.vbq_lock += 1
    k.vbq[cpu].free.insert(0, vb)  # list_add(): the head
    vb.on_free_list = True
    k.emit(BlockNew, k.op, cpu, vb.id, vb.start, vb.end)
    return vb


def free_vmap_block(k: RewriteState, cpu: int, vb: VmapBlock) -> None:
    """free_vmap_block(): off both lists and the radix tree; its area is freed lazily."""
    vbq = k.vbq[vb.cpu]
    k.stats.vbq_lock += 1
    if vb.on_free_list:
        vbq.free.remove(vb)
        vb.on_free_list = False
    if vb.on_dirty_list:
        vbq.dirty.remove(vb)
        vb.on_dirty_list = False
    k.stats.vmap_block_tree_lock += 1
    del k.vmap_block_tree[addr_to_vb_idx(k.config, vb.start)]
    k.emit(BlockFree, k.op, cpu, vb.id, vb.start, vb.end)
    if vb.start in k.stolen:
        # vm_unmap_ram() freed vb->va under the block: free it again (no check).
        k.corrupt(cpu, "free_vmap_block", f"block #{vb.id}'s vmap_area {vb.start:#x} was already "
                  f"freed by vm_unmap_ram() at op {k.stolen.pop(vb.start)}; free_unmap_vmap_area_"
                  f"noflush(vb->va) frees it again and adds {k.config.vmap_bbmap_bits} pages to "
                  "vmap_lazy_nr that no lazy area holds",
                  "vmap_lazy_nr stays that much too high, so purges come early for good; if the "
                  "area was purged already, the kernel wrote into a freed vmap_area (a "
                  "use-after-free the simulator does not model)")
        k.vmap_lazy_nr += k.config.vmap_bbmap_bits
        return
    free_unmap_vmap_area(k, cpu, k.tree.by_start[vb.start])


def vb_alloc(k: RewriteState, cpu: int, order: int) -> tuple[int, int, int] | None:
    """vb_alloc(): the first block on this CPU's free list with a free, naturally
    aligned region of 2^order pages (order = get_order(size): 3 pages take 4), each
    block looked at under its vb->lock; a block whose `free` reaches 0 leaves the free
    list (under vbq->lock); none fits: a new block.  Other CPUs' blocks are never used.
    Returns (addr, the block's id, the region's first bit), or None when no block
    could be made."""
    nbits = 1 << order
    bits = k.config.vmap_bbmap_bits
    vbq = k.vbq[cpu]
    stats = k.stats
    while True:
        for vb in vbq.free:
            stats.vb_lock += 1
            alloc_map, free = vb.alloc_map, vb.free
            used = bits - free
            if alloc_map.bit_length() == used:
                # The usual case: the `used` pages handed out are the block's first
                # ones, so the lowest free aligned region is the first one above them.
                i = (used + nbits - 1) & -nbits
                if i + nbits > bits:
                    continue
            else:
                i = bitmap_find_free_region(alloc_map, bits, order)
                if i < 0:
                    continue
            vb.alloc_map = alloc_map | ((1 << nbits) - 1) << i
            vb.free = free = free - nbits
            if not free:
                stats.vbq_lock += 1
                vbq.free.remove(vb)  # list_del_init()
                vb.on_free_list = False
            addr = vb.start + (i << k.page_shift)
            k.events.append((BlockAlloc, k.op, cpu, vb.id, i, nbits, addr))
            return addr, vb.id, i
        if new_vmap_block(k, cpu) is None:
            return None


def vb_free(k: RewriteState, cpu: int, addr: int, size: int, order: int, undo: bool = False) -> tuple[int, int]:
    """vb_free(): under vb->lock, mark the region dirty, count it, put the block on its
    queue's dirty list the first time; all bits dirty: free the block.  PTEs are left
    in place.

    The kernel checks only that a block exists there.  A double unmap (every page of
    the region dirty already) on a consistent state the simulator refuses (Bug.own):
    the kernel ignores bitmap_allocate_region()'s -EBUSY and counts the pages twice.  Any other misuse (a size of 0, an address inside
    a mapping, a region covering pages never handed out or another live mapping) it
    follows as the C does, with a Corrupt event; so it does a double unmap once the
    kernel is corrupt (the victim's own correct unmap).  `undo`: vm_map_ram() giving
    back the region it just took, whose mapping failed (always honest).  `order` is
    get_order(size), which vm_unmap_ram() has.  Returns (the block's id, the region's
    first bit)."""
    nbits = 1 << order
    # radix_tree_lookup(&vmap_block_tree, addr_to_vb_idx(addr)): block_at() without
    # its call, on the hot path.
    vb = k.vmap_block_tree.get((addr >> k.vb_shift) - k.vb_base)
    if vb is None:
        k.bug(cpu, "vb_free", f"BUG_ON(!vb): no vmap block at {addr:#x}")
    shift = k.page_shift
    pos = (addr - vb.start) >> shift        # addr & (VMAP_BLOCK_SIZE - 1): blocks are aligned
    bits = k.config.vmap_bbmap_bits
    fits = pos + nbits <= bits
    if fits:
        region = ((1 << nbits) - 1) << pos
    else:   # past the block's end (size 0 too: 1 << 52 pages): the bitmap's bits only
        region = ((1 << min(nbits, bits)) - 1) << pos & ((1 << bits) - 1)
    dirty_map = vb.dirty_map
    mine = k.ram_maps.get(addr)
    # Honest: vm_map_ram()'s own mapping at addr, of the order it took, whose region
    # is handed out and not dirty.  While the kernel is sound (no corruption, no posted
    # overlap) such a mapping's region always is (vb_alloc() gave it, only its own
    # unmap dirties it: check() verifies it), so the bitmaps are read only otherwise.
    honest = undo or (size and mine                 # mine: vm_map_ram() lent >= 1 page
                      and (len(mine) - 1).bit_length() == order     # the order it took
                      and (not k.corruption and not k.overlaps
                           or vb.alloc_map & region == region and not dirty_map & region))
    if not honest and size and dirty_map & region == region and not k.corruption:
        k.bug(cpu, "vb_free", f"double vm_unmap_ram of {addr:#x}: bits {pos}-{pos + nbits - 1} of "
              f"block #{vb.id} are already dirty; the kernel ignores bitmap_allocate_region()'s "
              f"-EBUSY and adds {nbits} to vb->dirty again, so the block is freed before all its "
              "pages are", own=True)
    stats = k.stats
    stats.vb_lock += 1
    if honest:
        vb.dirty_map = dirty_map | region
        if fits and not k.tree.overlaps:    # mark_freed()'s usual case: the region's pages
            k.pgtable.mark_dead_bits(vb.start >> shift, region)
        else:                               # posted's overlap, or past the block
            mark_freed(k, vb.start, addr, addr + (nbits << shift))
    else:
        _corrupting_free(k, cpu, vb, addr, size, pos, nbits, region)
    dirty = vb.dirty
    if not dirty:
        stats.vbq_lock += 1
        k.vbq[vb.cpu].dirty.insert(0, vb)  # list_add()
        vb.on_dirty_list = True
    vb.dirty = dirty = dirty + nbits
    if size:                                # size 0 set no bit the simulator models
        k.events.append((BlockDirty, k.op, cpu, vb.id, pos, nbits, dirty))
    if dirty == bits:
        if vb.free or vb.on_free_list:
            k.bug(cpu, "vb_free", f"BUG_ON(vb->free || !list_empty(&vb->free_list)): block #{vb.id} "
                  f"counts {bits} dirty pages but still has {vb.free} free")
        free_vmap_block(k, cpu, vb)
    return vb.id, pos


def _corrupting_free(k: RewriteState, cpu: int, vb: VmapBlock, addr: int, size: int, pos: int,
                     nbits: int, region: int) -> None:
    """vb_free() of a region that is not one honest mapping: what the C does to the
    dirty map, said in a Corrupt event.  The pages of the mapping starting at addr (if
    any) are freed by their user; other mappings' pages keep their PTEs, in use."""
    cfg = k.config
    bits = cfg.vmap_bbmap_bits
    tag = f"block #{vb.id}"
    if not size:
        k.corrupt(cpu, "vb_free", f"vm_unmap_ram({addr:#x}, 0): get_order(0) is {nbits.bit_length() - 1}, "
                  f"so vb->dirty of {tag} grows by 1 << {nbits.bit_length() - 1} to {vb.dirty + nbits:,}, "
                  f"past VMAP_BBMAP_BITS ({bits}): the test vb->dirty == VMAP_BBMAP_BITS can never "
                  "hold again",
                  f"{tag} is never freed: its {bits} pages of address space stay taken for good. "
                  f"bitmap_allocate_region() computes 1 << {nbits.bit_length() - 1} in an int "
                  "(undefined) and may write far past dirty_map: heap corruption the simulator "
                  "does not model (it leaves dirty_map as it was)")
        return
    page = cfg.page_size
    end = addr + nbits * page
    others = sorted(s for s, frames in k.ram_maps.items()
                    if s != addr and s < end and s + len(frames) * page > addr and vb.start <= s < vb.end)
    never = region & ~vb.alloc_map
    twice = region & vb.dirty_map
    what = []
    if k.ram_maps.get(addr) is None:
        what.append(f"{addr:#x} is not the start of a vm_map_ram() mapping")
    if others:
        what.append("the region covers " + ", ".join(f"{s:#x}" for s in others)
                    + ", still in use: their pages are now counted dirty")
    if never:
        what.append(f"{never.bit_count()} of its pages were never handed out, yet are counted dirty")
    if twice:
        what.append(f"{twice.bit_count()} of its pages were dirty already: vb->dirty counts them twice")
    k.corrupt(cpu, "vb_free", f"vm_unmap_ram({addr:#x}) marked bits {pos}-{pos + nbits - 1} of {tag} "
              f"dirty: " + "; ".join(what),
              "their PTEs stay until vm_unmap_aliases() or the block's purge clears them, and then "
              "the mappings still in use fault; the owners' own vm_unmap_ram() count their pages "
              f"again, so {tag} reaches VMAP_BBMAP_BITS dirty early (BUG_ON(vb->free) if it still "
              "has free pages, else its area is freed under its users) or passes it and is never "
              "freed")
    vb.dirty_map |= region
    mine = k.ram_maps.get(addr)
    if mine is not None:
        mark_freed(k, vb.start, addr, addr + len(mine) * page)


def vm_unmap_aliases(k: RewriteState, cpu: int) -> None:
    """vm_unmap_aliases(): for every CPU, for every block on its free list (under its
    vb->lock), clear the PTEs of each run of dirty pages; then one synchronous purge,
    forced to flush if a run was unmapped.  The dirty bits stay set, so a later call
    unmaps and flushes the same runs again; blocks that left the free list (full ones)
    are skipped, so their dirty aliases survive: the stale-TLB bug a later kernel
    fixed."""
    cfg = k.config
    start, end, flush = cfg.ulong_max, 0, False
    for vbq in k.vbq:
        for vb in vbq.free:
            k.stats.vb_lock += 1
            for i, j in dirty_runs(vb.dirty_map):
                s = vb.start + i * cfg.page_size
                e = vb.start + j * cfg.page_size
                k.pgtable.vunmap_page_range(s, e)
                k.emit(AliasUnmap, k.op, cpu, vb.id, s, e)
                flush = True
                start, end = min(start, s), max(end, e)
    k.stats.vm_unmap_aliases_calls += 1
    __purge_vmap_area_lazy(k, cpu, start, end, sync=True, force_flush=flush)
