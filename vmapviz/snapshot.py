"""The immutable view of a kernel that every view renders: the one contract between the
simulator and whatever shows it.  Built by the driver in its thread through the
kernel's public views only, handed to views, never changed afterwards.

Cheap to build: areas are immutable records, so the address-ordered list is copied as
references (and reused while the kernel's area generation is unchanged); blocks and
queues are small NamedTuples; stats is one frozen record.
"""

from __future__ import annotations

from dataclasses import dataclass

from .kernel import BlockView, Config, Generation, Kernel, QueueView, StatsView, VmapArea

# Stale TLB entries a snapshot lists page by page.  Beyond, it keeps the counts only: at
# 4096 CPUs the TLBs can hold millions (no flush until a whole vmap block is dirty), and
# a copy in every snapshot would double the memory and the time of each.
STALE_DETAIL = 1 << 16


@dataclass(frozen=True)
class Snapshot:
    config: Config
    stats: StatsView
    workload: str = ""
    translation: str = ""            # how the workload runs on this generation, if translated
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
    stale: tuple[frozenset[int], ...] = ()  # per CPU: those pages, () beyond STALE_DETAIL
    events: tuple = ()               # the most recent events, oldest first
    last_op: tuple = ()              # every event of the last op
    flush_per: int = 1               # TLB flushes in ops [k * flush_per, (k + 1) * flush_per)
    flush_counts: tuple[int, ...] = ()  # for each k (flush_history)
    error: str | None = None         # the last error from the driver, if any
    flag_names: tuple[tuple[int, str], ...] = ()   # what VmapArea.flags' bits mean

    @property
    def generation(self) -> Generation:
        """The kernel generation, with the features the views pick panels by."""
        return self.config.generation

    def block(self, block_id: int) -> BlockView | None:
        for b in self.blocks:
            if b.id == block_id:
                return b
        return None


def take(kernel: Kernel, previous: Snapshot | None = None, **fields) -> Snapshot:
    """A snapshot of `kernel` now; `fields` fill the driver's part (workload, op...).
    The area tuple of `previous` is reused when the areas have not changed."""
    gen = kernel.area_generation
    if previous is not None and previous.area_generation == gen and previous.config is kernel.config:
        areas = previous.areas
    else:
        areas = tuple(kernel.areas())
    stale = [kernel.stale_pages(c) for c in range(kernel.config.nr_cpus)]
    counts = tuple(len(s) for s in stale)
    return Snapshot(
        config=kernel.config,
        stats=kernel.stats_view(),
        areas=areas,
        area_generation=gen,
        queues=tuple(kernel.queue_views()),
        blocks=tuple(kernel.block_views()),
        stale_counts=counts,
        stale=tuple(stale) if sum(counts) <= STALE_DETAIL else (),
        flag_names=kernel.FLAG_NAMES,
        **fields,
    )
