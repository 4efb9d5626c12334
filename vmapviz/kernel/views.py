"""The kernel's public records: what views, snapshots and models may read.

Immutable copies, built by the kernel's view methods (`Kernel.areas()`,
`stats_view()`, `block_views()`, `queue_views()`); nothing above the kernel reads its
internals.
"""

from __future__ import annotations

from dataclasses import make_dataclass
from typing import NamedTuple

from .vmap_area import VmapArea

# The raw counters every generation keeps (Stats), exactly as its C code would count.
COUNTERS = (
    "ops", "tlb_flushes", "ipis", "tlb_full_flushes", "purges", "warnings", "bugs",
    "alloc_failures", "failed_calls", "refused_calls", "vm_unmap_aliases_calls",
    "faults", "use_after_free",
    # list or tree nodes examined: by the first-fit searches (`walk_total`; the last
    # one alone: `last_walk`), by the rewrite's walks of vmlist to link a vm_struct in
    # (`link_walk_total`), and by the walks that unlink one (`remove_walk_total`)
    "walk_total", "last_walk", "link_walk_total", "remove_walk_total",
    # the rewrite's purge walks every area of vmap_area_list
    "purge_walk_total",
    # page-table work: PTEs set and cleared, TLB misses taken by accesses
    "ptes_set", "ptes_cleared", "tlb_misses",
    # lock acquisitions
    "vmlist_lock_write", "vmlist_lock_read", "vmap_area_lock", "purge_lock",
    "vbq_lock", "vb_lock", "vmap_block_tree_lock",
)

StatsView = make_dataclass(
    "StatsView",
    [(name, int) for name in COUNTERS] + [
        ("lazy_pages", int),            # vmap_lazy_nr
        ("lazy_max_pages", int),        # lazy_max_pages()
        ("live_areas", int),            # busy areas
        ("lazy_areas", int),            # areas freed lazily, awaiting a purge
        ("vmap_blocks", int),           # live vmap blocks
        ("blocks_per_cpu", tuple),      # live vmap blocks per CPU
        ("full_flushes_per_cpu", tuple),  # whole-TLB flushes each CPU received
    ],
    frozen=True, slots=True)
StatsView.__doc__ = "The counters and the state-derived figures at one moment."


class BlockView(NamedTuple):
    """An immutable copy of one vmap_block."""

    id: int
    cpu: int
    start: int
    end: int
    free: int
    dirty: int
    alloc_map: int
    dirty_map: int
    on_free_list: bool
    on_dirty_list: bool


class QueueView(NamedTuple):
    """An immutable copy of one CPU's vmap_block_queue: block ids in list order."""

    cpu: int
    free: tuple[int, ...]
    dirty: tuple[int, ...]
    nr_dirty: int


__all__ = ["COUNTERS", "StatsView", "BlockView", "QueueView", "VmapArea"]
