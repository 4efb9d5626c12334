"""Lazy freeing: free_unmap_vmap_area() and __purge_vmap_area_lazy().

free_unmap_vmap_area(): va->flags |= VM_LAZY_FREE; vmap_lazy_nr += the area's pages
(guard page included); if vmap_lazy_nr > lazy_max_pages: purge.
__purge_vmap_area_lazy(): for each VM_LAZY_FREE area widen [start, end), count its
pages, clear its PTEs; one flush_tlb_kernel_range(start, end) (on x86 a broadcast IPI to
every other CPU); then the areas leave the tree.
"""

import pytest

from vmapviz.kernel import Config, Kernel

P = 4096
VARIANTS = ("merged", "posted")


def kernel(variant="merged", bits=64, cpus=1):
    return Kernel(Config(nr_cpus=cpus, bits=bits, variant=variant))


def of_kind(evs, kind):
    return [e for e in evs if e.kind == kind]


@pytest.mark.parametrize("variant", VARIANTS)
def test_vfree_leaves_a_lazy_area_with_its_ptes(variant):
    k = kernel(variant)
    a = k.vmalloc(4 * P)
    frames = [k.vmalloc_to_page(a + i * P) for i in range(4)]
    k.vfree(a)
    (area,) = k.areas()
    assert (area.start, area.end, area.state) == (a, a + 5 * P, "lazy")
    # 4 pages + the guard page go into vmap_lazy_nr.
    assert k.stats_view().lazy_pages == 5
    assert k.stats_view().live_areas == 0
    # The PTEs stay until the purge: the page table still maps the old frames.
    assert [k.vmalloc_to_page(a + i * P) for i in range(4)] == frames
    assert k.stats.purges == 0 and k.stats.tlb_flushes == 0
    assert k.check() == []
    k.purge()
    assert k.areas() == []
    assert k.stats_view().lazy_pages == 0
    assert all(k.vmalloc_to_page(a + i * P) is None for i in range(4))
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_lazily_freed_addresses_are_not_reused_until_purged(variant):
    k = kernel(variant, bits=32)
    S = k.config.vmalloc_start
    a = k.vmalloc(P)                    # [S, S+2p)
    k.vfree(a)
    # Still in the tree: posted finds it as `first` (va_start <= S), merged too
    # (va_start < S + 2p); the walk moves on to a.va_end + P = S + 3p.
    b = k.vmalloc(P)
    assert b == S + 3 * P
    k.purge()
    # After the purge [S, S+2p) is free again: b starts at S+3p, not below S + 2p
    # (merged) nor at or below S (posted): no `first`, the area goes at S.
    assert k.vmalloc(P) == S
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bits,cpus", [(32, 1), (64, 1), (64, 4), (64, 8), (32, 2)])
def test_purge_exactly_when_lazy_pages_exceed_lazy_max(variant, bits, cpus):
    k = kernel(variant, bits, cpus)
    S = k.config.vmalloc_start
    lazy_max = {1: 8192, 2: 16384, 4: 24576, 8: 32768}[cpus]   # fls(cpus) * 8192
    assert k.config.lazy_max_pages == lazy_max
    # vmap(1023) areas are 1024 pages each (1023 + guard), placed 1025 pages apart.
    per = 1024
    n = lazy_max // per + 1                     # lazy_max // per frees reach lazy_max exactly
    addrs = [k.vmap(per - 1) for _ in range(n)]
    assert addrs == [S + i * 1025 * P for i in range(n)]
    for a in addrs[:-1]:
        k.vunmap(a)
    assert k.stats_view().lazy_pages == lazy_max       # == lazy_max: not over it, no purge
    assert k.stats.purges == 0 and k.stats.tlb_flushes == 0
    k.drain_events()
    k.vunmap(addrs[-1])                         # lazy_max + 1024 > lazy_max: purge
    assert k.stats.purges == 1
    assert k.stats.tlb_flushes == 1
    assert k.stats.ipis == cpus - 1             # one broadcast: every other CPU
    assert k.stats_view().lazy_pages == 0
    assert k.areas() == []
    evs = k.drain_events()
    (purge,) = of_kind(evs, "purge")
    assert (purge.nr_areas, purge.nr_pages) == (n, n * per)
    assert not purge.sync                       # posted purge / merged try_purge: sync=0
    (flush,) = of_kind(evs, "flush")
    # Range: the lowest lazy start to the highest lazy end.
    assert (flush.start, flush.end) == (S, S + (n - 1) * 1025 * P + per * P)
    assert flush.ipis == cpus - 1
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_explicit_purge_flush_range_and_one_flush(variant):
    k = kernel(variant, cpus=4)
    S = k.config.vmalloc_start
    # Four vmalloc(2 pages): 3-page areas at pages 0, 4, 8, 12.
    a = [k.vmalloc(2 * P) for _ in range(4)]
    assert a == [S, S + 4 * P, S + 8 * P, S + 12 * P]
    k.vfree(a[1])
    k.vfree(a[3])
    assert k.stats_view().lazy_pages == 6
    k.drain_events()
    k.purge()
    evs = k.drain_events()
    (purge,) = of_kind(evs, "purge")
    (flush,) = of_kind(evs, "flush")
    assert (purge.nr_areas, purge.nr_pages) == (2, 6)
    assert purge.sync == (variant == "merged")  # merged purge_vmap_area_lazy() is sync
    # [lowest lazy start, highest lazy end) = [page 4, page 15), the busy area between
    # them included.
    assert (flush.start, flush.end) == (S + 4 * P, S + 15 * P)
    assert (k.stats.purges, k.stats.tlb_flushes, k.stats.ipis) == (1, 1, 3)
    assert [x.start for x in k.areas()] == [a[0], a[2]]
    # Purge before flush, in that order, once.
    assert [e.kind for e in evs if e.kind in ("purge", "flush")] == ["purge", "flush"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_purge_with_nothing_lazy_does_not_flush(variant):
    k = kernel(variant, cpus=4)
    k.vmalloc(P)
    k.drain_events()
    k.purge()
    assert (k.stats.purges, k.stats.tlb_flushes, k.stats.ipis) == (0, 0, 0)
    assert not [e for e in k.drain_events() if e.kind in ("purge", "flush")]


@pytest.mark.parametrize("variant", VARIANTS)
def test_lazy_counts_every_kind_of_area(variant):
    k = kernel(variant, bits=32)
    v = k.vmap(3)                         # 4 pages
    g = k.get_vm_area(5 * P)              # 6 pages
    r = k.vm_map_ram(40)                  # > VMAP_MAX_ALLOC (32): a 40-page area, no guard
    k.vunmap(v)
    k.remove_vm_area(g)
    k.vm_unmap_ram(r, 40)
    assert k.stats_view().lazy_pages == 4 + 6 + 40
    assert [x.state for x in k.areas()] == ["lazy"] * 3
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_single_cpu_flush_sends_no_ipi(variant):
    k = kernel(variant, cpus=1)
    k.vfree(k.vmalloc(P))
    k.purge()
    assert (k.stats.tlb_flushes, k.stats.ipis) == (1, 0)
