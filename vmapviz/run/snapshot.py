"""The immutable view of a kernel that every view renders: the one contract between the
simulator and whatever shows it.  Built by the driver in its thread through the
kernel's public views only, handed to views, never changed afterwards.

Cheap to build: areas are immutable records, so the address-ordered list is copied as
references (and reused while the kernel's area generation is unchanged); blocks and
queues are small NamedTuples; stats is one frozen record.

What only some generations keep is taken when the generation's features say it has
it (never by its name), and left empty otherwise: the free blocks and the largest one
(`free_tree`), the nodes' pools and the extra counters (`vmap_nodes`), whether the
purge worker is queued (`kworker_purge`), the blocks' used maps, bump pointers and
dirty ranges (`dirty_range`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple, Sequence

from ..kernel import BlockView, Config, Generation, Kernel, QueueView, StatsView, VmapArea
from ..kernel.views import FreeBlock, ModernBlockView, PoolView

class TimelineView(NamedTuple):
    """What the timeline holds, copied in the driver's thread: the ops from `start` to
    `end` it can go back to, and its marks (op numbers by UNTIL name, ascending)."""

    start: int
    end: int
    marks: dict[str, Sequence[int]]


@dataclass(frozen=True)
class Snapshot:
    config: Config
    stats: StatsView
    workload: str = ""
    translation: str = ""            # how the workload runs on this generation, if translated
    watch: str = ""                  # what to watch on this generation (Workload.watch_on)
    watch_owned: bool = False        # whether `watch` is written for this generation
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
    stale_counts: tuple[int, ...] = ()  # per CPU: how many pages its TLB maps though freed
    stale: tuple[tuple[tuple[int, int], ...], ...] = ()  # per CPU: those pages, as (group of
    #                                  1,024 pages, bitmap) pairs (kernel.pgtable.count_in counts them)
    events: tuple[Any, ...] = ()     # the most recent events, oldest first
    last_op: tuple[Any, ...] = ()    # every event of the last op
    flush_per: int = 1               # TLB flushes in ops [k * flush_per, (k + 1) * flush_per)
    flush_counts: tuple[int, ...] = ()  # for each k (flush_history)
    error: str | None = None         # the last error from the driver, if any
    timeline: TimelineView | None = None   # a run with time travel: its span and marks
    flag_names: tuple[tuple[int, str], ...] = ()   # what VmapArea.flags' bits mean
    # Taken only when the generation's features offer them (see the module docstring):
    free_blocks: tuple[FreeBlock, ...] = ()   # free_tree: in address order
    largest_free: FreeBlock | None = None     # free_tree: the largest
    pools: tuple[PoolView, ...] = ()          # vmap_nodes: the non-empty pools
    extra_counters: tuple[tuple[str, int], ...] = ()   # vmap_nodes: (name, count)
    drain_pending: bool = False      # kworker_purge: the drain work is queued
    block_details: tuple[ModernBlockView, ...] = ()   # dirty_range: one per block, by id

    @property
    def generation(self) -> Generation:
        """The kernel generation, with the features the views pick panels by."""
        return self.config.generation

    def block(self, block_id: int) -> BlockView | None:
        for b in self.blocks:
            if b.id == block_id:
                return b
        return None

    def block_detail(self, block_id: int) -> ModernBlockView | None:
        """The generation's own record of block `block_id` (dirty_range), or None."""
        return next((b for b in self.block_details if b.id == block_id), None)

    def counter(self, name: str) -> int:
        """One of `extra_counters`, 0 when the generation does not count it."""
        return dict(self.extra_counters).get(name, 0)

    @cached_property
    def pooled(self) -> tuple[tuple[int, int, int], ...]:
        """(start, end, node) of every pooled area, in address order: space neither
        busy nor free, waiting in a node's pool for a request of its exact size."""
        page = self.config.page_size
        return tuple(sorted((s, s + p.pages * page, p.node) for p in self.pools for s in p.starts))


def watch_fields(run: Any) -> dict[str, Any]:
    """A Run's workload notes for its generation: the snapshot's watch fields."""
    gen = run.config.variant
    return {"watch": run.workload.watch_on(gen), "watch_owned": run.workload.watch_owned(gen)}


def take(kernel: Kernel, previous: Snapshot | None = None, **fields: Any) -> Snapshot:
    """A snapshot of `kernel` now; `fields` fill the driver's part (workload, op...).
    The area tuple of `previous` is reused when the areas have not changed."""
    gen = kernel.area_generation
    same = previous if previous is not None and previous.area_generation == gen and \
        previous.config is kernel.config else None      # the previous snapshot, if its areas hold
    areas = same.areas if same is not None else tuple(kernel.areas())
    features = kernel.config.generation.features
    if features.vmap_nodes:
        fields.update(pools=tuple(kernel.node_pools()),
                      extra_counters=tuple(kernel.extra_counters().items()))
    if features.free_tree:
        # Free blocks, areas and pooled areas tile the range: with the areas and the
        # pools unchanged, so are the free blocks.
        if same is not None and same.pools == fields.get("pools", ()):
            fields.update(free_blocks=same.free_blocks, largest_free=same.largest_free)
        else:
            fields.update(free_blocks=tuple(kernel.free_blocks()),
                          largest_free=kernel.largest_free_block())
    if features.kworker_purge:
        fields["drain_pending"] = kernel.drain_pending
    if features.dirty_range:
        fields["block_details"] = tuple(kernel.block_details())
    stale = tuple(kernel.stale_bits(c) for c in range(kernel.config.nr_cpus))
    counts = tuple(sum(bits.bit_count() for _, bits in s) for s in stale)
    return Snapshot(
        config=kernel.config,
        stats=kernel.stats_view(),
        areas=areas,
        area_generation=gen,
        queues=tuple(kernel.queue_views()),
        blocks=tuple(kernel.block_views()),
        stale_counts=counts,
        stale=stale,
        flag_names=kernel.FLAG_NAMES,
        **fields,
    )
