"""Misuse: what the kernel WARNs or BUGs about.  The simulator prints the same and
carries on, with no Python exception and a consistent state (check() == [])."""

import pytest

from vmapviz.kernel import Config, Kernel

P = 4096
VARIANTS = ("merged", "posted")


def kernel(variant="merged", cpus=4, bits=64):
    return Kernel(Config(nr_cpus=cpus, bits=bits, variant=variant))


def of_kind(k, kind):
    return [e for e in k.drain_events() if e.kind == kind]


@pytest.mark.parametrize("variant", VARIANTS)
def test_vfree_of_an_unknown_address_warns(variant):
    k = kernel(variant)
    a = k.vmalloc(P)
    bogus = k.config.vmalloc_start + 100 * P
    k.drain_events()
    assert k.vfree(bogus) is None
    (w,) = of_kind(k, "warn")
    assert "Trying to vfree() nonexistent vm area" in w.line()
    assert f"{bogus:#x}" in w.line()
    assert k.stats.warnings == 1 and k.stats.bugs == 0
    assert [x.state for x in k.areas()] == ["busy"]
    assert k.vmalloc_to_page(a) is not None
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_vfree_inside_an_area_is_unknown(variant):
    # find_vmap_area() matches va_start exactly.
    k = kernel(variant)
    a = k.vmalloc(2 * P)
    k.drain_events()
    k.vfree(a + P)
    (w,) = of_kind(k, "warn")
    assert "nonexistent vm area" in w.line()
    assert k.stats_view().lazy_pages == 0
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_vfree_of_an_unaligned_address_warns_bad_address(variant):
    k = kernel(variant)
    a = k.vmalloc(P)
    k.drain_events()
    k.vfree(a + 5)
    (w,) = of_kind(k, "warn")
    assert "Trying to vfree() bad address" in w.line()
    assert f"{a + 5:#x}" in w.line()
    assert [x.state for x in k.areas()] == ["busy"]
    assert k.check() == []


def test_vfree_null_is_a_no_op():
    k = kernel()
    k.drain_events()
    k.vfree(0)
    assert k.stats.warnings == 0 and k.stats.bugs == 0
    assert [e.kind for e in k.drain_events()] == ["call", "return"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_double_vfree_before_the_purge_is_a_bug(variant):
    k = kernel(variant)
    a = k.vmalloc(P)
    k.vfree(a)
    k.drain_events()
    k.vfree(a)
    (b,) = of_kind(k, "bug")
    assert f"{a:#x}" in b.line()
    assert k.stats.bugs == 1
    assert k.stats_view().lazy_pages == 2          # counted once, not twice
    assert [x.state for x in k.areas()] == ["lazy"]
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_double_vfree_after_the_purge_warns(variant):
    k = kernel(variant)
    a = k.vmalloc(P)
    k.vfree(a)
    k.purge()
    k.drain_events()
    k.vfree(a)
    (w,) = of_kind(k, "warn")
    assert "nonexistent vm area" in w.line()
    assert k.stats.bugs == 0
    assert k.check() == []


def test_remove_vm_area_of_an_unknown_address_is_silent_null():
    k = kernel()
    assert k.remove_vm_area(k.config.vmalloc_start) is None
    assert k.stats.warnings == 0 and k.stats.bugs == 0


def _one_block(k):
    addr = k.vm_map_ram(4)
    return addr, k.block_views()


BUG_ON_CASES = [
    # name, address (from the config), merged message
    ("null", lambda c: 0, "BUG_ON(!addr)"),
    ("below", lambda c: c.vmalloc_start - P, "BUG_ON(addr < VMALLOC_START)"),
    ("above", lambda c: c.vmalloc_end + P, "BUG_ON(addr > VMALLOC_END)"),
    ("unaligned", lambda c: c.vmalloc_start + 5, "BUG_ON(addr & (PAGE_SIZE-1))"),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("name,where,message", BUG_ON_CASES)
@pytest.mark.parametrize("count", [4, 100])
def test_vm_unmap_ram_bug_on(variant, bits, name, where, message, count):
    k = kernel(variant, cpus=2, bits=bits)
    _, before = _one_block(k)
    lazy_before = k.stats_view().lazy_pages
    k.drain_events()
    assert k.vm_unmap_ram(where(k.config), count) is None
    (b,) = of_kind(k, "bug")
    if variant == "merged":
        # v2.6.28 has one BUG_ON() per condition: the first failing one is reported.
        assert message in b.line()
    else:
        # The posted patch has one BUG_ON() over all four conditions.
        for cond in ("!addr", "addr < VMALLOC_START", "addr > VMALLOC_END", "PAGE_SIZE-1"):
            assert cond in b.line()
    assert k.stats.bugs == 1
    assert k.block_views() == before             # nothing was marked dirty
    assert k.stats_view().lazy_pages == lazy_before
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_vm_unmap_ram_where_no_block_is_a_bug(variant):
    k = kernel(variant)
    addr, before = _one_block(k)                 # block at [S, S + 4 MiB)
    elsewhere = k.config.vmalloc_start + 64 * (1 << 20)
    k.drain_events()
    k.vm_unmap_ram(elsewhere, 4)
    (b,) = of_kind(k, "bug")
    assert "BUG_ON(!vb)" in b.line()
    assert k.block_views() == before
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_vm_unmap_ram_of_a_big_count_with_no_area_is_a_bug(variant):
    k = kernel(variant)
    k.drain_events()
    k.vm_unmap_ram(k.config.vmalloc_start, 65)  # > VMAP_MAX_ALLOC: free_unmap_vmap_area_addr()
    (b,) = of_kind(k, "bug")
    assert "BUG_ON(!va)" in b.line()
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_double_vm_unmap_ram_is_refused(variant):
    k = kernel(variant)
    addr = k.vm_map_ram(4)
    k.vm_unmap_ram(addr, 4)
    before = k.block_views()
    k.drain_events()
    k.vm_unmap_ram(addr, 4)
    (b,) = of_kind(k, "bug")
    assert f"{addr:#x}" in b.line()
    assert k.block_views() == before             # dirty counted once
    assert k.block_views()[0].dirty == 4
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_double_vm_unmap_ram_of_a_global_mapping_is_refused(variant):
    k = kernel(variant)
    addr = k.vm_map_ram(65)
    k.vm_unmap_ram(addr, 65)
    k.drain_events()
    k.vm_unmap_ram(addr, 65)
    assert len(of_kind(k, "bug")) == 1
    assert k.stats_view().lazy_pages == 65
    assert k.check() == []


def test_vm_unmap_ram_at_32bit_vmalloc_end_is_the_no_block_bug():
    # i386's VMALLOC_END (PKMAP_BASE - 2 pages) is the first byte past the range, so
    # addr == VMALLOC_END passes BUG_ON(addr > VMALLOC_END) and vb_free() finds no block.
    k = Kernel(Config(nr_cpus=1, bits=32, variant="merged"))
    assert k.config.vmalloc_end == 0xFF7FE000
    k.drain_events()
    k.vm_unmap_ram(0xFF7FE000, 4)        # !addr, < START, > END, unaligned: all false
    (b,) = of_kind(k, "bug")
    assert "BUG_ON(!vb)" in b.line()


def test_vm_unmap_ram_at_64bit_range_end_is_above_vmalloc_end():
    # x86_64's VMALLOC_END is 0xffffe1ffffffffff, the range's last byte: the first byte
    # past it is above VMALLOC_END.
    k = Kernel(Config(nr_cpus=4, bits=64, variant="merged"))
    k.drain_events()
    k.vm_unmap_ram(0xFFFFE20000000000, 4)
    (b,) = of_kind(k, "bug")
    assert "BUG_ON(addr > VMALLOC_END)" in b.line()


def test_misuse_the_kernel_would_not_catch_is_refused_with_the_state_intact():
    # vm_unmap_ram() of a vmalloc'ed area with a large count: free_unmap_vmap_area_addr()
    # finds the area and frees it, leaving its vm_struct on vmlist; a get_vm_area() range
    # at 0 or unaligned places an area no kernel path makes.  The simulator refuses both.
    k = Kernel(Config(variant="merged"))
    a = k.vmalloc(2 * 4096)
    before = k.areas()
    k.vm_unmap_ram(a, 100)
    assert k.areas() == before and k.check() == [] and k.stats.bugs == 1
    k32 = Kernel(Config(bits=32))
    assert k32.get_vm_area(4096, 0, 0, 1 << 20) is None
    assert k32.get_vm_area(4096, 0, 0x1001, 1 << 28) is None
    assert k32.areas() == [] and k32.stats.bugs == 2
    assert k32.get_vm_area(4096, 0, 1 << 20, 2 << 20) == 1 << 20
