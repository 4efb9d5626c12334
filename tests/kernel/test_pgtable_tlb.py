"""Page tables and TLBs: what a kernel access sees before and after a lazy free.

The patch's point: after vunmap/vfree the PTEs and TLB entries of the area stay until
the next purge (a use-after-free window the kernel promises not to use); the purge
clears the PTEs and flushes every CPU's TLB over the purged range.
"""

import pickle

import pytest

from vmapviz.kernel import Config, Kernel

P = 4096
VARIANTS = ("merged", "posted")


def kernel(variant="merged", cpus=4, bits=64):
    return Kernel(Config(nr_cpus=cpus, bits=bits, variant=variant))


@pytest.mark.parametrize("variant", VARIANTS)
def test_touch_fills_the_tlb_of_the_touching_cpu_only(variant):
    k = kernel(variant)
    a = k.vmalloc(4 * P)
    assert k.touch(a, 4, cpu=2) == "ok"
    assert k.stale_tlb_entries() == [0, 0, 0, 0]
    k.vfree(a)
    # CPU 2 cached 4 translations; their user freed them: 4 stale entries on CPU 2.
    assert k.stale_tlb_entries() == [0, 0, 4, 0]
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_touch_after_vfree_is_use_after_free_then_fault_after_purge(variant):
    k = kernel(variant)
    a = k.vmalloc(2 * P)
    assert k.touch(a, 2, cpu=0) == "ok"
    k.vfree(a)
    # Before the purge: CPU 0 through its TLB, CPU 1 through the PTE still present.
    assert k.touch(a, 2, cpu=0) == "use-after-free"
    assert k.touch(a, 1, cpu=1) == "use-after-free"
    assert k.stats.use_after_free == 2
    uaf = [e for e in k.drain_events() if e.kind == "uaf"]
    assert [(e.addr, e.pages) for e in uaf] == [(a, 2), (a, 1)]
    assert k.check() == []
    k.purge()
    assert k.stale_tlb_entries() == [0, 0, 0, 0]
    assert k.touch(a, 2, cpu=0) == "fault"
    assert k.touch(a, 1, cpu=3) == "fault"
    assert k.stats.faults == 2
    # The access oopses at its first unmapped page, so each fault names that page.
    faults = [e for e in k.drain_events() if e.kind == "fault"]
    assert [e.addr for e in faults] == [a, a]
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_vmalloc_to_page(variant):
    k = kernel(variant)
    a = k.vmalloc(3 * P)
    frames = [k.vmalloc_to_page(a + i * P) for i in range(3)]
    assert None not in frames and len(set(frames)) == 3
    assert k.vmalloc_to_page(a + 3 * P) is None        # guard page
    # Any byte of a page gives that page.
    assert k.vmalloc_to_page(a + P + 123) == frames[1]
    b = k.vmalloc(P)
    assert k.vmalloc_to_page(b) not in frames
    k.vfree(a)
    assert [k.vmalloc_to_page(a + i * P) for i in range(3)] == frames   # lazily still mapped
    k.purge()
    assert [k.vmalloc_to_page(a + i * P) for i in range(3)] == [None] * 3
    assert k.vmalloc_to_page(b) is not None


@pytest.mark.parametrize("variant", VARIANTS)
def test_reused_addresses_are_clean_after_the_purge(variant):
    k = kernel(variant, bits=32)
    a = k.vmalloc(2 * P)
    assert k.touch(a, 2, cpu=1) == "ok"
    k.vfree(a)
    k.purge()
    b = k.vmalloc(2 * P)
    assert b == a                     # same addresses once purged
    # The flush dropped CPU 1's old translations, so the new mapping is seen.
    assert k.touch(b, 2, cpu=1) == "ok"
    assert k.stale_tlb_entries() == [0, 0, 0, 0]
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_partly_unmapped_range_faults(variant):
    k = kernel(variant)
    a = k.vmalloc(2 * P)
    # Pages 0-1 mapped, page 2 is the guard: a 3-page access faults on the guard.
    assert k.touch(a, 3) == "fault"
    (fault,) = [e for e in k.drain_events() if e.kind == "fault"]
    assert fault.addr == a + 2 * P


@pytest.mark.parametrize("variant", VARIANTS)
def test_check_stays_clean_through_a_map_touch_free_cycle(variant):
    k = kernel(variant, cpus=2)
    seen = []
    addrs = []
    for i in range(6):
        addrs.append(k.vmalloc((i + 1) * P, cpu=i % 2))
        seen.append(k.check())
        k.touch(addrs[-1], i + 1, cpu=(i + 1) % 2)
        seen.append(k.check())
    for a in addrs[::2]:
        k.vfree(a)
        seen.append(k.check())
    k.touch(addrs[0], 1, cpu=0)
    seen.append(k.check())
    k.purge()
    seen.append(k.check())
    assert seen == [[]] * len(seen)


def test_a_checkpoint_of_the_page_table_keeps_every_entry_in_order():
    """The timeline's checkpoints pickle the kernel.  Written by hand: PTEs of two
    areas (one freed lazily, so dead), one CPU's TLB."""
    k = kernel(cpus=2)
    a = k.vmalloc(2 * P)                      # 2 pages + the guard page
    b = k.vmalloc(1 * P)
    k.touch(b, 1, cpu=1)
    k.touch(a, 2, cpu=1)
    k.vfree(a)
    vpn_a, vpn_b = a // P, b // P
    pt = pickle.loads(pickle.dumps(k, pickle.HIGHEST_PROTOCOL)).pgtable
    assert list(pt.ptes.items()) == [(vpn_a, 1), (vpn_a + 1, 2), (vpn_b, 3)]
    # (in page order: b was touched first, a lies below it)
    assert [list(t.items()) for t in pt.tlbs] == [[], [(vpn_a, 1), (vpn_a + 1, 2), (vpn_b, 3)]]
    assert pt.dead == {vpn_a, vpn_a + 1} and pt.shift == 12
    k2 = pickle.loads(pickle.dumps(k))
    assert k2.pgtable.stats is k2.stats       # one Stats, shared, as before the pickle
    k2.purge()
    assert k2.stats.ptes_cleared == 2 and k.stats.ptes_cleared == 0
