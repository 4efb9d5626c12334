"""Areas in address order and the first-fit search over them, shared by the
generations that place areas by walking them: the rewrite's alloc_vmap_area() (an
rbtree plus an address-sorted list) and, before it, __get_vm_area_node()'s walk of
vmlist.

A SortedList of the areas' starts plays the address-ordered list, beside a dict of
the records by start.  For the rewrite, the red-black tree itself is kept too
(`rbtree`, lib/rbtree.c node by node), because two answers depend on its shape:
which `first` merged's descent picks when no area ends below addr (so how long the
walk is), and everything the posted code does once its descent has placed one area
over another.  Everything else depends only on the set of areas
(KERNEL-NOTES: "Why a sorted list can stand in for the rbtree"), and takes the fast
path below.

The kernel's walk steps past every area until a hole fits: with 100,000 areas packed
at the start it visits all of them.  The simulator keeps an index of the holes wider
than the walk's gap, so it jumps from hole to hole and reports, from positions in the
sorted order, how many areas the kernel's walk would have passed.

Addresses are unsigned longs of the configured width: `addr + size` may wrap past
the top (v2.6.28 has no check; see search()).

Areas are immutable records; a state change replaces the record (under the same
start: the order is untouched), so a snapshot can copy the records without copying
areas.

Positions (how many areas a walk passed) come from the SortedList, whose positional
index costs O(log n) in Python to build, keep and ask.  The hot paths avoid it where
the answer is at hand: at the top of the order (rank()), and for neighbours, which
the rbtree's descent or its in-order links give while no area overlaps another.
Starts added above every area (where first fit puts new areas among packed ones)
wait in a plain list until the SortedList is next read, and those of them a purge
erases first never enter it (see `starts`).
"""

from __future__ import annotations

from bisect import bisect_left
from operator import add, sub
from typing import Any, Iterator, NamedTuple

from sortedcontainers import SortedDict, SortedList

from .compiled import mypyc_attr
from .rbtree import RbNode, RbTree

# struct vmap_area's flags in the rewrite.
VM_LAZY_FREE = 0x01
VM_LAZY_FREEING = 0x02
VM_VM_AREA = 0x04
FLAG_NAMES: tuple[tuple[int, str], ...] = ((VM_LAZY_FREE, "VM_LAZY_FREE"), (VM_LAZY_FREEING, "VM_LAZY_FREEING"),
              (VM_VM_AREA, "VM_VM_AREA"))


class VmapArea(NamedTuple):
    """One area of the address space, as every generation and every view sees it:
    struct vmap_area (the rewrite) or a vm_struct on vmlist (before it).

    [start, end) includes the guard page, whose size is `guard` (0 for areas without
    one: vmap blocks, large vm_map_ram areas).  `kind` is the user (vmalloc, vpages,
    vmap, ioremap, vm_area, vm_map_ram, vmap_block); `state` is "busy", "lazy"
    (VM_LAZY_FREE: freed, awaiting a purge) or "freeing" (VM_LAZY_FREEING, inside a
    purge); `cpu` and `op` say who made it and when; `flags` are the generation's own
    (the rewrite's VM_LAZY_FREE, VM_LAZY_FREEING, VM_VM_AREA)."""

    start: int
    end: int
    kind: str
    state: str
    guard: int
    cpu: int
    op: int
    flags: int = 0

    @property
    def lazy(self) -> bool:
        return self.state != "busy"



def ALIGN(x: int, a: int) -> int:
    """ALIGN(x, a) for a power of two a."""
    return (x + a - 1) & ~(a - 1)


# What one search found, (addr, ok, walk, low): `addr` fits when `ok`; `walk` counts the
# areas the walk passed, starting from the area at index `low` (the rewrite's `first`).
# A plain tuple: a NamedTuple's construction is a Python call, on every allocation.
Found = tuple[int, bool, int, int]


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class VmapAreaTree:
    """vmap_area_root and vmap_area_list (or, before the rewrite, vmlist): the areas in
    address order, found by start.  `gap` is what the first-fit walk leaves after each
    area it passes: a page in the rewrite (`first->va_end + PAGE_SIZE`), none before.
    `bits` is the width of an unsigned long; `rbtree` keeps the kernel's red-black tree
    beside the list (the rewrite)."""

    __slots__ = ("gap", "mask", "_starts", "_above", "by_start", "rbtree", "nodes", "holes", "overlaps",
                 "generation", "top", "low2")

    def __init__(self, gap: int, bits: int = 64, rbtree: bool = False) -> None:
        self.gap = gap
        self.mask = (1 << bits) - 1            # ULONG_MAX
        self._starts: SortedList = SortedList()  # see `starts`
        self._above: list[int] = []
        self.by_start: dict[int, VmapArea] = {}      # the records
        self.rbtree = RbTree() if rbtree else None
        self.nodes: dict[int, RbNode] = {}     # rb_node of each area, by start
        # Holes wider than the gap between neighbours, keyed by the start of the area
        # above the hole; the value is where the walk would put addr (prev.end + gap)
        # before alignment.
        self.holes: SortedDict = SortedDict()
        # Starts of areas placed over another (posted only); while any is in the tree
        # the sorted order no longer implies sorted ends, and search() follows the
        # rbtree literally.
        self.overlaps: set[int] = set()
        self.generation = 0
        # starts[-1] and starts[:2], kept at hand: reading a SortedList by position is a
        # Python call, and first fit asks for the top area and the lowest two on every
        # search (-1 and () for none).
        self.top = -1
        self.low2: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.by_start)

    # -- checkpoints -----------------------------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled flat, for checkpoints: the records as columns in the dict's own
        order (read in C), the ends as sizes; each rbtree node as (its parent's start or
        None, is it a left child, red), in the records' order when the nodes are in it
        (else with the nodes' starts).  __setstate__ builds the objects again, and the
        hole index from the records: the gaps between neighbours wider than `gap` (the
        rewrite's check() compares the two after every op in the tests).  Object by
        object, pickle spent a Python call on each record (a NamedTuple's
        __getnewargs__) and followed every node's links; and an address (an int of 64
        bits) costs a conversion to bytes each time, a size a few instructions."""
        columns = list(zip(*self.by_start.values())) or [()] * len(VmapArea._fields)
        columns[1] = tuple(map(sub, columns[1], columns[0]))
        links = None
        if self.rbtree is not None:
            nodes = self.nodes
            links = (None if list(nodes) == list(columns[0]) else tuple(nodes),
                     *(tuple(zip(*[(None, False, n.red) if (p := n.parent) is None else (p.start, p.left is n, n.red)
                                   for n in nodes.values()])) or ((), (), ())))
        state = (columns, links, tuple(self.overlaps), self.generation)
        return VmapAreaTree, (self.gap, self.mask.bit_length(), self.rbtree is not None), state

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        columns, links, overlaps, self.generation = state
        starts = columns[0]
        areas = [VmapArea._make(fields) for fields in zip(starts, map(add, starts, columns[1]), *columns[2:])]
        by_start = self.by_start = dict(zip(starts, areas))
        self._starts = SortedList(starts)
        gap, ordered = self.gap, list(self.area_list)
        self.holes = SortedDict((a.start, p.end + gap) for p, a in zip(ordered, ordered[1:]) if a.start > p.end + gap)
        self.overlaps = set(overlaps)
        self._edges()
        if links is not None:
            assert self.rbtree is not None
            own, parents, lefts, reds = links
            keys = starts if own is None else own
            nodes = self.nodes = {s: RbNode(s, by_start[s].end) for s in keys}
            for s, parent, left, red in zip(keys, parents, lefts, reds):
                node = nodes[s]
                node.red = red
                if parent is None:
                    self.rbtree.root = node
                    continue
                node.parent = up = nodes[parent]
                if left:
                    up.left = node
                else:
                    up.right = node

    @property
    def starts(self) -> SortedList:
        """Every area's va_start, in address order.  Starts added above all others wait
        in `_above` (ascending, above every start in `_starts`) and move in here when
        this is read: SortedList.add() is two Python calls, and a start that a purge
        erases before then is never added nor removed (erase())."""
        if self._above:
            self._starts.update(self._above)
            self._above.clear()
        return self._starts

    @property
    def area_list(self) -> Iterator[VmapArea]:
        """vmap_area_list: the records in address order (an iterator)."""
        return map(self.by_start.__getitem__, self.starts)

    def index(self, start: int) -> int:
        """The position of the area at `start` in address order."""
        return rank(self.starts, start)

    # -- __insert_vmap_area / __free_vmap_area ------------------------------------

    def _edges(self) -> None:
        """Read `top` and `low2` again from the sorted starts and those waiting above
        them (without moving those in: see `starts`)."""
        starts, above = self._starts, self._above
        self.top = above[-1] if above else starts[-1] if starts else -1
        low2 = tuple(starts[:2])
        self.low2 = low2 + tuple(above[:2 - len(low2)])

    def _gap_between(self, prev: VmapArea | None, nxt: VmapArea) -> None:
        if prev is not None and nxt.start > prev.end + self.gap:
            self.holes[nxt.start] = prev.end + self.gap
        else:
            self.holes.pop(nxt.start, None)

    def insert_bugs(self, start: int, end: int) -> bool:
        """Would __insert_vmap_area()'s descent for [start, end) reach its BUG()?  Only
        an area whose end wrapped below its start can be neither left (start <
        tmp->va_end) nor right (end > tmp->va_start) of an area it meets."""
        n = self.rbtree.root if self.rbtree is not None else None
        while n is not None:
            if start < n.end:
                n = n.left
            elif end > n.start:
                n = n.right
            else:
                return True
        return False

    def insert(self, va: VmapArea) -> bool:
        """__insert_vmap_area(); True when the area overlaps a neighbour."""
        start = va.start
        by_start = self.by_start
        last = by_start.get(self.top)
        by_start[start] = va
        self.generation += 1
        if not self.overlaps and (last is None or last.end <= start):
            # Above every area, where first fit puts a new area among packed ones: the
            # descent goes right at every node, down to the last area's; no hole index
            # entry is keyed by a new start, and no neighbour lies above.
            self._above.append(start)
            self.top = start
            if len(self.low2) < 2:
                self.low2 += (start,)
            if self.rbtree is not None:
                node = self.nodes[start] = RbNode(start, va.end)
                self.rbtree.add(node, None if last is None else self.nodes[last.start], False)
            if last is not None and start > last.end + self.gap:
                self.holes[start] = last.end + self.gap
            return False
        self.starts.add(start)
        if len(self.low2) < 2 or start < self.low2[1]:
            self.low2 = tuple(self.starts[:2])
        self.top = max(self.top, start)
        tree = self._rb_insert(va) if self.rbtree is not None else None
        prev, nxt = self._neighbours(start, tree)
        self._gap_between(prev, va)
        if nxt is not None:
            self._gap_between(va, nxt)
        if (prev is not None and prev.end > start) or (nxt is not None and nxt.start < va.end):
            self.overlaps.add(start)
            return True
        return False

    def _rb_insert(self, va: VmapArea) -> tuple[RbNode | None, RbNode | None]:
        """The descent of __insert_vmap_area(), then RbTree.add().  Returns the new node's
        in-order neighbours: the last nodes the descent left on its right and on its
        left (rb_prev() and rb_next() of the new node)."""
        assert self.rbtree is not None
        parent: RbNode | None = None
        left, n = False, self.rbtree.root
        below: RbNode | None = None
        above: RbNode | None = None
        while n is not None:
            parent = n
            left = va.start < n.end            # (the BUG() case: see insert_bugs())
            if left:
                above, n = n, n.left
            else:
                below, n = n, n.right
        node = self.nodes[va.start] = RbNode(va.start, va.end)
        self.rbtree.add(node, parent, left)
        return below, above

    def _neighbours(self, start: int, tree: tuple[RbNode | None, RbNode | None] | None
                    ) -> tuple[VmapArea | None, VmapArea | None]:
        """The areas just below and above the one at `start` in address order (None
        past either end).  `tree` holds its node's rbtree neighbours: they are the
        ones while the tree's order is the address order (no overlap, and the area
        itself did not start inside another); otherwise the sorted starts are asked."""
        if tree is not None and not self.overlaps:
            below, above = tree
            if (below is None or below.start < start) and (above is None or start < above.start):
                by_start = self.by_start
                return (None if below is None else by_start[below.start]), (None if above is None else by_start[above.start])
        starts = self.starts
        i = rank(starts, start)
        return (self.by_start[starts[i - 1]] if i else None,
                self.by_start[starts[i + 1]] if i + 1 < len(starts) else None)

    def erase(self, areas: list[VmapArea]) -> None:
        """__free_vmap_area() of each of `areas`, in address order: they leave the tree
        and the list.  Of the holes they open, only the one above each run of areas
        erased side by side is indexed (the rest would be indexed and dropped again).
        (Each start leaves the SortedList by value: a slice or a bisection would build
        its positional index, whose upkeep slows every later add; see rank().  While
        no area overlaps another, the neighbours come from the rbtree alone, so the
        starts can leave in bulk: those still waiting above the SortedList (`starts`)
        are filtered out of that list from the lowest erased one, and when the areas erased number an eighth of
        the SortedList or more, as a purge of areas packed above a few live ones
        makes them, the SortedList is made again from the starts that stay, the rule
        of its own slice deletion.)"""
        gap = None                                   # (prev, nxt) around the last erased
        by_start, nodes, holes, overlaps = self.by_start, self.nodes, self.holes, self.overlaps
        by_tree = self.rbtree is not None and not overlaps     # neighbours from the rbtree
        above = self._above if by_tree else []              # (else self.starts empties it)
        starts = self._starts if by_tree else self.starts
        waiting = above[0] if above else self.mask + 1      # the lowest start in `above`
        rebuild = by_tree and len(areas) * 8 >= len(starts)
        rb_erase = None if self.rbtree is None else self.rbtree.erase
        cut = -1                                            # the lowest start erased from `above`
        for va in areas:
            start = va.start
            node = nodes.pop(start, None)
            run = gap is not None and gap[1].start == start and node is not None and not overlaps
            below = nxt_node = None                 # the node's rb_prev() and rb_next()
            if node is not None:
                assert rb_erase is not None     # nodes are the rbtree's
                if not run:
                    below = RbTree.prev(node)
                nxt_node = rb_erase(node)       # (it returns rb_next() of the node)
            if run:
                # A run of neighbours goes on: the area below it stays the one below.
                assert gap is not None
                prev, nxt = gap[0], None if nxt_node is None else by_start[nxt_node.start]
            else:
                if gap is not None and gap[1].start != start:
                    self._gap_between(*gap)
                prev, nxt = self._neighbours(start, None if node is None else (below, nxt_node))
            if start >= waiting:
                if cut < 0:
                    cut = start
            elif not rebuild:
                starts.remove(start)
            del by_start[start]
            if start in holes:
                del holes[start]
            overlaps.discard(start)
            gap = None if nxt is None else (prev, nxt)
        if gap is not None:
            self._gap_between(*gap)
        if rebuild:
            self._starts = SortedList(filter(by_start.__contains__, starts))
        if cut >= 0:                       # (only from there: `above` may hold every area)
            i = bisect_left(above, cut)
            above[i:] = filter(by_start.__contains__, above[i:])
        self._edges()
        self.generation += 1

    def mark(self, va: VmapArea, state: str, flags: int) -> VmapArea:
        """The area `va` is now in `state`, with `flags`: its record is replaced by a new
        one (what va._replace(state=state, flags=flags) makes, at a third of the cost),
        under the same start.  Returns the new record."""
        start, end, kind, _, guard, cpu, op, _ = va
        new = self.by_start[start] = tuple.__new__(VmapArea, (start, end, kind, state, guard, cpu, op, flags))
        self.generation += 1
        return new

    def mark_each(self, areas: list[VmapArea], state: str, set_flags: int, clear_flags: int) -> None:
        """mark() of each of `areas` (records still in the tree), in one call: each is
        now in `state`, its flags with `set_flags` set and `clear_flags` cleared (the
        purge's VM_LAZY_FREE -> VM_LAZY_FREEING, area after area)."""
        by_start = self.by_start
        for start, end, kind, _, guard, cpu, op, flags in areas:
            by_start[start] = tuple.__new__(VmapArea, (start, end, kind, state, guard, cpu, op,
                                                       (flags | set_flags) & ~clear_flags))
        self.generation += len(areas)

    def find(self, addr: int) -> VmapArea | None:
        """__find_vmap_area(): the area that starts exactly at addr.  Once areas overlap
        (posted), the tree's order by start can break, and the kernel's descent by start
        may miss an area that is there: then the descent is followed literally."""
        if not self.overlaps or self.rbtree is None:
            return self.by_start.get(addr)
        n = self.rbtree.root
        while n is not None:
            if addr < n.start:
                n = n.left
            elif addr > n.start:
                n = n.right
            else:
                return self.by_start[n.start]
        return None

    def overlapping(self, start: int, end: int) -> list[VmapArea]:
        """Areas that intersect [start, end), in address order."""
        starts = self.starts
        i = max(0, starts.bisect_right(start) - 1)
        out = []
        for s in starts.islice(i):
            if s >= end:
                break
            va = self.by_start[s]
            if va.end > start:
                out.append(va)
        # Posted overlaps: an area placed over others may start lower and reach past
        # the area found by the bisection.
        for s in self.overlaps:
            va = self.by_start[s]
            if s < starts[i] and va.end > start:
                out.append(va)
        return sorted(out) if self.overlaps else out

    # -- alloc_vmap_area()'s descent and walk ---------------------------------------

    def search(self, addr: int, size: int, align: int, vend: int, exact_fit: bool,
               first_contains_addr: bool) -> Found:
        """One pass of alloc_vmap_area() from `addr`: the descent to `first`, then the
        walk past every area in the way, each move setting
        addr = ALIGN(first->va_end + PAGE_SIZE, align).

        exact_fit: the walk stops at a hole exactly `size` long (merged `>`; the posted
        `>=` skips it).  first_contains_addr: the posted descent, which picks `first`
        only from areas ending below addr or containing it, so with none below it may
        return addr over an area that starts inside [addr, addr + size).

        `addr + size` is computed in unbounded integers here, so a place whose end
        passes the top of the space fails, as the v2.6.29 check
        `addr + size - 1 < addr` (and v2.6.27's own) makes it fail; v2.6.28's wrapped
        sum is walk_on_wrapped()'s.
        """
        if self.overlaps and self.rbtree is not None:
            return self._tree_walk(addr, size, align, vend, exact_fit, first_contains_addr)
        # The fast path, the rbtree asked only for where merged's descent lands.
        areas, low2 = self.by_start, self.low2
        n = len(areas)
        if not n:
            return addr, addr + size <= vend, 0, 0
        # low: the lowest area ending at or after addr: where the descent's `first` lands.
        # Every area before it ends below addr, so the descent's P exists iff low > 0.
        first = areas[low2[0]]
        if first.end >= addr:
            low = 0
        else:
            starts = self.starts
            i = starts.bisect_right(addr) - 1        # the last area starting <= addr
            low = i if areas[starts[i]].end >= addr else i + 1
            if 0 < low < n and areas[starts[low - 1]].end == addr:
                low -= 1                             # one ending exactly at addr
            if low == n:
                return addr, addr + size <= vend, 0, n
            first = areas[starts[low]]
        if low == 0 and self.rbtree is not None and not first_contains_addr:
            # Merged, no area below addr: every node the descent meets ends at or after
            # addr, so it goes left from the root, and `first` is the first node on that
            # path starting below addr + size: the shape decides where the walk starts.
            # Every node on the path but the last starts at or above the second area:
            # when that one starts at or above addr + size, the lowest area decides.
            if n > 1 and low2[1] < addr + size:
                node = self.rbtree.root
                while node is not None and node.start >= addr + size:
                    node = node.left
                assert node is not None      # the path ends at a node below addr + size
                first = areas[node.start]
                low = rank(self.starts, first.start)
            elif first.start >= addr + size:
                return addr, addr + size <= vend, 0, 0
        elif first_contains_addr and low == 0 and first.start > addr:
            # Posted: no area ends below addr and none contains it, so first stays
            # NULL and addr is used without looking at the areas above it.
            return addr, addr + size <= vend, 0, 0

        # The walk moves past an area while addr + size > its start (posted: >=).
        reach = size if exact_fit else size + 1
        if addr + size > vend:
            return addr, False, 0, low
        if addr + reach <= first.start:
            return addr, True, 0, low
        # Jump over the areas packed after `first`: only a hole wider than the gap
        # can stop the walk.
        holes = self.holes
        for nxt_start in holes.irange(minimum=first.start, inclusive=(False, True)) if holes else ():
            cand = ALIGN(holes[nxt_start], align)
            if cand + size > vend:
                break
            if cand + reach <= nxt_start:
                return cand, True, rank(self.starts, nxt_start) - low, low
        # The walk ran off the last area, or past vend: find where it stopped.
        cand = (areas[self.top].end + self.gap + align - 1) & -align     # ALIGN(), inline
        if cand + size <= vend:
            return cand, True, n - low, low
        # The first k >= low whose move puts addr + size past vend (ends are sorted).
        starts = self.starts
        lo, hi = low, n - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if ALIGN(areas[starts[mid]].end + self.gap, align) + size > vend:
                hi = mid
            else:
                lo = mid + 1
        return ALIGN(areas[starts[lo]].end + self.gap, align), False, lo - low + 1, low

    def walk_on_wrapped(self, found: Found, size: int, align: int, vend: int, exact_fit: bool) -> Found:
        """search() as v2.6.28 computes `addr + size`, in an unsigned long, for a search
        that failed with that sum past ULONG_MAX: it wraps to a small number, which
        passes both the walk's test and the final `addr + size > vend`, so the walk goes
        on from the area it would compare next, and may "find" a place whose end lies
        below its start (`ok`, with addr + size > ULONG_MAX here); the caller meets the
        consequence.  An ALIGN() that wraps to 0 fails (README: departures)."""
        addr, _, walk, low = found
        rest = map(self.by_start.__getitem__, self.starts.islice(low + walk))
        addr, walk = self._loop(rest, addr, size, align, vend, exact_fit, walk)
        return addr, self._fits(addr, size, vend), walk, low

    def _fits(self, addr: int, size: int, vend: int) -> bool:
        """found: `addr + size > vend` fails, in unsigned long arithmetic."""
        return addr <= self.mask and (addr + size) & self.mask <= vend

    def _loop(self, areas, addr: int, size: int, align: int, vend: int, exact_fit: bool,
              walk: int) -> tuple[int, int]:
        """alloc_vmap_area()'s while loop, literally, in unsigned long arithmetic: move
        addr past each area of `areas` (successive rb_next()s) while
        `addr + size > first->va_start` (posted `>=`) and `addr + size <= vend`."""
        mask = self.mask
        for a in areas:
            end = (addr + size) & mask
            if not ((end > a.start if exact_fit else end >= a.start) and end <= vend):
                break
            addr = ALIGN(a.end + self.gap, align)
            walk += 1
            if addr > mask:        # ALIGN() wrapped to 0: fail (README: departures)
                break
        return addr, walk

    def _tree_walk(self, addr: int, size: int, align: int, vend: int, exact_fit: bool,
                   first_contains_addr: bool) -> Found:
        """alloc_vmap_area() node by node on the rbtree: the descent, then rb_next().
        Used while posted overlaps make the tree's shape decide the answer."""
        limit = (addr + size) & self.mask
        assert self.rbtree is not None
        first: RbNode | None = None
        n = self.rbtree.root
        while n is not None:
            if n.end >= addr:
                if first is None and (n.start <= addr if first_contains_addr else n.start < limit):
                    first = n
                n = n.left
            else:
                first = n
                n = n.right
        if first is not None and first.end < addr:
            first = self.rbtree.next(first)
        if first is None:
            return addr, self._fits(addr, size, vend), 0, len(self)

        def successors(n: RbNode | None) -> Iterator[RbNode]:
            while n is not None:
                yield n
                n = RbTree.next(n)

        addr, walk = self._loop(successors(first), addr, size, align, vend, exact_fit, 0)
        return addr, self._fits(addr, size, vend), walk, self.index(first.start)


def rank(keys: SortedList, key: int) -> int:
    """keys.bisect_left(key): how many keys lie below `key`.  At either end (new areas
    land at the top of packed ones) it is read without the SortedList's positional
    index, whose upkeep slows every add and remove once it is built."""
    if not keys:
        return 0
    top = keys[-1]
    if key >= top:
        return len(keys) - (key == top)
    if key <= keys[0]:
        return 0
    return keys.bisect_left(key)
