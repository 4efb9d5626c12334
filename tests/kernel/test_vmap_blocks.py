"""The per-CPU allocator: vmap blocks, vm_map_ram()/vm_unmap_ram(), vm_unmap_aliases().

From the patch: vb_alloc() takes 2^order pages (order = get_order(size)) at
bitmap_find_free_region() of the first block on this CPU's free list; a block leaves the
free list when its `free` reaches 0; none fits: new_vmap_block() =
alloc_vmap_area(VMAP_BLOCK_SIZE, VMAP_BLOCK_SIZE, VMALLOC_START, VMALLOC_END) put at the
head of this CPU's free list.  vb_free() sets dirty bits (alloc bits are never
cleared); all bits dirty: free_vmap_block() frees the block's area lazily.
"""

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmapviz.kernel import Config, Kernel
from vmapviz.kernel.events import BlockFree, BlockNew

P = 4096
MiB = 1 << 20
VARIANTS = ("merged", "posted")


def kernel(variant="merged", cpus=4, bits=64):
    return Kernel(Config(nr_cpus=cpus, bits=bits, variant=variant))


def bits_set(mask):
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


@pytest.mark.parametrize("variant", VARIANTS)
def test_first_block_starts_at_vmalloc_start(variant):
    k = kernel(variant)
    S = k.config.vmalloc_start
    assert S % (4 * MiB) == 0
    assert k.vm_map_ram(4, cpu=0) == S
    (b,) = k.block_views(0)
    assert (b.start, b.end, b.cpu) == (S, S + 4 * MiB, 0)
    assert bits_set(b.alloc_map) == [0, 1, 2, 3]
    assert (b.free, b.dirty) == (1020, 0)
    assert k.queue_views()[0].free == (b.id,)
    assert k.areas()[0].kind == "vmap_block"
    assert (k.areas()[0].start, k.areas()[0].end) == (S, S + 4 * MiB)
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_blocks_land_8_mib_apart(variant):
    k = kernel(variant)
    S = k.config.vmalloc_start
    # Block 0 = [S, S+4M).  The next search: ALIGN(S + 4M + P, 4M) = S + 8M.
    assert k.vm_map_ram(1, cpu=0) == S
    assert k.vm_map_ram(1, cpu=1) == S + 8 * MiB
    # Past block 0 -> S+8M, blocked by block 1 -> ALIGN(S + 12M + P, 4M) = S + 16M.
    assert k.vm_map_ram(1, cpu=2) == S + 16 * MiB
    assert [(b.cpu, b.start) for b in k.block_views()] == \
        [(0, S), (1, S + 8 * MiB), (2, S + 16 * MiB)]
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_full_block_leaves_the_free_list_and_the_next_lands_8_mib_on(variant):
    k = kernel(variant)
    S = k.config.vmalloc_start
    addrs = [k.vm_map_ram(4, cpu=0) for _ in range(256)]       # 256 * 4 = 1024 bits
    assert addrs == [S + 4 * i * P for i in range(256)]
    (b0,) = k.block_views(0)
    assert (b0.free, b0.on_free_list) == (0, False)
    assert k.queue_views()[0].free == ()
    nxt = k.vm_map_ram(4, cpu=0)
    assert nxt == S + 8 * MiB                                  # ALIGN(S + 4M + P, 4M)
    b0, b1 = k.block_views(0)
    assert k.queue_views()[0].free == (b1.id,)
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_orders_are_naturally_aligned_power_of_two_regions(variant):
    k = kernel(variant)
    S = k.config.vmalloc_start
    a1 = k.vm_map_ram(1)      # order 0: bit 0
    a2 = k.vm_map_ram(2)      # order 1: first free aligned pair is bits 2-3 (bit 1 is odd)
    a3 = k.vm_map_ram(3)      # order 2: 3 pages take 4 bits, aligned: 4-7
    a4 = k.vm_map_ram(1)      # order 0: first free bit: 1
    a5 = k.vm_map_ram(5)      # order 3: 8 bits at 8-15
    assert [(a - S) // P for a in (a1, a2, a3, a4, a5)] == [0, 2, 4, 1, 8]
    (b,) = k.block_views(0)
    assert bits_set(b.alloc_map) == list(range(16))
    assert b.free == 1024 - 16
    # vm_map_ram(3) maps 3 pages of its 4 bits.
    assert [k.vmalloc_to_page(a3 + i * P) is not None for i in range(4)] == [True, True, True, False]
    k.vm_unmap_ram(a3, 3)
    (b,) = k.block_views(0)
    assert bits_set(b.dirty_map) == [4, 5, 6, 7]      # vb_free() dirties the whole order
    assert b.dirty == 4
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bits", [32, 64])
def test_vmap_max_alloc_pages_go_to_blocks_more_to_the_global_allocator(variant, bits):
    cpus = 1 if bits == 32 else 4
    k = kernel(variant, cpus=cpus, bits=bits)
    S = k.config.vmalloc_start
    mx = k.config.vmap_max_alloc                      # BITS_PER_LONG
    block = k.config.vmap_block_size
    assert k.vm_map_ram(mx) == S                      # order log2(mx): bits 0 .. mx-1
    assert k.vm_map_ram(mx) == S + mx * P             # the next aligned region
    g = k.vm_map_ram(mx + 1)
    # alloc_vmap_area(size, PAGE_SIZE, ...): after the block, one free page, no guard.
    assert g == S + block + P
    area = [x for x in k.areas() if x.start == g][0]
    assert (area.kind, area.end - area.start) == ("vm_map_ram", (mx + 1) * P)
    assert len(k.block_views()) == 1
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_vb_free_from_another_cpu_keeps_the_block_on_its_owner(variant):
    k = kernel(variant)
    a = k.vm_map_ram(4, cpu=0)
    k.vm_unmap_ram(a, 4, cpu=2)
    (b,) = k.block_views()
    assert b.cpu == 0
    assert k.queue_views()[0].dirty == (b.id,)
    assert k.queue_views()[0].free == (b.id,)
    assert k.queue_views()[2] == (2, (), (), 0)
    # CPU 2 allocates from its own, new block, not from CPU 0's.
    c = k.vm_map_ram(4, cpu=2)
    assert c == k.config.vmalloc_start + 8 * MiB
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_freed_block_space_is_not_reused(variant):
    k = kernel(variant)
    S = k.config.vmalloc_start
    a = k.vm_map_ram(4)
    k.vm_unmap_ram(a, 4)
    assert k.vm_map_ram(4) == S + 4 * P              # alloc_map bits are never cleared


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_fully_dirty_block_is_freed_lazily(variant):
    k = kernel(variant)
    S = k.config.vmalloc_start
    addrs = [k.vm_map_ram(4) for _ in range(256)]
    for a in addrs[:-1]:
        k.vm_unmap_ram(a, 4)
    assert k.block_views()[0].dirty == 1020
    k.drain_events()
    k.vm_unmap_ram(addrs[-1], 4)                     # dirty == VMAP_BBMAP_BITS
    assert k.block_views() == []
    assert k.stats_view().vmap_blocks == 0
    assert k.queue_views()[0] == (0, (), (), 0)
    assert [(x.start, x.end, x.kind, x.state) for x in k.areas()] == \
        [(S, S + 4 * MiB, "vmap_block", "lazy")]
    assert k.stats_view().lazy_pages == 1024
    assert [type(e) for e in k.drain_events() if e.kind == "block"] == [BlockFree]
    # PTEs stay until the purge.
    assert k.vmalloc_to_page(addrs[0]) is not None
    k.purge()
    assert k.vmalloc_to_page(addrs[0]) is None
    assert k.areas() == []
    assert k.check() == []


def _dirty_on_two_cpus(k):
    """CPU 0 and CPU 1 each map, touch and unmap 4 pages: one dirty run per block."""
    S = k.config.vmalloc_start
    m0 = k.vm_map_ram(4, cpu=0)
    m1 = k.vm_map_ram(4, cpu=1)
    assert (m0, m1) == (S, S + 8 * MiB)
    assert k.touch(m0, 4, cpu=0) == "ok"
    assert k.touch(m1, 4, cpu=1) == "ok"
    k.vm_unmap_ram(m0, 4, cpu=0)
    k.vm_unmap_ram(m1, 4, cpu=1)
    assert k.stale_tlb_entries() == [4, 4, 0, 0]
    k.drain_events()
    return m0, m1


@pytest.mark.parametrize("variant", VARIANTS)
def test_vm_unmap_aliases_unmaps_dirty_runs_and_flushes_once(variant):
    k = kernel(variant)
    m0, m1 = _dirty_on_two_cpus(k)
    k.vm_unmap_aliases()
    evs = k.drain_events()
    assert [(e.start, e.end) for e in evs if e.kind == "alias"] == \
        [(m0, m0 + 4 * P), (m1, m1 + 4 * P)]
    (purge,) = [e for e in evs if e.kind == "purge"]
    assert (purge.nr_pages, purge.sync, purge.force_flush) == (0, True, True)
    (flush,) = [e for e in evs if e.kind == "flush"]
    assert (flush.start, flush.end, flush.ipis) == (m0, m1 + 4 * P, 3)
    assert (k.stats.tlb_flushes, k.stats.ipis, k.stats.vm_unmap_aliases_calls) == (1, 3, 1)
    assert all(k.vmalloc_to_page(m + i * P) is None for m in (m0, m1) for i in range(4))
    assert k.stale_tlb_entries() == [0, 0, 0, 0]
    # The dirty bits stay set.
    assert [bits_set(b.dirty_map) for b in k.block_views()] == [[0, 1, 2, 3]] * 2
    assert k.check() == []
    # So a second call unmaps the same runs and flushes again.
    k.vm_unmap_aliases()
    evs = k.drain_events()
    assert [(e.start, e.end) for e in evs if e.kind == "alias"] == \
        [(m0, m0 + 4 * P), (m1, m1 + 4 * P)]
    assert (k.stats.tlb_flushes, k.stats.ipis, k.stats.vm_unmap_aliases_calls) == (2, 6, 2)
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_vm_unmap_aliases_with_nothing_to_do_does_not_flush(variant):
    k = kernel(variant)
    k.vm_map_ram(4)                                  # live, not dirty
    k.vm_unmap_aliases()
    assert (k.stats.tlb_flushes, k.stats.ipis, k.stats.purges) == (0, 0, 0)
    assert k.stats.vm_unmap_aliases_calls == 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_vm_unmap_aliases_also_purges_lazy_areas(variant):
    k = kernel(variant)
    S = k.config.vmalloc_start
    m0, m1 = _dirty_on_two_cpus(k)
    # vmalloc(1 page) = 2 pages: past block 0 to S + 4M + P; 2 pages fit before block 1.
    v = k.vmalloc(P)
    assert v == S + 4 * MiB + P
    k.vfree(v)
    k.vm_unmap_aliases()
    evs = k.drain_events()
    (purge,) = [e for e in evs if e.kind == "purge"]
    assert (purge.nr_areas, purge.nr_pages) == (1, 2)
    (flush,) = [e for e in evs if e.kind == "flush"]
    # One flush over the dirty runs and the lazy area together.
    assert (flush.start, flush.end) == (m0, m1 + 4 * P)
    assert (k.stats.tlb_flushes, k.stats.purges) == (1, 1)
    assert k.stats_view().lazy_pages == 0
    assert [x.kind for x in k.areas()] == ["vmap_block", "vmap_block"]
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_vm_unmap_aliases_skips_full_blocks_so_their_stale_entries_survive(variant):
    # On the "range" flush model (ARM's flush_tlb_kernel_range) the lesson is whole:
    # the skipped full block keeps its PTEs and its stale TLB entries.
    k = Kernel(Config(nr_cpus=4, bits=64, variant=variant, flush="range"))
    S = k.config.vmalloc_start
    full = [k.vm_map_ram(4, cpu=0) for _ in range(256)]   # block 0 full: off the free list
    assert k.touch(full[0], 4, cpu=0) == "ok"
    assert k.touch(full[1], 4, cpu=3) == "ok"
    k.vm_unmap_ram(full[0], 4, cpu=0)
    k.vm_unmap_ram(full[1], 4, cpu=0)
    other = k.vm_map_ram(4, cpu=1)                        # block 1 at S + 8M, free-listed
    assert other == S + 8 * MiB
    k.vm_unmap_ram(other, 4, cpu=1)
    assert k.stale_tlb_entries() == [4, 0, 0, 4]
    k.drain_events()
    k.vm_unmap_aliases()
    evs = k.drain_events()
    # Only block 1's run is unmapped; the flush covers [S+8M, S+8M+4P), not block 0.
    assert [(e.start, e.end) for e in evs if e.kind == "alias"] == [(other, other + 4 * P)]
    (flush,) = [e for e in evs if e.kind == "flush"]
    assert (flush.start, flush.end, flush.whole) == (other, other + 4 * P, False)
    # Block 0's dirty aliases keep their PTEs and the stale TLB entries survive.
    assert k.vmalloc_to_page(full[0]) is not None
    assert k.stale_tlb_entries() == [4, 0, 0, 4]
    assert k.touch(full[0], 1, cpu=0) == "use-after-free"
    assert k.check() == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_on_x86_the_alias_flush_empties_every_tlb_but_the_full_blocks_ptes_stay(variant):
    # x86 (flush "all", the default): flush_tlb_kernel_range() is flush_tlb_all(), so
    # the stale TLB entries go, but the skipped block's dirty PTEs stay mapped: a touch
    # refills the TLB from them (include/asm-x86/tlbflush.h, 2.6.28).
    k = kernel(variant)
    full = [k.vm_map_ram(4, cpu=0) for _ in range(256)]
    k.touch(full[0], 4, cpu=0)
    k.vm_unmap_ram(full[0], 4, cpu=0)
    other = k.vm_map_ram(4, cpu=1)
    k.vm_unmap_ram(other, 4, cpu=1)
    k.drain_events()
    k.vm_unmap_aliases()
    (flush,) = [e for e in k.drain_events() if e.kind == "flush"]
    assert (flush.whole, flush.ipis, flush.stale) == (True, 3, 4)   # cpu0's 4 entries
    assert k.stale_tlb_entries() == [0, 0, 0, 0]
    assert k.vmalloc_to_page(full[0]) is not None
    assert k.touch(full[0], 1, cpu=0) == "use-after-free"
    assert k.check() == []


def _loop_expectations(cfg, n, cpus):
    """The seed's loop (vm_map_ram(4), touch 4 pages, vm_unmap_ram) n times on one CPU,
    accounted from the config alone: each block takes bits/4 triples; a block whose
    bits are all dirty is freed lazily (`bits` pages); the purge comes when the lazy
    pages exceed lazy_max_pages."""
    bits, lazy_max = cfg.vmap_bbmap_bits, cfg.lazy_max_pages
    per_block = bits // 4
    full, rem = divmod(n, per_block)
    per_purge = lazy_max // bits + 1          # the first block count whose pages > lazy_max
    purges = full // per_purge
    lazy_blocks = full % per_purge
    return dict(
        blocks_made=full + (1 if rem else 0),
        blocks_freed=full,
        purges=purges,
        ipis=purges * (cpus - 1),
        lazy_pages=lazy_blocks * bits,
        live_blocks=1 if rem else 0,
        # Every lazily freed, not yet purged block and the live block's dirty part
        # still sit in CPU 0's TLB.
        stale=lazy_blocks * bits + rem * 4,
        # Blocks restart from VMALLOC_START after every purge, 2 block sizes apart.
        live_start=cfg.vmalloc_start + lazy_blocks * 2 * cfg.vmap_block_size,
    )


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bits,cpus,n", [
    (64, 4, 256 * 25 * 2 + 17),   # 1024 bits, lazy_max 24576: 25 blocks per purge
    (32, 1, 256 * 9 * 2 + 5),     # 1024 bits, lazy_max 8192: 9 blocks per purge
    (64, 16, 256 * 41 + 100),     # lazy_max 40960: 41 blocks per purge; 1 purge, 0 left lazy
])
def test_seed_benchmark_loop_accounting(variant, bits, cpus, n):
    k = kernel(variant, cpus=cpus, bits=bits)
    want = _loop_expectations(k.config, n, cpus)
    made = freed = 0
    results = set()
    for _ in range(n):
        a = k.vm_map_ram(4, cpu=0)
        results.add(k.touch(a, 4, cpu=0))
        k.vm_unmap_ram(a, 4, cpu=0)
        for e in k.drain_events():
            made += type(e) is BlockNew
            freed += type(e) is BlockFree
    assert results == {"ok"}
    assert (made, freed) == (want["blocks_made"], want["blocks_freed"])
    assert k.stats.purges == want["purges"]
    assert k.stats.tlb_flushes == want["purges"]
    assert k.stats.ipis == want["ipis"]
    assert k.stats_view().lazy_pages == want["lazy_pages"]
    assert k.stats_view().vmap_blocks == want["live_blocks"]
    assert [b.start for b in k.block_views()] == [want["live_start"]]
    assert k.stale_tlb_entries() == [want["stale"]] + [0] * (cpus - 1)
    assert (k.stats.faults, k.stats.use_after_free, k.stats.warnings) == (0, 0, 0)
    assert k.check() == []


def test_seed_loop_numbers_for_the_brief_config():
    # The same formula, checked against the numbers worked out by hand for
    # N = 256*25*2 + 17 on 64-bit, 4 CPUs: 51 blocks made, 50 freed, purges after the
    # 25th and 50th frees (25 * 1024 = 25600 > 24576), 2 flushes, 2 * 3 IPIs.
    want = _loop_expectations(Config(nr_cpus=4, bits=64), 256 * 25 * 2 + 17, 4)
    assert want == dict(blocks_made=51, blocks_freed=50, purges=2, ipis=6, lazy_pages=0,
                        live_blocks=1, stale=68, live_start=Config(nr_cpus=4).vmalloc_start)


@pytest.mark.parametrize("variant", VARIANTS)
def test_seed_loop_on_32bit_8_cpus_runs_out_of_space_before_the_threshold(variant):
    # 32-bit, 8 CPUs: 256-bit (1 MiB) blocks, 2 MiB apart; the range is 112 MiB - 8 KiB,
    # so blocks j = 0..55 fit ((2j + 1) MiB <= 111.99 MiB).  56 lazy blocks are 14336
    # pages < lazy_max 32768: no threshold purge.  The 57th block's alloc_vmap_area()
    # fails, purges, and retries: merged from VMALLOC_START (succeeds at S), posted from
    # where it stopped (fails: vm_map_ram returns NULL).
    k = kernel(variant, cpus=8, bits=32)
    S = k.config.vmalloc_start
    assert (k.config.vmap_bbmap_bits, k.config.vmap_block_size) == (256, MiB)
    per_block = 64
    for i in range(56 * per_block):
        a = k.vm_map_ram(4)
        assert a == S + (i // per_block) * 2 * MiB + (i % per_block) * 4 * P
        k.vm_unmap_ram(a, 4)
    assert k.stats_view().lazy_pages == 56 * 256 and k.stats.purges == 0
    a = k.vm_map_ram(4)
    assert k.stats.purges == 1 and k.stats_view().lazy_pages == 0
    if variant == "merged":
        assert a == S
        assert k.stats.warnings == 0
    else:
        assert a is None
        assert k.stats.alloc_failures == 1
        assert k.areas() == []
        assert k.vm_map_ram(4) == S                 # the next call starts afresh
    assert k.check() == []


# -- bitmap_find_free_region() against the kernel's loop ------------------------------------

def naive_find_free_region(bitmap: int, bits: int, order: int) -> int:
    """lib/bitmap.c's bitmap_find_free_region() loop: each aligned position in turn,
    the first whose 1 << order bits are all clear."""
    n = 1 << order
    for pos in range(0, bits - n + 1, n):
        if all(not bitmap >> b & 1 for b in range(pos, pos + n)):
            return pos
    return -1


@given(st.sampled_from([64, 128, 1024]), st.lists(st.integers(0, 6), max_size=40),
       st.integers(0, 2**1024 - 1), st.booleans(), st.integers(0, 6))
def test_bitmap_find_free_region_matches_the_kernels_loop(bits, orders, noise, noisy, order):
    from vmapviz.kernel.rewrite.vmap_block import bitmap_find_free_region
    bitmap = 0
    for o in orders:                       # a block filled from the bottom, as vb_alloc() does
        pos = naive_find_free_region(bitmap, bits, o)
        if pos >= 0:
            bitmap |= ((1 << (1 << o)) - 1) << pos
    if noisy:                              # and any bitmap at all
        bitmap |= noise & ((1 << bits) - 1)
    assert bitmap_find_free_region(bitmap, bits, order) == naive_find_free_region(bitmap, bits, order)


def test_a_block_pickles_as_its_fields_and_stays_one_object():
    # vm_map_ram(4) takes bits 0-3 of block #1 (1020 free); vm_unmap_ram() dirties them.
    k = kernel()
    S = k.config.vmalloc_start
    k.vm_unmap_ram(k.vm_map_ram(4, cpu=0), 4, cpu=0)
    u = pickle.loads(pickle.dumps(k, 5))
    (vb,) = u.vmap_block_tree.values()
    assert (vb.id, vb.cpu, vb.start, vb.end, vb.free, vb.dirty) == (1, 0, S, S + 4 * MiB, 1020, 4)
    assert (vb.alloc_map, vb.dirty_map, vb.on_free_list, vb.on_dirty_list) == (0b1111, 0b1111, True, True)
    assert u.vbq[0].free == [vb] and u.vbq[0].free[0] is vb and u.vbq[0].dirty[0] is vb
    assert u.check() == []


def test_a_block_whose_dirty_map_differs_from_its_alloc_map_pickles_both():
    # Two vm_map_ram(4) take bits 0-3 and 4-7 of block #1 (1016 free); unmapping the
    # first dirties bits 0-3 only.  (Equal maps pickle one of them: the test above.)
    k = kernel()
    first = k.vm_map_ram(4, cpu=0)
    k.vm_map_ram(4, cpu=0)
    k.vm_unmap_ram(first, 4, cpu=0)
    for u in (pickle.loads(pickle.dumps(k, 5)), copy.deepcopy(k)):
        (vb,) = u.vmap_block_tree.values()
        assert (vb.free, vb.dirty, vb.alloc_map, vb.dirty_map) == (1016, 4, 0xFF, 0x0F)
        assert u.check() == []


def test_check_says_when_a_live_mapping_no_longer_holds_its_region():
    # vb_free() takes a sound kernel's own mapping at its word (it does not read the
    # bitmaps), so check() verifies what that relies on: vm_map_ram(3) took bits 4-7
    # (get_order() of 3 pages is 2: 4 pages), all handed out, none dirty.  A block
    # whose bit 7 reads as never handed out (its free count kept consistent) breaks it.
    k = kernel()
    S = k.config.vmalloc_start
    k.vm_map_ram(4, cpu=0)
    second = k.vm_map_ram(3, cpu=0)
    assert second == S + 4 * P and k.check() == []
    (vb,) = k.vmap_block_tree.values()
    vb.alloc_map &= ~(1 << 7)
    vb.free += 1
    assert k.check() == [f"vm_map_ram mapping {second:#x} in block #1: bits 4-7 are not all "
                         "handed out and clean"]
