"""Issue 9's explanations: each sentence on a hand-worked scenario whose numbers appear
in the asserted text.  Pure functions: no app."""

from vmapviz.kernel import VM_IOREMAP, Config, Kernel
from vmapviz.run.snapshot import take
from vmapviz.tui.words.explain import explain

P = 4096
MiB = 1 << 20
S = 0xFFFFC20000000000
S32 = 0xF8800000


def said(k, call) -> str:
    k.drain_events()
    call()
    return " ".join(explain(take(k, last_op=tuple(k.drain_events()), op=k.op)))


def test_posted_dead_retry_says_the_next_try_succeeds():
    # 8 pages from S32: a = [S, S+2p) freed lazily, b = [S+3p, S+5p).  vmalloc(2 pages)
    # needs 3: the walk passes a and b to S+6p, 9p > 8p: purge (a goes), and posted goes
    # on from S+6p instead of S: fails, although [S, S+3p) is now free.
    k = Kernel(Config(nr_cpus=1, bits=32, variant="posted", vmalloc_start=S32,
                      vmalloc_end=S32 + 8 * P))
    a = k.vmalloc(P)
    k.vmalloc(P)
    k.vfree(a)
    text = said(k, lambda: k.vmalloc(2 * P))
    assert "no hole of 12 KiB was found" in text and "succeeds on the next try" in text
    assert k.vmalloc(2 * P) == S32                      # and it does


def test_the_simulators_own_refusal_says_what_the_kernel_would_corrupt():
    k = Kernel(Config(nr_cpus=4, bits=64))
    x = k.vm_map_ram(4)
    k.vm_unmap_ram(x, 4)
    text = said(k, lambda: k.vm_unmap_ram(x, 4))
    # vb_free(): bits 0-3 of block #1 are dirty; the kernel adds 1 << order = 4 again.
    assert "was refused by the simulator" in text
    assert "vmapviz refuses vb_free" in text and "adds 4 to vb->dirty again" in text
    assert "on its own account" in text and "oops" not in text


def test_a_kernel_bug_on_still_says_oops():
    k = Kernel(Config(nr_cpus=4, bits=64))
    text = said(k, lambda: k.vm_unmap_ram(0, 1))
    assert "hit a BUG_ON" in text and "BUG_ON(!addr)" in text and "would oops" in text


def test_vm_map_ram_of_zero_is_the_simulators_refusal():
    k = Kernel(Config(nr_cpus=4, bits=64))
    text = said(k, lambda: k.vm_map_ram(0))
    assert "vmapviz refuses vm_map_ram" in text and "get_order(0) is 52" in text
    assert "vb_alloc() found no room" not in text
    assert "WARNING" not in text


def test_a_small_vm_map_ram_failing_in_vmap_page_range():
    # 4 pages of RAM: vb_alloc() gives bits 0-7 of block #1 at S, the pages run out at
    # the 5th, S + 4 pages: vmap_page_range() WARNs, vm_map_ram() unmaps and fails.
    k = Kernel(Config(nr_cpus=1, bits=64, ram_size=4 * P))
    text = said(k, lambda: k.vm_map_ram(8))
    assert "vb_alloc() gave it [block #1, bits 0-7]" in text
    assert "vm_unmap_ram() and returned NULL" in text
    assert f"no page for {S + 4 * P:#x}; the caller gets -ENOMEM (-12)" in text


def _purge_with_a_live_area_between(flush):
    # a, b, c, d = vmalloc(1 page) each, 3 pages apart; cpu0 touches all four; a and c
    # go lazy; the purge flushes [a, c + 2 pages).
    k = Kernel(Config(nr_cpus=2, bits=64, flush=flush))
    a, b, c, d = (k.vmalloc(P) for _ in range(4))
    for addr in (a, b, c, d):
        k.touch(addr, 1)
    k.vfree(a)
    k.vfree(c)
    return said(k, k.purge)


def test_the_flush_says_exactly_what_was_dropped():
    text = _purge_with_a_live_area_between("all")
    assert f"flush_tlb_kernel_range({S:#x}, {S + 8 * P:#x})" in text
    assert "flush_tlb_all()" in text and "4 TLB entries, 2 of them stale" in text
    text = _purge_with_a_live_area_between("range")
    # a and c (stale) and b (live, between them) dropped; d survives.
    assert "3 TLB entries, 2 of them stale" in text and "live areas between them" in text


def test_the_overlap_warn_says_enomem_and_leaves_the_cause_open():
    k = Kernel(Config(nr_cpus=1, bits=32, variant="posted"))
    a = k.vmalloc(P)
    b = k.vmalloc(P)
    k.vfree(a)
    k.purge()
    text = said(k, lambda: k.vmalloc(4 * P))
    assert f"PTE already present at {b:#x}; the caller gets -ENOMEM (-12)" in text
    assert "caller sees -12" in text and "leaves that report's cause open" in text
    assert "-EBUSY, but vmap_pmd_range()" in text


def test_first_fit_starts_at_the_callers_aligned_start():
    k = Kernel(Config(nr_cpus=4, bits=64))
    text = said(k, lambda: k.get_vm_area(P, 0, start=S + 64 * P))
    assert f"first fit from ALIGN(start, align), the caller's start being {S + 64 * P:#x}" in text
    text = said(k, lambda: k.vmalloc(P))          # [S, S + 2 pages), below the first
    assert f"placed the vmalloc area at {S:#x} (8 KiB): first fit from VMALLOC_START ({S:#x})" in text


def test_the_threshold_sentence_names_every_source_of_purges():
    k = Kernel(Config(nr_cpus=4, bits=64))
    a = k.vmalloc(P)
    text = said(k, lambda: k.vfree(a))
    # 1 page + guard = 2 lazy pages; fls(4) = 3 -> 24,576
    assert "vmap_lazy_nr is 2 of lazy_max_pages 24,576" in text
    assert "from vm_unmap_aliases()" in text and "finds no hole" in text


def test_find_vm_area_of_a_lazy_area_is_a_dangling_pointer():
    k = Kernel(Config(nr_cpus=4, bits=64))
    a = k.vmalloc(P)
    k.vfree(a)
    text = said(k, lambda: k.find_vm_area(a))
    assert f"find_vm_area({a:#x})" in text and "dangling pointer" in text


def test_ioremap_of_4_gib_is_page_aligned():
    k = Kernel(Config(nr_cpus=4, bits=64))
    text = said(k, lambda: k.get_vm_area(4 << 30, VM_IOREMAP))
    assert "here 4 KiB" in text


# -- issue 22 §1: 6.12's sentences ------------------------------------------------------------
SM = 0xFFFFC90000000000          # 6.12's x86_64 VMALLOC_START (pgtable_64_types.h)


def test_modern_aligned_search_is_not_called_the_lowest_fit():
    # 6.12 find_vmap_lowest_match() (1491-1556) with adjust_search_size() (1777): for
    # align > PAGE_SIZE it needs a block of size + align - 1.  Free blocks [SM, SM + 4M)
    # and [SM + 8M, end): a 4 MiB vmap block lands at SM + 8M, not at SM.
    k = Kernel(Config(variant="modern", nr_cpus=1))
    a = k.get_vm_area(4 * MiB - P, 0)           # [SM, SM + 4M) with its guard page
    k.get_vm_area(4 * MiB - P, 0)               # [SM + 4M, SM + 8M)
    k.remove_vm_area(a)
    k.purge()                                   # 1,024 pages: too big for a pool, back to the tree
    text = said(k, lambda: k.vm_map_ram(4))
    assert f"vmap_block area at {SM + 8 * MiB:#x}" in text
    assert "size + align - 1" in text and "not always the lowest" in text
    assert "took the lowest free block that fits" not in text


def test_modern_vm_map_ram_failing_to_map_blames_the_mapping_not_vb_alloc():
    # 4 pages of RAM, 2 taken: vb_alloc() gives pages 0-3 of block #1, vmap_pages_range()
    # meets a NULL page; vm_map_ram() calls vm_unmap_ram() and returns NULL (2998-3002).
    k = Kernel(Config(variant="modern", nr_cpus=1, ram_size=4 * P))
    k.vmalloc(2 * P)
    text = said(k, lambda: k.vm_map_ram(4))
    assert "vb_alloc() gave it pages 0-3 of block #1, but vmap_pages_range() could not map" in text
    assert "new_vmap_block() could not get an area" not in text
    assert "WARN_ON(!page)" in text and "Nothing overlaps" in text


def test_modern_vm_map_ram_of_0_is_the_warn_and_null():
    # 6.12.19 2763-2770: vb_alloc() returns ERR_PTR(-EINVAL), which vm_map_ram() catches.
    k = Kernel(Config(variant="modern", nr_cpus=1))
    text = said(k, lambda: k.vm_map_ram(0))
    assert "WARN_ON(size == 0)" in text and "ERR_PTR(-EINVAL)" in text and "returned NULL" in text
    assert "BUG_ON" not in text
    assert "no block on its free list had room" not in text


def test_modern_refusals_are_not_dressed_as_kernel_bugs():
    k = Kernel(Config(variant="modern", nr_cpus=1))
    r = k.vm_map_ram(4)
    text = said(k, lambda: k.vfree(r))
    assert "vmapviz refuses remove_vm_area (no check in the kernel)" in text
    assert "Trying to vfree() nonexistent vm area" in text and "would oops" not in text


def test_vanilla_area_line_counts_nodes_examined():
    k = Kernel(Config(variant="vanilla", nr_cpus=1))
    k.vmalloc(P)
    k.drain_events()
    k.vmalloc(P)
    (e,) = [e for e in k.drain_events() if e.kind == "area"]
    assert e.line().endswith("(8 KiB, examined 1 vmlist nodes)")


def test_vunmap_of_a_vmalloc_area_says_its_pages_stay():
    # v2.6.28 vunmap() is __vunmap(addr, 0); 6.12.33 vunmap() (3398-3414) is
    # remove_vm_area() + kfree(vm): neither frees the pages.
    for variant in ("merged", "modern"):
        k = Kernel(Config(variant=variant, nr_cpus=1))
        a = k.vmalloc(2 * P)
        text = said(k, lambda: k.vunmap(a))
        assert "vunmap() frees no pages" in text, variant
        b = k.vmap(2)
        assert "frees no pages" not in said(k, lambda: k.vunmap(b)), variant


def test_modern_vm_no_guard_is_said():
    # 6.12.33 __get_vm_area_node() 3126: no guard page with VM_NO_GUARD (0x40)
    k = Kernel(Config(variant="modern", nr_cpus=1))
    text = said(k, lambda: k.get_vm_area(P, 0x40))
    assert "no guard page (VM_NO_GUARD)" in text and f"area at {SM:#x} (4 KiB)" in text
