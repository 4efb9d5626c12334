"""The page table's groups of 1,024 pages (bitmaps and arrays) against the obvious
oracle: dicts and a set, page by page, as the C walks them.  Ranges cross group
boundaries, overlap, start mapped or not; every result and the final state must agree."""

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from vmapviz.kernel.machine import Stats
from vmapviz.kernel.pgtable import PAGES, PageTable, count_in

SHIFT = 12
BASE = 7 * PAGES - 40          # near a group boundary, so small ranges cross it


class Oracle:
    def __init__(self, cpus):
        self.ptes, self.tlbs, self.dead = {}, [{} for _ in range(cpus)], set()

    def map(self, lo, n, frames):
        """frames: fewer than n when memory ran out, the first missing a NULL page."""
        for nr in range(n):
            if lo + nr in self.ptes:
                return -16, nr
            if nr == len(frames):
                return -12, nr
            self.ptes[lo + nr] = frames[nr]
        return 0, n

    def unmap(self, lo, hi):
        gone = [v for v in range(lo, hi) if v in self.ptes]
        for v in gone:
            del self.ptes[v]
        self.dead -= set(range(lo, hi))
        return len(gone)

    def mark_dead(self, lo, hi):
        self.dead |= {v for v in range(lo, hi) if v in self.ptes}

    def walk(self, cpu, lo, n):
        tlb, stale, freed, misses = self.tlbs[cpu], [], [], 0
        for v in range(lo, lo + n):
            pte, cached = self.ptes.get(v), tlb.get(v)
            if cached is not None and cached != pte:
                stale.append(v)
            elif pte is None:
                return stale, freed, v, misses
            else:
                if cached is None:
                    tlb[v] = pte
                    misses += 1
                if v in self.dead:
                    freed.append(v)
        return stale, freed, None, misses

    def is_stale(self, v, pfn):
        return self.ptes.get(v) != pfn or v in self.dead

    def flush(self, lo, hi):
        entries = stale = 0
        for tlb in self.tlbs:
            for v in [v for v in tlb if hi is None or lo <= v < hi]:
                entries += 1
                stale += self.is_stale(v, tlb.pop(v))
        return entries, stale


ranges = st.tuples(st.integers(0, 120), st.integers(0, 90))
steps = st.lists(st.one_of(
    st.tuples(st.just("map"), ranges, st.integers(0, 3)),      # the int: frames given if < 3
    st.tuples(st.just("unmap"), ranges, st.none()),
    st.tuples(st.just("unmaps"), ranges, st.lists(ranges, max_size=3)),   # a purge's: more ranges
    st.tuples(st.just("dead"), ranges, st.none()),
    st.tuples(st.just("walk"), ranges, st.integers(0, 2)),      # the int: the CPU
    st.tuples(st.just("flush"), ranges, st.booleans())), max_size=40)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_groups_agree_with_dicts_page_by_page(steps):
    pt, o = PageTable(3, SHIFT, Stats(3)), Oracle(3)
    pfn = 1
    for what, (off, n), arg in steps:
        lo = BASE + off
        if what == "map":
            frames = array("Q", range(pfn, pfn + (arg if arg < 3 else n)))
            pfn += n
            err, nr = o.map(lo, n, frames)
            assert pt.vmap_page_range(lo << SHIFT, (lo + n) << SHIFT, frames) == ((err, nr) if err else None)
        elif what == "unmap":
            assert pt.vunmap_page_range(lo << SHIFT, (lo + n) << SHIFT) == o.unmap(lo, lo + n)
        elif what == "unmaps":          # each range unmapped in turn: the PTEs cleared, counted
            cleared = pt.stats.ptes_cleared
            spans = [(lo, lo + n)] + [(BASE + off2, BASE + off2 + n2) for off2, n2 in arg]
            pt.vunmap_page_ranges([(a << SHIFT, b << SHIFT) for a, b in spans])
            assert pt.stats.ptes_cleared - cleared == sum(o.unmap(a, b) for a, b in spans)
        elif what == "dead":
            pt.mark_dead(lo << SHIFT, (lo + n) << SHIFT)
            o.mark_dead(lo, lo + n)
        elif what == "walk":
            misses = pt.stats.tlb_misses
            got = pt.walk(arg, lo, n)
            stale, freed, fault, filled = o.walk(arg, lo, n)
            assert got == (None if not stale and not freed and fault is None else (stale, freed, fault))
            assert pt.stats.tlb_misses - misses == filled
        elif arg:
            assert pt.flush_all() == o.flush(0, None)
        else:
            assert pt.flush_range(lo << SHIFT, (lo + n) << SHIFT) == o.flush(lo, lo + n)
        assert list(pt.ptes.items()) == sorted(o.ptes.items()) and len(pt.ptes) == len(o.ptes)
        assert [list(t.items()) for t in pt.tlbs] == [sorted(t.items()) for t in o.tlbs]
        assert list(pt.dead) == sorted(o.dead) and len(pt.dead) == len(o.dead)
        for cpu, tlb in enumerate(o.tlbs):
            stale = {v for v in tlb if v in o.dead or v not in o.ptes}
            assert pt.stale(cpu) == stale
            assert count_in(pt.stale_bits(cpu), BASE + 30, BASE + 70) == \
                len({v for v in stale if BASE + 30 <= v < BASE + 70})


def test_a_page_map_survives_pickling_with_its_frames_out_of_band():
    """A checkpoint (protocol 5, each group's frames an out-of-band buffer), a plain
    pickle and a deep copy give back the same entries: every page of group 0 (frame =
    page + 1) and 3 pages of group 5."""
    import copy
    import pickle

    from vmapviz.kernel.pgtable import PageMap

    pm = PageMap("I")
    pm.set_run(0, 0, (1 << PAGES) - 1, array("I", range(1, PAGES + 1)), 0)
    for vpn, frame in ((5 * PAGES + 7, 70), (5 * PAGES + 8, 80), (5 * PAGES + 1000, 9)):
        pm.set(vpn, frame)
    expected = {v: v + 1 for v in range(PAGES)} | {5 * PAGES + 7: 70, 5 * PAGES + 8: 80, 5 * PAGES + 1000: 9}
    buffers: list = []
    data = pickle.dumps(pm, 5, buffer_callback=buffers.append)
    assert len(buffers) == 2                  # one a group
    copies = [pickle.loads(data, buffers=[bytes(b) for b in buffers]), pickle.loads(pickle.dumps(pm, 4)),
              copy.deepcopy(pm)]
    for back in copies:
        assert dict(back.items()) == expected and len(back) == PAGES + 3
        back.set(5 * PAGES + 9, 90)           # the restored groups take new entries
        assert back.get(5 * PAGES + 9) == 90 and back.get(5 * PAGES + 8) == 80


def test_a_purge_clears_its_ranges_in_one_call():
    """vunmap_page_ranges(): what vunmap_page_range() of each range in turn does.  Pages
    100-109 mapped (frames 1-10), 100-104 dead, and 3 pages across the boundary of
    groups 0 and 1 (frames 11-13).  Ranges 100-101, 105, 101-102 (overlapping the
    first) and PAGES-1..PAGES+1: cleared are 100, 101, 102, 105 and the 3 across the
    boundary, 7 PTEs, 101 counted once; 103, 104 stay dead."""
    pt = PageTable(1, SHIFT, Stats(1))
    pt.vmap_page_range(100 << SHIFT, 110 << SHIFT, array("Q", range(1, 11)))
    pt.vmap_page_range((PAGES - 1) << SHIFT, (PAGES + 2) << SHIFT, array("Q", range(11, 14)))
    pt.mark_dead(100 << SHIFT, 105 << SHIFT)
    pt.vunmap_page_ranges([(100 << SHIFT, 102 << SHIFT), (105 << SHIFT, 106 << SHIFT),
                           (101 << SHIFT, 103 << SHIFT), ((PAGES - 1) << SHIFT, (PAGES + 2) << SHIFT)])
    assert pt.stats.ptes_cleared == 7
    assert list(pt.ptes.items()) == [(103, 4), (104, 5), (106, 7), (107, 8), (108, 9), (109, 10)]
    assert list(pt.dead) == [103, 104]
