"""Free space as a generation with a free tree keeps it, and the vmap nodes' pools.

With `free_tree` the free space is a list of address-sorted free blocks (what
find_vmap_lowest_match() searches): the panel gives their count, the largest (the
tree root's subtree_max_size: the largest request that can still succeed without a
purge, as the kernel reports it) and the next two by size.  With `vmap_nodes` it lists each node's pools of
purged areas, by exact size in pages, and the pool hits and misses: a hit hands an
area out without searching the tree.  Pooled areas are neither busy nor free.
"""

from __future__ import annotations

import heapq

from rich.text import Text
from textual.widget import Widget

from ...run.snapshot import Snapshot
from .. import palette as P
from ...units import human_bytes
from .base import SnapshotPanel

LARGEST_LISTED = 3


def largest_blocks(free_blocks, n: int = LARGEST_LISTED) -> list:
    """The `n` largest free blocks, largest first (the lower of equal ones first)."""
    return heapq.nsmallest(n, free_blocks, key=lambda b: (b.start - b.end, b.start))


def pool_lines(pools) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """(node, areas, [(pages, areas), ...]) for every node with a non-empty pool, by
    node; its sizes the most pooled first (the smaller on a tie)."""
    by_node: dict[int, list[tuple[int, int]]] = {}
    for p in pools:
        by_node.setdefault(p.node, []).append((p.pages, len(p.starts)))
    return [(node, sum(n for _, n in sizes), sorted(sizes, key=lambda s: (-s[1], s[0])))
            for node, sizes in sorted(by_node.items())]


class FreeSpacePanel(Widget, SnapshotPanel):
    """The free-tree and pools panel.  See the module docstring."""

    DEFAULT_CSS = """
    FreeSpacePanel { height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.snap: Snapshot | None = None
        self._key: tuple | None = None

    def update_snapshot(self, snap: Snapshot) -> None:
        self.snap = snap
        key = (snap.config, snap.free_blocks, snap.pools, snap.extra_counters)
        if key != self._key:
            self._key = key
            pools = snap.generation.features.vmap_nodes
            self.border_subtitle = "4p×3: 3 areas of 4 pages" if pools else ""
            self.refresh()

    def on_resize(self) -> None:
        self.refresh()

    def render(self) -> Text:
        snap = self.snap
        if snap is None:
            return Text("waiting for the first snapshot…", style=P.active().muted)
        features = snap.generation.features
        muted = P.active().muted
        t = Text(no_wrap=True, overflow="ellipsis")
        width = snap.config.bits // 4
        if features.free_tree:
            blocks = snap.free_blocks
            t.append("free blocks ", style=muted)
            t.append(f"{len(blocks):,}", style="bold")
            t.append(f" · {human_bytes(sum(b.end - b.start for b in blocks))}\n", style=muted)
            big = snap.largest_free
            if big is not None:
                t.append("largest ", style=muted)
                t.append(human_bytes(big.end - big.start), style="bold")
                t.append(f"\n  at {big.start:0{width}x}\n", style=muted)
            after = [b for b in largest_blocks(blocks) if b != big][:LARGEST_LISTED - 1]
            if after:
                t.append("next ", style=muted)
                t.append(" ".join(human_bytes(b.end - b.start) for b in after) + "\n")
        if features.vmap_nodes:
            hits, misses = snap.counter("pool_hits"), snap.counter("pool_misses")
            t.append("pools", style="bold")
            t.append(" · hits ", style=muted)
            t.append(f"{hits:,}")
            t.append(" · misses ", style=muted)
            t.append(f"{misses:,}\n")
            lines = pool_lines(snap.pools)
            if not lines:
                t.append("every pool is empty\n", style=muted)
            room = max(1, self.content_size.height - len(t.plain.splitlines()))
            for i, (node, total, sizes) in enumerate(lines):
                if i == room - 1 and len(lines) > room:
                    t.append(f"… {len(lines) - i} more nodes\n", style=muted)
                    break
                t.append(f"node {node:<3}", style=muted)
                t.append(f"{total:,} area{'s' * (total != 1)}:", style=muted)
                for pages, n in sizes:
                    t.append(f" {pages}p", style="bold")
                    t.append(f"×{n}")
                t.append("\n")
        t.rstrip()
        return t
