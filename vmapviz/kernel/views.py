"""The kernel's public records: what views, snapshots and models may read.

Immutable copies, built by the kernel's view methods (`Kernel.areas()`,
`stats_view()`, `block_views()`, `queue_views()`); nothing above the kernel reads its
internals.
"""

from __future__ import annotations

from dataclasses import make_dataclass
from typing import TYPE_CHECKING, NamedTuple

from .config import Config, ConfigError  # noqa: F401 - the machine a snapshot was taken on, and what it refuses
from .pgtable import count_in  # noqa: F401 - counts pages in the bitmaps a snapshot keeps (stale)
from .vm_struct import VM_IOREMAP, VM_NO_GUARD  # noqa: F401 - bits of VmapArea.flags a view tests
from .vmap_area import VmapArea


class Counters:
    """The raw counters every generation keeps (machine.Stats, StatsView), exactly as
    its C code would count: declared once here, as annotations."""

    __slots__ = ()
    ops: int
    tlb_flushes: int
    ipis: int
    tlb_full_flushes: int
    purges: int
    warnings: int
    bugs: int
    alloc_failures: int
    failed_calls: int
    refused_calls: int
    vm_unmap_aliases_calls: int
    faults: int
    use_after_free: int
    # list or tree nodes examined: by the first-fit searches (`walk_total`; the last
    # one alone: `last_walk`), by the rewrite's walks of vmlist to link a vm_struct in
    # (`link_walk_total`), and by the walks that unlink one (`remove_walk_total`)
    walk_total: int
    last_walk: int
    link_walk_total: int
    remove_walk_total: int
    purge_walk_total: int        # the rewrite's purge walks every area of vmap_area_list
    # page-table work: PTEs set and cleared, TLB misses taken by accesses
    ptes_set: int
    ptes_cleared: int
    tlb_misses: int
    # lock acquisitions
    vmlist_lock_write: int
    vmlist_lock_read: int
    vmap_area_lock: int
    purge_lock: int
    vbq_lock: int
    vb_lock: int
    vmap_block_tree_lock: int


COUNTERS: tuple[str, ...] = tuple(Counters.__annotations__)


class Figures:
    """What a StatsView adds to the counters: figures derived from the state."""

    __slots__ = ()
    lazy_pages: int                     # vmap_lazy_nr
    lazy_max_pages: int                 # lazy_max_pages()
    live_areas: int                     # busy areas
    lazy_areas: int                     # areas freed lazily, awaiting a purge
    vmap_blocks: int                    # live vmap blocks
    blocks_per_cpu: tuple[int, ...]     # live vmap blocks per CPU
    full_flushes_per_cpu: tuple[int, ...]  # whole-TLB flushes each CPU received


if TYPE_CHECKING:
    class StatsView(Counters, Figures):
        """The counters and the state-derived figures at one moment (frozen)."""

        def __init__(self, **fields: int | tuple[int, ...]) -> None: ...
else:   # a frozen, slotted dataclass of Counters' and Figures' fields, in that order
    StatsView = make_dataclass(
        "StatsView", [(name, int) for name in COUNTERS] + [(name, tuple if "tuple" in t else int)
                                                           for name, t in Figures.__annotations__.items()],
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


# What only some generations keep (Kernel's capabilities, empty by default).

class FreeBlock(NamedTuple):
    """One block of free_vmap_area_list."""
    start: int
    end: int


class PoolView(NamedTuple):
    """One non-empty pool of a vmap node: purged areas of exactly `pages` pages,
    `starts` in list order (the head, taken first, is index 0)."""
    node: int
    pages: int
    starts: tuple[int, ...]


class ModernBlockView(NamedTuple):
    """One struct vmap_block as a generation with bump-allocated blocks keeps it (6.12;
    the name is in the state digests, so it stays):
    `used_map` (bit N: page N handed out and not yet freed), the bump pointer
    VMAP_BBMAP_BITS - free, and the dirty range [dirty_min, dirty_max) of freed pages not
    yet flushed (empty: dirty_min = BITS, dirty_max = 0).  It is stored in the xarray of
    CPU `xa_cpu` (a hash of its address, not its owner) at index `xa_index`."""
    id: int
    cpu: int
    start: int
    end: int
    free: int
    dirty: int
    used_map: int
    dirty_min: int
    dirty_max: int
    on_free_list: bool
    xa_cpu: int
    xa_index: int


__all__ = ["COUNTERS", "Counters", "StatsView", "BlockView", "QueueView", "VmapArea", "FreeBlock", "PoolView",
           "ModernBlockView", "VM_IOREMAP", "VM_NO_GUARD", "count_in", "Config"]
