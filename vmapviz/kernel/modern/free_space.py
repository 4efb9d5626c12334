"""free_vmap_area_root + free_vmap_area_list (Uladzislau Rezki, v5.2): the free
address space as address-sorted free blocks, merged with their neighbours when space
comes back (merge_or_add_vmap_area()), clipped when an area is cut out of one
(va_clip()), and searched by find_vmap_lowest_match(), the descent of an rbtree whose
nodes carry `subtree_max_size`, the largest free block below them.

The tree's shape.  For align <= PAGE_SIZE the descent returns the lowest-addressed
block that fits, whatever the shape.  For align > PAGE_SIZE (vmap blocks, ioremap) it
looks for a block of at least size + align - 1 and takes a lower, smaller block only if
that block lies on its path and still fits once aligned: the answer depends on the
shape, which in the kernel depends on every insert and erase since boot (the tree
spans [1, ULONG_MAX) and holds free space below VMALLOC_START too).  The simulator
runs the kernel's descent, step for step, on one definite shape: a perfectly balanced
tree over the free blocks in address order (the root is the middle block; a red-black
tree is within a factor of two of that height).  Its steps are the cost reported.

Simplification: the free space here is [VMALLOC_START, VMALLOC_END) only; a request
for a range outside it fails.

A block is found fast by size class (the bit length of its size): the lowest block of
at least `length` bytes is the lowest first block of the higher classes, or the first
big-enough block of its own class.
"""

from __future__ import annotations

from sortedcontainers import SortedList

from ..compiled import mypyc_attr


def ALIGN(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class FreeSpace:
    """The free blocks: `starts` in address order, `end_of` each block's end."""

    __slots__ = ("starts", "end_of", "classes", "generation")

    def __init__(self, start: int, end: int) -> None:
        self.starts = SortedList()
        self.end_of: dict[int, int] = {}
        self.classes: dict[int, SortedList] = {}   # size.bit_length() -> starts
        self.generation = 0
        self._add(start, end)

    def __len__(self) -> int:
        return len(self.starts)

    def blocks(self) -> list[tuple[int, int]]:
        end_of = self.end_of
        return [(s, end_of[s]) for s in self.starts]

    def largest(self) -> tuple[int, int] | None:
        """The largest free block (the lowest of equal ones): the tree root's
        subtree_max_size."""
        for c in sorted(self.classes, reverse=True):
            if self.classes[c]:
                s = max(self.classes[c], key=lambda s: (self.end_of[s] - s, -s))
                return s, self.end_of[s]
        return None

    def _add(self, start: int, end: int) -> None:
        self.starts.add(start)
        self.end_of[start] = end
        self.classes.setdefault((end - start).bit_length(), SortedList()).add(start)
        self.generation += 1

    def _remove(self, start: int) -> int:
        end = self.end_of.pop(start)
        self.starts.remove(start)
        self.classes[(end - start).bit_length()].remove(start)
        self.generation += 1
        return end

    # -- freeing --------------------------------------------------------------------

    def merge_or_add(self, start: int, end: int) -> tuple[int, int]:
        """merge_or_add_vmap_area(): give [start, end) back, merged with the block
        that ends at `start` and the one that begins at `end`; the resulting block."""
        starts = self.starts
        i = starts.bisect_left(start)
        if i < len(starts) and starts[i] == end:
            end = self._remove(end)
        if i and self.end_of[starts[i - 1]] == start:
            start = starts[i - 1]
            self._remove(start)
        self._add(start, end)
        return start, end

    # -- allocation -------------------------------------------------------------------

    def clip(self, start: int, nva: int, size: int) -> None:
        """va_clip(): cut [nva, nva + size) out of the block at `start` (a full,
        left-edge, right-edge or no-edge fit)."""
        end = self._remove(start)
        assert start <= nva and nva + size <= end, "va_clip(): NOTHING_FIT"
        if start < nva:
            self._add(start, nva)
        if nva + size < end:
            self._add(nva + size, end)

    def lowest_match(self, size: int, align: int, vstart: int, adjust: bool) -> tuple[int | None, int]:
        """find_vmap_lowest_match(): (the start of the block the kernel's descent
        returns, or None; the nodes it visited)."""
        length = size + align - 1 if adjust else size
        starts = self.starts
        if not starts:
            return None, 0
        if vstart > starts[0]:
            return self._descend(size, align, vstart, length)
        # vstart is below every block, so "vstart < va->va_start" always holds: the
        # descent heads for the lowest block of `length` bytes (L), turning left
        # wherever L lies to the left; where it turns right it checks the node
        # itself first, and only a node that fits once aligned can end it early.
        low = self._lowest_of(length, starts[0])
        target = len(starts) // 2 if low is None else starts.index(low)
        lo, hi, steps = 0, len(starts), 0
        while True:
            mid = (lo + hi) // 2
            steps += 1
            if mid == target:
                s = starts[mid]
                return (s if low is not None or self._fits(s, size, align, vstart) else None), steps
            if target < mid:
                hi = mid
            else:
                if adjust and self._fits(starts[mid], size, align, vstart):
                    return starts[mid], steps
                lo = mid + 1

    def _fits(self, start: int, size: int, align: int, vstart: int) -> bool:
        """is_within_this_va()."""
        nva = ALIGN(max(start, vstart), align)
        return nva >= vstart and nva + size <= self.end_of[start]

    def _lowest_of(self, length: int, at: int) -> int | None:
        """The lowest block at or above `at` of at least `length` bytes."""
        c = length.bit_length()
        best = None
        for k, lst in self.classes.items():
            if k > c and lst:
                i = lst.bisect_left(at)
                if i < len(lst) and (best is None or lst[i] < best):
                    best = lst[i]
        same = self.classes.get(c)
        if same:
            for s in same.islice(same.bisect_left(at)):
                if best is not None and s >= best:
                    break
                if self.end_of[s] - s >= length:
                    return s
        return best

    def _has(self, lo: int, hi: int, length: int) -> bool:
        """get_subtree_max_size() >= length for the subtree of blocks [lo, hi)."""
        if lo >= hi:
            return False
        s = self._lowest_of(length, self.starts[lo])
        return s is not None and s <= self.starts[hi - 1]

    def _descend(self, size: int, align: int, vstart: int, length: int) -> tuple[int | None, int]:
        """The descent as the C writes it, rolling back up to the first right
        subtree that may hold a fit (needed when vstart lies inside a block)."""
        starts = self.starts
        path = []                       # (lo, hi) of each node from the root
        lo, hi, steps = 0, len(starts), 0
        while lo < hi:
            mid = (lo + hi) // 2
            steps += 1
            path.append((lo, hi))
            s = starts[mid]
            if self._has(lo, mid, length) and vstart < s:
                hi = mid
                continue
            if self._fits(s, size, align, vstart):
                return s, steps
            if self._has(mid + 1, hi, length):
                lo = mid + 1
                continue
            path.pop()
            while path:
                plo, phi = path.pop()
                pmid = (plo + phi) // 2
                steps += 1
                ps = starts[pmid]
                if self._fits(ps, size, align, vstart):
                    return ps, steps
                if self._has(pmid + 1, phi, length) and vstart <= ps:
                    vstart = ps + 1     # do not enter this subtree again
                    path.append((plo, phi))
                    lo, hi = pmid + 1, phi
                    break
            else:
                return None, steps
        return None, steps
