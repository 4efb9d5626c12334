"""alloc_vmap_area() placement, worked out by hand from the patch for both variants.

The rules used below (P = PAGE_SIZE, S = VMALLOC_START):
- __get_vm_area_node(): size = PAGE_ALIGN(size) + P ("We always allocate a guard page").
- alloc_vmap_area(): first fit from ALIGN(vstart, align); each area in the way moves
  addr to ALIGN(first->va_end + P, align), so one more free page follows every area.
- posted descent: first = an area with va_start <= addr; walk while addr+size >= va_start.
- merged descent: first = an area with va_start < addr+size; walk while addr+size > va_start.
- No room: purge the lazy areas once and retry (merged from ALIGN(vstart), posted from
  where the failed search stopped), then print the warning and fail.
"""

import pytest

from vmapviz.kernel import VM_ALLOC, VM_IOREMAP, VM_VPAGES, Config, Kernel

P = 4096
KiB = 1024
MiB = 1 << 20
VARIANTS = ("merged", "posted")


def kernel(variant="merged", bits=64, cpus=1, pages=None):
    cfg = Config(nr_cpus=cpus, bits=bits, variant=variant)
    if pages is not None:
        start = cfg.vmalloc_start
        cfg = Config(nr_cpus=cpus, bits=bits, variant=variant,
                     vmalloc_start=start, vmalloc_end=start + pages * P)
    return Kernel(cfg)


def spans(k):
    """[(start, end) in pages from VMALLOC_START] of every area, in address order."""
    s = k.config.vmalloc_start
    return [((a.start - s) // P, (a.end - s) // P) for a in k.areas()]


def events(k, kind):
    return [e for e in k.drain_events() if e.kind == kind]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bits", [32, 64])
def test_vmalloc_guard_page_and_allocator_gap(variant, bits):
    k = kernel(variant, bits)
    S = k.config.vmalloc_start
    # vmalloc(4 pages): 4 pages + 1 guard page = 5 pages at S; the empty tree has no
    # `first`, the walk passes nothing.
    a = k.vmalloc(4 * P)
    assert a == S
    assert k.stats.last_walk == 0
    # The next search starts at va_end + P = S + 6 pages, after passing one area.
    b = k.vmalloc(1 * P)
    assert b == S + 6 * P
    assert k.stats.last_walk == 1
    assert spans(k) == [(0, 5), (6, 8)]
    assert [x.kind for x in k.areas()] == ["vmalloc", "vmalloc"]
    assert [x.state for x in k.areas()] == ["busy", "busy"]
    # Pages 0-3 are mapped to distinct frames; page 4 (guard) and page 5 (the page the
    # allocator leaves) are not: two unmapped pages after the vmalloc.
    frames = [k.vmalloc_to_page(a + i * P) for i in range(4)]
    assert None not in frames and len(set(frames)) == 4
    assert k.vmalloc_to_page(a + 4 * P) is None
    assert k.vmalloc_to_page(a + 5 * P) is None
    assert k.touch(a, 4) == "ok"
    assert k.touch(a + 4 * P, 1) == "fault"
    assert k.touch(a + 5 * P, 1) == "fault"
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_vm_struct_size_includes_the_guard_page(variant):
    k = kernel(variant)
    a = k.vmalloc(3 * P + 1)          # PAGE_ALIGN -> 4 pages, + guard = 5 pages
    vm = k.find_vm_area(a)
    assert vm.addr == a
    assert vm.size == 5 * P
    assert vm.flags & VM_ALLOC
    assert spans(k) == [(0, 5)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_vmap_and_get_vm_area_take_the_same_guard_page(variant):
    k = kernel(variant, bits=32)
    S = k.config.vmalloc_start
    v = k.vmap(3)                     # 3 + 1 = 4 pages at S
    g = k.get_vm_area(2 * P)          # 2 + 1 = 3 pages at 4 + 1 = page 5
    h = k.get_vm_area(1)              # PAGE_ALIGN(1) = 1 page + 1 = 2 pages at 8 + 1 = page 9
    assert (v, g, h) == (S, S + 5 * P, S + 9 * P)
    assert spans(k) == [(0, 4), (5, 8), (9, 11)]
    assert [x.kind for x in k.areas()] == ["vmap", "vm_area", "vm_area"]
    # vmap maps its 3 pages; get_vm_area maps nothing.
    assert all(k.vmalloc_to_page(S + i * P) is not None for i in range(3))
    assert all(k.vmalloc_to_page(S + i * P) is None for i in range(3, 12))


def test_zero_sizes_give_null_without_an_area():
    k = kernel()
    assert k.vmalloc(0) is None
    assert k.get_vm_area(0) is None
    assert k.areas() == []
    assert k.stats.warnings == 0


# VM_IOREMAP: align = 1 << fls(size), clamped to [PAGE_SHIFT = 12, IOREMAP_MAX_ORDER = 19].
# A 1-page vmalloc first occupies [S, S+2p), so the search starts from ALIGN(S+3p, align).
IOREMAP_CASES = [
    # size          fls  align       start page            area pages (PAGE_ALIGN + guard)
    (100,           7,   4 * KiB,    3,                    2),   # clamped up to PAGE_SHIFT
    (4095,          12,  4 * KiB,    3,                    2),
    (4096,          13,  8 * KiB,    4,                    2),   # ALIGN(S+3p, 8K) = S+4p
    (3 * 4096,      14,  16 * KiB,   4,                    4),   # ALIGN(S+3p, 16K) = S+4p
    (5 * 4096,      15,  32 * KiB,   8,                    6),   # ALIGN(S+3p, 32K) = S+8p
    ((1 << 18) - 1, 18,  256 * KiB,  64,                   65),
    (1 << 18,       19,  512 * KiB,  128,                  65),
    (1 << 20,       21,  512 * KiB,  128,                  257), # clamped down to 19
    (4 << 20,       23,  512 * KiB,  128,                  1025),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("size,fls_,align,start_page,npages", IOREMAP_CASES)
def test_ioremap_alignment(variant, bits, size, fls_, align, start_page, npages):
    assert size.bit_length() == fls_                       # the table's own arithmetic
    assert align == 1 << min(max(fls_, 12), 19)
    k = kernel(variant, bits)
    S = k.config.vmalloc_start
    assert S % (512 * KiB) == 0
    k.vmalloc(P)
    addr = k.get_vm_area(size, VM_IOREMAP)
    assert addr == S + start_page * P
    assert addr % align == 0
    assert spans(k) == [(0, 2), (start_page, start_page + npages)]
    assert k.areas()[1].kind == "ioremap"


@pytest.mark.parametrize("variant", VARIANTS)
def test_ioremap_alignment_skips_past_several_areas(variant):
    k = kernel(variant, bits=32)
    S = k.config.vmalloc_start
    k.vmalloc(P)                               # [0, 2)
    a1 = k.get_vm_area(4096, VM_IOREMAP)       # 8K: ALIGN(3p) = 4p -> [4, 6)
    a2 = k.get_vm_area(3 * 4096, VM_IOREMAP)   # 16K: 3p -> 4p, blocked by [4,6): ALIGN(7p) = 8p -> [8, 12)
    a3 = k.get_vm_area(1 << 20, VM_IOREMAP)    # 512K: 3p -> 128p; 7p -> 128p; 13p -> 128p -> [128, 385)
    assert (a1, a2, a3) == (S + 4 * P, S + 8 * P, S + 128 * P)
    # Three ascending inserts: the rbtree is [4, 6) at the root, [0, 2) left, [8, 12)
    # right.  Merged's descent takes the root (4p < 0 + 257p) as `first` and walks past
    # [4, 6) and [8, 12); posted's takes only an area containing addr, [0, 2), and
    # walks past all three.
    assert k.stats.last_walk == (3 if variant == "posted" else 2)
    assert spans(k) == [(0, 2), (4, 6), (8, 12), (128, 385)]


def _hole_of_three_pages(k):
    """a, b, c = vmalloc(1 page) x 3 -> pages [0,2), [3,5), [6,8); free b and purge:
    the hole between a and c runs from a.va_end + P = page 3 to c.va_start = page 6."""
    S = k.config.vmalloc_start
    a, b, c = (k.vmalloc(P) for _ in range(3))
    assert (a, b, c) == (S, S + 3 * P, S + 6 * P)
    k.vfree(b)
    k.purge()
    assert spans(k) == [(0, 2), (6, 8)]
    return S


@pytest.mark.parametrize("bits", [32, 64])
def test_exact_fit_hole_is_used_by_merged(bits):
    k = kernel("merged", bits)
    S = _hole_of_three_pages(k)
    # vmalloc(2 pages) needs 3: at page 3, addr + size = page 6 > c.va_start (6)? No:
    # the walk stops and the area fills the hole exactly.
    assert k.vmalloc(2 * P) == S + 3 * P
    assert spans(k) == [(0, 2), (3, 6), (6, 8)]
    assert k.check() == []


@pytest.mark.parametrize("bits", [32, 64])
def test_exact_fit_hole_is_skipped_by_posted(bits):
    k = kernel("posted", bits)
    S = _hole_of_three_pages(k)
    # posted `>=`: page 3 + 3 = 6 >= 6, so the walk moves on to c.va_end + P = page 9.
    assert k.vmalloc(2 * P) == S + 9 * P
    assert spans(k) == [(0, 2), (6, 8), (9, 12)]
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_hole_one_page_larger_is_used_by_both(variant):
    k = kernel(variant)
    S = _hole_of_three_pages(k)
    assert k.vmalloc(P) == S + 3 * P          # 2 pages in the 3-page hole: 3 + 2 = 5 < 6
    assert spans(k) == [(0, 2), (3, 5), (6, 8)]


def _eight_page_range_with_a_lazy_head(variant):
    """An 8-page range: a, b, c = vmalloc(1 page) -> pages 0, 3, 6 (c ends at 8 = vend);
    vfree(a) leaves [0, 2) lazily freed in the tree."""
    k = kernel(variant, bits=32, pages=8)
    S = k.config.vmalloc_start
    a, b, c = (k.vmalloc(P) for _ in range(3))
    assert (a, b, c) == (S, S + 3 * P, S + 6 * P)
    k.vfree(a)
    assert [x.state for x in k.areas()] == ["lazy", "busy", "busy"]
    assert k.stats.purges == 0
    k.drain_events()
    return k, S


def test_merged_purges_once_and_restarts_from_vstart():
    k, S = _eight_page_range_with_a_lazy_head("merged")
    # First search: 0 -> 3 -> 6 -> 9: 9 + 2 > 8, fail.  Purge (a leaves the tree), then
    # restart from S: b starts at 3, not below 0 + 2: no `first`, the area goes at S.
    assert k.vmalloc(P) == S
    assert k.stats.purges == 1 and k.stats.tlb_flushes == 1
    assert k.stats.warnings == 0 and k.stats.alloc_failures == 0
    assert spans(k) == [(0, 2), (3, 5), (6, 8)]
    assert [x.state for x in k.areas()] == ["busy"] * 3
    evs = k.drain_events()
    assert [e.kind for e in evs if e.kind in ("purge", "flush", "area", "warn")] == \
        ["purge", "flush", "area"]
    assert k.check() == []


def test_posted_retries_from_where_it_stopped_and_fails_having_purged():
    k, S = _eight_page_range_with_a_lazy_head("posted")
    # First search stops at page 9 (9 + 2 > 8).  Purge, then retry with addr still at
    # page 9: every area ends below it, no successor: 9 + 2 > 8 again.  Fail.
    assert k.vmalloc(P) is None
    assert k.stats.purges == 1 and k.stats.tlb_flushes == 1
    assert k.stats.alloc_failures == 1 and k.stats.warnings == 1
    assert spans(k) == [(3, 5), (6, 8)]            # a was purged all the same
    evs = k.drain_events()
    assert [e.kind for e in evs if e.kind in ("purge", "flush", "area", "warn")] == \
        ["purge", "flush", "warn"]
    warn = [e for e in evs if e.kind == "warn"][0]
    assert warn.line() == "vmap allocation failed: use vmalloc=<size> to increase size."
    assert k.check() == []


@pytest.mark.parametrize("variant,message", [
    # v2.6.28's alloc_vmap_area() prints no size; "for size %lu" came in 2.6.29.
    ("merged", "vmap allocation failed: use vmalloc=<size> to increase size."),
    ("posted", "vmap allocation failed: use vmalloc=<size> to increase size."),
])
def test_failure_warning_text(variant, message):
    # 8-page range full of busy areas (pages 0, 3, 6); a 1-page vmalloc asks 2 pages
    # = 8192 bytes.  Nothing is lazy, so the purge finds nothing and does not flush.
    k = kernel(variant, bits=32, pages=8)
    for _ in range(3):
        k.vmalloc(P)
    k.drain_events()
    assert k.vmalloc(P) is None
    fails = [e for e in k.drain_events() if e.kind == "warn"]
    assert [e.line() for e in fails] == [message]
    assert k.stats.alloc_failures == 1
    assert k.stats.purges == 0 and k.stats.tlb_flushes == 0
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_purge_happens_once_even_if_the_retry_fails(variant):
    k = kernel(variant, bits=32, pages=8)
    a, b, c = (k.vmalloc(P) for _ in range(3))
    k.vfree(c)                                   # [6, 8) lazy
    # vmalloc(3 pages) = 4 pages: 0 -> 3 -> 6 -> 9, fail; purge (c goes); retry:
    # merged 0 -> 3 -> 6: 6 + 4 > 8, fail; posted from 9: fail.  One purge only.
    assert k.vmalloc(3 * P) is None
    assert k.stats.purges == 1 and k.stats.tlb_flushes == 1
    assert k.stats.alloc_failures == 1
    assert spans(k) == [(0, 2), (3, 5)]
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_get_vm_area_window(variant):
    k = kernel(variant)
    S = k.config.vmalloc_start
    assert k.get_vm_area(P, 0, start=S + 16 * P, end=S + 32 * P) == S + 16 * P
    # 4 pages + guard = 5 pages cannot fit in a 4-page window.
    assert k.get_vm_area(4 * P, 0, start=S, end=S + 4 * P) is None
    assert k.stats.alloc_failures == 1
    # An exactly fitting window: [S, S+5p) for 4 + 1 pages.
    assert k.get_vm_area(4 * P, 0, start=S, end=S + 5 * P) == S
    assert spans(k) == [(0, 5), (16, 18)]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bits,pages,array_pages", [
    # 64-bit: 513 page pointers * 8 bytes = 4104 > 4096: the array is vmalloc'ed:
    # 2 pages + guard = 3 pages, right after the 514-page area: [515, 518).
    (64, 513, 2),
    # 32-bit: 1025 * 4 = 4100 > 4096: 2 pages + guard at 1025 + 1 + 1 = page 1027.
    (32, 1025, 2),
])
def test_big_vmalloc_vmallocs_its_page_array(variant, bits, pages, array_pages):
    k = kernel(variant, bits)
    S = k.config.vmalloc_start
    a = k.vmalloc(pages * P)
    assert a == S
    main_end = pages + 1
    arr_start = main_end + 1
    arr_end = arr_start + array_pages + 1
    assert spans(k) == [(0, main_end), (arr_start, arr_end)]
    assert [x.kind for x in k.areas()] == ["vmalloc", "vpages"]
    assert k.find_vm_area(a).flags & VM_VPAGES
    # The next vmalloc moves past both.
    assert k.vmalloc(P) == S + (arr_end + 1) * P
    # vfree frees both, lazily: main (pages + 1) + array (array_pages + 1) pages.
    k.vfree(a)
    assert k.stats_view().lazy_pages == (pages + 1) + (array_pages + 1)
    assert [x.state for x in k.areas()] == ["lazy", "lazy", "busy"]
    assert k.check() == []


@pytest.mark.parametrize("bits,pages", [(64, 512), (32, 1024)])
def test_page_array_of_exactly_a_page_is_not_vmalloced(bits, pages):
    # 512 * 8 = 4096 (64-bit), 1024 * 4 = 4096 (32-bit): not > PAGE_SIZE, kmalloc'ed.
    k = kernel("merged", bits)
    a = k.vmalloc(pages * P)
    assert spans(k) == [(0, pages + 1)]
    assert not k.find_vm_area(a).flags & VM_VPAGES


@pytest.mark.parametrize("variant", VARIANTS)
def test_vmalloc_align_extension(variant):
    # The simulator's one extension (lib/test_vmalloc.c's aligned allocations): the
    # search starts at ALIGN(vstart, align) and every move is ALIGN(va_end + P, align).
    k = kernel(variant, bits=32)
    S = k.config.vmalloc_start
    k.vmalloc(P)                                   # [0, 2)
    a = k.vmalloc_align(P, 64 * KiB)               # ALIGN(S + 3p, 64K) = S + 16p
    assert a == S + 16 * P
    assert spans(k) == [(0, 2), (16, 18)]
    k.drain_events()
    assert k.vmalloc_align(P, 3 * P) is None       # not a power of two: WARN, NULL
    assert [e.kind for e in k.drain_events() if e.kind == "warn"] == ["warn"]
    # An alignment past the top of the range fails (ALIGN does not wrap here); one an
    # unsigned long cannot hold is not a call the API can express.
    assert k.vmalloc_align(P, 1 << 31) is None
    with pytest.raises(ValueError):
        k.vmalloc_align(P, 1 << 40)
    assert k.stats.failed_calls == 2
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_failed_calls_count_null_returns(variant):
    k = kernel(variant, bits=32, pages=8)
    for _ in range(3):
        k.vmalloc(P)
    assert k.stats.failed_calls == 0
    assert k.vmalloc(P) is None
    assert k.vm_map_ram(40) is None                # > VMAP_MAX_ALLOC: global, no room
    assert (k.stats.failed_calls, k.stats.alloc_failures) == (2, 2)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bits,third", [(32, 6), (64, None)])
def test_the_last_page_of_the_range(variant, bits, third):
    # alloc_vmap_area() fails when addr + size > vend, and vend is VMALLOC_END: on i386
    # the first byte past the range, on x86_64 its last byte (0xffffe1ffffffffff).  In
    # an 8-page range the third vmalloc(1 page) = [6, 8) ends at the range's end: it
    # fits on 32-bit, but 8 pages > 8 pages - 1 byte on 64-bit.
    k = kernel(variant, bits, pages=8)
    S = k.config.vmalloc_start
    assert k.vmalloc(P) == S and k.vmalloc(P) == S + 3 * P
    got = k.vmalloc(P)
    assert got == (None if third is None else S + third * P)
