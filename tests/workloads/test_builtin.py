"""Built-in workloads: each runs clean, and the scripted ones reach the states worked
out by hand from the kernel's rules."""

import pytest

from vmapviz.run.driver import Run
from vmapviz.kernel.events import Return
from vmapviz.workloads import WORKLOADS, catalog, get

PAGE = 4096
START32 = 0xF8800000        # i386 VMALLOC_START with 896 MiB of lowmem
END32 = 0xFF7FE000
START64 = 0xFFFFC20000000000


def run_all(name, ops=None, **opts):
    w = get(name)
    run = Run(w, w.config(**opts))
    events = []
    while ops is None or run.kernel.op < ops:
        ev = run.step()
        if ev is None:
            break
        events.extend(ev)
    return run, events


def returns(events, name):
    return [e.result for e in events if isinstance(e, Return) and e.name == name]


def test_catalog_lists_every_builtin_in_order():
    names = [n for n, _ in catalog()]
    assert names == ["map-touch-unmap", "xfs-dir", "vmalloc-churn", "fragmentation", "ioremap",
                     "xen-pat", "exhaust-32bit", "wrap-32bit", "agp-bug", "fix-size-alloc", "full-fit-alloc",
                     "long-busy-list-alloc", "random-size-alloc", "fix-align-alloc",
                     "random-size-align-alloc", "align-shift-alloc", "vm-map-ram-test"]
    assert all(s for _, s in catalog())


@pytest.mark.parametrize("name", list(WORKLOADS))
@pytest.mark.parametrize("variant", ["merged", "posted"])
def test_every_workload_keeps_the_kernel_consistent(name, variant):
    w = get(name)
    cfg = w.config(variant=variant, nr_cpus=min(w.defaults["nr_cpus"], 4))
    run = Run(w, cfg)
    for _ in range(600):
        if run.step() is None:
            break
        assert run.kernel.check() == [], run.kernel.op


def test_map_touch_unmap_on_one_cpu_frees_a_block_every_256_triples():
    # GIVEN one CPU: vmap_bbmap_bits 1024, vm_map_ram(4) takes 4 bits, so a block serves
    # 256 triples; its 1024 pages go lazy when the 256th unmap makes every bit dirty.
    # lazy_max_pages = fls(1) * 8192 = 8192, so a purge comes when the 9th block goes
    # lazy (9 * 1024 = 9216 > 8192): one TLB flush, no IPI (no other CPU).
    triples = 256 * 9 * 3 + 100
    run, _ = run_all("map-touch-unmap", ops=3 * triples, nr_cpus=1)
    s = run.kernel.stats_view()
    blocks_freed = triples // 256
    assert s.purges == s.tlb_flushes == blocks_freed // 9 == 3
    assert s.ipis == 0
    assert s.lazy_pages == (blocks_freed % 9) * 1024
    assert s.use_after_free == s.faults == 0


def test_agp_bug_reproduces_the_report_on_posted_and_not_on_merged():
    run, events = run_all("agp-bug")                     # posted, 32-bit, 1 CPU
    # a at START (1 page + guard = 2 pages), b at START + 3 pages; a freed and purged;
    # the posted descent returns START for 4 pages + guard over b's page at START + 3.
    assert returns(events, "vmalloc") == [START32, START32 + 3 * PAGE, None]
    warns = [e.line() for e in events if e.kind == "warn"]
    assert warns == ["WARNING: at mm/vmalloc.c vmap_page_range: WARN_ON(!pte_none(*pte)): "
                     f"PTE already present at {START32 + 3 * PAGE:#x}; the caller gets -ENOMEM (-12)"]
    # purging the failed area [START, START + 5 pages) cleared b's PTE: the last touch faults
    assert returns(events, "touch") == ["ok", "ok", "fault"]

    run, events = run_all("agp-bug", variant="merged")
    # merged: first = b (b starts below START + 5 pages), the walk moves to b's end + 1 page
    assert returns(events, "vmalloc") == [START32, START32 + 3 * PAGE, START32 + 6 * PAGE]
    assert run.kernel.stats.warnings == 0
    assert returns(events, "touch") == ["ok", "ok", "ok", "ok"]


def test_wrap_32bit_reaches_both_bugs_on_2_6_28_and_fails_cleanly_on_2_6_27():
    run, events = run_all("wrap-32bit")                  # merged, 32-bit, 1 CPU
    # 0xf8800000 + 124 MiB + 1 page = 0x100401000: wraps; mapping end 0x400000.
    # a = [START, START + 100 MiB + 1 page), b from a's end + 1 page = 0xfec02000 to END.
    assert returns(events, "get_vm_area") == [START32, 0xFEC02000]
    assert returns(events, "vmalloc") == [None, None]
    bugs = [(e.where, e.own) for e in events if e.kind == "bug"]
    assert bugs == [("vmap_page_range", False), ("__insert_vmap_area", False)]
    assert run.kernel.stats.alloc_failures == 0 and run.kernel.check() == []
    assert "addr + size - 1 < addr" in get("wrap-32bit").watch          # the v2.6.29 fix

    run, events = run_all("wrap-32bit", variant="vanilla")
    # v2.6.27 abuts areas: b from a's end, 0xfec01000; both vmallocs fail with its warning.
    assert returns(events, "get_vm_area") == [START32, 0xFEC01000]
    assert [e.kind for e in events if e.kind in ("warn", "bug")] == ["warn", "warn"]


def test_exhaust_32bit_fills_fails_and_recovers_through_purge_and_retry():
    run, events = run_all("exhaust-32bit")
    stride = 1026 * PAGE    # 4 MiB = 1024 pages + guard = 1025, and the page the walk leaves
    # (END - START) / PAGE = 28670 pages: k * 1026 + 1025 <= 28670 for k = 0..26
    allocs = returns(events, "vmalloc")
    assert allocs[:28] == [START32 + k * stride for k in range(27)] + [None]
    # slots 1, 3, 5 freed lazily (6 * 1025 = 6150 pages, under 8192), 7, 9, 11 too; the
    # next request fails, purges the six, restarts from VMALLOC_START and takes slot 1.
    assert allocs[28:31] == [START32 + 1 * stride, START32 + 3 * stride, START32 + 5 * stride]
    # 16 MiB + guard = 4097 pages: no hole that large and no room after slot 26
    assert allocs[31] is None
    # slots 0..14 even go lazy and get purged at the 8th (8200 > 8192); 16..26 stay lazy;
    # the first hole that takes 4097 pages opens after slot 5: 5 * 1026 + 1025 + 1 pages
    assert allocs[32] == START32 + (5 * 1026 + 1026) * PAGE
    fails = [e.message for e in events if e.kind == "warn"]
    # v2.6.28's message names no size ("for size %lu" came in 2.6.29)
    assert fails == ["vmap allocation failed: use vmalloc=<size> to increase size."] * 2
    assert run.kernel.stats.alloc_failures == 2
    assert run.kernel.check() == []


def test_ioremap_areas_follow_the_fls_alignment_rule():
    _, events = run_all("ioremap", ops=200)
    checked = 0
    for e in events:
        if isinstance(e, Return) and e.name == "get_vm_area" and e.result is not None:
            size = e.args[0]
            align = 1 << min(max(size.bit_length(), 12), 19)   # fls(size) in [PAGE_SHIFT, 7 + PAGE_SHIFT]
            assert e.result % align == 0, (size, hex(e.result))
            checked += 1
    assert checked > 50
    # the first window: 4 KiB -> fls(4096) = 13 -> 8 KiB aligned, at VMALLOC_START
    first = next(e for e in events if isinstance(e, Return) and e.name == "get_vm_area")
    assert first.result == START64


def test_align_shift_alloc_fails_first_at_the_alignment_past_the_range():
    # ALIGN(0xffffc20000000000, 2^45) = 0xffffe00000000000 fits below the end,
    # 0xffffe20000000000; 2^46 aligns to 2^64, past the end: the module's expected failure.
    run, events = run_all("align-shift-alloc", nr_cpus=1)
    results = returns(events, "vmalloc_align")
    assert len(results) == 47 and results[-1] is None and None not in results[:-1]
    assert results[45] == 0xFFFFE00000000000
    assert run.kernel.stats.alloc_failures == 1
    assert "expects" in get("align-shift-alloc").expect_failures


def test_same_seed_same_events_other_seed_other_state():
    def lines(seed):
        _, ev = run_all("vmalloc-churn", ops=400, seed=seed)
        return [(e.op, e.cpu, e.line()) for e in ev]
    assert lines(7) == lines(7)
    assert lines(7) != lines(8)


def test_descriptions_say_where_the_gap_page_goes_and_what_agp_bug_shows():
    # vmalloc-churn: vmalloc(1 page) twice on merged: [S, S+2p) and [S+3p, S+5p): the
    # free page S+2p lies after the previous area.
    run, events = run_all("vmalloc-churn", ops=0)
    k = run.kernel
    assert (k.vmalloc(PAGE), k.vmalloc(PAGE)) == (START64, START64 + 3 * PAGE)
    assert "free page after the previous area" in get("vmalloc-churn").watch
    assert "flush against the next" in get("vmalloc-churn").watch
    agp = get("agp-bug")
    assert "-ENOMEM (-12)" in agp.watch and "never diagnoses" in agp.watch
    assert "bug that Andrew Morton hit" not in agp.watch


def test_the_schedulers_draw_is_randrange():
    """The scheduler picks the next CPU as random.randrange(CPUs ready) does, with a
    Random seeded "vmapviz-schedule:<seed>", so the op order is the one the standard
    library's algorithm fixes for a seed."""
    import random

    from vmapviz.workloads.base import Interleaver

    def forever():
        while True:
            yield "purge", ()

    for cpus in (2, 3, 4, 5, 16, 33):
        source = Interleaver({cpu: forever() for cpu in range(cpus)}, seed=7)
        stdlib = random.Random("vmapviz-schedule:7")
        for _ in range(300):
            op = source.next()
            assert op == (stdlib.randrange(cpus), "purge", ())
            source.feed(None)


def test_a_streams_rng_draws_what_random_random_draws():
    """Rng's own randrange(n), randint(a, b) and choice(seq) give, call by call, what
    random.Random's give from the same seed, and leave it in the same state; the other
    forms and methods are Random's."""
    import random

    from vmapviz.workloads.base import Rng
    ours, stdlib = Rng("s"), random.Random("s")
    seq = "abcdefg"
    for n in list(range(1, 70)) * 20 + [2**31 - 1, 2**40 + 3]:
        assert ours.randrange(n) == stdlib.randrange(n)
        assert ours.randint(1, n) == stdlib.randint(1, n)
        assert ours.randint(-n, 0) == stdlib.randint(-n, 0)
        assert ours.choice(seq[:n % 7 + 1]) == stdlib.choice(seq[:n % 7 + 1])
        assert ours.randrange(3, n + 5, 2) == stdlib.randrange(3, n + 5, 2)
        assert ours.random() == stdlib.random()
    for bad in (lambda r: r.randrange(0), lambda r: r.randint(2, 1), lambda r: r.choice([])):
        with pytest.raises((ValueError, IndexError)):
            bad(ours)
        with pytest.raises((ValueError, IndexError)):
            bad(stdlib)
    assert ours.getstate() == stdlib.getstate()
