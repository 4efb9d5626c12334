"""TLB flushes counted per span of ops, for the sparkline.

Every flush of the run is counted, in at most LIMIT buckets of `per` ops each (a power
of two), from op 0.  When the run outgrows them, neighbouring buckets merge and `per`
doubles: memory stays bounded however long the run, and no span that had a flush ever
shows as empty.
"""

from __future__ import annotations

LIMIT = 512


class FlushHistory:
    def __init__(self) -> None:
        self.per = 1
        self._counts: list[int] = []
        self._view: tuple[int, ...] | None = ()

    def add(self, op: int) -> None:
        """Count one flush at op `op`."""
        while op // self.per >= LIMIT:
            c = self._counts
            self._counts = [sum(c[i:i + 2]) for i in range(0, len(c), 2)]
            self.per *= 2
        k = op // self.per
        if k >= len(self._counts):
            self._counts.extend([0] * (k + 1 - len(self._counts)))
        self._counts[k] += 1
        self._view = None

    def counts(self) -> tuple[int, ...]:
        """Flushes in ops [k * per, (k + 1) * per) for each bucket k, as an immutable copy."""
        if self._view is None:
            self._view = tuple(self._counts)
        return self._view


def columns(per: int, counts: tuple[int, ...], op: int, width: int) -> tuple[list[int], int]:
    """(flushes per column, ops per column) for ops 0 to `op` in at most `width` columns:
    a column is the smallest power-of-two multiple of `per` ops that fits the run."""
    width = max(1, width)
    col = per
    while col * width <= op:
        col *= 2
    merge = col // per
    out = [0] * (op // col + 1)
    for k, n in enumerate(counts):
        out[min(k // merge, len(out) - 1)] += n
    return out, col
