"""/*** Page table manipulation functions ***/, page frames, and per-CPU TLBs.

The kernel page table is a dict from virtual page number to page frame; a page frame
is an int id handed out by a small LIFO page allocator.  Each CPU's TLB is a dict of
the same shape.  Simplification: a TLB never evicts, so it shows the worst case, every
stale entry kept until a flush removes it.

`dead` holds the pages whose PTEs are still set although their user has freed them:
lazily freed areas and dirty vmap block regions, the aliases lazy flushing leaves
behind.  A TLB entry for a dead page is a stale entry.
"""

from __future__ import annotations


class PageAllocator:
    """alloc_page() / __free_page(): page frames numbered from 1, freed ones reused
    last-in first-out (like the per-CPU hot lists); fewer than asked once all
    `nr_pages` frames of the machine's memory are in use."""

    def __init__(self, nr_pages: int) -> None:
        self.nr_pages = nr_pages
        self.next_pfn = 1
        self.free_list: list[int] = []
        self.allocated: set[int] = set()

    def alloc_pages(self, count: int) -> list[int]:
        """`count` frames, fewer when memory runs out first: freed ones first, the
        newest freed first, then fresh ones."""
        count = min(count, self.nr_pages - len(self.allocated))
        free = self.free_list
        reused = min(count, len(free))
        pfns = free[-1:-reused - 1:-1]
        del free[len(free) - reused:]
        fresh = self.next_pfn
        self.next_pfn += count - reused
        pfns.extend(range(fresh, self.next_pfn))
        self.allocated.update(pfns)
        return pfns

    def free_pages(self, pfns) -> None:
        """__free_page() of each frame in order: the last freed is the next reused."""
        self.allocated.difference_update(pfns)
        self.free_list.extend(pfns)


class PageTable:
    """init_mm's kernel page table and every CPU's TLB."""

    def __init__(self, nr_cpus: int, page_shift: int, stats) -> None:
        self.stats = stats          # counts PTEs set and cleared
        self.shift = page_shift
        self.ptes: dict[int, int] = {}
        self.tlbs: list[dict[int, int]] = [{} for _ in range(nr_cpus)]
        self.dead: set[int] = set()

    def vmap_page_range(self, start: int, end: int, frames: list[int | None]) -> tuple[int, int]:
        """vmap_page_range(): map frames[N] at start + N pages.  Returns (err, nr):
        err 0 or -EBUSY (a PTE already present) or -ENOMEM (a missing page), and nr the
        PTEs set before it stopped; the caller emits the WARN."""
        ptes = self.ptes
        vpn = start >> self.shift
        count = (end - start) >> self.shift
        vpns = range(vpn, vpn + count)
        if len(frames) >= count and None not in frames and ptes.keys().isdisjoint(vpns):
            ptes.update(zip(vpns, frames))     # the usual case: every PTE set
            self.stats.ptes_set += count
            return 0, count
        for nr in range(count):
            if vpn + nr in ptes:
                return -EBUSY, nr
            frame = frames[nr]
            if frame is None:
                return -ENOMEM, nr
            ptes[vpn + nr] = frame
            self.stats.ptes_set += 1
        return 0, (end - start) >> self.shift

    def vunmap_page_range(self, start: int, end: int) -> int:
        """vunmap_page_range(): clear the PTEs of [start, end); returns how many were set."""
        lo, hi = start >> self.shift, end >> self.shift
        _drop_range(self.dead, lo, hi)
        cleared = _drop_range(self.ptes, lo, hi)
        self.stats.ptes_cleared += cleared
        return cleared

    def mark_dead(self, start: int, end: int) -> None:
        """The user of [start, end) freed it; its PTEs stay until a purge."""
        ptes = self.ptes
        lo, hi = start >> self.shift, end >> self.shift
        if hi - lo <= len(ptes):
            self.dead.update(filter(ptes.__contains__, range(lo, hi)))
        else:
            self.dead.update(v for v in ptes if lo <= v < hi)

    def flush_range(self, start: int, end: int) -> tuple[int, int]:
        """Drop [start, end) from every CPU's TLB (a range flush, as ARM's
        flush_tlb_kernel_range()); returns (entries dropped, how many were stale)."""
        lo, hi = start >> self.shift, end >> self.shift
        stale = sum(self._stale_in(tlb, lo, hi) for tlb in self.tlbs)
        return sum(_drop_range(tlb, lo, hi) for tlb in self.tlbs), stale

    def flush_all(self) -> tuple[int, int]:
        """Empty every CPU's TLB (x86's flush_tlb_all()); returns (entries dropped, how
        many were stale)."""
        entries = sum(len(tlb) for tlb in self.tlbs)
        stale = sum(self._stale_in(tlb, 0, None) for tlb in self.tlbs)
        for tlb in self.tlbs:
            tlb.clear()
        return entries, stale

    def _stale_in(self, tlb: dict[int, int], lo: int, hi: int | None) -> int:
        """Entries of `tlb` in [lo, hi) that map what the page table no longer maps
        there, or a page its user freed."""
        ptes, dead = self.ptes, self.dead
        return sum(1 for vpn, pfn in tlb.items()
                   if (hi is None or lo <= vpn < hi) and (ptes.get(vpn) != pfn or vpn in dead))

    def stale(self, cpu: int) -> set[int]:
        """The pages this CPU's TLB still maps although their user freed them: a PTE
        left for lazy flushing (dead), or no PTE at all any more (6.12 clears PTEs at
        free and only the flush waits).  A PTE that maps another frame cannot meet a
        stale entry between calls: a page is mapped anew only after the flush."""
        tlb = self.tlbs[cpu].keys()
        return (tlb & self.dead) | (tlb - self.ptes.keys())


def _drop_range(table: dict[int, int] | set[int], lo: int, hi: int) -> int:
    """Delete keys in [lo, hi) from table, walking whichever is smaller."""
    before = len(table)
    keys = range(lo, hi) if hi - lo <= before else [v for v in table if lo <= v < hi]
    if isinstance(table, set):
        table.difference_update(keys)
    else:
        pop = table.pop
        for vpn in keys:
            pop(vpn, None)
    return before - len(table)


EBUSY = 16
ENOMEM = 12
