"""The least a vm_map_ram(4) + touch + vm_unmap_ram triple can cost in CPython with the
simulator's own representations: its work for the triple (merged v2.6.28, 64-bit, any
number of CPUs) flattened into one class with none of its structure, appending the
records the simulator appends, equal to them (check() runs both side by side).

The representations are the simulator's (vmapviz/kernel/pgtable.py): the page table,
each CPU's TLB and the dead pages as a bitmap per group of 1,024 pages (4 MiB, one vmap
block) and, for the page table and TLBs, an `array` of frames per group; frames handed
out from a LIFO free list in an array, as arrays; a block's bitmaps as ints; records as
plain tuples (vmapviz/kernel/events.py).

Each call does what the simulator must do for it, or less.  vm_map_ram(): check the
arguments and the CPU, number the op, take the next aligned region of the CPU's block
(a new block when it has none: the lowest free 4 MiB slot, the area's walk counted),
take the frames, set the PTEs of one group.  touch(): the pages through the CPU's TLB,
filled from the page table.  vm_unmap_ram(): the block by its index, the honesty test
of vb_free() (the mapping's own, of its order), the region dirty and its pages dead, the block on the dirty list the first
time, the frames given back; a block all dirty leaves the lists and its area is freed
lazily (vmap_lazy_nr); past lazy_max_pages, the purge clears the lazy blocks' PTEs and
dead pages, flushes every TLB (x86: flush_tlb_all(), the stale entries counted) and
frees their slots.

What it leaves out, and why that is sound for the triple: the vmap area tree (every
area is a vmap block, 4 MiB and aligned to 4 MiB, so the address space is a bitmap of
slots: first fit with v2.6.28's guard page after each area is the lowest free slot
whose lower neighbour is free too, and the walk passes every area below it); each CPU's
free list as a list (a block of 4-page regions fills exactly, so it holds at most one
block); the search of a bitmap that is not a filled prefix, the general page-table and
TLB paths (several groups, a PTE present, a stale or dead page met), running out of
frames or address space, and every misuse (each raises Unmodelled where the simulator
would take such a path); the counters (Stats) and the invariant checks.  The posted version's overlap handling and the other generations are not
modelled: Floor boots merged with x86's whole-TLB flush only.

bench_floor.py times it, counts its instructions, compiles it with mypyc, and runs
check() (--check).
"""

from __future__ import annotations

from array import array
from typing import Any

from vmapviz.kernel import Config
from vmapviz.kernel.events import (VOID, AreaAlloc, AreaLazyFree, BlockAlloc, BlockDirty, BlockFree, BlockNew,
                                   Purge, Return, TlbFlush)

SHIFT = 10                      # pgtable.SHIFT: 1,024 pages a group
PAGES = 1 << SHIFT
LOW = PAGES - 1
UINT_MAX = (1 << 32) - 1
MAPPED = "block #{}, bits {}-{}"             # the details' templates (RewriteKernel)
DIRTIED = "block #{}, bits {}-{} dirty"


class Unmodelled(Exception):
    """The simulator would take a path the floor leaves out (see the module docstring)."""


class Block:
    """struct vmap_block, as the triple uses it; `slot`: its area's 4 MiB slot (its radix
    tree index) and `g` its group of the page table."""

    __slots__ = ("id", "cpu", "start", "end", "slot", "g", "free", "dirty", "alloc_map", "dirty_map",
                 "on_free_list", "on_dirty_list")

    def __init__(self, id: int, cpu: int, start: int, end: int, slot: int, g: int) -> None:
        self.id = id
        self.cpu = cpu
        self.start = start
        self.end = end
        self.slot = slot
        self.g = g
        self.free = PAGES
        self.dirty = 0
        self.alloc_map = 0
        self.dirty_map = 0
        self.on_free_list = True
        self.on_dirty_list = False


class Floor:
    """The triple's work on `nr_cpus` CPUs; the records since the last drain in `events`."""

    def __init__(self, nr_cpus: int = 1) -> None:
        cfg = Config(nr_cpus=nr_cpus, bits=64)
        if cfg.variant != "merged" or cfg.flush != "all" or cfg.page_shift != 12 \
                or cfg.vmap_bbmap_bits != PAGES or cfg.VMALLOC_START % cfg.vmap_block_size:
            raise Unmodelled("the floor boots merged v2.6.28 on x86-64 with 4 KiB pages only")
        self.nr_cpus = nr_cpus
        self.ulong_max = cfg.ulong_max
        self.start = cfg.VMALLOC_START
        self.end = cfg.VMALLOC_END
        self.block_size = cfg.vmap_block_size
        self.vb_shift = cfg.vmap_block_size.bit_length() - 1
        self.lazy_max_pages = cfg.lazy_max_pages
        self.nr_pages = cfg.num_physpages
        # get_order() of count pages, for each count the blocks take (the simulator's
        # vb_size_order; 0 is misuse, left out).
        self.orders = [0] + [(count - 1).bit_length() for count in range(1, cfg.vmap_max_alloc + 1)]
        self.events: list[tuple[Any, ...]] = []
        self.op = 0
        code = "I" if self.nr_pages < 1 << 32 else "Q"          # pgtable.frame_type()
        self.code = code
        self.empty = array(code, bytes(array(code).itemsize * PAGES))
        self.pte_bits: dict[int, int] = {}                       # the page table
        self.pte_frames: dict[int, array[int]] = {}
        self.tlb_bits: list[dict[int, int]] = [{} for _ in range(nr_cpus)]
        self.tlb_frames: list[dict[int, array[int]]] = [{} for _ in range(nr_cpus)]
        self.dead: dict[int, int] = {}
        self.free: array[int] = array(code)                      # the next reused last
        self.next_pfn = 1
        self.ram_maps: dict[int, array[int]] = {}                # address -> the frames lent
        self.slots = 0                                           # bit s: slot s holds an area
        self.lazy: list[int] = []                                # the lazily freed blocks' slots
        self.vmap_lazy_nr = 0
        self.blocks: dict[int, Block] = {}                       # the radix tree, by slot
        self.block_ids = 0
        self.free_list: list[Block | None] = [None] * nr_cpus    # each CPU's, at most one block
        self.dirty_list: list[list[Block]] = [[] for _ in range(nr_cpus)]

    def drain_records(self) -> list[tuple[Any, ...]]:
        out, self.events = self.events, []
        return out

    def vm_map_ram(self, count: int, cpu: int = 0) -> int:
        if type(count) is not int or not 0 <= count <= UINT_MAX:
            raise ValueError(f"count {count!r}")
        if type(cpu) is not int or not 0 <= cpu < self.nr_cpus:
            raise ValueError(f"cpu {cpu!r}")
        self.op = op = self.op + 1
        if not 0 < count < len(self.orders):
            raise Unmodelled("a count of 0 or over VMAP_MAX_ALLOC")
        order = self.orders[count]
        nbits = 1 << order
        # vb_alloc(): the first region above the pages handed out
        vb = self.free_list[cpu]
        if vb is None:
            vb = self.new_vmap_block(cpu, op)
        used = PAGES - vb.free
        i = (used + nbits - 1) & -nbits
        if vb.alloc_map.bit_length() != used or i + nbits > PAGES:
            raise Unmodelled("a block not filled from the bottom, or without room")
        vb.alloc_map |= ((1 << nbits) - 1) << i
        vb.free = left = vb.free - nbits
        if not left:
            self.free_list[cpu] = None
            vb.on_free_list = False
        addr = vb.start + (i << 12)
        self.events.append((BlockAlloc, op, cpu, vb.id, i, nbits, addr))
        # alloc_pages(count): the newest freed first
        free = self.free
        if count <= len(free):
            frames = free[:-count - 1:-1]
            del free[-count:]
        else:
            reused = len(free)
            if self.next_pfn - 1 - reused + count > self.nr_pages:
                raise Unmodelled("out of frames")
            frames = free[::-1]
            del free[:]
            fresh = self.next_pfn
            self.next_pfn += count - reused
            frames.extend(range(fresh, self.next_pfn))
        # vmap_page_range(): the region lies in its block's group
        g, j = vb.g, addr >> 12 & LOW
        bits = ((1 << count) - 1) << j
        old = self.pte_bits.get(g, 0)
        if old & bits:
            raise Unmodelled("a PTE present")
        if old:
            group = self.pte_frames[g]
        else:
            self.pte_frames[g] = group = array(self.code, self.empty)
        group[j:j + count] = frames
        self.pte_bits[g] = old | bits
        self.ram_maps[addr] = frames
        self.events.append((Return, op, cpu, "vm_map_ram", (count,), addr, (MAPPED, vb.id, i, i + nbits - 1)))
        return addr

    def new_vmap_block(self, cpu: int, op: int) -> Block:
        """new_vmap_block(): alloc_vmap_area()'s first fit among the 4 MiB slots (slot s
        fits when it and, for s > 0, slot s - 1 are free: the area below ends a guard
        page short of slot s - 1's end, so it reaches into s - 1 with that page); the
        walk passes every area below it.  Then the radix tree and the CPU's free list."""
        slots = self.slots
        fits = ~slots & (~slots << 1 | 1)
        s = (fits & -fits).bit_length() - 1
        start = self.start + (s << self.vb_shift)
        end = start + self.block_size
        if end > self.end:
            raise Unmodelled("out of address space: a purge and a retry")
        self.slots = slots | 1 << s
        self.events.append((AreaAlloc, op, cpu, start, end, "vmap_block", (slots & ((1 << s) - 1)).bit_count(),
                            "alloc_vmap_area"))
        self.block_ids += 1
        vb = self.blocks[s] = self.free_list[cpu] = Block(self.block_ids, cpu, start, end, s, start >> (12 + SHIFT))
        self.events.append((BlockNew, op, cpu, vb.id, start, end))
        return vb

    def touch(self, addr: int, nr_pages: int, cpu: int = 0) -> str:
        if (type(addr) is not int or not 0 <= addr <= self.ulong_max or
                type(nr_pages) is not int or not 0 <= nr_pages <= UINT_MAX):
            raise ValueError(f"touch({addr!r}, {nr_pages!r})")
        if type(cpu) is not int or not 0 <= cpu < self.nr_cpus:
            raise ValueError(f"cpu {cpu!r}")
        self.op = op = self.op + 1
        # walk(): pages of one group, all mapped and none dead, none in the TLB yet
        vpn = addr >> 12
        i = vpn & LOW
        if not 0 < nr_pages <= PAGES - i:
            raise Unmodelled("an access over two groups")
        g, bits = vpn >> SHIFT, ((1 << nr_pages) - 1) << i
        if self.pte_bits.get(g, 0) & bits != bits or self.dead.get(g, 0) & bits:
            raise Unmodelled("an unmapped or dead page")
        held = self.tlb_bits[cpu].get(g, 0)
        if held & bits:
            raise Unmodelled("a page in the TLB already")
        if held:
            group = self.tlb_frames[cpu][g]
        else:
            self.tlb_frames[cpu][g] = group = array(self.code, self.empty)
        group[i:i + nr_pages] = self.pte_frames[g][i:i + nr_pages]
        self.tlb_bits[cpu][g] = held | bits
        self.events.append((Return, op, cpu, "touch", (addr, nr_pages), "ok", ""))
        return "ok"

    def vm_unmap_ram(self, addr: int, count: int, cpu: int = 0) -> None:
        if (type(addr) is not int or not 0 <= addr <= self.ulong_max or
                type(count) is not int or not 0 <= count <= UINT_MAX):
            raise ValueError(f"vm_unmap_ram({addr!r}, {count!r})")
        if type(cpu) is not int or not 0 <= cpu < self.nr_cpus:
            raise ValueError(f"cpu {cpu!r}")
        self.op = op = self.op + 1
        if not self.start <= addr <= self.end or addr & 4095 or not 0 < count < len(self.orders):
            raise Unmodelled("vm_unmap_ram()'s BUG_ON()s, a count of 0 or over VMAP_MAX_ALLOC")
        order = self.orders[count]
        nbits = 1 << order
        # vb_free(): the block by its radix tree index, then vb_free()'s honesty test
        vb = self.blocks.get((addr >> self.vb_shift) - (self.start >> self.vb_shift))
        if vb is None:
            raise Unmodelled("no block there")
        pos = (addr - vb.start) >> 12
        region = ((1 << nbits) - 1) << pos
        # vm_map_ram()'s own mapping of the order it took: on a sound kernel (the floor's
        # always is) its region is handed out and clean, as the simulator takes it.
        mine = self.ram_maps.get(addr)
        if mine is None or pos + nbits > PAGES or (len(mine) - 1).bit_length() != order:
            raise Unmodelled("not one honest mapping")
        vb.dirty_map |= region
        g = vb.g                                    # mark_dead(): the region's mapped pages
        mapped = self.pte_bits.get(g, 0) & region
        if mapped:
            self.dead[g] = self.dead.get(g, 0) | mapped
        dirty = vb.dirty
        if not dirty:
            self.dirty_list[vb.cpu].insert(0, vb)
            vb.on_dirty_list = True
        vb.dirty = dirty = dirty + nbits
        self.events.append((BlockDirty, op, cpu, vb.id, pos, nbits, dirty))
        if dirty == PAGES:
            if vb.free or vb.on_free_list:
                raise Unmodelled("BUG_ON(vb->free)")
            self.free_vmap_block(cpu, op, vb)
        self.free.extend(self.ram_maps.pop(addr))  # __free_page() of each, in order
        self.events.append((Return, op, cpu, "vm_unmap_ram", (addr, count), VOID,
                            (DIRTIED, vb.id, pos, pos + nbits - 1)))

    def free_vmap_block(self, cpu: int, op: int, vb: Block) -> None:
        """free_vmap_block(): off the dirty list and the radix tree; its area freed lazily
        (free_unmap_vmap_area()), its pages dead; past lazy_max_pages, a purge."""
        self.dirty_list[vb.cpu].remove(vb)
        vb.on_dirty_list = False
        del self.blocks[vb.slot]
        self.events.append((BlockFree, op, cpu, vb.id, vb.start, vb.end))
        self.lazy.append(vb.slot)
        mapped = self.pte_bits.get(vb.g, 0)
        if mapped:
            self.dead[vb.g] = self.dead.get(vb.g, 0) | mapped
        nr = self.vmap_lazy_nr = self.vmap_lazy_nr + PAGES
        self.events.append((AreaLazyFree, op, cpu, vb.start, vb.end, nr))
        if nr > self.lazy_max_pages:
            self.purge(cpu, op)

    def purge(self, cpu: int, op: int) -> None:
        """__purge_vmap_area_lazy(sync=0): the lazy blocks' PTEs and dead pages cleared
        (one group each), every TLB flushed, their slots freed."""
        lazy = sorted(self.lazy)
        first = self.start >> (12 + SHIFT)      # the group of slot 0
        for s in lazy:
            g = first + s
            self.dead.pop(g, None)
            if self.pte_bits.pop(g, 0):
                del self.pte_frames[g]
        start = self.start + (lazy[0] << self.vb_shift)
        end = self.start + (lazy[-1] << self.vb_shift) + self.block_size
        nr = len(lazy) * PAGES
        self.vmap_lazy_nr -= nr
        self.lazy = []
        self.events.append((Purge, op, cpu, start, end, len(lazy), nr, False, False))
        entries, stale = self.flush_all()
        self.events.append((TlbFlush, op, cpu, start, end, self.nr_cpus - 1, entries, stale, True))
        for s in lazy:
            self.slots &= ~(1 << s)

    def flush_all(self) -> tuple[int, int]:
        """flush_tlb_all() on every CPU: (entries dropped, how many were stale: a page
        unmapped or dead, or mapping another frame than the page table)."""
        entries = stale = 0
        for held_of, frames_of in zip(self.tlb_bits, self.tlb_frames):
            for g, held in held_of.items():
                entries += held.bit_count()
                mapped = self.pte_bits.get(g, 0) & ~self.dead.get(g, 0)
                stale += (held & ~mapped).bit_count()
                live = held & mapped
                while live:
                    low = live & -live
                    v = low.bit_length() - 1
                    stale += frames_of[g][v] != self.pte_frames[g][v]
                    live ^= low
            held_of.clear()
            frames_of.clear()
        return entries, stale


def check(n: int, nr_cpus: int) -> list[str]:
    """n triples on the floor and on the simulator side by side, on CPU i % nr_cpus as
    bench_speed's loop runs them, each triple's records compared as the loop drains them;
    then the final state: page table, TLBs, dead pages, free frames, blocks, their lists,
    the areas and the lazy count.  Returns the differences (empty: equal)."""
    from vmapviz.kernel import Kernel
    k: Any = Kernel(Config(nr_cpus=nr_cpus, bits=64))
    f = Floor(nr_cpus)
    for i in range(n):
        c = i % nr_cpus
        a = k.vm_map_ram(4, cpu=c)
        k.touch(a, 4, cpu=c)
        k.vm_unmap_ram(a, 4, cpu=c)
        b = f.vm_map_ram(4, c)
        f.touch(b, 4, c)
        f.vm_unmap_ram(b, 4, c)
        theirs, ours = k.drain_records(), f.drain_records()
        if theirs != ours:
            return [f"triple {i} on cpu {c}: the simulator recorded {theirs}, the floor {ours}"]
    pt = k.pgtable
    vb_lists = [(vb.id, vb.cpu, vb.start, vb.end, vb.free, vb.dirty, vb.alloc_map, vb.dirty_map, vb.on_free_list,
                 vb.on_dirty_list) for vb in f.blocks.values()]
    pairs = {
        "PTE bitmaps": (pt.ptes.bits, f.pte_bits),
        "PTE frames": (pt.ptes.frames, f.pte_frames),
        "TLB bitmaps": ([t.bits for t in pt.tlbs], f.tlb_bits),
        "TLB frames": ([t.frames for t in pt.tlbs], f.tlb_frames),
        "dead pages": (pt.dead.bits, f.dead),
        "free frames": ((k.pages.free, k.pages.next_pfn), (f.free, f.next_pfn)),
        "frames lent": (k.ram_maps, f.ram_maps),
        "blocks": (sorted((vb.id, vb.cpu, vb.start, vb.end, vb.free, vb.dirty, vb.alloc_map, vb.dirty_map,
                           vb.on_free_list, vb.on_dirty_list) for vb in k.vmap_block_tree.values()),
                   sorted(vb_lists)),
        "block lists": ([([b.id for b in q.free], [b.id for b in q.dirty]) for q in k.vbq],
                        [([] if b is None else [b.id], [d.id for d in dirty])
                         for b, dirty in zip(f.free_list, f.dirty_list)]),
        "areas": ([(a.start, a.end, a.kind, a.state) for a in k.tree.area_list],
                  [(f.start + (s << f.vb_shift), f.start + (s << f.vb_shift) + f.block_size, "vmap_block",
                    "lazy" if s in f.lazy else "busy") for s in range(f.slots.bit_length()) if f.slots >> s & 1]),
        "counts": ((k.op, k.block_ids, k.vmap_lazy_nr), (f.op, f.block_ids, f.vmap_lazy_nr)),
    }
    return [f"{what}: the simulator's {theirs!r:.300}, the floor's {ours!r:.300}"
            for what, (theirs, ours) in pairs.items() if theirs != ours]

