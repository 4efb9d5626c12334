"""The events of the modern generation that the shared vocabulary has no class for.

Each uses a kind from `vmapviz.kernel.events.KINDS` and carries the fields views
already read for that kind (an "area" event's start, end, area_kind and walk; a "lazy"
event's lazy_nr; a "purge" event's nr_areas, nr_pages and force_flush).

Events of the purge worker carry cpu = KWORKER: drain_vmap_area_work() runs in a
kworker, not in the call that queued it.
"""

from __future__ import annotations

from ..events import Event



class VaAlloc(Event):
    """alloc_vmap_area() placed [start, end) aligned to `align`: from node `node`'s
    pool (`pooled`), or from the free tree after a descent of `walk` steps."""
    op: int
    cpu: int
    start: int
    end: int
    area_kind: str
    walk: int
    node: int
    pooled: bool
    fn: str
    align: int
    kind = "area"

    def line(self) -> str:
        where = (f"node {self.node}'s pool" if self.pooled
                 else f"free tree, {self.walk} step{'s' * (self.walk != 1)}")
        return (f"{self.fn}: {self.area_kind} {self.start:#x}-{self.end:#x} "
                f"({(self.end - self.start) // 1024} KiB, {where})")


class VaLazyFree(Event):
    """free_unmap_vmap_area(): PTEs cleared now, the area on node `node`'s lazy list,
    its pages added to vmap_lazy_nr; `queued`: over lazy_max_pages, the drain work was
    scheduled."""
    op: int
    cpu: int
    start: int
    end: int
    lazy_nr: int
    node: int
    queued: bool
    kind = "lazy"

    def line(self) -> str:
        work = ": over lazy_max_pages, schedule_work(&drain_vmap_work)" if self.queued else ""
        return (f"free {self.start:#x}-{self.end:#x}: PTEs cleared, lazy on node {self.node}, "
                f"vmap_lazy_nr = {self.lazy_nr}{work}")


class Purge(Event):
    """__purge_vmap_area_lazy(): `nr_areas` lazy areas (`nr_pages` pages) of every
    node, [start, end) flushed once; `pooled` of them went to their node's pool, the
    rest to the free tree; `decayed` pooled areas went back to the free tree first
    (all of them when `full_decay`); `helpers` purge works ran on other CPUs.
    `by` says who ran it; `force_flush`: vm_unmap_aliases() has dirty block ranges to
    flush even if no area is purged; `kept`: (node, pages, areas) of each pool the decay
    left whole because it held fewer than four areas (6.18 only: 6.12 empties them)."""
    op: int
    cpu: int
    start: int
    end: int
    nr_areas: int
    nr_pages: int
    pooled: int
    decayed: int
    helpers: int
    full_decay: bool
    by: str
    force_flush: bool
    kept: tuple
    kind = "purge"

    def line(self) -> str:
        rng = f"{self.start:#x}-{self.end:#x}" if self.nr_areas else "nothing lazy"
        return (f"{self.by}: __purge_vmap_area_lazy(full_pool_decay={int(self.full_decay)}): "
                f"{self.nr_areas} areas, {self.nr_pages} pages ({self.pooled} to pools), "
                f"{self.decayed} pooled areas decayed{self._kept_text()}, {self.helpers} helpers, {rng}")

    def _kept_text(self) -> str:
        return "".join(f", node {n}'s pool of {p}-page areas kept ({a})" for n, p, a in self.kept)


class DirtyFlush(Event):
    """vm_unmap_aliases() added block `block`'s dirty range [start, end) to its flush
    and reset the range."""
    op: int
    cpu: int
    block: int
    start: int
    end: int
    kind = "alias"

    def line(self) -> str:
        return f"vm_unmap_aliases: flush dirty range {self.start:#x}-{self.end:#x} of #{self.block}, reset it"
