"""Andrew Morton's report (2.6.27-rc5-mm1, 2008-09-05): "WARNING: at mm/vmalloc.c:105
vmap_page_range" from agp_add_bridge()'s vmalloc of 4 pages; AGP then gives up with
-ENOMEM.  Replayed on the machine of the report: 32-bit, one CPU (a PIII).

Worked out by hand (P = 4096, S = VMALLOC_START = 0xf8800000):
  a = vmalloc(1 page): 1 + guard = 2 pages, empty tree:        [S, S+2P)
  b = vmalloc(1 page): first = a; addr = a.va_end + P = S+3P:   [S+3P, S+5P)
  vfree(a); purge():   a leaves the tree; only b = [S+3P, S+5P) remains.
  vmalloc(4 pages):    size 5 pages, addr = S.  Descent over b: b.va_end >= S, so go
                       left; the only candidate for `first` is b.
    posted: `first` needs b.va_start <= S: no.  first == NULL -> goto found: addr = S.
            The area [S, S+5P) overlaps b; vmap_page_range() maps S, S+P, S+2P and
            meets b's PTE at S+3P: WARN_ON(!pte_none(*pte)), -EBUSY; __vmalloc_area_node
            vfree()s the area and vmalloc returns NULL.
    merged: `first` needs b.va_start < S + 5P: yes, first = b.  Walk: S + 5P > S+3P, so
            addr = b.va_end + P = S+6P; no successor: [S+6P, S+11P), no overlap.
"""

import pytest

from vmapviz.kernel import Config, Kernel

P = 4096
S = 0xF8800000


def replay(variant):
    k = Kernel(Config(nr_cpus=1, bits=32, variant=variant))
    assert k.config.vmalloc_start == S
    a = k.vmalloc(P)
    b = k.vmalloc(P)
    assert (a, b) == (S, S + 3 * P)
    k.vfree(a)
    k.purge()
    assert [(x.start, x.end) for x in k.areas()] == [(S + 3 * P, S + 5 * P)]
    k.drain_events()
    return k, b


def test_posted_places_the_area_over_b_and_vmap_page_range_warns():
    k, b = replay("posted")
    b_frame = k.vmalloc_to_page(b)
    assert k.vmalloc(4 * P) is None
    evs = k.drain_events()
    (alloc,) = [e for e in evs if e.kind == "area"]
    assert (alloc.start, alloc.end, alloc.walk) == (S, S + 5 * P, 0)
    (warn,) = [e for e in evs if e.kind == "warn"]
    assert warn.where == "vmap_page_range"
    assert f"{S + 3 * P:#x}" in warn.line() and "-ENOMEM (-12)" in warn.line()
    # The failed vmalloc frees its area lazily (vfree(area->addr)): 5 pages.
    (lazy,) = [e for e in evs if e.kind == "lazy"]
    assert (lazy.start, lazy.end) == (S, S + 5 * P)
    assert k.stats.warnings == 1
    assert k.stats.alloc_failures == 0            # the allocator itself did not fail
    assert k.stats.failed_calls == 1              # but vmalloc() returned NULL
    assert k.stats_view().lazy_pages == 5
    assert [(x.start, x.end, x.state) for x in k.areas()] == \
        [(S, S + 5 * P, "lazy"), (S + 3 * P, S + 5 * P, "busy")]
    # The pages mapped before the conflict (S .. S+2P) are left for the lazy purge.
    assert [k.vmalloc_to_page(S + i * P) is not None for i in range(3)] == [True] * 3
    # b itself is untouched for now.
    assert k.vmalloc_to_page(b) == b_frame
    assert k.touch(b, 1) == "ok"
    assert k.check() == []


def test_posted_aftermath_the_purge_unmaps_b_too():
    # __purge_vmap_area_lazy() calls vunmap_page_range(va_start, va_end) for the lazily
    # freed [S, S+5P): that clears b's PTE at S+3P as well.  b's user then faults.
    k, b = replay("posted")
    assert k.vmalloc(4 * P) is None
    k.purge()
    assert [(x.start, x.end, x.state) for x in k.areas()] == [(S + 3 * P, S + 5 * P, "busy")]
    assert k.vmalloc_to_page(b) is None
    assert k.touch(b, 1) == "fault"
    assert k.check() == []


def test_merged_allocates_after_b_without_overlap():
    k, b = replay("merged")
    c = k.vmalloc(4 * P)
    assert c == S + 6 * P
    assert k.stats.last_walk == 1                 # the walk passed b
    assert k.stats.warnings == 0
    assert [(x.start, x.end) for x in k.areas()] == [(S + 3 * P, S + 5 * P), (S + 6 * P, S + 11 * P)]
    assert k.touch(b, 1) == "ok" and k.touch(c, 4) == "ok"
    assert not [e for e in k.drain_events() if e.kind == "warn"]
    assert k.check() == []


@pytest.mark.parametrize("variant", ["posted", "merged"])
def test_a_request_that_fits_the_head_hole_is_fine_in_both(variant):
    # Contrast: vmalloc(1 page) = 2 pages fits in [S, S+3P) before b: no overlap in
    # either variant (posted: first == NULL, addr S; merged: b.va_start < S + 2P? no).
    k, b = replay(variant)
    assert k.vmalloc(P) == S
    assert k.check() == []
