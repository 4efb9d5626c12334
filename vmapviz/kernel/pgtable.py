"""/*** Page table manipulation functions ***/, page frames, and per-CPU TLBs.

The kernel page table maps a virtual page number to a page frame, an int id handed out
by a small LIFO page allocator.  Each CPU's TLB has the same shape.  Simplification: a
TLB never evicts, so it shows the worst case, every stale entry kept until a flush
removes it.

`dead` holds the pages whose PTEs are still set although their user has freed them:
lazily freed areas and dirty vmap block regions, the aliases lazy flushing leaves
behind.  A TLB entry for a dead page is a stale entry.

Representation: pages are grouped by PAGES (1,024: 4 MiB of 4 KiB pages, like a page
table page of a 32-bit x86), one `PageMap` page per group that has an entry: an int
bitmap of the entries present and an `array` of their frames.  So a vmap block's or an
area's pages are a bit range, stale entries are counted with one AND a group, and a
checkpoint pickles a few arrays instead of a dict of big ints.
"""

from __future__ import annotations

from array import array
from copyreg import __newobj__  # type: ignore[attr-defined]
from itertools import compress
from operator import eq
from pickle import PickleBuffer
from typing import Any, Iterable, Iterator

from .compiled import mypyc_attr

SHIFT = 10
PAGES = 1 << SHIFT          # entries per group
LOW = PAGES - 1


def spans(lo: int, hi: int) -> Iterator[tuple[int, int, int]]:
    """(group, i, j) for each group [lo, hi) meets: its entries i..j-1."""
    if hi <= lo:
        return
    for g in range(lo >> SHIFT, ((hi - 1) >> SHIFT) + 1):
        base = g << SHIFT
        yield g, max(lo, base) - base, min(hi, base + PAGES) - base


def groups(lo: int, hi: int, have) -> list[tuple[int, int]]:
    """(group, bitmap of its pages in [lo, hi)) for the groups of the range that `have`
    (a dict by group) holds: a huge range costs what is there, not its length."""
    g0, g1 = lo >> SHIFT, (hi - 1) >> SHIFT
    if g0 == g1:                                # one group: the usual case
        return [(g0, ((1 << (hi - lo)) - 1) << (lo & LOW))] if g0 in have else []
    if g1 - g0 < len(have):
        todo = [g for g in range(g0, g1 + 1) if g in have]
    else:
        todo = sorted(g for g in have if g0 <= g <= g1)
    out = []
    for g in todo:
        base = g << SHIFT
        i, j = max(lo, base) - base, min(hi, base + PAGES) - base
        out.append((g, ((1 << (j - i)) - 1) << i))
    return out


def vpns(g: int, bits: int) -> Iterator[int]:
    """The page numbers of the set bits of group g's bitmap, lowest first."""
    base = g << SHIFT
    while bits:
        low = bits & -bits
        yield base + low.bit_length() - 1
        bits ^= low


def count_in(masks, lo: int, hi: int) -> int:
    """How many pages of [lo, hi) a bitmap per group ((group, bits) pairs or a dict)
    holds."""
    have = dict(masks)
    return sum((have[g] & bits).bit_count() for g, bits in groups(lo, hi, have))


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class PageSet:
    """A set of page numbers: a bitmap per group (dead pages); a group with no page
    has no entry.  The size is counted when asked, not kept."""

    __slots__ = ("bits",)

    def __init__(self) -> None:
        self.bits: dict[int, int] = {}

    def __len__(self) -> int:
        return sum(bits.bit_count() for bits in self.bits.values())

    def __bool__(self) -> bool:
        return bool(self.bits)

    def __contains__(self, vpn: int) -> bool:
        return self.bits.get(vpn >> SHIFT, 0) >> (vpn & LOW) & 1 == 1

    def __iter__(self) -> Iterator[int]:
        for g in sorted(self.bits):
            yield from vpns(g, self.bits[g])

    def __eq__(self, other) -> bool:
        return set(self) == set(other)

    def drop_bits(self, g: int, bits: int) -> None:
        old = self.bits.get(g, 0)
        if old & bits:
            if old & ~bits:
                self.bits[g] = old & ~bits
            else:
                del self.bits[g]


_EMPTY = {code: array(code, bytes(array(code).itemsize * PAGES)) for code in "IQ"}   # a new group


def frame_type(nr_pages: int) -> str:
    """The array type code that holds every frame number of a machine of nr_pages."""
    return "I" if nr_pages < 1 << 32 else "Q"


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class PageMap:
    """Page number -> frame (the page table, a TLB): per group, a bitmap of the entries
    present and an array of frames of type `code` (where a bit is clear, the frame
    means nothing); a group with no entry has neither.  Reads like a dict in page
    number order (get, in, len, items); the size is counted when asked, not kept."""

    __slots__ = ("bits", "frames", "code")

    def __init__(self, code: str = "Q") -> None:
        self.bits: dict[int, int] = {}
        self.frames: dict[int, array[int]] = {}
        self.code = code

    def __len__(self) -> int:
        return sum(bits.bit_count() for bits in self.bits.values())

    def __bool__(self) -> bool:
        return bool(self.bits)

    def __contains__(self, vpn: int) -> bool:
        return self.bits.get(vpn >> SHIFT, 0) >> (vpn & LOW) & 1 == 1

    def get(self, vpn: int, default: int | None = None) -> int | None:
        g = vpn >> SHIFT
        if self.bits.get(g, 0) >> (vpn & LOW) & 1:
            return self.frames[g][vpn & LOW]
        return default

    def __iter__(self) -> Iterator[int]:
        for g in sorted(self.bits):
            yield from vpns(g, self.bits[g])

    def keys(self) -> Iterator[int]:
        return iter(self)

    def items(self) -> Iterator[tuple[int, int]]:
        for g in sorted(self.bits):
            frames = self.frames[g]
            for vpn in vpns(g, self.bits[g]):
                yield vpn, frames[vpn & LOW]

    def __eq__(self, other) -> bool:
        return dict(self.items()) == dict(other.items())

    def copy(self) -> dict[int, int]:
        return dict(self.items())

    def __reduce_ex__(self, protocol):  # type: ignore[override]
        """Pickled with each group's frames as a PickleBuffer from protocol 5: a
        checkpoint that pickles with a buffer_callback takes them out of band, copied
        once (or shared with the checkpoint before: run.timeline's Checkpoint),
        instead of writing every byte through the pickle stream; bytes for older
        protocols (and copy.deepcopy).  The frames go as a list in the order of `bits`,
        read in C: their groups are not pickled twice."""
        wrap = PickleBuffer if protocol >= 5 else array.tobytes
        return PageMap, (self.code,), (self.code, self.bits,
                                       list(map(wrap, map(self.frames.__getitem__, self.bits))))

    def __setstate__(self, state: tuple) -> None:
        self.code, self.bits, frames = state
        code = self.code
        self.frames = {g: array(code, buf) for g, buf in zip(self.bits, frames)}

    def new_group(self, g: int) -> array[int]:
        """The frames of group g, made for its first entry."""
        self.frames[g] = group = array(self.code, _EMPTY[self.code])
        return group

    def set(self, vpn: int, frame: int) -> None:
        g, i = vpn >> SHIFT, vpn & LOW
        old = self.bits.get(g, 0)
        (self.frames[g] if old else self.new_group(g))[i] = frame
        self.bits[g] = old | 1 << i

    def set_run(self, g: int, i: int, bits: int, frames: array[int], old: int) -> None:
        """Entries i.. of group g (`bits` their bitmap, none present yet) map `frames`,
        an array of this map's type (PageAllocator hands frames out so).  `old` is the
        group's bitmap now, which the caller has read.  (The one-group fast paths of
        PageTable.vmap_page_range() and walk() do this without the call.)"""
        (self.frames[g] if old else self.new_group(g))[i:i + len(frames)] = frames
        self.bits[g] = old | bits

    def drop_bits(self, g: int, bits: int) -> int:
        """Remove group g's entries under `bits`; how many were there."""
        old = self.bits.get(g, 0)
        gone = old & bits
        if not gone:
            return 0
        if old & ~bits:
            self.bits[g] = old & ~bits
        else:
            del self.bits[g], self.frames[g]
        return gone.bit_count()

    def clear(self) -> None:
        self.bits.clear()
        self.frames.clear()


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class PageAllocator:
    """alloc_page() / __free_page(): page frames numbered from 1, freed ones reused
    last-in first-out (like the per-CPU hot lists); fewer than asked once all
    `nr_pages` frames of the machine's memory are in use.  The frames in use are
    derived: every frame handed out so far but those on the free list.  Frames go
    out and come back as arrays of the page table's type (frame_type), which it
    copies into its groups as they are."""

    __slots__ = ("nr_pages", "next_pfn", "free")

    def __init__(self, nr_pages: int) -> None:
        self.nr_pages = nr_pages
        self.next_pfn = 1
        self.free: array[int] = array(frame_type(nr_pages))   # the next reused last

    @property
    def free_list(self) -> list[int]:
        """The free frames, the next reused last."""
        return self.free.tolist()

    @property
    def allocated(self) -> set[int]:
        """The frames in use."""
        return set(range(1, self.next_pfn)).difference(self.free)

    def alloc_pages(self, count: int) -> array[int]:
        """`count` frames, fewer when memory runs out first: freed ones first, the
        newest freed first, then fresh ones."""
        free = self.free
        if 0 < count <= len(free):          # the usual case: all of them freed ones
            pfns = free[:-count - 1:-1]
            del free[-count:]
            return pfns
        count = min(count, self.nr_pages - (self.next_pfn - 1 - len(free)))
        reused = min(count, len(free))
        pfns = free[-1:-reused - 1:-1]
        del free[len(free) - reused:]
        fresh = self.next_pfn
        self.next_pfn += count - reused
        pfns.extend(range(fresh, self.next_pfn))
        return pfns

    def free_pages(self, pfns: Iterable[int]) -> None:
        """__free_page() of each frame in order: the last freed is the next reused."""
        self.free.extend(pfns)


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class PageTable:
    """init_mm's kernel page table and every CPU's TLB."""

    __slots__ = ("stats", "shift", "ptes", "tlbs", "dead")

    def __init__(self, nr_cpus: int, page_shift: int, stats, nr_pages: int = 1 << 32) -> None:
        self.stats = stats          # counts PTEs set and cleared
        self.shift = page_shift
        code = frame_type(nr_pages)
        self.ptes = PageMap(code)
        self.tlbs = [PageMap(code) for _ in range(nr_cpus)]
        self.dead = PageSet()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with the dead pages as a flag for each group of the page table, set
        where its dead pages are all its PTEs (most are: a lazily freed area's pages
        and a dirty vmap block's stay mapped until a purge), and the bitmaps of the
        other groups: a bitmap of 1,024 bits costs a conversion to bytes each time it
        is pickled.  Read in C (map, compress, set difference), not group by group."""
        present, dead = self.ptes.bits, self.dead.bits
        whole = bytes(map(eq, map(dead.get, present), present.values()))
        rest = {g: dead[g] for g in dead.keys() - set(compress(present, whole))}
        return __newobj__, (PageTable,), (self.stats, self.shift, self.ptes, self.tlbs, whole, rest)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.stats, self.shift, self.ptes, self.tlbs, whole, rest = state
        present = self.ptes.bits
        self.dead = dead = PageSet()
        dead.bits = {g: present[g] for g in compress(present, whole)}
        dead.bits.update(rest)

    def vmap_page_range(self, start: int, end: int, frames: array[int]) -> tuple[int, int] | None:
        """vmap_page_range(): map frames[N] at start + N pages (an array from
        PageAllocator; fewer frames than pages when memory ran out: the caller's page
        array has a NULL there).  Returns None when every page is mapped, else (err,
        nr): err -EBUSY (a PTE already present) or -ENOMEM (a NULL page), and nr the
        PTEs set before it stopped; the caller emits the WARN."""
        ptes = self.ptes
        shift = self.shift
        vpn = start >> shift
        count = (end - start) >> shift
        i = vpn & LOW
        if count == len(frames) and 0 < count <= PAGES - i:
            # One group, every page given: the usual case.
            g, bits = vpn >> SHIFT, ((1 << count) - 1) << i
            have = ptes.bits
            old = have.get(g, 0)
            if not old & bits:              # ptes.set_run() without its call
                (ptes.frames[g] if old else ptes.new_group(g))[i:i + count] = frames
                have[g] = old | bits
                self.stats.ptes_set += count
                return None
        if len(frames) >= count:
            runs = [(g, i, j, ((1 << (j - i)) - 1) << i) for g, i, j in spans(vpn, vpn + count)]
            if not any(ptes.bits.get(g, 0) & bits for g, _, _, bits in runs):   # none mapped yet
                k = 0
                for g, i, j, bits in runs:
                    ptes.set_run(g, i, bits, frames[k:k + j - i], ptes.bits.get(g, 0))
                    k += j - i
                self.stats.ptes_set += count
                return None
        for nr in range(count):
            if vpn + nr in ptes:
                return -EBUSY, nr
            if nr == len(frames):
                return -ENOMEM, nr
            ptes.set(vpn + nr, frames[nr])
            self.stats.ptes_set += 1
        return None

    def vunmap_page_range(self, start: int, end: int) -> int:
        """vunmap_page_range(): clear the PTEs of [start, end); returns how many were set."""
        lo, hi = start >> self.shift, end >> self.shift
        if hi <= lo:
            return 0
        ptes, dead = self.ptes, self.dead
        cleared = 0
        g = lo >> SHIFT
        if g == (hi - 1) >> SHIFT:                  # one group: the usual case, no lookup
            todo: Iterable[tuple[int, int]] = ((g, ((1 << (hi - lo)) - 1) << (lo & LOW)),)
        else:
            todo = groups(lo, hi, ptes.bits)
        for g, bits in todo:
            dead.drop_bits(g, bits)
            cleared += ptes.drop_bits(g, bits)
        self.stats.ptes_cleared += cleared
        return cleared

    def vunmap_page_ranges(self, ranges: Iterable[tuple[int, int]]) -> None:
        """vunmap_page_range() of each [start, end) of `ranges` (a purge's areas, one
        after another), in one call: the ranges' pages are gathered into one bitmap a
        group, then each group is cleared once.  Clearing is the same whether range by
        range or all at once, and so is the count of PTEs cleared (a PTE is counted the
        first time it is cleared, and the union holds it once)."""
        shift, have = self.shift, self.ptes.bits
        todo: dict[int, int] = {}
        for start, end in ranges:
            lo, hi = start >> shift, end >> shift
            g = lo >> SHIFT
            if lo < hi and g == (hi - 1) >> SHIFT:      # one group: the usual case
                todo[g] = todo.get(g, 0) | ((1 << (hi - lo)) - 1) << (lo & LOW)
            elif lo < hi:
                for g, bits in groups(lo, hi, have):
                    todo[g] = todo.get(g, 0) | bits
        ptes, dead = self.ptes, self.dead
        cleared = 0
        for g, bits in todo.items():
            dead.drop_bits(g, bits)
            cleared += ptes.drop_bits(g, bits)
        self.stats.ptes_cleared += cleared

    def mark_dead(self, start: int, end: int) -> None:
        """The user of [start, end) freed it; its PTEs stay until a purge."""
        shift = self.shift
        lo, hi = start >> shift, end >> shift
        g = lo >> SHIFT
        if lo < hi and g == (hi - 1) >> SHIFT:      # one group: the usual case
            mapped = self.ptes.bits.get(g, 0) & ((1 << (hi - lo)) - 1) << (lo & LOW)
            if mapped:
                dead = self.dead.bits
                dead[g] = dead.get(g, 0) | mapped
            return
        if hi <= lo:
            return
        for g, bits in groups(lo, hi, self.ptes.bits):
            self.mark_dead_bits(g << SHIFT, bits)

    def mark_dead_bits(self, vpn: int, bits: int) -> None:
        """mark_dead() of the pages under `bits` from page vpn on, all in vpn's group
        (as a vmap block's region is: a block is at most a group, and aligned)."""
        g = vpn >> SHIFT
        mapped = self.ptes.bits.get(g, 0) & bits << (vpn & LOW)
        if mapped:
            dead = self.dead.bits
            dead[g] = dead.get(g, 0) | mapped

    def walk(self, cpu: int, vpn: int, n: int) -> tuple[list[int], list[int], int | None] | None:
        """A kernel access to n pages from vpn on `cpu`, page by page through its TLB,
        filled from the page table (each fill a TLB miss, counted in stats), stopping
        at the first unmapped page.  Returns None when every page went through a
        current entry or a fill from a live PTE, else (pages through a stale TLB
        entry, dead pages reached through a PTE, the unmapped page or None)."""
        ptes, tlb = self.ptes, self.tlbs[cpu]
        i = vpn & LOW
        if 0 < n <= PAGES - i:                      # one group: the usual case
            g, bits = vpn >> SHIFT, ((1 << n) - 1) << i
            if ptes.bits.get(g, 0) & bits == bits and not self.dead.bits.get(g, 0) & bits:
                have = tlb.bits
                held = have.get(g, 0)
                if not held & bits:                 # every page a TLB miss: tlb.set_run()
                    (tlb.frames[g] if held else tlb.new_group(g))[i:i + n] = ptes.frames[g][i:i + n]
                    have[g] = held | bits
                    self.stats.tlb_misses += n
                    return None
                if held & bits == bits and tlb.frames[g][i:i + n] == ptes.frames[g][i:i + n]:
                    return None                     # every page through a current entry
        dead = self.dead
        fills = []               # every page mapped, none dead: each group all cached or none
        for g, i, j in spans(vpn, vpn + n):
            bits = ((1 << (j - i)) - 1) << i
            if ptes.bits.get(g, 0) & bits != bits or dead.bits.get(g, 0) & bits:
                break
            cached = tlb.bits.get(g, 0) & bits
            if not cached:
                fills.append((g, i, j, bits))
            elif cached != bits or tlb.frames[g][i:j] != ptes.frames[g][i:j]:
                break
        else:
            for g, i, j, bits in fills:
                tlb.set_run(g, i, bits, ptes.frames[g][i:j], tlb.bits.get(g, 0))
                self.stats.tlb_misses += j - i
            return None
        stale: list[int] = []
        freed: list[int] = []
        for v in range(vpn, vpn + n):
            pte = ptes.get(v)
            entry = tlb.get(v)
            if entry is not None and entry != pte:
                stale.append(v)
            elif pte is None:
                return stale, freed, v
            else:
                if entry is None:
                    tlb.set(v, pte)
                    self.stats.tlb_misses += 1
                if v in dead:
                    freed.append(v)
        return (stale, freed, None) if stale or freed else None

    def flush_range(self, start: int, end: int) -> tuple[int, int]:
        """Drop [start, end) from every CPU's TLB (a range flush, as ARM's
        flush_tlb_kernel_range()); returns (entries dropped, how many were stale)."""
        lo, hi = start >> self.shift, end >> self.shift
        entries = stale = 0
        for tlb in self.tlbs:
            if tlb.bits:
                for g, bits in groups(lo, hi, tlb.bits):
                    stale += self._stale_in(tlb, g, bits)
                    entries += tlb.drop_bits(g, bits)
        return entries, stale

    def flush_all(self) -> tuple[int, int]:
        """Empty every CPU's TLB (x86's flush_tlb_all()); returns (entries dropped, how
        many were stale)."""
        entries = stale = 0
        for tlb in self.tlbs:
            entries += len(tlb)
            stale += sum(self._stale_in(tlb, g, -1) for g in tlb.bits)
            tlb.clear()
        return entries, stale

    def _stale_in(self, tlb: PageMap, g: int, bits: int) -> int:
        """Entries of `tlb` in group g under `bits` that map what the page table no
        longer maps there, or a page its user freed."""
        held = tlb.bits.get(g, 0) & bits
        if not held:
            return 0
        mapped = self.ptes.bits.get(g, 0)
        dead = self.dead.bits.get(g, 0)
        n = (held & ~(mapped & ~dead)).bit_count()     # unmapped or dead
        live = held & mapped & ~dead
        if live:
            ours, theirs = tlb.frames[g], self.ptes.frames[g]
            n += sum(1 for v in vpns(0, live) if ours[v] != theirs[v])
        return n

    def stale_bits(self, cpu: int) -> tuple[tuple[int, int], ...]:
        """(group, bitmap) of the pages this CPU's TLB still maps although their user
        freed them: a PTE left for lazy flushing (dead), or no PTE at all any more
        (6.12 clears PTEs at free and only the flush waits).  A PTE that maps another
        frame cannot meet a stale entry between calls: a page is mapped anew only after
        the flush.  Plain ints, cheap to hand to a snapshot."""
        held, dead, mapped = self.tlbs[cpu].bits, self.dead.bits, self.ptes.bits
        out = []
        for g in sorted(held):
            both = held[g] & (dead.get(g, 0) | ~mapped.get(g, 0))
            if both:
                out.append((g, both))
        return tuple(out)

    def stale(self, cpu: int) -> set[int]:
        """The pages this CPU's TLB still maps although their user freed them."""
        return {v for g, bits in self.stale_bits(cpu) for v in vpns(g, bits)}


EBUSY = 16
ENOMEM = 12
