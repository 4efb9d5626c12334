"""The vmap layer of Linux 6.12 ("modern"), with expected values worked out by hand from
6.12.33's mm/vmalloc.c and arch/x86/mm/tlb.c (KERNEL-HISTORY.md part C, where the C
wins).  The rules used (P = PAGE_SIZE, S = VMALLOC_START, x86_64 unless said):

- __get_vm_area_node(): size = PAGE_ALIGN(size) + P (one guard page); VM_IOREMAP align
  = 1 << get_count_order_long(page-aligned size).  vm_map_ram() of more than
  VMAP_MAX_ALLOC pages: no guard page.
- alloc_vmap_area(): over the whole range with more than one node (64-bit: one per CPU),
  the head of pool[(size - 1) / P] of node (cpu % nodes) first, if aligned; else the
  lowest free block that fits (align > P: a block of size + align - 1).  Areas are
  packed: no gap page.  Failure: purge fragmented blocks (forced) and everything lazy,
  retry once, then "vmalloc_node_range for size N failed: ...".
- Freeing clears the PTEs at once; vmap_lazy_nr > lazy_max_pages (fls(cpus) * 8192)
  queues the drain work, which runs after the call in a kworker (cpu -1).
- A purge decays each pool (len >> 2 from the head; all of a pool shorter than 4),
  flushes [lowest, highest) lazy once (x86: whole TLBs above 33 pages), then sends a
  tagged area of up to 256 pages to the head of its node's pool, others to the tree.
- vmap blocks: 1024 pages; bump pointer 1024 - free; a region of 2^order pages.
"""

import random

import pytest

from vmapviz.kernel import VM_IOREMAP, Config, Kernel
from vmapviz.kernel.modern import KWORKER, FreeBlock, PoolView
from vmapviz.kernel.modern.free_space import FreeSpace

P = 4096
KiB = 1 << 10
MiB = 1 << 20
BLOCK = 1024 * P


def kernel(cpus=4, bits=64, pages=None, **kw):
    cfg = Config(nr_cpus=cpus, bits=bits, variant="modern", **kw)
    if pages is not None:
        cfg = cfg.replace(vmalloc_end=cfg.vmalloc_start + pages * P)
    return Kernel(cfg)


def events(k, kind=None):
    return [e for e in k.drain_events() if kind is None or e.kind == kind]


def test_the_history_table_addresses():
    # KERNEL-HISTORY.md A.6, the modern column.
    k = kernel()
    S = k.config.vmalloc_start
    a = k.vmalloc(8 * KiB)
    assert a == S                                  # [S, S+0x3000) with its guard page
    assert k.vmap(4) == S + 0x3000                 # no gap page: right after a's guard
    assert k.get_vm_area(4 * KiB, VM_IOREMAP) == S + 0x8000   # 4 KiB aligned now
    k.vfree(a)
    assert k.vmalloc_to_page(a) is None            # PTEs cleared at free time
    assert [x.state for x in k.areas()][:1] == ["lazy"]
    assert k.vmalloc(4 * KiB) == S + 0xA000        # the lowest free block; a is lazy
    assert k.free_blocks() == [FreeBlock(S + 0xC000, k.config.vmalloc_end)]
    assert k.check() == []


@pytest.mark.parametrize("bits,cpus,want", [
    (64, 4, 1024),     # min(1024, max(128, 2^25 / 4 / 16))
    (64, 4096, 512),   # 2^25 / 4096 / 16 = 512
    (32, 8, 256),      # 2^15 / 8 / 16 = 256
    (32, 64, 64),      # max(2 * 32, 2^15 / 64 / 16 = 32)
])
def test_vmap_bbmap_bits_as_6_12_computes_it(bits, cpus, want):
    # VMAP_BBMAP_BITS = min(1024, max(2 * VMAP_MAX_ALLOC, VMALLOC_PAGES /
    # roundup_pow_of_two(NR_CPUS) / 16)), VMALLOC_PAGES = 128 GiB or 128 MiB of pages.
    cfg = kernel(cpus=cpus, bits=bits).config
    assert (cfg.vmap_bbmap_bits, cfg.vmap_block_size) == (want, want * P)


def test_ioremap_alignment_is_the_size_rounded_up_to_a_power_of_two():
    k = kernel(cpus=1)
    S = k.config.vmalloc_start
    assert k.get_vm_area(4 * KiB, VM_IOREMAP) == S           # [S, S+2p)
    assert k.get_vm_area(5000, VM_IOREMAP) == S + 0x2000     # 8 KiB: order 13, [S+2p, S+5p)
    assert k.get_vm_area(12 * KiB, VM_IOREMAP) == S + 0x8000  # 16 KiB aligned past S+5p
    assert k.free_blocks()[:1] == [FreeBlock(S + 5 * P, S + 8 * P)]


def test_large_vm_map_ram_has_no_guard_page_and_vmalloc_packs_after_it():
    k = kernel()
    S = k.config.vmalloc_start
    assert k.vm_map_ram(65) == S                   # over VMAP_MAX_ALLOC: alloc_vmap_area()
    assert k.vmalloc(P) == S + 65 * P
    assert [(a.kind, a.end - a.start, a.guard) for a in k.areas()] == [
        ("vm_map_ram", 65 * P, 0), ("vmalloc", 2 * P, P)]


def test_busy_lists_by_address_lazy_lists_by_the_allocating_cpus_node():
    # 4 CPUs: 4 nodes, 16-page zones; S is 64 KiB aligned with (S >> 16) % 4 == 0.
    k = kernel()
    a = k.vmalloc(15 * P, cpu=1)                   # [S, S+16p): zone 0, node 0's busy list
    b = k.vmalloc(P, cpu=1)                        # [S+16p, S+18p): zone 1, node 1
    assert [n.busy for n in k.node_views()] == [(a,), (b,), (), ()]
    assert {x.start: x.flags >> 8 for x in k.areas()} == {a: 2, b: 2}   # vn_id 1, + 1
    k.vfree(a, cpu=3)
    # Freed on cpu3, tagged by cpu1's node: node 1's lazy list, not node 0's or 3's.
    assert [n.lazy for n in k.node_views()] == [(), (a,), (), ()]
    assert k.check() == []


def test_reuse_of_a_purged_address_through_its_nodes_pool():
    k = kernel()
    S = k.config.vmalloc_start
    a = k.vmalloc(P, cpu=0)                        # 2 pages at S, tagged node 0
    assert k.vmalloc(P, cpu=0) == S + 2 * P
    k.vfree(a, cpu=0)
    events(k)
    k.purge(cpu=0)
    evs = events(k)
    (purge,) = [e for e in evs if e.kind == "purge"]
    (flush,) = [e for e in evs if e.kind == "flush"]
    assert (purge.nr_areas, purge.nr_pages, purge.pooled) == (1, 2, 1)
    assert (flush.start, flush.end, flush.whole) == (S, S + 2 * P, False)   # 2 pages: INVLPG
    assert k.node_pools() == [PoolView(0, 2, (S,))]
    assert k.lazy_pages() == 0
    # A CPU of another node misses its own pool and takes the lowest free block: a's
    # space is not free, it waits in node 0's pool.
    assert k.vmalloc(P, cpu=1) == S + 4 * P
    # A CPU of node 0 gets a's old address back.
    assert k.vmalloc(P, cpu=0) == S
    alloc = [e for e in events(k, "area")][-1]
    assert alloc.pooled and alloc.node == 0 and alloc.walk == 0
    assert k.node_pools() == []
    assert k.extra_counters()["pool_hits"] == 1
    assert k.check() == []


def test_an_unaligned_pool_head_rotates_to_the_tail_and_misses():
    k = kernel()
    S = k.config.vmalloc_start
    first = [k.vmalloc(P, cpu=0) for _ in range(2)]   # S and S+2p
    for a in first:
        k.vfree(a, cpu=0)
    k.purge(cpu=0)
    # Purged in address order, each to the head: the pool reads S+2p, S.
    assert k.node_pools() == [PoolView(0, 2, (S + 2 * P, S))]
    # 16 KiB alignment: the head S+2p is not aligned: rotated to the tail, a miss, the
    # request goes to the tree: the lowest 16 KiB aligned fit is S+4p.
    assert k.vmalloc_align(P, 16 * KiB, cpu=0) == S + 4 * P
    assert k.node_pools() == [PoolView(0, 2, (S, S + 2 * P))]
    assert k.vmalloc_align(P, 16 * KiB, cpu=0) == S      # now the head is aligned


def test_pools_decay_a_quarter_from_the_head_and_small_pools_entirely():
    k = kernel()
    S = k.config.vmalloc_start
    areas = [k.vmalloc(P, cpu=0) for _ in range(8)]   # S + 2i pages
    fence = k.vmalloc(P, cpu=0)
    assert fence == S + 16 * P
    for a in areas:
        k.vfree(a, cpu=0)
    k.purge(cpu=0)
    assert k.node_pools() == [PoolView(0, 2, tuple(S + 2 * i * P for i in range(7, -1, -1)))]
    events(k)
    k.purge(cpu=0)                                 # nothing lazy: only the decay, no flush
    purge = events(k, "purge")[0]
    assert (purge.nr_areas, purge.decayed) == (0, 2)   # 8 >> 2 from the head: S+14p, S+12p
    assert k.stats.tlb_flushes == 1
    assert k.node_pools() == [PoolView(0, 2, tuple(S + 2 * i * P for i in range(5, -1, -1)))]
    assert k.free_blocks()[0] == FreeBlock(S + 12 * P, S + 16 * P)   # merged with each other
    assert k.vmalloc(P, cpu=1) == S + 12 * P       # node 1: the lowest free block
    for _ in range(2):
        k.purge(cpu=0)                             # 6 -> 5 (6 >> 2 = 1), then 5 -> 4
    assert len(k.node_pools()[0].starts) == 4
    k.purge(cpu=0)                                 # 4 >> 2 = 1: 3 left
    k.purge(cpu=0)                                 # fewer than 4: n_decay wraps, all go
    assert k.node_pools() == []
    assert k.free_blocks()[0] == FreeBlock(S, S + 12 * P)
    assert k.check() == []


def test_one_node_has_no_pools():
    # 1 CPU (and any 32-bit machine): one node, node_alloc() is off, areas are untagged
    # and go back to the tree at their purge.
    for cpus, bits in ((1, 64), (4, 32)):
        k = kernel(cpus=cpus, bits=bits)
        S = k.config.vmalloc_start
        a = k.vmalloc(P)
        k.vfree(a)
        k.purge()
        assert k.node_pools() == [] and k.free_blocks() == [FreeBlock(S, k.config.vmalloc_end)]


def test_the_purge_runs_in_a_kworker_after_the_call_that_crossed_the_threshold():
    k = kernel(cpus=1)                             # lazy_max_pages = fls(1) * 8192
    S = k.config.vmalloc_start
    assert k.config.lazy_max_pages == 8192
    a, b = k.vm_map_ram(4097), k.vm_map_ram(4097)  # no guard page, no page array
    k.vm_unmap_ram(a, 4097)
    assert k.lazy_pages() == 4097 and not k.drain_pending
    events(k)
    k.vm_unmap_ram(b, 4097)                        # 8194 > 8192: the drain is queued
    evs = events(k)
    names = [type(e).__name__ for e in evs]
    assert names == ["Call", "VaLazyFree", "Return", "Purge", "TlbFlush"]
    assert evs[1].queued and evs[1].cpu == 0
    purge, flush = evs[3], evs[4]
    assert purge.cpu == flush.cpu == KWORKER and purge.op == evs[2].op
    assert purge.by == "kworker: drain_vmap_area_work"
    assert (purge.nr_areas, purge.nr_pages, purge.helpers) == (2, 8194, 0)
    assert (flush.start, flush.end, flush.whole, flush.ipis) == (S, S + 8194 * P, True, 0)
    assert k.lazy_pages() == 0 and k.stats.purges == 1 and k.check() == []


@pytest.mark.parametrize("pages,whole", [(32, False), (33, True)])
def test_x86_flushes_whole_tlbs_only_above_33_pages(pages, whole):
    k = kernel()
    S = k.config.vmalloc_start
    k.vfree(k.vmalloc(pages * P))                  # pages + 1 with the guard
    events(k)
    k.purge()
    (flush,) = events(k, "flush")
    assert (flush.start, flush.end, flush.whole, flush.ipis) == (S, S + (pages + 1) * P, whole, 3)
    assert k.stats.tlb_full_flushes == (4 if whole else 0)


def test_ptes_go_at_free_and_only_a_stale_tlb_entry_reaches_the_page():
    k = kernel()
    a = k.vmalloc(P, cpu=0)
    assert k.touch(a, 1, cpu=1) == "ok"            # cpu1 caches the translation
    k.vfree(a, cpu=0)
    assert k.vmalloc_to_page(a) is None
    assert k.touch(a, 1, cpu=1) == "use-after-free"   # through its stale TLB entry
    assert k.touch(a, 1, cpu=2) == "fault"         # no TLB entry: the PTE is gone
    assert k.check() == []
    k.purge()
    assert k.touch(a, 1, cpu=1) == "fault"
    assert k.check() == []


def test_unaligned_bump_allocation_within_a_block():
    k = kernel()
    S = k.config.vmalloc_start
    assert k.vm_map_ram(1, cpu=0) == S             # new block at S, page 0 at once
    assert k.vm_map_ram(4, cpu=0) == S + 1 * P     # bump: page 1 (2008: page 4)
    assert k.vm_map_ram(3, cpu=0) == S + 5 * P     # 3 pages take 4: pages 5-8
    k.vm_unmap_ram(S + 1 * P, 4, cpu=0)
    assert k.vmalloc_to_page(S + 1 * P) is None    # vb_free() clears PTEs at once
    assert k.vm_map_ram(2, cpu=0) == S + 9 * P     # freed pages are not handed out again
    (vb,) = k.block_details()
    assert (vb.free, vb.dirty, vb.dirty_min, vb.dirty_max) == (1024 - 11, 4, 1, 5)
    assert vb.used_map == 0b11111100001            # pages 0, 5-8 (the 4th unmapped), 9-10
    (g,) = k.block_views()
    assert (g.alloc_map, g.dirty_map) == ((1 << 11) - 1, 0b11110)
    assert k.check() == []


def test_a_block_goes_to_the_next_4mib_boundary_and_vmalloc_fills_below_it():
    k = kernel()
    S = k.config.vmalloc_start
    assert k.vmalloc(P) == S                       # [S, S+2p)
    assert k.vm_map_ram(1) == S + BLOCK            # ALIGN(S+2p, 4 MiB)
    assert k.vmalloc(P) == S + 2 * P               # the hole below the block
    assert k.free_blocks()[:2] == [FreeBlock(S + 4 * P, S + BLOCK),
                                   FreeBlock(S + 2 * BLOCK, k.config.vmalloc_end)]


def test_new_blocks_go_to_the_tail_and_the_xarray_by_address_hash():
    k = kernel(cpus=2)
    S = k.config.vmalloc_start
    first = [k.vm_map_ram(64, cpu=0) for _ in range(16)]  # fills block 1 (S)
    assert first[-1] == S + 960 * P
    assert k.vm_map_ram(64, cpu=0) == S + BLOCK          # block 2, at the tail
    assert k.vm_map_ram(1, cpu=1) == S + 2 * BLOCK       # cpu1's own block
    assert [q.free for q in k.queue_views()] == [(2,), (3,)]
    # Block 1 is full: off the free list.  xarray: (addr / 4 MiB) % 2.
    assert [(b.id, b.on_free_list, b.xa_cpu, b.xa_index) for b in k.block_details()] == [
        (1, False, (S // BLOCK) % 2, 0), (2, True, (S // BLOCK + 1) % 2, 1),
        (3, True, (S // BLOCK + 2) % 2, 2)]


def test_vm_unmap_aliases_flushes_a_dirty_range_once():
    k = kernel()
    S = k.config.vmalloc_start
    addrs = [k.vm_map_ram(64) for _ in range(12)]        # 768 pages: free 256, not < 256
    for a in addrs[:2]:
        k.vm_unmap_ram(a, 64)
    events(k)
    k.vm_unmap_aliases()
    evs = events(k)
    (d,) = [e for e in evs if e.kind == "alias"]
    (f,) = [e for e in evs if e.kind == "flush"]
    assert (d.start, d.end) == (S, S + 128 * P)
    assert (f.start, f.end, f.whole) == (S, S + 128 * P, True)   # 128 pages > 33
    (vb,) = k.block_details()
    assert (vb.dirty_min, vb.dirty_max, vb.dirty) == (1024, 0, 128)
    k.vm_unmap_aliases()                                  # nothing owed: no flush
    assert k.stats.tlb_flushes == 1


def test_vm_unmap_aliases_retires_a_fragmented_block():
    k = kernel()
    S = k.config.vmalloc_start
    addrs = [k.vm_map_ram(64) for _ in range(13)]        # 832 pages: free 192 < 256
    for a in addrs:
        k.vm_unmap_ram(a, 64)
    (vb,) = k.block_details()
    assert (vb.free, vb.dirty, vb.used_map) == (192, 832, 0)
    events(k)
    k.vm_unmap_aliases()
    evs = events(k)
    (fp,) = [e for e in evs if type(e).__name__ == "FragmentedPurge"]
    assert (fp.free, fp.dirty, fp.forced) == (192, 832, False)
    (p,) = [e for e in evs if e.kind == "purge"]
    assert (p.nr_areas, p.nr_pages, p.pooled) == (1, 1024, 0)   # 1024 pages: no pool
    assert [e.kind for e in evs].count("flush") == 1
    assert k.block_details() == [] and k.free_blocks() == [FreeBlock(S, k.config.vmalloc_end)]


def test_a_failed_allocation_retires_fragmented_blocks_purges_and_retries():
    k = kernel(cpus=1, pages=2 * 1024)                   # room for two blocks
    S = k.config.vmalloc_start
    b = k.vm_map_ram(64)
    k.vm_unmap_ram(b, 64)                                # free 960: not fragmented enough
    k.vm_unmap_aliases()                                 # ... for vm_unmap_aliases()
    assert len(k.block_details()) == 1
    events(k)
    # 4 MiB + the guard page does not fit in [S + 4 MiB, S + 8 MiB - 1].
    assert k.vmalloc(4 * MiB) == S
    evs = events(k)
    (fp,) = [e for e in evs if type(e).__name__ == "FragmentedPurge"]
    assert fp.forced
    (p,) = [e for e in evs if e.kind == "purge"]
    assert p.by == "reclaim_and_purge_vmap_areas" and p.full_decay and p.nr_areas == 1
    assert not [e for e in evs if e.kind == "warn"]
    # Nothing can make room for 8 MiB: the kernel's message, NULL.
    assert k.vmalloc(8 * MiB) is None
    warns = [e.line() for e in events(k, "warn")]
    assert warns == [f"vmalloc_node_range for size {8 * MiB + P} failed: Address range "
                     f"restricted to {S:#x} - {k.config.VMALLOC_END:#x}",
                     f"warn_alloc: vmalloc error: size "
                     f"{8 * MiB}, vm_struct allocation failed"]
    assert k.stats.alloc_failures == 1 and k.check() == []


def test_vfree_from_inside_an_area_and_twice():
    k = kernel()
    S = k.config.vmalloc_start
    a = k.vmalloc(4 * P)
    k.vfree(a + 2 * P)                                   # any address inside it
    assert k.areas()[0].state == "lazy" and k.stats.warnings == 0
    k.vfree(a)                                           # again: no longer busy
    assert [e.line() for e in events(k, "warn")] == [
        f"WARNING: at mm/vmalloc.c vfree: Trying to vfree() nonexistent vm area ({S:#x})"]
    assert k.stats.bugs == 0 and k.check() == []


def test_double_vm_unmap_ram_of_block_pages_is_refused():
    k = kernel()
    a = k.vm_map_ram(4)
    k.vm_unmap_ram(a, 4)
    k.vm_unmap_ram(a, 4)
    assert k.stats.bugs == 1
    (vb,) = k.block_details()
    assert vb.dirty == 4 and k.check() == []


# -- the free tree ------------------------------------------------------------------------


def space(blocks):
    """A FreeSpace holding exactly `blocks` ([(start, end)] in pages)."""
    lo, hi = blocks[0][0], blocks[-1][1]
    fs = FreeSpace(lo * P, hi * P)
    at = lo
    for s, e in blocks:
        if s > at:
            fs.clip(fs.starts[-1], at * P, (s - at) * P)
        at = e
    assert fs.blocks() == [(s * P, e * P) for s, e in blocks]
    return fs


def test_merging_joins_both_neighbours():
    fs = space([(0, 2), (4, 6), (8, 10)])
    assert fs.merge_or_add(2 * P, 4 * P) == (0, 6 * P)
    assert fs.merge_or_add(6 * P, 8 * P) == (0, 10 * P)
    assert fs.blocks() == [(0, 10 * P)]


def test_align_above_a_page_takes_a_lower_block_on_the_descent_path():
    # Seven blocks; the balanced tree's root is block 3 (pages 30-36, 6 pages).  A
    # request of 4 pages aligned to 4 pages searches for 4 + 4 - 1 = 7 pages: the
    # lowest such block is block 5 (pages 50-60), in the root's right subtree, so the
    # descent turns right at the root, checks it first: ALIGN(30, 4) = 32, 32 + 4 <= 36,
    # it fits: returned after 1 step.
    fs = space([(0, 1), (10, 11), (20, 21), (30, 36), (40, 41), (50, 60), (70, 71)])
    assert fs.lowest_match(4 * P, 4 * P, 0, True) == (30 * P, 1)
    # Block 1 (pages 10-16, aligned start, 6 pages) fits too but is not on the path
    # to block 5 (root 3, then 5): block 5 after 2 steps.
    fs = space([(0, 1), (12, 18), (20, 21), (30, 31), (40, 41), (50, 60), (70, 71)])
    assert fs.lowest_match(4 * P, 4 * P, 0, True) == (50 * P, 2)
    # Without the adjustment (align <= a page), the lowest block that fits, wherever.
    assert fs.lowest_match(4 * P, P, 0, False) == (12 * P, 2)   # root 3, then block 1


def test_the_descent_agrees_with_the_lowest_fit_and_with_the_literal_walk():
    rng = random.Random(7)
    for _ in range(300):
        blocks, at = [], 0
        for _ in range(rng.randint(1, 40)):
            at += rng.randint(1, 6)
            size = rng.choice([1, 2, 3, 4, 5, 8, 9, 16])
            blocks.append((at, at + size))
            at += size
        fs = space(blocks)
        size, align = rng.randint(1, 9) * P, rng.choice([P, 2 * P, 4 * P, 8 * P])
        adjust = align > P
        got = fs.lowest_match(size, align, 0, adjust)
        # The literal walk (rollbacks and all) from vstart = 0 gives the same answer.
        assert got == fs._descend(size, align, 0, size + align - 1 if adjust else size)
        if not adjust:        # shape-free: the lowest block of at least `size`
            want = next((s * P for s, e in blocks if (e - s) * P >= size), None)
            assert got[0] == want
        elif got[0] is not None:
            s = got[0]
            assert (-s) % align + size <= fs.end_of[s] - s      # it fits once aligned
