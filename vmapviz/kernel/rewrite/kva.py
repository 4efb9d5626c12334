"""/*** Global kva allocator ***/: alloc_vmap_area(), lazy freeing and
__purge_vmap_area_lazy(), for both versions of the rewrite.

The lazy-flush idea, in the patch's words: vmap addresses need not be flushed from
the TLBs when they are vunmapped, because the kernel will not use them again until
they are reallocated; so an area is only marked VM_LAZY_FREE, keeps its addresses out
of reach, and one TLB flush later covers many of them.
"""

from __future__ import annotations

from operator import itemgetter

from ..events import AllocFail, AreaAlloc, AreaLazyFree, Purge
from ..vmap_area import VM_LAZY_FREE, VM_LAZY_FREEING, VmapArea
from .state import RewriteState

FAIL_MESSAGE = "vmap allocation failed: use vmalloc=<size> to increase size."
START_END = itemgetter(0, 1)            # an area's (va_start, va_end)


def alloc_vmap_area(k: RewriteState, cpu: int, size: int, align: int, vstart: int, vend: int,
                    kind: str, guard: int = 0, flags: int = 0, maps: bool = False,
                    checked: bool = False) -> VmapArea | None:
    """alloc_vmap_area(): first fit in [vstart, vend), purge once and retry, then fail
    with the kernel's warning.  Returns the inserted area, or None for ERR_PTR(-EBUSY).
    Each pass takes vmap_area_lock.  See Policy for where posted and merged differ.

    The address arithmetic is the C's, in unsigned long: without v2.6.29's overflow
    check (`checked`, for the simulator's vmalloc_align() extension) a request near the
    top can wrap (see wrapped()).  `maps`: the caller maps the area less its `guard`."""
    assert size and not size % k.page_size
    policy, tree, stats = k.policy, k.tree, k.stats
    purged = False
    addr = first = (vstart + align - 1) & -align      # ALIGN(vstart, align), inline
    while True:
        stats.vmap_area_lock += 1
        found = tree.search(addr, size, align, vend, policy.exact_fit, policy.first_contains_addr)
        addr, ok, walk, _ = found
        if not ok and not checked and addr <= tree.mask < addr + size:
            addr, ok, walk, _ = tree.walk_on_wrapped(found, size, align, vend, policy.exact_fit)
        stats.walk_total += walk
        stats.last_walk = walk
        if ok:
            break
        if purged:
            stats.alloc_failures += 1
            stats.warnings += 1
            k.emit(AllocFail, k.op, cpu, size, FAIL_MESSAGE, policy.retry_restarts)
            return None
        purge_vmap_area_lazy(k, cpu)
        purged = True
        if policy.retry_restarts:
            addr = first
    if addr + size > k.ulong_max:
        wrapped(k, cpu, addr, size, guard if maps else None)
    # VmapArea(...) without NamedTuple's Python-level __new__ (the same record)
    va = tuple.__new__(VmapArea, (addr, addr + size, kind, "busy", guard, cpu, k.op, flags))
    if tree.insert(va):
        k.overlaps.add(addr)  # the posted descent's bug: see VmapAreaTree.search()
    k.events.append((AreaAlloc, k.op, cpu, addr, addr + size, kind, walk, "alloc_vmap_area"))
    return va


def wrapped(k: RewriteState, cpu: int, addr: int, size: int, guard: int | None) -> None:
    """The search "found" addr although addr + size wrapped past the top of the space
    (v2.6.28 has no check; v2.6.29 added `if (addr + size - 1 < addr) goto overflow`).
    Report the BUG the C reaches, the state left as it was: __insert_vmap_area()'s
    BUG() when its descent meets an area below addr (nothing can be left or right of an
    area whose end is below its start), else vmap_page_range()'s BUG_ON(addr >= end)
    when the caller maps the area (`guard`: the unmapped tail; None for a caller that
    does not map).  Otherwise the C would insert the wrapped area and carry on, and the
    simulator refuses instead."""
    mask = k.config.ulong_max
    end = (addr + size) & mask
    fix = "v2.6.29's check addr + size - 1 < addr would have failed the allocation"
    if k.tree.insert_bugs(addr, end):
        k.bug(cpu, "__insert_vmap_area", f"BUG(): va_start {addr:#x}, va_end {end:#x}: addr + size "
              f"wrapped past the top, so the new area is neither left nor right of an area "
              f"below it; {fix}")
    if guard is not None and (addr + size - guard) & mask <= addr:
        k.bug(cpu, "vmap_page_range", f"BUG_ON(addr >= end): addr {addr:#x}, end "
              f"{(addr + size - guard) & mask:#x} wrapped past the top (the area was inserted "
              f"first, with its end below its start); {fix}")
    k.bug(cpu, "alloc_vmap_area", f"[{addr:#x}, {end:#x}) wraps past the top of the address "
          "space; v2.6.28 would insert this area with its end below its start and hand it out, "
          f"misplacing every later search; {fix}", own=True)


def free_unmap_vmap_area(k: RewriteState, cpu: int, va: VmapArea, mark: bool = True) -> None:
    """free_unmap_vmap_area(): mark the area VM_LAZY_FREE and count its pages in
    vmap_lazy_nr; over lazy_max_pages(), purge.  Its PTEs stay until the purge.
    `mark`: its pages were freed by their users (not so for a vmap block's area freed
    under it by vm_unmap_ram())."""
    start, end = va.start, va.end
    k.tree.mark(va, "lazy", va.flags | VM_LAZY_FREE)
    k.lazy.add(start)
    if mark:
        if k.tree.overlaps:
            mark_freed(k, start, start, end)
        else:                               # mark_freed()'s usual case, without its call
            k.pgtable.mark_dead(start, end)
    nr = k.vmap_lazy_nr = k.vmap_lazy_nr + ((end - start) >> k.page_shift)
    k.events.append((AreaLazyFree, k.op, cpu, start, end, nr))
    if nr > k.config.lazy_max_pages:
        # posted: purge_vmap_area_lazy(); merged: try_purge_vmap_area_lazy().  Both
        # are __purge_vmap_area_lazy(sync=0): a trylock that always succeeds here,
        # since the simulated CPUs never run two calls at once.
        __purge_vmap_area_lazy(k, cpu, k.config.ulong_max, 0, sync=False, force_flush=False)


def mark_freed(k: RewriteState, owner: int, start: int, end: int) -> None:
    """The area starting at `owner` freed [start, end): its mapped pages become dead
    (stale aliases until a purge).  Posted only: while areas overlap, a page another
    area still uses stays live, until the purge of the freed area clears its PTE
    anyway (the overlap bug's second act)."""
    if not k.tree.overlaps:
        k.pgtable.mark_dead(start, end)
        return
    page = k.config.page_size
    for addr in range(start, end, page):
        if not any(o.start != owner and _in_use(k, o, addr)
                   for o in k.tree.overlapping(addr, addr + page)):
            k.pgtable.mark_dead(addr, addr + page)


def _in_use(k: RewriteState, va: VmapArea, addr: int) -> bool:
    """Does the busy area `va` still map the page at addr: a page of its own (for a
    vmap block, one handed out and not freed)?"""
    if va.lazy:
        return False
    page = k.config.page_size
    if va.kind == "vmap_block":
        vb = k.block_at(addr)
        if vb is None:
            return False
        bit = 1 << ((addr - vb.start) // page)
        return bool(vb.alloc_map & bit and not vb.dirty_map & bit)
    vm = k.vmlist.get(va.start)
    frames = vm.pages if vm is not None else k.ram_maps.get(va.start, ())
    i = (addr - va.start) // page
    return i < len(frames) and k.pgtable.ptes.get(addr // page) == frames[i]


def purge_vmap_area_lazy(k: RewriteState, cpu: int) -> None:
    """purge_vmap_area_lazy(): purge all lazily freed areas (merged: sync=1; posted:
    sync=0, which only differs when another purge holds the lock)."""
    __purge_vmap_area_lazy(k, cpu, k.config.ulong_max, 0, sync=k.policy.sync_purge, force_flush=False)


def __purge_vmap_area_lazy(k: RewriteState, cpu: int, start: int, end: int, sync: bool,
                           force_flush: bool) -> tuple[int, int]:
    """__purge_vmap_area_lazy(&start, &end, sync, force_flush).

    Its four modes: sync=0 gives up when another purge runs (never here); sync=1
    waits; force_flush=1 flushes [start, end) even when no lazy area was found (what
    vm_unmap_aliases() needs after unmapping dirty block runs); otherwise the flush
    happens only when areas were found.  Under purge_lock, for each VM_LAZY_FREE area
    in address order: widen [start, end), clear its PTEs, mark it VM_LAZY_FREEING; then
    one flush_tlb_kernel_range() for the whole range; then the areas leave the tree,
    under vmap_area_lock.  Returns the widened (start, end).
    """
    k.stats.purge_lock += 1
    k.stats.purge_walk_total += len(k.tree)     # list_for_each_entry_rcu(vmap_area_list)
    tree, page = k.tree, k.config.page_size
    valist = [tree.by_start[s] for s in sorted(k.lazy)]
    nr = 0
    for va in valist:
        va_start, va_end = va.start, va.end
        if va_start < start:
            start = va_start
        if va_end > end:
            end = va_end
        nr += (va_end - va_start) // page
    # The loop's vunmap_page_range() of each area and VM_LAZY_FREEING, each in one call.
    k.pgtable.vunmap_page_ranges(map(START_END, valist))
    tree.mark_each(valist, "freeing", VM_LAZY_FREEING, VM_LAZY_FREE)
    k.lazy.clear()
    if nr:
        k.vmap_lazy_nr -= nr        # BUG_ON(nr > vmap_lazy_nr) cannot fire: every lazy
                                    # area's pages were counted when it was freed
    if nr or force_flush:
        k.stats.purges += 1
        k.emit(Purge, k.op, cpu, start if end else 0, end, len(valist), nr, sync, force_flush)
        k.flush_tlb_kernel_range(cpu, start, end)
    if nr:
        k.stats.vmap_area_lock += 1
        k.tree.erase(valist)
        for va in valist:
            k.freed_vms.pop(va.start, None)
    return start, end
