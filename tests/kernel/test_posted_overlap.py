"""The posted descent's overlap beyond the AGP case: what it does to vmap blocks and to
vm_map_ram() mappings, and that check() accepts the faithful (if corrupt) state.

The posted descent sets `first` only to an area with va_start <= addr (or one ending
below addr); with neither, it returns addr without looking at the areas above, so a new
area can cover existing ones.  The kernel then meets their PTEs in vmap_page_range()
(WARN, -EBUSY), and a later purge of a lazily freed covering area clears the PTEs of
everything under it (vunmap_page_range(va_start, va_end)).
"""

from vmapviz.kernel import Config, Kernel

P = 4096


def block_over_lazy_area():
    """32-bit, 64 CPUs: 64-bit (256 KiB) vmap blocks.  A = vmap(1) = [S, S+2P);
    B = vmap(1) = [S+3P, S+5P); vunmap(A); purge; vunmap(B): B is lazily freed, its
    PTE at S+3P stays.  vm_map_ram(1): new_vmap_block() = alloc_vmap_area(256K, 256K):
    addr = S; B neither ends below S nor starts at or below it: first = NULL, the block
    [S, S+64P) is placed over the lazy B."""
    k = Kernel(Config(nr_cpus=64, bits=32, variant="posted"))
    S = k.config.vmalloc_start
    a, b = k.vmap(1), k.vmap(1)
    assert (a, b) == (S, S + 3 * P)
    k.vunmap(a)
    k.purge()
    k.vunmap(b)
    r = k.vm_map_ram(1)
    return k, S, r


def test_posted_block_placed_over_a_lazy_area():
    k, S, r = block_over_lazy_area()
    assert r == S                                           # bit 0 of the block at S
    assert [(x.start, x.end, x.kind, x.state) for x in k.areas()] == \
        [(S, S + 64 * P, "vmap_block", "busy"), (S + 3 * P, S + 5 * P, "vmap", "lazy")]
    # B's PTE is still there: an access to it is a use-after-free.
    assert k.touch(S + 3 * P, 1) == "use-after-free"
    assert k.touch(r, 1) == "ok"
    k.drain_events()
    # vm_map_ram(2): order 1, bits 2-3 = [S+2P, S+4P): vmap_page_range() meets B's PTE
    # at S+3P: WARN, -EBUSY; vm_unmap_ram() marks bits 2-3 dirty; NULL.
    assert k.vm_map_ram(2) is None
    (w,) = [e for e in k.drain_events() if e.kind == "warn"]
    assert f"{S + 3 * P:#x}" in w.line() and "-ENOMEM (-12)" in w.line()
    (blk,) = k.block_views()
    assert (blk.alloc_map, blk.dirty_map) == (0b1101, 0b1100)
    assert k.check() == []
    # The next order-0 request takes bit 1.
    assert k.vm_map_ram(1) == S + P


def test_posted_block_over_a_lazy_area_is_consistent():
    k, S, r = block_over_lazy_area()
    assert k.check() == []


def second_act_on_a_vm_map_ram_mapping():
    """64-bit, 4 CPUs.  G = get_vm_area(1 page) = [S, S+2P); remove it (lazy).
    R = vm_map_ram(65): global allocator; first = G (va_start <= S): R at S+3P, 65 pages,
    mapped.  purge: G goes.  vmalloc(4 pages) = 5 pages: R starts above S: first = NULL,
    the area [S, S+5P) covers R's first two pages; vmap_page_range() meets R's PTE at
    S+3P: WARN, -EBUSY, the area is vfree()d lazily.  purge: vunmap_page_range(S, S+5P)
    clears R's PTEs for its pages 0 and 1."""
    k = Kernel(Config(nr_cpus=4, bits=64, variant="posted"))
    S = k.config.vmalloc_start
    k.remove_vm_area(k.get_vm_area(P))
    R = k.vm_map_ram(65)
    assert R == S + 3 * P
    k.purge()
    k.drain_events()
    assert k.vmalloc(4 * P) is None
    (w,) = [e for e in k.drain_events() if e.kind == "warn"]
    assert f"{S + 3 * P:#x}" in w.line() and "-ENOMEM (-12)" in w.line()
    k.purge()
    return k, S, R


def test_posted_second_act_unmaps_a_live_vm_map_ram_mapping():
    k, S, R = second_act_on_a_vm_map_ram_mapping()
    assert k.vmalloc_to_page(R) is None and k.vmalloc_to_page(R + P) is None
    assert k.vmalloc_to_page(R + 2 * P) is not None
    assert k.touch(R, 1) == "fault"
    assert k.touch(R + 2 * P, 63) == "ok"
    assert [(x.start, x.kind, x.state) for x in k.areas()] == [(R, "vm_map_ram", "busy")]


def test_posted_second_act_on_a_vm_map_ram_mapping_is_consistent():
    k, S, R = second_act_on_a_vm_map_ram_mapping()
    assert k.check() == []


def block_over_a_live_area():
    """32-bit, 64 CPUs (64-page blocks).  A = vmap(1) = [S, S+2P), B = vmap(1) =
    [S+3P, S+5P); vunmap(A); purge.  vm_map_ram(1): the block's alloc_vmap_area() from S
    finds no `first` (B starts above S), so the block [S, S+64P) covers the live B; bit 0
    = S.  vm_map_ram(2): order 1, bits 2-3 = [S+2P, S+4P): vmap_page_range() sets S+2P,
    meets B's PTE at S+3P: WARN, -EBUSY; vm_map_ram() calls vm_unmap_ram(), and vb_free()
    only sets dirty bits 2-3.  B is live and its PTE untouched: the kernel reads B fine."""
    k = Kernel(Config(nr_cpus=64, bits=32, variant="posted"))
    S = k.config.vmalloc_start
    a, b = k.vmap(1), k.vmap(1)
    assert (a, b) == (S, S + 3 * P)
    k.vunmap(a)
    k.purge()
    assert k.vm_map_ram(1) == S
    k.drain_events()
    assert k.vm_map_ram(2) is None
    (w,) = [e for e in k.drain_events() if e.kind == "warn"]
    assert f"{S + 3 * P:#x}" in w.line() and "-ENOMEM (-12)" in w.line()
    (blk,) = k.block_views()
    assert (blk.alloc_map, blk.dirty_map) == (0b1101, 0b1100)
    return k, S, b


def test_posted_block_over_a_live_area_keeps_its_pte():
    k, S, b = block_over_a_live_area()
    assert k.vmalloc_to_page(b) is not None
    assert [(x.start, x.kind, x.state) for x in k.areas()] == [(S, "vmap_block", "busy"), (b, "vmap", "busy")]


def test_posted_block_over_a_live_area_leaves_it_live():
    k, S, b = block_over_a_live_area()
    assert k.touch(b, 1, cpu=1) == "ok"
    assert k.check() == []


def big_vmalloc_over_a_small_area():
    """64-bit, 4 CPUs.  G1 = get_vm_area(1) = [S, S+2P), removed (lazy); G2 =
    get_vm_area(1): first = G1 (va_start <= S), so [S+3P, S+5P); purge: G1 goes.
    vmalloc(513 pages) = 514 pages: G2 starts above S: first = NULL, V = [S, S+514P)
    over G2.  Its page array (513 * 8 = 4104 bytes > PAGE_SIZE) is vmalloc'ed: 3 pages;
    first = V (va_start <= S): addr = V.va_end + P; next G2: addr + 3P >= G2.va_start,
    so addr = ALIGN(G2.va_end + P) = S+6P (the walk goes back down); no successor:
    the array goes at [S+6P, S+9P), inside V, and maps S+6P, S+7P.  Then V's own
    pages: vmap_page_range() maps S .. S+5P (G2 maps nothing) and meets the array's PTE
    at S+6P: WARN, -EBUSY; vfree(V) frees V and its array lazily."""
    k = Kernel(Config(nr_cpus=4, bits=64, variant="posted"))
    S = k.config.vmalloc_start
    k.remove_vm_area(k.get_vm_area(1))
    assert k.get_vm_area(1) == S + 3 * P
    k.purge()
    k.drain_events()
    assert k.vmalloc(513 * P) is None
    evs = k.drain_events()
    assert [(e.start, e.end, e.area_kind) for e in evs if e.kind == "area"] == \
        [(S, S + 514 * P, "vmalloc"), (S + 6 * P, S + 9 * P, "vpages")]
    (w,) = [e for e in evs if e.kind == "warn"]
    assert f"{S + 6 * P:#x}" in w.line() and "-ENOMEM (-12)" in w.line()
    return k, S


def test_posted_big_vmalloc_over_a_small_area():
    k, S = big_vmalloc_over_a_small_area()
    assert [(x.start, x.end, x.state) for x in k.areas()] == \
        [(S, S + 514 * P, "lazy"), (S + 3 * P, S + 5 * P, "busy"), (S + 6 * P, S + 9 * P, "lazy")]
    assert k.stats_view().lazy_pages == 514 + 3
    # V's page S+5P (mapped before the conflict) is freed but still mapped.
    assert k.vmalloc_to_page(S + 5 * P) is not None
    assert k.touch(S + 5 * P, 1) == "use-after-free"
    k.purge()
    assert [(x.start, x.end) for x in k.areas()] == [(S + 3 * P, S + 5 * P)]
    assert all(k.vmalloc_to_page(S + i * P) is None for i in range(9))
    assert k.check() == []


def test_posted_big_vmalloc_over_a_small_area_is_consistent():
    k, S = big_vmalloc_over_a_small_area()
    assert k.check() == []


def test_posted_freed_page_under_an_unmapped_area_is_use_after_free():
    k, S = big_vmalloc_over_a_small_area()
    assert k.vmalloc_to_page(S + 3 * P) is not None      # V's PTE, left for the purge
    assert k.touch(S + 3 * P, 1) == "use-after-free"
