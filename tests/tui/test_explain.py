"""The explanation panel's sentences for each kind of op, on each generation.

Each scenario is worked out by hand from the kernel's rules (KERNEL-HISTORY A.2-A.5 for
v2.6.27: areas abut guard-to-start, first fit from the head of vmlist, a flush at
every free; the patch for the rewrite), and the numbers it produces must appear in
the text.  S is VMALLOC_START on x86_64, pages are 4 KiB.
"""

from __future__ import annotations

from vmapviz.kernel import Config, Kernel
from vmapviz.kernel.vm_struct import VM_IOREMAP
from vmapviz.snapshot import Snapshot, take
from vmapviz.tui.explain import explain
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
