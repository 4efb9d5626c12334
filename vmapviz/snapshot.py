"""The immutable view of a kernel that every view renders: built by the driver in its
thread, handed to views, never changed afterwards.

Cheap to build: areas are immutable records, so the address-ordered list is copied as
references (and reused while the tree's generation is unchanged); blocks and queues
are small NamedTuples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .kernel import Config, Kernel
from .kernel.vmap_area import VmapArea
from .kernel.vmap_block import BlockView, QueueView

# Stale TLB entries a snapshot lists page by page.  Beyond, it keeps the counts only: at
# 4096 CPUs the TLBs can hold millions (no flush until a whole vmap block is dirty), and
# a copy in every snapshot would double the memory and the time of each.
STALE_DETAIL = 1 << 16


@dataclass(frozen=True)
class Snapshot:
    config: Config
    workload: str = ""
    op: int = 0                      # ops done so far
    total_ops: int | None = None     # ops the workload has, None when endless
    running: bool = False
    finished: bool = False
    speed: float | None = None       # target ops per second; None: as fast as possible
    ops_per_s: float = 0.0           # measured
    areas: tuple[VmapArea, ...] = ()
    area_generation: int = -1
    queues: tuple[QueueView, ...] = ()
    blocks: tuple[BlockView, ...] = ()   # every live block, by id
    stats: dict = field(default_factory=dict)
    stale_counts: tuple[int, ...] = ()  # per CPU: how many pages its TLB maps though freed
    stale: tuple[frozenset[int], ...] = ()  # per CPU: those pages, () beyond STALE_DETAIL
    events: tuple = ()               # the most recent events, oldest first
    last_op: tuple = ()              # every event of the last op
    flush_per: int = 1               # TLB flushes in ops [k * flush_per, (k + 1) * flush_per)
    flush_counts: tuple[int, ...] = ()  # for each k (flush_history)
    error: str | None = None         # the last error from the driver, if any

    def block(self, block_id: int) -> BlockView | None:
        for b in self.blocks:
            if b.id == block_id:
                return b
        return None


def take(kernel: Kernel, previous: Snapshot | None = None, **fields) -> Snapshot:
    """A snapshot of `kernel` now; `fields` fill the driver's part (workload, op...).
    The area tuple of `previous` is reused when the tree has not changed."""
    gen = kernel.tree.generation
    if previous is not None and previous.area_generation == gen and previous.config is kernel.config:
        areas = previous.areas
    else:
        areas = tuple(kernel.tree.list)
    pt = kernel.pgtable
    stale = [pt.stale(c) for c in range(kernel.config.nr_cpus)]
    counts = tuple(len(s) for s in stale)
    return Snapshot(
        config=kernel.config,
        areas=areas,
        area_generation=gen,
        queues=tuple(q.view() for q in kernel.vbq),
        blocks=tuple(b.view() for b in sorted(kernel.vmap_block_tree.values(), key=_block_id)),
        stats=kernel.stats.as_dict(),
        stale_counts=counts,
        stale=tuple(map(frozenset, stale)) if sum(counts) <= STALE_DETAIL else (),
        **fields,
    )


def _block_id(b) -> int:
    return b.id
