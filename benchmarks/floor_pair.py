"""The least a vmalloc(1 page) + vfree pair can cost in CPython beside N live areas: the
simulator's work for it (merged v2.6.28, 4 CPUs, 64-bit), flattened into one class with
none of its structure.

It does what the simulator must do for the pair, or less: check the arguments, page-
align the size and add the guard page, find the first fit above the packed areas (the
kernel's walk passes every area below it: counted from positions, as the simulator
counts it), insert the area in an address-ordered list and a dict, make the vm_struct
and link it into vmlist (one more ordered list), take a page frame and set its PTE.
vfree finds the vm_struct, unlinks it, marks the area lazily freed, counts its pages in
vmap_lazy_nr and gives the frame back; over lazy_max_pages, one purge clears the lazy
areas' PTEs, flushes every TLB and erases the areas.  `events`: also record a Call, the
area event and a Return per op (and the purge's two), as plain tuples.  It leaves out
the red-black tree (whose shape only decides the descent's start when no area lies
below the search address), the hole index, the counters and the invariant checks.

bench_floor.py --pair times it and counts its instructions.
"""

from __future__ import annotations

from bisect import bisect_left

VMALLOC_START = 0xFFFFC20000000000
VMALLOC_END = 0xFFFFE1FFFFFFFFFF
PAGE = 4096
LAZY_MAX_PAGES = 3 * 8192          # fls(4 CPUs) * 32 MiB of pages
ULONG_MAX = (1 << 64) - 1


class Calls:
    """What every floor does per call: check the arguments, count the op, record the Call."""

    def __init__(self, events: bool) -> None:
        self.record = events
        self.events: list[tuple] = []
        self.op = 0

    def _call(self, name: str, args: tuple) -> int:
        for value in args:
            if type(value) is not int or not 0 <= value <= ULONG_MAX:
                raise ValueError(name)
        self.op += 1
        if self.record:
            self.events.append(("call", self.op, 0, name, args))
        return self.op


class Floor(Calls):
    def __init__(self, events: bool) -> None:
        super().__init__(events)
        self.starts: list[int] = []          # the areas' starts in address order
        self.areas: dict[int, list] = {}     # start -> [start, end, lazy]
        self.vmlist: list[int] = []          # vm_structs' addresses in address order
        self.vms: dict[int, tuple] = {}      # addr -> (addr, size, flags, frames)
        self.lazy: list[int] = []
        self.lazy_nr = 0
        self.ptes: dict[int, int] = {}
        self.dead: set[int] = set()
        self.tlbs: list[dict[int, int]] = [{} for _ in range(4)]
        self.free_list: list[int] = []
        self.next_pfn = 1
        self.walk_total = 0

    def vmalloc(self, size: int) -> int:
        op = self._call("vmalloc", (size,))
        size = -(-size // PAGE) * PAGE + PAGE                # page-aligned, plus the guard page
        starts, areas = self.starts, self.areas
        # first fit: above the last area and its gap page (the packed case)
        addr = areas[starts[-1]][1] + PAGE if starts else VMALLOC_START
        if addr + size > VMALLOC_END:
            raise MemoryError("the floor models the packed case only")
        self.walk_total += len(starts)
        starts.append(addr)
        areas[addr] = [addr, addr + size, False]
        frames = self.free_list[-1:] if self.free_list else [self.next_pfn]
        if self.free_list:
            del self.free_list[-1]
        else:
            self.next_pfn += 1
        i = bisect_left(self.vmlist, addr)
        self.vmlist.insert(i, addr)
        self.vms[addr] = (addr, size, 0x2, frames)
        vpn = addr // PAGE
        if vpn not in self.ptes:
            self.ptes[vpn] = frames[0]
        if self.record:
            self.events.append(("area", op, 0, addr, addr + size, len(starts) - 1))
            self.events.append(("return", op, 0, "vmalloc", (size,), addr, ""))
        return addr

    def vfree(self, addr: int) -> None:
        op = self._call("vfree", (addr,))
        vm = self.vms.pop(addr)
        del self.vmlist[bisect_left(self.vmlist, addr)]
        area = self.areas[addr]
        area[2] = True
        self.lazy.append(addr)
        self.dead.update(range(addr // PAGE, (addr + vm[1] - PAGE) // PAGE))
        self.lazy_nr += (area[1] - area[0]) // PAGE
        self.free_list.extend(vm[3])
        if self.record:
            self.events.append(("lazy", op, 0, addr, area[1], self.lazy_nr))
        if self.lazy_nr > LAZY_MAX_PAGES:
            self._purge(op)
        if self.record:
            self.events.append(("return", op, 0, "vfree", (addr,), None, ""))

    def _purge(self, op: int) -> None:
        lazy = sorted(self.lazy)
        for start in lazy:
            area = self.areas.pop(start)
            for vpn in range(start // PAGE, area[1] // PAGE):
                self.ptes.pop(vpn, None)
                self.dead.discard(vpn)
        for tlb in self.tlbs:
            tlb.clear()
        i = bisect_left(self.starts, lazy[0])
        if self.starts[i:] == lazy:          # the packed case: the lazy areas are the top ones
            del self.starts[i:]
        else:
            gone = set(lazy)
            self.starts = [s for s in self.starts if s not in gone]
        self.lazy.clear()
        self.lazy_nr = 0
        if self.record:
            self.events.append(("purge", op, 0, lazy[0], len(lazy)))
            self.events.append(("flush", op, 0, lazy[0], 0, 3))


def run(n: int, events: bool, live: int = 100) -> None:
    """n pairs beside `live` areas (made first), the events drained after each pair."""
    floor = Floor(events)
    for _ in range(live):
        floor.vmalloc(4096)
    floor.events.clear()
    for _ in range(n):
        floor.vfree(floor.vmalloc(4096))
        floor.events.clear()
