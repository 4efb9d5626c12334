"""The least a vm_map_ram(4) + touch + vm_unmap_ram triple can cost in CPython: the
simulator's work for it on one CPU, flattened into one class with none of its structure.

It does what the simulator must do for the triple, and less: check the arguments, find
a naturally aligned region in the CPU's vmap block bitmap (a new block when the block
is full), take 4 page frames from a LIFO free list, set 4 PTEs, walk 4 pages through the
TLB, mark the region dirty and its pages dead, give the frames back, and when every bit
of the block is dirty, clear its PTEs and flush the TLB.  `events`: also record what the
simulator records, a Call and a Return per op, the block events and the two details
(as plain tuples, cheaper than the simulator's typed events).  It leaves out the vmap
area tree, the lazy list, the purge threshold, the counters and the checks.

bench_floor.py times it, counts its instructions, and compiles it with mypyc.
"""

from __future__ import annotations

VMALLOC_START = 0xFFFFC20000000000
PAGE_SHIFT = 12
BITS = 1024                                # VMAP_BBMAP_BITS
FULL = (1 << BITS) - 1
ULONG_MAX = (1 << 64) - 1


class Floor:
    def __init__(self, events: bool) -> None:
        self.record = events
        self.events: list[tuple] = []
        self.op = 0
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

    def _call(self, name: str, args: tuple) -> int:
        for value in args:
            if type(value) is not int or not 0 <= value <= ULONG_MAX:
                raise ValueError(name)
        self.op += 1
        if self.record:
            self.events.append(("call", self.op, 0, name, args))
        return self.op

    def triple(self) -> None:
        # vm_map_ram(4)
        op = self._call("vm_map_ram", (4,))
        bitmap = self.alloc_map
        pos = (((bitmap ^ (bitmap + 1)).bit_length() - 1) + 3) & -4
        if pos + 4 > BITS:
            self.block_id += 1
            self.block_start += BITS << PAGE_SHIFT
            self.alloc_map = bitmap = self.dirty_map = pos = 0
            if self.record:
                self.events.append(("block-new", op, 0, self.block_id, self.block_start))
        self.alloc_map = bitmap | (15 << pos)
        addr = self.block_start + (pos << PAGE_SHIFT)
        free = self.free_list
        reused = min(4, len(free))
        pfns = free[-1:-reused - 1:-1]
        del free[len(free) - reused:]
        pfns.extend(range(self.next_pfn, self.next_pfn + 4 - reused))
        self.next_pfn += 4 - reused
        self.allocated.update(pfns)
        vpn = addr >> PAGE_SHIFT
        vpns = range(vpn, vpn + 4)
        if self.ptes.keys().isdisjoint(vpns):
            self.ptes.update(zip(vpns, pfns))
        if self.record:
            self.events.append(("block-alloc", op, 0, self.block_id, pos, 4, addr))
            self.events.append(("return", op, 0, "vm_map_ram", (4,), addr,
                                f"block #{self.block_id}, bits {pos}-{pos + 3}"))
        # touch(addr, 4)
        op = self._call("touch", (addr, 4))
        mapped: list = list(map(self.ptes.get, vpns))
        if None not in mapped and self.dead.isdisjoint(vpns):
            if list(map(self.tlb.get, vpns)) != mapped:
                self.tlb.update(zip(vpns, mapped))
        if self.record:
            self.events.append(("return", op, 0, "touch", (addr, 4), "ok", ""))
        # vm_unmap_ram(addr, 4)
        op = self._call("vm_unmap_ram", (addr, 4))
        self.dirty_map |= 15 << pos
        self.dead.update(vpns)
        self.allocated.difference_update(pfns)
        free.extend(pfns)
        if self.record:
            self.events.append(("block-dirty", op, 0, self.block_id, pos, 4))
        if self.dirty_map == FULL:          # the whole block is dirty: unmap it and flush
            first = self.block_start >> PAGE_SHIFT
            for v in range(first, first + BITS):
                self.ptes.pop(v, None)
            self.dead.clear()
            self.tlb.clear()
            if self.record:
                self.events.append(("flush", op, 0, self.block_start, self.block_start + (BITS << PAGE_SHIFT)))
        if self.record:
            self.events.append(("return", op, 0, "vm_unmap_ram", (addr, 4), None,
                                f"block #{self.block_id}, bits {pos}-{pos + 3} dirty"))


def run(n: int, events: bool) -> None:
    """n triples, the events drained after each (as the benchmarks drain them)."""
    floor = Floor(events)
    for _ in range(n):
        floor.triple()
        floor.events.clear()
