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
    stale: tuple[frozenset[int], ...] = ()  # per CPU: vpns its TLB maps though freed
    events: tuple = ()               # the most recent events, oldest first
    last_op: tuple = ()              # every event of the last op
    flush_ops: tuple[int, ...] = ()  # op numbers of recent TLB flushes (sparkline)
    error: str | None = None         # the last error from the driver, if any

    @property
    def stale_counts(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.stale)

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
    return Snapshot(
        config=kernel.config,
        areas=areas,
        area_generation=gen,
        queues=tuple(q.view() for q in kernel.vbq),
        blocks=tuple(b.view() for b in sorted(kernel.vmap_block_tree.values(), key=_block_id)),
        stats=kernel.stats.as_dict(),
        stale=tuple(frozenset(pt.stale(c)) for c in range(kernel.config.nr_cpus)),
        **fields,
    )


def _block_id(b) -> int:
    return b.id
