"""Misuse the C does not check, on the 2008 code (issue 28 item 10, issue 22 §2): the
simulator follows the C, says so in a Corrupt event of that op (what is inconsistent
now, what the real kernel does next), check() reports the state as the kernel's own
corruption, and nothing raises.

Worked by hand from v2.6.28 mm/vmalloc.c (the merged code; the posted patch in
/work/shared/reference/vmap-rewrite-thread.txt has the same vb_free(), lines 876-907 of
the thread): vb_free() (v2.6.28 810-832) looks the block up, calls
bitmap_allocate_region(vb->dirty_map, offset >> PAGE_SHIFT, order) and ignores its
-EBUSY, then `vb->dirty += 1UL << order` and frees the block when it equals
VMAP_BBMAP_BITS; vm_unmap_ram() (905) sends count > VMAP_MAX_ALLOC to
free_unmap_vmap_area_addr(), which frees whatever area starts at addr; new_vmap_block()
ends in BUG_ON(err) after radix_tree_insert().  x86_64, 4 KiB pages: VMAP_MAX_ALLOC = 64,
VMAP_BBMAP_BITS = 1024 (4 MiB blocks), S = VMALLOC_START = 0xffffc20000000000, a block
at S is block #1 and its pages are handed out from bit 0.
"""

import pytest

from vmapviz.kernel import Config, Kernel

P = 4096
S = 0xFFFFC20000000000
VARIANTS = ("merged", "posted")


def kernel(variant, cpus=4, **kw):
    return Kernel(Config(variant=variant, nr_cpus=cpus, **kw))


def kinds(evs, kind):
    return [e for e in evs if e.kind == kind]


@pytest.mark.parametrize("variant", VARIANTS)
def test_unmapping_over_a_live_mapping_is_followed_and_said(variant):
    k = kernel(variant)
    a, b = k.vm_map_ram(4), k.vm_map_ram(4)
    assert (a, b) == (S, S + 4 * P)                 # bits 0-3 and 4-7 of block #1
    k.drain_events()
    k.vm_unmap_ram(a, 8)                            # order 3: bits 0-7 dirty
    evs = k.drain_events()
    (c,) = kinds(evs, "corrupt")
    assert c.where == "vb_free" and f"{b:#x}, still in use" in c.what
    assert "bits 0-7 of block #1" in c.what and "fault" in c.next
    (d,) = kinds(evs, "bits")
    assert (d.bit, d.nbits, d.dirty) == (0, 8, 8)
    assert not kinds(evs, "bug") and k.stats.bugs == 0
    report = k.check()
    assert report[0].startswith("the kernel corrupted its own state at op 3 in vb_free(): ")
    # vb_free() leaves PTEs alone: b's owner still reads its pages ...
    assert k.touch(b, 4) == "ok"
    # ... until vm_unmap_aliases() clears the dirty run 0-7 of the free-listed block
    k.vm_unmap_aliases()
    k.drain_events()
    assert k.touch(b, 4) == "fault"
    # b's owner's correct vm_unmap_ram(b, 4): bits 4-7 are dirty already; the kernel
    # ignores -EBUSY and counts them again: 8 + 4 = 12; nothing refused
    k.drain_events()
    k.vm_unmap_ram(b, 4)
    evs = k.drain_events()
    (c,) = kinds(evs, "corrupt")
    assert "4 of its pages were dirty already: vb->dirty counts them twice" in c.what
    assert kinds(evs, "bits")[0].dirty == 12 and not kinds(evs, "bug")
    assert k.pages.allocated == set()               # a's and b's lent pages came back
    # check(): both corruptions, then the invariant they broke (12 counted, 8 bits set)
    report = k.check()
    assert report[1].startswith("the kernel corrupted its own state at op 7 in vb_free()")
    assert report[2:] == ["block #1: dirty 12 != set bits of dirty_map"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_an_interior_address_dirties_the_region_from_there(variant):
    k = kernel(variant)
    a, b = k.vm_map_ram(4), k.vm_map_ram(4)
    k.drain_events()
    k.vm_unmap_ram(a + P, 4)                        # offset 1, order 2: bits 1-4
    evs = k.drain_events()
    (c,) = kinds(evs, "corrupt")
    assert f"{a + P:#x} is not the start of a vm_map_ram() mapping" in c.what
    assert f"covers {a:#x}, {b:#x}, still in use" in c.what
    (d,) = kinds(evs, "bits")
    assert (d.bit, d.nbits, d.dirty) == (1, 4, 4)
    assert k.check()[0].startswith("the kernel corrupted its own state at op 3 in vb_free()")


@pytest.mark.parametrize("variant", VARIANTS)
def test_count_over_vmap_max_alloc_on_a_block_frees_its_area_then_new_vmap_block_bugs(variant):
    # Round 2's AssertionError: BUG_ON(radix_tree_insert() == -EEXIST) with a traceback.
    k = kernel(variant, cpus=1)
    a = k.vm_map_ram(4)
    k.drain_events()
    k.vm_unmap_ram(a, 65)
    evs = k.drain_events()
    (c,) = kinds(evs, "corrupt")
    assert c.where == "free_unmap_vmap_area_addr"
    assert f"block #1 ({S:#x}-{S + 1024 * P:#x}) was freed lazily" in c.what
    (lz,) = kinds(evs, "lazy")
    assert (lz.start, lz.end, lz.lazy_nr) == (S, S + 4 * 1024 * 1024, 1024)
    k.purge()                                       # the block's area leaves the tree
    # block #1 still hands out its 1,020 other pages: 255 x 4 pages at S + 16 KiB ...
    got = [k.vm_map_ram(4) for _ in range(255)]
    assert got == [S + (4 + 4 * i) * P for i in range(255)]
    k.drain_events()
    # ... and the 256th needs a new block: alloc_vmap_area() gives S again (free since
    # the purge), radix_tree_insert() finds block #1 at index 0: BUG_ON(err)
    assert k.vm_map_ram(4) is None
    (bug,) = kinds(k.drain_events(), "bug")
    assert bug.where == "new_vmap_block" and not bug.own and "-EEXIST" in bug.message
    assert k.check()[0].startswith("the kernel corrupted its own state at op 2")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bits, order", [(64, 52), (32, 20)])
def test_vm_unmap_ram_of_count_0_strands_the_block(variant, bits, order):
    # get_order(0): (0 - 1) >> (PAGE_SHIFT - 1) is all ones, so the loop counts
    # BITS_PER_LONG - PAGE_SHIFT; vb->dirty += 1UL << that.
    k = kernel(variant, bits=bits)
    a = k.vm_map_ram(4)
    k.drain_events()
    k.vm_unmap_ram(a, 0)
    evs = k.drain_events()
    (c,) = kinds(evs, "corrupt")
    assert f"get_order(0) is {order}" in c.what and f"{(1 << order):,}" in c.what
    assert not kinds(evs, "bits") and not kinds(evs, "bug")
    (vb,) = k.block_views()
    assert vb.dirty == 1 << order
    # the owner's own unmap afterwards: 4 more, never equal to 1024: never freed
    k.vm_unmap_ram(a, 4)
    (vb,) = k.block_views()
    assert vb.dirty == (1 << order) + 4 and k.lazy_pages() == 0


@pytest.mark.parametrize("variant", ("vanilla", "merged", "posted"))
def test_vmap_count_shift_is_done_in_unsigned_int(variant):
    # vmap(): get_vm_area_caller((count << PAGE_SHIFT), ...) with count unsigned int
    # (v2.6.27 469, v2.6.28 1237): 2^20 << 12 = 2^32 wraps to 0, and __get_vm_area_node()
    # returns NULL for a size of 0.  2^20 + 1 pages wrap to one page: an 8 KiB area (with
    # its guard page) of which one page is mapped.
    k = kernel(variant, cpus=1, ram_size=8 << 30)
    assert k.vmap(1 << 20) is None and k.areas() == [] and k.stats.warnings == 0
    a = k.vmap((1 << 20) + 1)
    assert a == S
    (area,) = k.areas()
    assert area.end - area.start == 2 * P
    assert len(k.pages.allocated) == 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_vm_map_ram_of_2_to_the_20_reaches_bug_on_addr_ge_end(variant):
    # vm_map_ram() (v2.6.28 933): size = count << PAGE_SHIFT = 0; count > VMAP_MAX_ALLOC,
    # so alloc_vmap_area(0, ...) and vmap_page_range(addr, addr + 0): BUG_ON(addr >= end).
    k = kernel(variant, cpus=1)
    k.drain_events()
    assert k.vm_map_ram(1 << 20) is None
    (bug,) = kinds(k.drain_events(), "bug")
    assert bug.where == "vmap_page_range" and "BUG_ON(addr >= end)" in bug.message and not bug.own
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", range(12))
def test_no_corruption_is_silent_and_nothing_raises(variant, seed):
    # Random vm_map_ram()/vm_unmap_ram() use and misuse (wrong counts, interior
    # addresses, 0, over VMAP_MAX_ALLOC, unmaps of others' mappings), with purges and
    # vm_unmap_aliases(): the op that first makes check() fail must be one whose events
    # say the kernel corrupted itself, and no op raises.
    import random
    rng = random.Random(seed)
    k = kernel(variant, cpus=2)
    live = []
    clean = True
    for _ in range(250):
        roll = rng.random()
        cpu = rng.randrange(2)
        if roll < 0.4 or not live:
            n = rng.choice([1, 2, 3, 4, 8, 16, 64, 65])
            a = k.vm_map_ram(n, cpu=cpu)
            if a is not None:
                live.append((a, n))
        elif roll < 0.75:
            a, n = live.pop(rng.randrange(len(live)))
            k.vm_unmap_ram(a, n, cpu=cpu)
        elif roll < 0.9:
            a, n = rng.choice(live)
            bad = rng.choice([(a, 2 * n), (a + P, n), (a, 0), (a, 65), (a, max(1, n // 2))])
            k.vm_unmap_ram(*bad, cpu=cpu)
        elif roll < 0.95:
            k.vm_unmap_aliases(cpu=cpu)
        else:
            k.purge(cpu=cpu)
        evs = k.drain_events()
        if clean and k.check():
            assert kinds(evs, "corrupt"), [e.line() for e in evs]
            clean = False
    assert k.check() == [] if clean else k.check()[0].startswith("the kernel corrupted its own state")
