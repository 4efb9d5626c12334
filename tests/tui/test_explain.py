"""The explanation panel's sentences for each kind of op, on each generation.

Each scenario is worked out by hand from the kernel's rules (KERNEL-HISTORY A.2-A.5 for
v2.6.27: areas abut guard-to-start, first fit from the head of vmlist, a flush at
every free; the patch for the rewrite), and the numbers it produces must appear in
the text.  S is VMALLOC_START on x86_64, pages are 4 KiB.
"""

from __future__ import annotations

from vmapviz.kernel import Config, Kernel
from vmapviz.kernel.vm_struct import VM_IOREMAP
from vmapviz.run.snapshot import Snapshot, take
from vmapviz.tui.words.explain import explain
from vmapviz.workloads import get

PG = 4096
S = 0xFFFFC20000000000


def last(k: Kernel, call) -> str:
    """The explanation of the op `call` runs on `k`, as one string."""
    k.drain_events()
    call()
    snap = take(k, last_op=tuple(k.drain_events()), op=k.op)
    return " ".join(explain(snap))


def vanilla(nr_cpus: int = 8, **kw) -> Kernel:
    return Kernel(Config(variant="vanilla", nr_cpus=nr_cpus, bits=64, **kw))


# -- v2.6.27: placement -------------------------------------------------------------------

def test_vanilla_vmalloc_vmap_ioremap_walk_vmlist_from_its_head():
    k = vanilla()
    # a = vmalloc(8 KiB): 2 pages + the guard page at S; the list was empty: 0 nodes
    text = last(k, lambda: k.vmalloc(2 * PG))
    assert "vmalloc() asked __get_vm_area_node() for 8 KiB" in text
    assert "write_lock(&vmlist_lock)" in text
    assert "linked the vmalloc area at 0xffffc20000000000 (12 KiB with its guard page) after examining 0 nodes" in text
    assert "No gap page" in text
    # b = vmap(4): right after a's guard page, S + 0x3000 (the rewrite: S + 0x4000);
    # the walk examined a
    text = last(k, lambda: k.vmap(4))
    assert "for 16 KiB" in text
    assert "at 0xffffc20000003000 (20 KiB with its guard page) after examining 1 node " in text
    # c = get_vm_area(4 KiB, VM_IOREMAP): fls(4096) = 13, aligned to 8 KiB; past b's end
    # S + 0x8000, already aligned; the walk examined a and b
    text = last(k, lambda: k.get_vm_area(PG, VM_IOREMAP))
    assert "1 << fls(size), here 8 KiB" in text
    assert "at 0xffffc20000008000 (8 KiB with its guard page) after examining 2 nodes" in text


def test_vanilla_vfree_flushes_every_cpu_at_once_and_the_hole_is_reused():
    k = vanilla(8)
    a = k.vmalloc(2 * PG)
    k.vmap(4)
    k.touch(a, 2, cpu=1)             # cpu1's TLB caches a's 2 pages
    # vfree(a): a is the head of vmlist (1 node); flush_tlb_all sends 8 - 1 = 7 IPIs
    # and drops cpu1's 2 entries, now stale
    text = last(k, lambda: k.vfree(a))
    assert "vfree() unlinked the area 0xffffc20000000000-0xffffc20000003000 from vmlist under vmlist_lock" in text
    assert "the walk examined 1 node)" in text
    assert "flushed every CPU's TLB (flush_tlb_all() on x86): 7 IPIs, 2 stale TLB entries dropped" in text
    assert "The rewrite defers this flush and batches it" in text
    # d = vmalloc(4 KiB) takes a's hole at once (the rewrite: past everything, lazy
    # areas block it); the walk stops at b, the first node
    text = last(k, lambda: k.vmalloc(PG))
    assert "at 0xffffc20000000000 (8 KiB with its guard page) after examining 1 node " in text


def test_vanilla_vfree_of_a_vpages_area_is_two_removes_and_two_flushes():
    k = vanilla(2)
    k.vmalloc(PG)                                  # x at S, 8 KiB
    # 4 MiB = 1,024 pages: its page array (1,024 * 8 = 8 KiB, over a page) is
    # vmalloc'ed too, after the area: [S + 0x2000, S + 0x403000), then the array of
    # 2 pages + guard at S + 0x403000, after a walk past x and the big area
    text = last(k, lambda: k.vmalloc(4 << 20))
    assert "linked the vmalloc area at 0xffffc20000002000" in text and "after examining 1 node " in text
    assert "a second walk examined 2 nodes and linked it at 0xffffc20000403000 (12 KiB" in text
    big = S + 0x2000
    # vfree: the big area is the 2nd node (walk 2), then the array is the 2nd node
    # again once the big area is gone; 2 CPUs: 1 IPI per flush
    text = last(k, lambda: k.vfree(big))
    assert "(the walk examined 2 nodes)" in text and "flush_tlb_all() on x86): 1 IPI, 0 stale" in text
    assert "a second walk of 2 nodes and a second flush, 1 IPI" in text


def test_vanilla_range_flush_model_and_a_single_cpu():
    k = vanilla(4, flush="range")
    addr = k.vmap(4)
    text = last(k, lambda: k.vunmap(addr))
    assert "flushed that range from every CPU's TLB (the range flush model): 3 IPIs" in text
    k = vanilla(1)
    addr = k.vmap(1)
    text = last(k, lambda: k.vunmap(addr))
    assert "0 IPIs (no other CPU)" in text


def test_vanilla_allocation_failure_has_no_purge_and_no_retry():
    k = vanilla()
    # 4 pages + the guard page = 20 KiB cannot fit in a 16 KiB range
    text = last(k, lambda: k.get_vm_area(4 * PG, 0, S, S + 4 * PG))
    assert "allocation failed: out of vmalloc space" in text
    assert "no hole of 20 KiB (guard page included)" in text
    assert "no retry" in text and "It returned NULL." in text


def test_vanilla_find_vm_area_takes_the_read_lock():
    k = vanilla()
    a = k.vmalloc(PG)
    assert "read_lock(&vmlist_lock)" in last(k, lambda: k.find_vm_area(a, cpu=0))
    assert f"find_vm_area({S + PG:#x})" in last(k, lambda: k.find_vm_area(S + PG, cpu=0))


def test_calls_v2_6_27_lacks_are_explained_as_the_rewrite_s():
    k = vanilla()
    for name, call in (("vm_map_ram", lambda: k.vm_map_ram(4)),
                       ("vm_unmap_ram", lambda: k.vm_unmap_ram(S, 4)),
                       ("vm_unmap_aliases", lambda: k.vm_unmap_aliases()),
                       ("purge", lambda: k.purge())):
        text = last(k, call)
        assert text.startswith(f"{name}() does not exist in v2.6.27: the call was refused")
        assert "The 2008 rewrite (v2.6.28) added it" in text
    assert k.stats.refused_calls == 4 and not k.areas()


def test_the_translation_note_at_op_0():
    wl = get("map-touch-unmap")
    cfg = wl.config(variant="vanilla")
    snap = take(Kernel(cfg), workload=wl.name, translation=wl.translation_note(cfg))
    text = " ".join(explain(snap))
    assert ("map-touch-unmap runs translated on vanilla v2.6.27: v2.6.27 has no vm_map_ram: "
            "vmap(4), touch, vunmap") in text
    # not translated on the generation it was written for
    cfg = wl.config()
    assert "translated" not in " ".join(explain(Snapshot(config=cfg, stats=Kernel(cfg).stats_view())))


# -- the rewrite's templates that had no test --------------------------------------------

def test_rewrite_vmalloc_and_ioremap_leave_a_gap_page():
    k = Kernel(Config(nr_cpus=4, bits=64))
    k.vmalloc(2 * PG)                       # [S, S + 0x3000)
    # vmap(4): past a and the page the search leaves: S + 0x4000
    text = last(k, lambda: k.vmap(4))
    assert "alloc_vmap_area() placed the vmap area at 0xffffc20000004000 (20 KiB)" in text
    assert "passed 1 area" in text and "leaves a free page after every area" in text
    # ioremap of 4 KiB: 8 KiB aligned, after b [S + 0x4000, S + 0x9000) and its gap page
    # -> ALIGN(S + 0xA000, 0x2000) = S + 0xA000 (KERNEL-HISTORY's table)
    text = last(k, lambda: k.get_vm_area(PG, VM_IOREMAP))
    assert "here 8 KiB" in text and "at 0xffffc2000000a000 (8 KiB)" in text


def test_rewrite_touch_vmalloc_to_page_find_vm_area_and_an_empty_purge():
    k = Kernel(Config(nr_cpus=4, bits=64))
    a = k.vmalloc(PG)
    assert f"cpu3 touched 1 page at {a:#x}" in last(k, lambda: k.touch(a, 1, cpu=3))
    pfn = k.vmalloc_to_page(a)
    assert f"page frame {pfn}" in last(k, lambda: k.vmalloc_to_page(a))
    assert "no PTE" in last(k, lambda: k.vmalloc_to_page(a + PG))    # the guard page
    assert f"find_vm_area({a:#x}) looked the address up in the tree" in last(k, lambda: k.find_vm_area(a))
    assert "found no lazily freed areas" in last(k, lambda: k.purge())


def test_rewrite_large_vm_map_ram_goes_to_alloc_vmap_area():
    # VMAP_MAX_ALLOC is BITS_PER_LONG = 64 pages: 65 pages bypass the blocks
    k = Kernel(Config(nr_cpus=4, bits=64))
    text = last(k, lambda: k.vm_map_ram(65))
    assert "larger than VMAP_MAX_ALLOC (64 pages)" in text
    assert "placed the vm_map_ram area at 0xffffc20000000000 (260 KiB)" in text


def test_rewrite_a_block_fills_leaves_the_free_list_and_is_freed_whole():
    # 4 CPUs, 64-bit: a block is 1,024 pages (4 MiB); 16 vm_map_ram(64) fill it
    k = Kernel(Config(nr_cpus=4, bits=64))
    addrs = [k.vm_map_ram(64) for _ in range(15)]
    text = last(k, lambda: addrs.append(k.vm_map_ram(64)))
    assert "Block #1 has no free pages left, so it left the free list" in text
    for a in addrs[:15]:
        k.vm_unmap_ram(a, 64)
    # the 16th unmap dirties the last 64 pages: all 1,024 dirty, the block is freed
    # lazily at once; lazy_max_pages = fls(4) * 8,192 = 24,576
    text = last(k, lambda: k.vm_unmap_ram(addrs[15], 64))
    assert "Every page of block #1 is now dirty, so free_vmap_block()" in text
    assert "1024 pages added to vmap_lazy_nr at once" in text
    assert "vmap_lazy_nr is 1,024 of lazy_max_pages 24,576 pages (4%)" in text


def test_rewrite_large_vm_unmap_ram_is_freed_lazily_and_a_double_one_is_a_bug():
    k = Kernel(Config(nr_cpus=4, bits=64))
    addr = k.vm_map_ram(65)
    # 65 pages, no guard page for vm_map_ram: 65 pages lazily freed
    text = last(k, lambda: k.vm_unmap_ram(addr, 65))
    assert "vm_unmap_ram() of 65 pages went to free_unmap_vmap_area()" in text
    assert "vmap_lazy_nr is 65 of lazy_max_pages 24,576" in text
    small = k.vm_map_ram(4, cpu=1)
    k.vm_unmap_ram(small, 4, cpu=1)
    text = last(k, lambda: k.vm_unmap_ram(small, 4, cpu=1))
    # The kernel's vb_free() does not check a double free: the refusal is the simulator's.
    assert f"vm_unmap_ram({small:#x}, 4) on cpu1 was refused by the simulator" in text


def test_a_bad_vfree_prints_the_kernel_warning_on_either_generation():
    for variant in ("merged", "vanilla"):
        k = Kernel(Config(variant=variant, nr_cpus=4, bits=64))
        text = last(k, lambda: k.vfree(S + 12))
        assert f"Trying to vfree() bad address ({S + 12:#x})" in text
        assert "The address was not one vmalloc handed out" in text


# -- v6.12 ("modern"): the free tree, node pools, the kworker, bump-allocated blocks --------
# Hand-worked from mm/vmalloc.c of 6.12 (the README's "modern generation"): 2 CPUs on
# 64-bit make 2 vmap nodes; lazy_max_pages() = fls(2) * 32 MiB / 4 KiB = 16,384 pages;
# VMAP_BBMAP_BITS = 1,024 (a 4 MiB block).  6.12's x86_64 VMALLOC_START is SM =
# 0xffffc90000000000 (pgtable_64_types.h 124-156), 4 MiB aligned.
SM = 0xFFFFC90000000000

def modern(nr_cpus: int = 2, **kw) -> Kernel:
    return Kernel(Config(variant="modern", nr_cpus=nr_cpus, **kw))


def test_modern_vmalloc_is_the_lowest_fit_and_a_purged_area_comes_back_from_its_pool():
    k = modern()
    # a = vmalloc(12 KiB) on cpu0: 3 pages + the guard page = 16 KiB; node 0's pool of
    # 4-page areas is empty (a miss); the free tree is one block: one step, at SM
    text = last(k, lambda: k.vmalloc(3 * PG))
    assert "for 12 KiB: rounded up to pages plus one guard page, and no gap page" in text
    assert "node 0's pool had no 4-page area (a miss)" in text
    assert "1 step down the free tree" in text and "vmalloc area at 0xffffc90000000000 (16 KiB)" in text
    k.vmalloc(PG)                                   # b: 8 KiB at SM + 0x4000
    # vfree(a): PTEs cleared now, a on node 0's lazy list, 4 of 16,384 pages lazy
    text = last(k, lambda: k.vfree(SM))
    assert "cleared the PTEs of 0xffffc90000000000-0xffffc90000004000 at once" in text
    assert "node 0's lazy list" in text
    assert "vmap_lazy_nr is 4 of lazy_max_pages 16,384 pages" in text and "kworker" in text
    # purge(): a (4 pages, tagged with node 0) goes to node 0's pool of 4-page areas;
    # one flush of its 4 pages: at most 33, so INVLPGs; 1 IPI (the other CPU)
    text = last(k, lambda: k.purge())
    assert "purged 1 lazy area (4 pages) of every node: 1 to their node's pool" in text
    assert "0 back to the free tree" in text
    assert ("flush_tlb_kernel_range(0xffffc90000000000, 0xffffc90000004000) covered 4 pages: at most "
            "x86's ceiling of 33 pages, so every CPU ran one INVLPG per page; 1 IPI") in text
    # vmalloc(12 KiB) on cpu0 again: a pool hit, a's address, no tree search
    text = last(k, lambda: k.vmalloc(3 * PG))
    assert ("took the vmalloc area at 0xffffc90000000000 (16 KiB) from node 0's pool of 4-page "
            "areas") in text and "a pool hit" in text
    # the same on cpu1: node 1's pool is empty, the lowest fit is right after b
    text = last(k, lambda: k.vmalloc(3 * PG, cpu=1))
    assert "node 1's pool had no 4-page area (a miss)" in text
    assert "vmalloc area at 0xffffc90000006000 (16 KiB)" in text


def test_modern_ioremap_aligns_to_the_size_rounded_up_to_a_power_of_two():
    k = modern()
    k.vmalloc(PG)                                   # 8 KiB at SM
    # 20 KiB = 5 pages: aligned to 8 pages (32 KiB), + guard = 24 KiB, at the first
    # 32 KiB boundary of the free block [SM + 0x2000, ...): SM + 0x8000
    text = last(k, lambda: k.get_vm_area(5 * PG, VM_IOREMAP))
    assert "here 32 KiB" in text and "size + align - 1" in text
    assert "node 0's pool had no 6-page area" in text
    assert "ioremap area at 0xffffc90000008000 (24 KiB)" in text


def test_modern_free_past_lazy_max_pages_queues_the_kworker_which_flushes_the_whole_tlb():
    k = modern()
    # three 32 MiB areas (8,191 pages + the guard page = 8,192) at SM, SM + 32 MiB, SM + 64 MiB
    areas = [k.get_vm_area(8191 * PG, 0) for _ in range(3)]
    assert areas == [SM, SM + 0x2000000, SM + 0x4000000]
    k.remove_vm_area(areas[0])
    # 16,384 pages is lazy_max_pages itself: not over it, nothing queued
    text = last(k, lambda: k.remove_vm_area(areas[1]))
    assert "vmap_lazy_nr is 16,384 of lazy_max_pages 16,384 pages (100%)" in text
    assert "kworker's" not in text
    # 24,576 > 16,384: the call queues drain_vmap_work, the kworker purges the three
    # areas (over 256 pages: none to a pool) with one flush of [SM, SM + 96 MiB) =
    # 24,576 pages, over the 33-page ceiling: whole TLBs; 1 IPI; nothing lazy after
    text = last(k, lambda: k.remove_vm_area(areas[2]))
    assert "That took vmap_lazy_nr to 24,576, over lazy_max_pages (16,384)" in text
    assert "queued drain_vmap_work" in text
    assert "The kworker's drain_vmap_area_work() ran __purge_vmap_area_lazy()" in text
    assert "purged 3 lazy areas (24,576 pages) of every node: 0 to their node's pool" in text
    assert "3 back to the free tree, merged" in text
    assert ("flush_tlb_kernel_range(0xffffc90000000000, 0xffffc90006000000) covered 24,576 pages: "
            "over x86's tlb_single_page_flush_ceiling of 33 pages, so every CPU flushed its whole "
            "TLB; 1 IPI") in text
    assert "vmap_lazy_nr is now 0" in text


def test_modern_vm_map_ram_bump_allocates_and_vm_unmap_aliases_flushes_each_dirty_range_once():
    k = modern()
    # vm_map_ram(3) on cpu0: no block yet; a 4 MiB block at SM (block #1), its first 4
    # pages (3 rounded up); bump 4; SM >> 22 is even: cpu0's xarray of the 2
    text = last(k, lambda: k.vm_map_ram(3))
    assert "new_vmap_block() took a 4 MiB area aligned to its size (block #1)" in text
    assert "its first 4 pages (3 asked, rounded up to a power of two)" in text
    assert "The bump pointer is now 4 of 1,024" in text and "xarray of cpu0" in text
    text = last(k, lambda: k.vm_map_ram(2))         # pages 4-5 at SM + 0x4000, bump 6
    assert "took pages 4-5 of block #1 at its bump pointer, with no alignment" in text
    assert "The bump pointer is now 6 of 1,024" in text
    text = last(k, lambda: k.vm_map_ram(1))         # page 6 at SM + 0x6000, bump 7
    assert "took page 6 of block #1" in text and "now 7 of 1,024" in text
    text = last(k, lambda: k.vm_unmap_ram(SM + 0x4000, 2))
    assert "vb_free() cleared pages 4-5 of block #1 in its used_map and their PTEs at once" in text
    assert "Its dirty range is now pages 4-5" in text
    text = last(k, lambda: k.vm_unmap_ram(SM, 3))     # 4 pages: 0-3; the range widens to 0-5
    assert "cleared pages 0-3 of block #1" in text and "dirty range is now pages 0-5" in text
    # vm_unmap_aliases(): block #1's range [SM, SM + 0x6000), 6 pages, flushed once
    # (INVLPGs: under 33 pages) and reset; the next call has nothing to flush
    text = last(k, lambda: k.vm_unmap_aliases())
    assert "took the dirty range of 1 block (#1 0xffffc90000000000-0xffffc90000006000)" in text
    assert "reset each range" in text
    assert "covered 6 pages: at most x86's ceiling of 33 pages" in text
    text = last(k, lambda: k.vm_unmap_aliases())
    assert "found no block with a dirty range" in text and "flush_tlb_kernel_range" not in text


def test_modern_vm_unmap_aliases_retires_a_fragmented_block():
    k = modern()
    # 13 x vm_map_ram(64) on cpu0: block #1's pages 0-831, 192 left free (< 1,024 / 4)
    for i in range(13):
        k.vm_map_ram(64)
    for i in range(13):
        k.vm_unmap_ram(SM + i * 64 * PG, 64)
    # nothing in use, 192 free + 832 dirty = 1,024: vm_unmap_aliases() retires it; its
    # 1,024-page area is purged (too big for a pool) with one flush of [SM, SM + 4 MiB),
    # over the ceiling: whole TLBs
    text = last(k, lambda: k.vm_unmap_aliases())
    assert "retired 1 fragmented block (nothing in use, less than a quarter free): #1" in text
    assert "purged 1 lazy area (1,024 pages) of every node: 0 to their node's pool" in text
    assert ("flush_tlb_kernel_range(0xffffc90000000000, 0xffffc90000400000) covered 1,024 pages: "
            "over x86's tlb_single_page_flush_ceiling") in text


def test_modern_allocation_failure_reclaims_purges_and_retries_once():
    k = modern(bits=32)
    cfg = k.config
    # the whole 32-bit range plus the guard page cannot fit: 6.12's i386 range with
    # NR_CPUS 8 is [0xf77fe000, 0xfeffe000), 120 MiB (tests/kernel/test_i386_layout.py)
    text = last(k, lambda: k.get_vm_area(cfg.vmalloc_size, 0))
    assert "reclaim_and_purge_vmap_areas() retired the fragmented vmap blocks" in text
    assert f"for size {cfg.vmalloc_size + PG} failed: Address range restricted to" in text
    assert "even after that reclaim and one retry no free block of 120.0 MiB fits" in text


def test_modern_the_last_page_of_a_block_frees_it_and_can_queue_the_kworker():
    k = modern()
    # 16 blocks of 1,024 pages: block #1 takes 16 x vm_map_ram(64) on cpu0 at SM; the
    # next 15 blocks lie above it. Freeing block #1's last region frees its area
    # lazily: 1,024 pages; with 15 more blocks freed first, 15 x 1,024 = 15,360, then
    # 16,384: not over; a 17th block is over: 17,408 > 16,384
    addrs = [k.vm_map_ram(64) for _ in range(17 * 16)]
    assert addrs[0] == SM and addrs[16] == SM + 0x400000
    for a in addrs[:-1]:
        k.vm_unmap_ram(a, 64)
    assert k.lazy_pages() == 16 * 1024
    text = last(k, lambda: k.vm_unmap_ram(addrs[-1], 64))
    assert "Every page of block #17 is now freed (1,024)" in text
    assert "1,024 pages added to vmap_lazy_nr at once" in text
    assert "That took vmap_lazy_nr to 17,408, over lazy_max_pages (16,384)" in text
    assert "purged 17 lazy areas (17,408 pages)" in text


def test_before_the_first_op_the_workloads_notes_for_the_running_generation():
    # Workload.watch_on(): exhaust-32bit's notes are written for merged (its default
    # variant) and, in a text of their own, for 6.12 and 6.18; vanilla gets the line that
    # says so, owned by nobody.
    from vmapviz.run.driver import Run
    from vmapviz.run.snapshot import watch_fields
    from vmapviz.tui.words.explain import explain_said
    w = get("exhaust-32bit")
    for variant, owned, words in (("merged", {"merged"}, "111 MiB holds 27 areas"),
                                  ("modern", {"modern"}, "120 MiB"),
                                  ("modern-6.18", {"modern-6.18"}, "holds 29 areas of 4 MiB"),
                                  ("vanilla", {"*"}, "written for merged, modern, modern-6.18; on vanilla")):
        run = Run(w, w.config(variant=variant))
        said = explain_said(take(run.kernel, workload=w.name, op=0, **watch_fields(run)))
        sentence, owners = said.provenance()[-1]
        assert sentence.startswith("What to watch: ") and words in sentence and owners == owned


def test_exhaust_32bit_on_6_12_does_what_its_notes_say():
    # 6.12's i386 range with NR_CPUS 8 is 120 MiB (tests/kernel/test_i386_layout.py); an
    # area is 4 MiB + a guard page = 4100 KiB: 29 fit (118,900 KiB), a 30th would need
    # 123,000 KiB > 122,880.  So vmalloc #30 (op 30) fails; after 6 lazy vfrees (ops
    # 31-36) op 37 fails once, purges and succeeds on the retry; op 40 (16 MiB) fails.
    from vmapviz.run.driver import Run
    w = get("exhaust-32bit")
    run = Run(w, w.config(variant="modern"))
    failed, ok_after_purge = [], []
    while (batch := run.step()) is not None:
        ret = next(e for e in batch if e.kind == "return")
        if ret.name == "vmalloc" and ret.result is None:
            failed.append(run.kernel.op)
        if ret.name == "vmalloc" and ret.result is not None and any(e.kind == "purge" for e in batch):
            ok_after_purge.append(run.kernel.op)
    assert run.kernel.config.vmalloc_size == 120 << 20
    assert failed == [30, 40] and ok_after_purge == [37]
