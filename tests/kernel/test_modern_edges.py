"""6.12's edges (issue 22 §2), worked by hand from mm/vmalloc.c of v6.12.33 (line
numbers as the issue cites them; the logic read in a 6.x tree, see the report) and from
arch/x86/include/asm/pgtable_64_types.h.  x86_64, 4 KiB pages, no KASLR, 4-level paging:
VMALLOC_START 0xffffc90000000000 (SM), VMALLOC_SIZE_TB 32."""

import pytest

from vmapviz.kernel import Config, ConfigError, Kernel

P = 4096
SM = 0xFFFFC90000000000


def modern(**kw):
    return Kernel(Config(variant="modern", **dict(dict(nr_cpus=2), **kw)))


def kinds(evs, kind):
    return [e for e in evs if e.kind == kind]


def test_modern_lives_at_its_own_addresses():
    # pgtable_64_types.h 124-156: VMALLOC_END = VMALLOC_START + (32 << 40) - 1
    c = Config(variant="modern")
    assert (c.vmalloc_start, c.VMALLOC_END) == (SM, 0xFFFFE8FFFFFFFFFF)
    assert c.vmalloc_size == 32 << 40
    assert modern().vmalloc(P) == SM
    # 2.6.28's layout stays 2.6.28's, and a copy to another generation follows it
    merged = Config(variant="merged")
    assert merged.vmalloc_start == 0xFFFFC20000000000
    assert merged.replace(variant="modern").vmalloc_start == SM
    assert c.replace(variant="merged").vmalloc_start == 0xFFFFC20000000000


def test_modern_nr_cpus_is_rounded_up_and_may_be_maxsmp():
    # x86_64 NR_CPUS defaults to 64; MAXSMP allows 8192 (arch/x86/Kconfig)
    assert Config(variant="modern").config_nr_cpus == 64
    assert Config(variant="modern", nr_cpus=4, config_nr_cpus=8192).config_nr_cpus == 8192
    with pytest.raises(ConfigError):
        Config(variant="modern", nr_cpus=4, config_nr_cpus=8193)
    # 2478-2481: VMAP_BBMAP_BITS = VMALLOC_PAGES / roundup_pow_of_two(NR_CPUS) / 16.
    # 32-bit: VMALLOC_SPACE 128 MiB = 32,768 pages; NR_CPUS 6 -> 8: 32,768 / 8 / 16 = 256
    c = Config(variant="modern", bits=32, nr_cpus=4, config_nr_cpus=6)
    assert c.vmap_bbmap_bits == 256
    # the 2008 code divides by NR_CPUS itself: 32,768 // 6 // 16 = 341, refused
    with pytest.raises(ConfigError):
        Config(variant="merged", bits=32, nr_cpus=4, config_nr_cpus=6)


def test_modern_vunmap_of_a_vmalloc_area_leaves_its_pages_and_page_array():
    # vunmap() (3398-3414) is remove_vm_area() + kfree(vm); only vfree() frees the pages
    # (3366-3385).  600 pages: the page array is 600 * 8 = 4,800 bytes, over a page,
    # so it is vmalloc'ed itself (2 pages): 602 pages in all.
    k = modern()
    a = k.vmalloc(600 * P)
    assert len(k.pages.allocated) == 602
    array = [x for x in k.areas() if x.kind == "vpages"]
    assert len(array) == 1
    k.vunmap(a)
    assert len(k.pages.allocated) == 602
    states = {x.start: x.state for x in k.areas()}
    assert states[a] == "lazy" and states[array[0].start] == "busy"
    assert k.check() == []


def test_modern_vm_no_guard():
    # __get_vm_area_node(): `if (!(flags & VM_NO_GUARD)) size += PAGE_SIZE;` (3126)
    k = modern()
    a = k.get_vm_area(P, 0x40)
    b = k.get_vm_area(P, 0)
    assert (a, b) == (SM, SM + P)
    assert [(x.start, x.end) for x in k.areas()] == [(SM, SM + P), (SM + P, SM + 3 * P)]


def test_modern_vm_unmap_ram_of_count_0_is_the_bug_on_in_vunmap_range_noflush():
    # vb_free(addr, 0): bitmap_clear() takes 1UL << get_order(0) as an unsigned int (0),
    # then vunmap_range_noflush(addr, addr): BUG_ON(addr >= end) (449).
    k = modern()
    a = k.vm_map_ram(4)
    k.drain_events()
    k.vm_unmap_ram(a, 0)
    (bug,) = kinds(k.drain_events(), "bug")
    assert bug.where == "__vunmap_range_noflush" and not bug.own
    assert "BUG_ON(addr >= end)" in bug.message and "zeroed" not in bug.message
    # i386: get_order(0) = fls(0xffffffff >> 12) = 20, and 1 << 20 fits the unsigned int
    # nbits: __bitmap_clear() (lib/bitmap.c 379-397) zeroes 2^20 bits = 128 KiB first.
    k = modern(bits=32)
    a = k.vm_map_ram(4)
    k.drain_events()
    k.vm_unmap_ram(a, 0)
    (bug,) = kinds(k.drain_events(), "bug")
    assert "BUG_ON(addr >= end)" in bug.message and "zeroed 2^20 bits (128 KiB" in bug.message


def test_modern_vm_map_ram_of_0_warns_and_returns_null():
    # vb_alloc(): WARN_ON(size == 0) returns ERR_PTR(-EINVAL) (6.12.19 2763-2770; 6.18.2
    # 2821-2828); vm_map_ram() returns NULL on IS_ERR(mem) (6.12.19 2981-2983).  No BUG.
    for variant in ("modern", "modern-6.18"):
        k = Kernel(Config(variant=variant, nr_cpus=2))
        k.drain_events()
        assert k.vm_map_ram(0) is None
        evs = k.drain_events()
        (w,) = kinds(evs, "warn")
        assert w.check == "WARN_ON(size == 0)" and w.where == "vb_alloc"
        assert kinds(evs, "bug") == [] and k.vm_map_ram(1) is not None


@pytest.mark.parametrize("misuse", ["vfree_ram", "double_block", "unmap_vmalloc"])
def test_modern_refusals_say_the_kernel_has_no_check(misuse):
    k = modern()
    ram = k.vm_map_ram(4)
    big = k.vmalloc(80 * P)
    if misuse == "double_block":
        k.vm_unmap_ram(ram, 4)
    k.drain_events()
    if misuse == "vfree_ram":
        k.vfree(ram)                       # remove_vm_area(): va->vm is NULL (3232)
    elif misuse == "double_block":
        k.vm_unmap_ram(ram, 4)             # vb_free() has no check (2810-2850)
    else:
        k.vm_unmap_ram(big, 80)            # find_unlink_vmap_area() takes it (2950-2958)
    (bug,) = kinds(k.drain_events(), "bug")
    assert bug.own and bug.line().startswith("vmapviz refuses")
    assert "a real kernel would oops" not in bug.line()
    assert k.check() == []


def test_modern_warn_alloc_is_not_a_warning_and_prints_the_pages_it_got():
    # 8 pages of RAM; 4 taken: vmalloc(8 pages) gets 4, and __vmalloc_area_node()
    # prints area->nr_pages * PAGE_SIZE = 16,384 (3694-3695) through warn_alloc().
    k = modern(ram_size=8 * P)
    k.vmalloc(4 * P)
    k.drain_events()
    assert k.vmalloc(8 * P) is None
    (w,) = [e for e in kinds(k.drain_events(), "warn") if e.check == "warn_alloc"]
    assert w.message == "vmalloc error: size 16384, failed to allocate pages"
    assert not w.line().startswith("WARNING")


@pytest.mark.parametrize("variant, warns", [("vanilla", 0), ("merged", 1), ("posted", 1), ("modern", 1)])
def test_a_null_page_warns_only_where_the_c_has_the_warn(variant, warns):
    # 2.6.27 vmap_pte_range() (105-108): `if (!page) return -ENOMEM;` with no WARN;
    # 2.6.28 (104-107) and 6.12: WARN_ON(!page).  4 pages of RAM, 2 taken: vmap(4)
    # gets 2 pages, the third is NULL.
    k = Kernel(Config(variant=variant, nr_cpus=2, ram_size=4 * P))
    k.vmalloc(2 * P)
    k.drain_events()
    assert k.vmap(4) is None
    ws = kinds(k.drain_events(), "warn")
    assert len(ws) == warns
    if warns:
        assert ws[0].check == "WARN_ON(!page)"


def test_modern_stale_tlb_entries_count_entries_whose_pte_is_gone():
    # 6.12 clears a freed area's PTEs at once (free_unmap_vmap_area() ->
    # vunmap_range_noflush()) and flushes only at the purge: cpu1's 4 cached
    # translations of a are stale from the vfree until then.
    k = modern()
    a = k.vmalloc(4 * P)
    k.touch(a, 4, cpu=1)
    k.vfree(a)
    assert k.stale_tlb_entries() == [0, 4]
    k.drain_events()
    k.purge()
    (fl,) = kinds(k.drain_events(), "flush")
    assert fl.stale == 4 and k.stale_tlb_entries() == [0, 0]
