"""alloc_vmap_area(), lazy freeing and __purge_vmap_area_lazy(): the global kva
allocator of the rewrite, for both variants.

The lazy-flush idea, in the patch's words: vmap addresses need not be flushed from
the TLBs when they are vunmapped, because the kernel will not use them again until
they are reallocated; so an area is only marked VM_LAZY_FREE, keeps its addresses out
of reach, and one TLB flush later covers many of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import AllocFail, AreaAlloc, AreaLazyFree, Purge, TlbFlush
from .vmap_area import ALIGN, VM_LAZY_FREE, VM_LAZY_FREEING, VmapArea

if TYPE_CHECKING:
    from .kernel import Kernel


def alloc_vmap_area(k: "Kernel", size: int, align: int, vstart: int, vend: int,
                    kind: str, flags: int = 0) -> VmapArea | None:
    """alloc_vmap_area(): first fit in [vstart, vend), purge once and retry, then fail
    with the kernel's warning.  Returns the inserted area, or None for ERR_PTR(-EBUSY).

    posted: the descent picks `first` with `va_start <= addr`, the walk skips exact
    fits (`>=`), and the retry goes on from where the search stopped, so it cannot
    succeed.  merged (v2.6.28): `va_start < addr + size`, `>`, and the retry restarts
    from ALIGN(vstart, align) after a synchronous purge (bug 11903's fixes).
    """
    assert size and not size % k.config.page_size
    posted = k.config.variant == "posted"
    purged = False
    addr = ALIGN(vstart, align)
    while True:
        if not posted:
            addr = ALIGN(vstart, align)
        found = k.tree.search(addr, size, align, vend, exact_fit=not posted,
                              first_contains_addr=posted)
        k.stats.walk_total += found.walk
        k.stats.last_walk = found.walk
        if found.ok:
            break
        addr = found.addr
        if purged:
            k.stats.alloc_failures += 1
            k.stats.warnings += 1
            if posted:
                msg = "vmap allocation failed: use vmalloc=<size> to increase size."
            else:
                msg = f"vmap allocation for size {size} failed: use vmalloc=<size> to increase size."
            k.emit(AllocFail(k.op, k.cpu, size, msg))
            return None
        purge_vmap_area_lazy(k)
        purged = True
    va = VmapArea(found.addr, found.addr + size, flags, kind, k.cpu, k.op)
    if k.tree.insert(va):
        k.overlaps.add(va.va_start)  # the posted descent's bug: see VmapAreaTree.search()
    k.emit(AreaAlloc(k.op, k.cpu, va.va_start, va.va_end, kind, found.walk))
    return va


def free_unmap_vmap_area(k: "Kernel", va: VmapArea) -> None:
    """free_unmap_vmap_area(): mark the area VM_LAZY_FREE and count its pages in
    vmap_lazy_nr; over lazy_max_pages(), purge.  Its PTEs stay until the purge."""
    lazy = va._replace(flags=va.flags | VM_LAZY_FREE)
    k.tree.replace(va, lazy)
    k.lazy[va.va_start] = lazy
    mark_freed(k, va.va_start, va.va_start, va.va_end)
    k.vmap_lazy_nr += (va.va_end - va.va_start) // k.config.page_size
    k.emit(AreaLazyFree(k.op, k.cpu, va.va_start, va.va_end, k.vmap_lazy_nr))
    if k.vmap_lazy_nr > k.config.lazy_max_pages:
        # posted: purge_vmap_area_lazy(); merged: try_purge_vmap_area_lazy().  Both
        # are __purge_vmap_area_lazy(sync=0): a trylock that always succeeds here,
        # since the simulated CPUs never run two calls at once.
        __purge_vmap_area_lazy(k, k.config.ulong_max, 0, sync=False, force_flush=False)


def mark_freed(k: "Kernel", owner: int, start: int, end: int) -> None:
    """The area starting at `owner` freed [start, end): its mapped pages become dead
    (stale aliases until a purge).  Posted only: while areas overlap, a page another
    area still uses stays live, until the purge of the freed area clears its PTE
    anyway (the overlap bug's second act)."""
    if not k.tree.overlaps:
        k.pgtable.mark_dead(start, end)
        return
    page = k.config.page_size
    for addr in range(start, end, page):
        if not any(o.va_start != owner and _in_use(k, o, addr)
                   for o in k.tree.overlapping(addr, addr + page)):
            k.pgtable.mark_dead(addr, addr + page)


def _in_use(k: "Kernel", va: VmapArea, addr: int) -> bool:
    """Does the busy area `va` still map the page at addr: a page of its own (for a
    vmap block, one handed out and not freed)?"""
    if va.lazy:
        return False
    page = k.config.page_size
    if va.kind == "vmap_block":
        from .vmap_block import addr_to_vb_idx  # the block layer is built on this one
        vb = k.vmap_block_tree[addr_to_vb_idx(k, addr)]
        bit = 1 << ((addr - vb.va_start) // page)
        return bool(vb.alloc_map & bit and not vb.dirty_map & bit)
    vm = k.vmlist.get(va.va_start)
    frames = vm.pages if vm is not None else k.ram_maps.get(va.va_start, ())
    i = (addr - va.va_start) // page
    return i < len(frames) and k.pgtable.ptes.get(addr // page) == frames[i]


def purge_vmap_area_lazy(k: "Kernel") -> None:
    """purge_vmap_area_lazy(): purge all lazily freed areas (merged: sync=1; posted:
    sync=0, which only differs when another purge holds the lock)."""
    __purge_vmap_area_lazy(k, k.config.ulong_max, 0,
                           sync=k.config.variant == "merged", force_flush=False)


def __purge_vmap_area_lazy(k: "Kernel", start: int, end: int, sync: bool,
                           force_flush: bool) -> tuple[int, int]:
    """__purge_vmap_area_lazy(&start, &end, sync, force_flush).

    Its four modes: sync=0 gives up when another purge runs (never here); sync=1
    waits; force_flush=1 flushes [start, end) even when no lazy area was found (what
    vm_unmap_aliases() needs after unmapping dirty block runs); otherwise the flush
    happens only when areas were found.  For each VM_LAZY_FREE area in address order:
    widen [start, end), clear its PTEs, mark it VM_LAZY_FREEING; then one
    flush_tlb_kernel_range() for the whole range; then the areas leave the tree.
    Returns the widened (start, end).
    """
    valist = [k.lazy[s] for s in sorted(k.lazy)]
    nr = 0
    for va in valist:
        start = min(start, va.va_start)
        end = max(end, va.va_end)
        nr += (va.va_end - va.va_start) // k.config.page_size
        k.pgtable.vunmap_page_range(va.va_start, va.va_end)
        freeing = va._replace(flags=(va.flags | VM_LAZY_FREEING) & ~VM_LAZY_FREE)
        k.tree.replace(va, freeing)
    k.lazy.clear()
    if nr:
        assert nr <= k.vmap_lazy_nr, "BUG_ON(nr > atomic_read(&vmap_lazy_nr))"
        k.vmap_lazy_nr -= nr
    if nr or force_flush:
        k.stats.purges += 1
        k.emit(Purge(k.op, k.cpu, start if end else 0, end, len(valist), nr, sync, force_flush))
        flush_tlb_kernel_range(k, start, end)
    if nr:
        for va in valist:
            k.tree.erase(k.tree.by_start[va.va_start])
    return start, end


def flush_tlb_kernel_range(k: "Kernel", start: int, end: int) -> None:
    """flush_tlb_kernel_range(): on x86 a broadcast: one IPI to every other online CPU."""
    dropped = k.pgtable.flush_tlb_kernel_range(start, end) if end > start else 0
    ipis = k.config.nr_cpus - 1
    k.stats.tlb_flushes += 1
    k.stats.ipis += ipis
    k.emit(TlbFlush(k.op, k.cpu, start, end, ipis, dropped))
