"""Areas in address order and the first-fit search over them, shared by the
generations that place areas by walking them: the rewrite's alloc_vmap_area() (an
rbtree plus an address-sorted list) and, before it, __get_vm_area_node()'s walk of
vmlist.

Here a SortedList plays the tree and the list.  The rewrite's descent's answer depends
only on the set of areas, not on the tree's shape (KERNEL-NOTES: "Why a sorted list can
stand in for the rbtree"), so the addresses are the kernel's own.

The kernel's walk steps past every area until a hole fits: with 100,000 areas packed
at the start it visits all of them.  The simulator keeps an index of the holes wider
than the walk's gap, so it jumps from hole to hole and reports, from positions in the
sorted order, how many areas the kernel's walk would have passed.

Areas are immutable records; a state change replaces the record, so a snapshot can
copy the list of records without copying areas.
"""

from __future__ import annotations

from typing import NamedTuple

from sortedcontainers import SortedDict, SortedList

# struct vmap_area's flags in the rewrite.
VM_LAZY_FREE = 0x01
VM_LAZY_FREEING = 0x02
VM_VM_AREA = 0x04
FLAG_NAMES = ((VM_LAZY_FREE, "VM_LAZY_FREE"), (VM_LAZY_FREEING, "VM_LAZY_FREEING"),
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


class Found(NamedTuple):
    """What one search found: `addr` fits when `ok`; `walk` counts the areas the walk
    passed, starting from the area at index `low` (the rewrite's `first`)."""

    addr: int
    ok: bool
    walk: int
    low: int = 0


class VmapAreaTree:
    """vmap_area_root and vmap_area_list (or, before the rewrite, vmlist): the areas in
    address order, found by start.  `gap` is what the first-fit walk leaves after each
    area it passes: a page in the rewrite (`first->va_end + PAGE_SIZE`), none before."""

    def __init__(self, gap: int) -> None:
        self.gap = gap
        self.list: SortedList = SortedList()   # records ordered by va_start
        self.by_start: dict[int, VmapArea] = {}
        # Holes wider than the gap between neighbours, keyed by the start of the area
        # above the hole; the value is where the walk would put addr (prev.end + gap)
        # before alignment.
        self.holes: SortedDict = SortedDict()
        # Starts of areas placed over another (posted only); while any is in the tree
        # the sorted order no longer implies sorted ends, and search() walks literally.
        self.overlaps: set[int] = set()
        self.generation = 0

    def __len__(self) -> int:
        return len(self.list)

    # -- __insert_vmap_area / __free_vmap_area ------------------------------------

    def _gap_between(self, prev: VmapArea | None, nxt: VmapArea) -> None:
        if prev is not None and nxt.start > prev.end + self.gap:
            self.holes[nxt.start] = prev.end + self.gap
        else:
            self.holes.pop(nxt.start, None)

    def insert(self, va: VmapArea) -> bool:
        """__insert_vmap_area(); True when the area overlaps a neighbour."""
        lst = self.list
        lst.add(va)
        self.by_start[va.start] = va
        i = lst.index(va)
        prev = lst[i - 1] if i else None
        nxt = lst[i + 1] if i + 1 < len(lst) else None
        self._gap_between(prev, va)
        if nxt is not None:
            self._gap_between(va, nxt)
        self.generation += 1
        if (prev is not None and prev.end > va.start) or (nxt is not None and nxt.start < va.end):
            self.overlaps.add(va.start)
            return True
        return False

    def erase(self, va: VmapArea) -> None:
        """__free_vmap_area(): the area leaves the tree and the list."""
        lst = self.list
        i = lst.index(va)
        lst.pop(i)
        del self.by_start[va.start]
        self.holes.pop(va.start, None)
        self.overlaps.discard(va.start)
        if i < len(lst):
            self._gap_between(lst[i - 1] if i else None, lst[i])
        self.generation += 1

    def replace(self, old: VmapArea, new: VmapArea) -> None:
        """Swap a record for one with other flags (same range)."""
        lst = self.list
        i = lst.index(old)
        del lst[i]
        lst.add(new)
        self.by_start[new.start] = new
        self.generation += 1

    def find(self, addr: int) -> VmapArea | None:
        """__find_vmap_area(): the area that starts exactly at addr."""
        return self.by_start.get(addr)

    def overlapping(self, start: int, end: int) -> list[VmapArea]:
        """Areas that intersect [start, end), in address order."""
        lst = self.list
        i = max(0, lst.bisect_right((start, 1 << 65)) - 1)
        out = []
        for va in lst.islice(i):
            if va.start >= end:
                break
            if va.end > start:
                out.append(va)
        # Posted overlaps: an area placed over others may start lower and reach past
        # the area found by the bisection.
        for s in self.overlaps:
            va = self.by_start[s]
            if va.start < lst[i].start and va.end > start:
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
        """
        lst = self.list
        n = len(lst)
        # L: the lowest area ending at or after addr: where the descent's `first` lands.
        # Every area before it ends below addr, so the descent's P exists iff L > 0.
        if self.overlaps:
            low = next((j for j, a in enumerate(lst) if a.end >= addr), n)
        else:
            i = lst.bisect_right((addr, 1 << 65)) - 1   # the last area starting <= addr
            low = i if i >= 0 and lst[i].end >= addr else i + 1
            if 0 < low < n and lst[low - 1].end == addr:
                low -= 1                                # one ending exactly at addr
        if low == n:
            return Found(addr, addr + size <= vend, 0, n)
        first = lst[low]
        if first_contains_addr and low == 0 and first.start > addr:
            # Posted: no area ends below addr and none contains it, so first stays
            # NULL and addr is used without looking at the areas above it.
            return Found(addr, addr + size <= vend, 0, 0)

        def blocked(a: int, start: int) -> bool:
            return a + size > start if exact_fit else a + size >= start

        if self.overlaps:
            return self._walk(low, addr, size, align, vend, blocked)
        if addr + size > vend:
            return Found(addr, False, 0, low)
        if not blocked(addr, first.start):
            return Found(addr, True, 0, low)
        # Jump over the areas packed after `first`: only a hole wider than the gap
        # can stop the walk.
        holes = self.holes
        for nxt_start in holes.irange(minimum=first.start, inclusive=(False, True)):
            cand = ALIGN(holes[nxt_start], align)
            if cand + size > vend:
                break
            if not blocked(cand, nxt_start):
                return Found(cand, True, lst.bisect_left((nxt_start,)) - low, low)
        # The walk ran off the last area, or past vend: find where it stopped.
        last = lst[n - 1]
        cand = ALIGN(last.end + self.gap, align)
        if cand + size <= vend:
            return Found(cand, True, n - low, low)
        # The first k >= low whose move puts addr + size past vend (ends are sorted).
        lo, hi = low, n - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if ALIGN(lst[mid].end + self.gap, align) + size > vend:
                hi = mid
            else:
                lo = mid + 1
        return Found(ALIGN(lst[lo].end + self.gap, align), False, lo - low + 1, low)

    def _walk(self, i: int, addr: int, size: int, align: int, vend: int, blocked) -> Found:
        """The walk as the patch writes it, area by area: used while overlapping areas
        make the hole index's shortcut unsound."""
        lst, walk = self.list, 0
        while blocked(addr, lst[i].start) and addr + size <= vend:
            addr = ALIGN(lst[i].end + self.gap, align)
            walk += 1
            i += 1
            if i == len(lst):
                break
        return Found(addr, addr + size <= vend, walk, i - walk)
