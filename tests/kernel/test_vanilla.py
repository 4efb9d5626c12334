"""The vmap layer before the rewrite: v2.6.27's mm/vmalloc.c ("vanilla").

Expected values are worked out by hand from v2.6.27's C (KERNEL-HISTORY.md, part A):
- __get_vm_area_node(): VM_IOREMAP align = 1 << fls(size as given), clamped to
  [PAGE_SHIFT, IOREMAP_MAX_ORDER]; size = PAGE_ALIGN(size) + PAGE_SIZE (the guard page);
  under write_lock(&vmlist_lock), walk vmlist from its head: an area below addr that
  reaches it moves addr to ALIGN(its end, align); the first area at or above addr either
  leaves room (addr + size <= tmp->addr: found, exact fits taken) or moves addr past it;
  `addr > end - size` fails with "allocation failed: out of vmalloc space - use
  vmalloc=<size> to increase size."  No purge, no retry.
- remove_vm_area(): under write_lock, walk to the area, clear its PTEs (guard included),
  flush_tlb_kernel_range() = flush_tlb_all() on x86 (every CPU's whole TLB, one IPI to
  each other CPU), unlink, size -= PAGE_SIZE.
- __vunmap(): a VM_VPAGES page array is vfree()d too: a second remove, a second flush.
"""

import pytest

from vmapviz.kernel import VM_IOREMAP, Config, Kernel
from vmapviz.workloads import UnsupportedWorkload, get

P = 4096
KiB = 1 << 10


def kernel(cpus=4, bits=64, **kw):
    return Kernel(Config(nr_cpus=cpus, bits=bits, variant="vanilla", **kw))


def events(k, kind):
    return [e for e in k.drain_events() if e.kind == kind]


def test_the_history_table_addresses():
    # KERNEL-HISTORY.md A.6, the vanilla column (x86_64, empty list, S = VMALLOC_START).
    k = kernel()
    S = k.config.vmalloc_start
    a = k.vmalloc(8 * KiB)
    assert a == S                                  # [S, S+0x3000) with its guard page
    b = k.vmap(4)
    assert b == S + 0x3000                         # abuts a's guard page: no gap page
    c = k.get_vm_area(4 * KiB, VM_IOREMAP)
    assert c == S + 0x8000                         # fls(4096) = 13: 8 KiB aligned, after b
    k.vfree(a)
    d = k.vmalloc(4 * KiB)
    assert d == S                                  # a's hole is free at once
    assert k.check() == []


def test_every_vunmap_flushes_every_cpu_at_once_under_the_lock():
    k = kernel(cpus=8)
    a = k.vmap(4)
    k.drain_events()
    k.vunmap(a, cpu=3)
    evs = k.drain_events()
    (flush,) = [e for e in evs if e.kind == "flush"]
    # flush_tlb_all(): 7 IPIs, all 8 TLBs emptied, the range is the area with its guard.
    assert (flush.cpu, flush.ipis, flush.whole) == (3, 7, True)
    assert (flush.start, flush.end) == (a, a + 5 * P)
    # The flush happens inside remove_vm_area(), before the unlink.
    kinds = [e.kind for e in evs]
    assert kinds.index("flush") < kinds.index("area")
    s = k.stats
    assert (s.tlb_flushes, s.ipis, s.tlb_full_flushes) == (1, 7, 8)
    assert s.full_flushes_per_cpu == [1] * 8
    assert (s.vmlist_lock_write, s.vmlist_lock_read, s.vmap_area_lock) == (2, 0, 0)
    assert k.vmalloc_to_page(a) is None            # the PTEs went with the flush
    assert k.stale_tlb_entries() == [0] * 8


def test_one_cpu_flushes_without_ipis():
    k = kernel(cpus=1)
    k.vunmap(k.vmap(1))
    assert (k.stats.tlb_flushes, k.stats.ipis) == (1, 0)


def test_walk_lengths_count_every_node_examined():
    k = kernel()
    S = k.config.vmalloc_start
    k.vmalloc(P)                        # empty list: no node examined; [S, S+2P)
    assert k.stats.last_walk == 0
    k.vmalloc(P)                        # passes the first, appends: 1 node
    assert k.stats.last_walk == 1
    k.vmalloc(P)                        # 2 nodes
    assert k.stats.last_walk == 2
    k.drain_events()
    k.vfree(S + 2 * P)                  # the second area: the walk reaches it at node 2
    (remove,) = events(k, "area")
    assert remove.walk == 2 and k.stats.remove_walk_total == 2
    # The hole [S+2P, S+4P) takes a 1-page vmalloc (2 pages with its guard): the walk
    # examines the first area (moves addr to S+2P), then the third, where it fits.
    assert k.vmalloc(P) == S + 2 * P
    assert k.stats.last_walk == 2
    assert k.stats.walk_total == 0 + 1 + 2 + 2


def test_the_loop_reuses_one_address_and_costs_two_write_locks_and_a_flush():
    # The thread's loop on vanilla, one thread, nothing else mapped (A.6's table with
    # p = 0): vmap examines no node, vunmap one; 2 write locks, 1 flush, c-1 IPIs.
    c = 8
    k = kernel(cpus=c)
    S = k.config.vmalloc_start
    n = 100
    for _ in range(n):
        addr = k.vmap(4)
        assert addr == S
        assert k.touch(addr, 4) == "ok"
        k.vunmap(addr)
    s = k.stats
    assert s.walk_total == 0 and s.remove_walk_total == n
    assert s.vmlist_lock_write == 2 * n
    assert (s.tlb_flushes, s.ipis, s.tlb_full_flushes) == (n, n * (c - 1), n * c)
    assert k.check() == []


def test_failure_prints_v2_6_27s_message_and_does_not_retry():
    # A 6-page 32-bit range (i386's VMALLOC_END is exclusive): three 1-page vmallocs
    # (2 pages each with the guard) fill it; the fourth passes all three areas, addr =
    # S+6P > end - 2P = S+4P: fail.
    k = kernel(bits=32, vmalloc_start=Config(bits=32).vmalloc_start,
               vmalloc_end=Config(bits=32).vmalloc_start + 6 * P)
    S = k.config.vmalloc_start
    assert [k.vmalloc(P) for _ in range(3)] == [S, S + 2 * P, S + 4 * P]
    k.drain_events()
    assert k.vmalloc(P) is None
    evs = k.drain_events()
    assert [e.line() for e in evs if e.kind == "warn"] == [
        "allocation failed: out of vmalloc space - use vmalloc=<size> to increase size."]
    assert not [e for e in evs if e.kind in ("purge", "flush")]
    assert (k.stats.alloc_failures, k.stats.failed_calls) == (1, 1)
    assert k.stats.last_walk == 3                  # every node examined


def test_vpages_array_is_a_second_area_and_a_second_flush():
    # 513 pages on 64-bit: the page array is 513 * 8 = 4104 bytes > PAGE_SIZE, so it is
    # vmalloc'ed (2 pages + guard), placed after the outer area (514 pages with guard).
    k = kernel()
    S = k.config.vmalloc_start
    a = k.vmalloc(513 * P)
    assert a == S
    starts = [x.start for x in k.areas()]
    assert starts == [S, S + 514 * P]
    k.drain_events()
    k.vfree(a)
    # The outer area (513 + guard) and then the array (2 pages + guard): two flushes.
    assert [(f.start, f.end) for f in events(k, "flush")] == [
        (S, S + 514 * P), (S + 514 * P, S + 517 * P)]
    assert k.areas() == []
    assert k.check() == []


def test_calls_the_rewrite_added_are_refused_and_change_nothing():
    k = kernel()
    k.vmalloc(P)
    before = k.digest()
    k.drain_events()
    assert k.vm_map_ram(4) is None
    (refused,) = events(k, "refused")
    assert refused.line() == "vm_map_ram() does not exist in v2.6.27"
    k.vm_unmap_aliases()
    k.purge()
    assert k.stats.refused_calls == 3 and k.stats.failed_calls == 0
    # Only the op and refusal counters moved.
    k.stats.ops -= 3
    k.stats.refused_calls -= 3
    assert k.digest() == before


def test_a_double_vfree_warns_and_changes_nothing():
    k = kernel()
    a = k.vmalloc(P)
    k.vfree(a)
    k.drain_events()
    k.vfree(a)
    (warn,) = events(k, "warn")
    assert warn.message == f"Trying to vfree() nonexistent vm area ({a:#x})"
    assert k.stats.bugs == 0 and k.check() == []


def test_vunmap_of_a_vmalloc_area_leaks_its_pages():
    # __vunmap(addr, 0): the pages are the caller's; vmalloc's are never freed.
    k = kernel()
    a = k.vmalloc(3 * P)
    k.vunmap(a)
    assert len(k.pages.allocated) == 3 and k.areas() == []
    assert k.check() == []


def test_workloads_translate_or_are_refused():
    wl = get("map-touch-unmap")
    cfg = wl.config(variant="vanilla")
    assert "vmap(4), touch, vunmap" in wl.translation_note(cfg)
    with pytest.raises(UnsupportedWorkload, match=r"vm_map_ram\(\).*vanilla v2.6.27"):
        get("vm-map-ram-test").config(variant="vanilla")


# -- __get_vm_area_node()'s loop, literally (issue 22 §2) -----------------------------------
# v2.6.27 mm/vmalloc.c 236-256: a node below addr (tmp->addr < addr) moves addr past itself
# with no end test (245-250); `found` (253-254) has no end test either.  Areas here: A at
# S (1 page + guard), B at S + 3 pages (an explicit start), C right after B.

def _three_areas():
    from vmapviz.kernel import Config, Kernel
    k = Kernel(Config(variant="vanilla", nr_cpus=2))
    P, S = 4096, 0xFFFFC20000000000
    assert k.get_vm_area(P, 0) == S
    assert k.get_vm_area(P, 0, S + 3 * P, k.config.VMALLOC_END) == S + 3 * P
    assert k.get_vm_area(P, 0) == S + 5 * P
    return k, P, S


def test_vanilla_failed_aligned_search_counts_every_node_it_examined():
    from vmapviz.kernel.vm_struct import VM_IOREMAP
    k, P, S = _three_areas()
    # __get_vm_area(12 KiB, VM_IOREMAP, S, S + 8 pages): fls(12288) = 14, align 16 KiB;
    # size 12 KiB + guard = 4 pages; end - size = S + 4 pages.  A (at addr): no fit, addr =
    # ALIGN(S + 2P, 4P) = S + 4P, not past S + 4P; B (S + 3P < addr): addr = ALIGN(S + 5P) =
    # S + 8P, no end test; C (S + 5P < addr, ends at S + 7P < addr): skipped; after the
    # loop S + 8P > S + 4P: fail, after examining 3 nodes.
    assert k.get_vm_area(12288, VM_IOREMAP, S, S + 8 * P) is None
    assert k.stats.last_walk == 3


def test_vanilla_found_has_no_end_test_and_places_an_area_past_end():
    from vmapviz.kernel.vm_struct import VM_IOREMAP
    k, P, S = _three_areas()
    assert k.get_vm_area(P, 0, S + 100 * P, k.config.VMALLOC_END) == S + 100 * P   # D
    # as above, but after C the loop meets D (S + 100P >= S + 8P): S + 8P + 4P <= S + 100P,
    # found, with no end test: the area [S + 8P, S + 12P) lies past end = S + 8P.
    assert k.get_vm_area(12288, VM_IOREMAP, S, S + 8 * P) == S + 8 * P
    assert k.stats.last_walk == 4
    assert (S + 8 * P, S + 12 * P) in [(a.start, a.end) for a in k.areas()]
    assert k.check() == []
