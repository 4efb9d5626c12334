"""The least a vm_map_ram(4) + touch + vm_unmap_ram triple can cost in CPython: the
simulator's work for it on one CPU, flattened into one class with none of its structure.

It does what the simulator must do for the triple, or less: check the arguments, find
a naturally aligned region in the CPU's vmap block bitmap (a new block when the block
is full), take 4 page frames from a LIFO free list, set 4 PTEs, walk 4 pages through the
TLB, mark the region dirty and its pages dead, and give the frames back.  As each block
fills it clears the block's PTEs and the TLB (the simulator frees blocks lazily and
flushes them in batches: the same PTEs cleared, fewer flushes).  `events`: also record
what the simulator records, a Call and a Return per op and the block events, as plain
tuples (cheaper than the simulator's typed events), keeping the fields of the two detail
strings rather than formatting them (as a lazy view could).  It leaves out the vmap area
tree, the lazy list, the purge threshold, the counters and the invariant checks.

bench_floor.py times it, counts its instructions, and compiles it with mypyc.
"""

from __future__ import annotations

VMALLOC_START = 0xFFFFC20000000000
PAGE_SHIFT = 12
BITS = 1024                                # VMAP_BBMAP_BITS
FULL = (1 << BITS) - 1
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
        self.ptes: dict[int, int] = {}
        self.tlb: dict[int, int] = {}
        self.dead: set[int] = set()
        self.free_list: list[int] = []
        self.allocated: set[int] = set()
        self.next_pfn = 1
        self.block_id = 0
        self.block_start = VMALLOC_START - (BITS << PAGE_SHIFT)
        self.alloc_map = FULL                # no block yet
        self.dirty_map = 0

    def triple(self) -> None:
        record, emit, ptes, free = self.record, self.events.append, self.ptes, self.free_list
        # vm_map_ram(4)
        op = self._call("vm_map_ram", (4,))
        bitmap = self.alloc_map
        pos = (((bitmap ^ (bitmap + 1)).bit_length() - 1) + 3) & -4
        if pos + 4 > BITS:
            self.block_id += 1
            self.block_start += BITS << PAGE_SHIFT
            self.alloc_map = bitmap = self.dirty_map = pos = 0
            if record:
                emit(("block-new", op, 0, self.block_id, self.block_start))
        self.alloc_map = bitmap | (15 << pos)
        addr = self.block_start + (pos << PAGE_SHIFT)
        reused = min(4, len(free))
        pfns = free[-1:-reused - 1:-1]
        del free[len(free) - reused:]
        pfns.extend(range(self.next_pfn, self.next_pfn + 4 - reused))
        self.next_pfn += 4 - reused
        self.allocated.update(pfns)
        vpn = addr >> PAGE_SHIFT
        vpns = range(vpn, vpn + 4)
        if ptes.keys().isdisjoint(vpns):
            ptes.update(zip(vpns, pfns))
        if record:
            emit(("block-alloc", op, 0, self.block_id, pos, 4, addr))
            emit(("return", op, 0, "vm_map_ram", (4,), addr, (self.block_id, pos)))
        # touch(addr, 4)
        op = self._call("touch", (addr, 4))
        mapped: list = list(map(ptes.get, vpns))
        if None not in mapped and self.dead.isdisjoint(vpns):
            if list(map(self.tlb.get, vpns)) != mapped:
                self.tlb.update(zip(vpns, mapped))
        if record:
            emit(("return", op, 0, "touch", (addr, 4), "ok", None))
        # vm_unmap_ram(addr, 4)
        op = self._call("vm_unmap_ram", (addr, 4))
        self.dirty_map |= 15 << pos
        self.dead.update(vpns)
        self.allocated.difference_update(pfns)
        free.extend(pfns)
        if record:
            emit(("block-dirty", op, 0, self.block_id, pos, 4))
        if self.dirty_map == FULL:          # the whole block is dirty: unmap it and flush
            first = self.block_start >> PAGE_SHIFT
            pop = ptes.pop
            for v in range(first, first + BITS):
                pop(v, None)
            self.dead.clear()
            self.tlb.clear()
            if record:
                emit(("flush", op, 0, self.block_start, self.block_start + (BITS << PAGE_SHIFT)))
        if record:
            emit(("return", op, 0, "vm_unmap_ram", (addr, 4), None, (self.block_id, pos)))


def run(n: int, events: bool) -> None:
    """n triples, the events drained after each (as the benchmarks drain them)."""
    floor = Floor(events)
    for _ in range(n):
        floor.triple()
        floor.events.clear()
