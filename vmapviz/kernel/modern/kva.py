"""/*** Global kva allocator ***/ in 6.12: alloc_vmap_area() (a node's pool first, then
the free tree, then reclaim and one retry), freeing with the PTEs cleared at once, and
__purge_vmap_area_lazy(), which a kworker runs when vmap_lazy_nr passes
lazy_max_pages().

Each function's docstring names the kernel function it mirrors.
"""

from __future__ import annotations

from collections import deque

from ..events import KWORKER, AllocFail
from ..vmap_area import VmapArea
from .events import Purge, VaAlloc, VaLazyFree
from .free_space import ALIGN
from .state import MAX_VA_SIZE_PAGES, ModernState, VmapNode



def alloc_vmap_area(k: ModernState, cpu: int, size: int, align: int, vstart: int, vend: int,
                    kind: str, guard: int = 0, va_flags: int = 0) -> VmapArea | None:
    """alloc_vmap_area(): node_alloc() from this CPU's node's pool, else the lowest
    fit in the free tree; on failure reclaim_and_purge_vmap_areas() and one retry (the
    pool is not tried again), then the kernel's message.  The area goes into the busy
    set of the node its address belongs to."""
    cfg = k.config
    assert size and not size % cfg.page_size and not align & (align - 1)
    addr, vn_id, node, pooled = node_alloc(k, cpu, size, align, vstart, vend)
    purged = False
    steps = 0
    if pooled:
        k.stats.last_walk = 0
    while addr is None:
        k.counts["free_vmap_area_lock"] += 1
        addr, steps = alloc_from_tree(k, size, align, vstart, vend)
        k.stats.walk_total += steps
        k.stats.last_walk = steps
        if addr is not None:
            break
        if purged:
            k.stats.alloc_failures += 1
            k.stats.warnings += 1
            k.emit(AllocFail, k.op, cpu, size, f"vmalloc_node_range for size {size} failed: "
                             f"Address range restricted to {vstart:#x} - {vend:#x}", True)
            return None
        reclaim_and_purge_vmap_areas(k, cpu)
        purged = True
    va = VmapArea(addr, addr + size, kind, "busy", guard, cpu, k.op, va_flags | vn_id)
    k.set_area(va)
    k.counts["busy_lock"] += 1
    k.addr_to_node(addr).busy.add(addr)
    k.events.append((VaAlloc, k.op, cpu, va.start, va.end, kind, steps, node, pooled, "alloc_vmap_area", align))
    return va


def node_alloc(k: ModernState, cpu: int, size: int, align: int, vstart: int,
               vend: int) -> tuple[int | None, int, int, bool]:
    """node_alloc() and node_pool_del_va(): only for the whole vmalloc range with more
    than one node.  The head of this CPU's node's pool of `size` is taken if aligned,
    else rotated to the tail.  Hit or miss, the area is tagged with the node (vn_id),
    so that it comes back to this pool after its purge.  Returns (address or None,
    the encoded vn_id, the node, hit)."""
    cfg = k.config
    if vstart != cfg.VMALLOC_START or vend != cfg.VMALLOC_END or k.nr_nodes == 1:
        return None, 0, -1, False
    vn = k.nodes[cpu % k.nr_nodes]
    vn_id = (vn.id + 1) << 8
    pool = vn.pool.get((size - 1) // cfg.page_size)
    if pool:
        k.counts["pool_lock"] += 1
        head = pool[0]
        if not head & (align - 1):
            pool.popleft()
            k.counts["pool_hits"] += 1
            return head, vn_id, vn.id, True
        pool.rotate(-1)                       # list_move_tail()
    k.counts["pool_misses"] += 1
    return None, vn_id, vn.id, False


def alloc_from_tree(k: ModernState, size: int, align: int, vstart: int, vend: int) -> tuple[int | None, int]:
    """__alloc_vmap_area(): find_vmap_lowest_match(), searching for size + align - 1
    when align > PAGE_SIZE (unless [vstart, vend) is exactly `size`), then va_alloc():
    the aligned address must also end by vend.  Returns (address or None, steps)."""
    adjust = align > k.config.page_size and vend - vstart != size
    start, steps = k.free.lowest_match(size, align, vstart, adjust)
    if start is None:
        return None, steps
    nva = ALIGN(max(start, vstart), align)
    if nva + size > vend:
        return None, steps
    k.free.clip(start, nva, size)
    return nva, steps


def free_unmap_vmap_area(k: ModernState, cpu: int, va: VmapArea) -> None:
    """free_unmap_vmap_area(): the area has left its busy set; clear its PTEs now
    (vunmap_range_noflush()); only the TLB flush waits."""
    k.pgtable.vunmap_page_range(va.start, va.end)
    free_vmap_area_noflush(k, cpu, va)


def free_vmap_area_noflush(k: ModernState, cpu: int, va: VmapArea) -> None:
    """free_vmap_area_noflush(): count the pages in vmap_lazy_nr, put the area on its
    node's lazy list; past lazy_max_pages(), schedule_work(&drain_vmap_work) (a no-op
    while the work is already queued): the freeing thread does not purge."""
    k.vmap_lazy_nr += (va.end - va.start) // k.config.page_size
    vn = k.lazy_node(va)
    k.counts["lazy_lock"] += 1
    vn.lazy.add(va.start)
    k.set_area(va._replace(state="lazy"))
    queued = k.vmap_lazy_nr > k.config.lazy_max_pages and not k.drain_pending
    k.drain_pending |= queued
    k.events.append((VaLazyFree, k.op, cpu, va.start, va.end, k.vmap_lazy_nr, vn.id, queued))


def unlink_busy(k: ModernState, va: VmapArea) -> None:
    """find_unlink_vmap_area() / free_vmap_block(): take the area off its node's busy
    list."""
    k.counts["busy_lock"] += 1
    k.addr_to_node(va.start).busy.remove(va.start)


def drain_vmap_area_work(k: ModernState) -> None:
    """drain_vmap_area_work(), run by a kworker: mutex_lock(&vmap_purge_lock) and
    __purge_vmap_area_lazy(ULONG_MAX, 0, false)."""
    k.drain_pending = False
    k.stats.purge_lock += 1
    purge_vmap_area_lazy(k, KWORKER, k.config.ulong_max, 0, False, "kworker: drain_vmap_area_work")


def reclaim_and_purge_vmap_areas(k: ModernState, cpu: int) -> None:
    """reclaim_and_purge_vmap_areas(): after a failed search, under vmap_purge_lock,
    retire every fragmented block (forced) and purge with the pools drained in full."""
    from .vmap_block import purge_fragmented_blocks_allcpus
    k.stats.purge_lock += 1
    purge_fragmented_blocks_allcpus(k, cpu)
    purge_vmap_area_lazy(k, cpu, k.config.ulong_max, 0, True, "reclaim_and_purge_vmap_areas")


def purge_vmap_area_lazy(k: ModernState, cpu: int, start: int, end: int, full_pool_decay: bool,
                         by: str, force_flush: bool = False) -> bool:
    """__purge_vmap_area_lazy(start, end, full_pool_decay), vmap_purge_lock held: each
    node's pools decay (a quarter of each pool, all of a pool shorter than four, every
    pool when full_pool_decay), its lazy list is detached and widens [start, end); if
    any node had lazy areas, one flush_tlb_kernel_range(start, end), then each node's
    purge (purge_vmap_node()).  Returns whether any area was purged."""
    cfg = k.config
    page = cfg.page_size
    decayed = 0
    kept: list[tuple[int, int, int]] = []
    lists: list[tuple[VmapNode, list[VmapArea]]] = []
    for vn in k.nodes:
        vn.skip_populate = full_pool_decay
        decayed += decay_va_pool_node(k, vn, full_pool_decay, kept)
        if not vn.lazy:
            continue
        k.counts["lazy_lock"] += 1
        purge = [k.va[s] for s in vn.lazy]
        vn.lazy.clear()
        start, end = min(start, purge[0].start), max(end, purge[-1].end)
        lists.append((vn, purge))
    nr_areas = sum(len(p) for _, p in lists)
    nr_pages = sum(va.end - va.start for _, p in lists for va in p) // page
    pooled = sum(1 for vn, p in lists for va in p if _to_pool(k, vn, va))
    # One extra worker per full lazy_max_pages() set, minus one: counted, not run apart.
    helpers = min(max(k.vmap_lazy_nr // cfg.lazy_max_pages, 1), len(lists)) - 1 if lists else 0
    k.emit(Purge, k.op, cpu, start if lists else 0, end, nr_areas, nr_pages, pooled, decayed,
                 helpers, full_pool_decay, by, force_flush, tuple(kept))
    if lists:
        k.stats.purges += 1
        flush_tlb_kernel_range(k, cpu, start, end)
        for vn, purge in lists:
            purge_vmap_node(k, vn, purge)
        k.vmap_lazy_nr -= nr_pages
    return nr_areas > 0


def _to_pool(k: ModernState, vn: VmapNode, va: VmapArea) -> bool:
    """Does purge_vmap_node() put this area in its node's pool?"""
    pages = (va.end - va.start) // k.config.page_size
    return bool(va.flags >> 8) and not vn.skip_populate and pages <= MAX_VA_SIZE_PAGES


def purge_vmap_node(k: ModernState, vn: VmapNode, purge: list[VmapArea]) -> None:
    """purge_vmap_node(): in address order, a tagged area of at most 256 pages goes to
    the head of its node's pool (node_pool_add_va()), any other back to the free tree,
    merged with its neighbours."""
    page = k.config.page_size
    for va in purge:
        k.drop_area(va.start)
        if _to_pool(k, vn, va):
            k.counts["pool_lock"] += 1
            vn.pool.setdefault((va.end - va.start) // page - 1, deque()).appendleft(va.start)
        else:
            k.counts["free_vmap_area_lock"] += 1
            k.free.merge_or_add(va.start, va.end)


def decay_va_pool_node(k: ModernState, vn: VmapNode, full_decay: bool,
                       kept: list[tuple[int, int, int]]) -> int:
    """decay_va_pool_node(): from each pool's head, n_decay = len >> 2 areas go back to
    the free tree; all of them when full_decay.  As 6.12 writes it, n_decay is
    unsigned and tested after `--n_decay`, so a pool of fewer than four areas (n_decay
    0, which wraps) is emptied too; 6.18 tests it before (`if (!n_decay--) break;`) and
    keeps such a pool (POOL_DECAY_WRAPS): its (node, pages, areas) go on `kept`.
    Returns the number decayed."""
    page = k.config.page_size
    wraps = k.POOL_DECAY_WRAPS
    out = 0
    for idx, pool in vn.pool.items():
        if not pool:
            continue
        n = len(pool) if full_decay or (wraps and len(pool) < 4) else len(pool) >> 2
        if not n:
            kept.append((vn.id, idx + 1, len(pool)))
        k.counts["pool_lock"] += 1
        for _ in range(n):
            start = pool.popleft()
            k.free.merge_or_add(start, start + (idx + 1) * page)
        out += n
    if out:
        k.counts["free_vmap_area_lock"] += 1
    return out


def flush_tlb_kernel_range(k: ModernState, cpu: int, start: int, end: int) -> None:
    """flush_tlb_kernel_range() in 6.12.  x86 (Config.flush "all"): on_each_cpu()
    of a whole flush when the range is over tlb_single_page_flush_ceiling (33) pages,
    else one INVLPG per page of the range: either way one IPI to every other online
    CPU.  The "range" model (ARM) drops only the range."""
    cfg = k.config
    whole = cfg.flush == "all" and end - start > cfg.generation.flush_ceiling * cfg.page_size
    k.flush_tlb_kernel_range(cpu, start, end, whole)
