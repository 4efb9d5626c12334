"""Benchmarks of the simulated kernel (not a test): run `python benchmarks/bench_kernel.py
[--variant NAME ...]` (default: merged; several names run side by side in one run).

(a) vmalloc(1 page) + vfree pairs with 100, 10,000, 100,000 and 1,000,000 live areas
    packed at the start of the range (filled through the public API, not timed): time
    per pair, the same without the per-op frame (the generation's `_vmalloc` and `_vfree`
    called directly: what Kernel._op adds is the difference), and how many areas the
    kernel's own walk passes per vmalloc (k.stats.last_walk).  Goal: 8 us or less per
    pair, and the time at 1,000,000 within 1.5x of the time at 100.
(b) Memory per live area (tracemalloc around filling 100,000 areas).
(c) vm_map_ram(4) + touch(4) + vm_unmap_ram triples on 1 CPU and on 8 CPUs round-robin,
    beside the thread's 2.9 us per triple (2008 Opteron, 1 thread, the real kernel).
(d) Memory for 64 CPUs x 16 vmap blocks each.
With several variants, (a) and (c) run for each (100 and 100,000 live areas for (a))
and (b), (d) are skipped.  `walk` is the generation's own search cost: areas passed by
the rewrite's walk, tree steps of modern's descent (0 for an area from a node's pool).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc

from vmapviz.kernel import Config, Kernel

P = 4096


def timed(fn, min_seconds=0.5, min_reps=2000):
    """Run fn() in batches until min_seconds and min_reps are both reached; return the
    mean seconds per call."""
    reps, elapsed = 0, 0.0
    batch = 500
    while elapsed < min_seconds or reps < min_reps:
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        elapsed += time.perf_counter() - t0
        reps += batch
    return elapsed / reps


PAIRS = 40_000         # about 3 threshold purges' worth on 4 CPUs (see the note below)
RAM = 8 << 30          # room for a page per area at 1,000,000 live areas


def fill(k, live):
    """`live` vmalloc(1 page) areas, packed from VMALLOC_START.  The objects made so far
    are then frozen out of the cyclic garbage collector's reach: otherwise a full
    collection, a pass over every object of a million areas, lands in some measurements
    and not others."""
    for i in range(live):
        k.vmalloc(P)
        if i % 10_000 == 0:
            k.drain_events()
    k.drain_events()
    gc.collect()
    gc.freeze()


def time_pairs(vmalloc, vfree, k, walks):
    """Seconds per vmalloc + vfree pair, over PAIRS pairs."""
    t0 = time.perf_counter()
    for _ in range(PAIRS // 500):
        for _ in range(500):
            a = vmalloc(P)
            walks.append(k.stats.last_walk)
            vfree(a)
        k.drain_events()
    return (time.perf_counter() - t0) / PAIRS


def bench_vmalloc_pairs(variant="merged", sizes=(100, 10_000, 100_000, 1_000_000)):
    rows = []
    for live in sizes:
        k = Kernel(Config(nr_cpus=4, bits=64, variant=variant, ram_size=RAM))
        fill(k, live)
        walks = []
        per = time_pairs(k.vmalloc, k.vfree, k, walks)
        purges = k.stats.purges
        # The same pairs without Kernel._op: the generation's own code, events included.
        body = time_pairs(lambda size, k=k: k._vmalloc(0, size)[0], lambda a, k=k: k._vfree(0, a), k, [])
        rows.append((live, per * 1e6, body * 1e6, walks[0], sum(walks) / len(walks), len(walks), purges))
        del k
        gc.unfreeze()
        gc.collect()
    base, base_body = rows[0][1], rows[0][2]
    print(f"(a) {variant}: vmalloc(1 page) + vfree pairs, live areas packed at the start (64-bit, 4 CPUs)")
    if Config(variant=variant).generation.features.gap_page:
        print("    walk = areas the kernel's rb_next() walk passes per vmalloc: the first one passes")
        print("    the packed areas; later ones also pass the lazily freed areas piling up before")
        print("    the threshold purge (24576 lazy pages = 12288 pairs on 4 CPUs).")
    else:
        print("    walk = nodes find_vmap_lowest_match() visits in the free tree (0: from a pool)")
    print("    body = the pair without Kernel._op's frame (argument checks, Call/Return events)")
    print(f"    {'live areas':>10} {'us/pair':>9} {'vs 100':>7} {'body us':>8} {'vs 100':>7} {'pairs/s':>10} "
          f"{'walk first':>11} {'walk mean':>10} {'pairs':>7} {'purges':>7}")
    for live, us, body, first, mean, n, purges in rows:
        print(f"    {live:>10,} {us:>9.2f} {us / base:>6.2f}x {body:>8.2f} {body / base_body:>6.2f}x "
              f"{1e6 / us:>10,.0f} {first:>11,} {mean:>10,.0f} {n:>7,} {purges:>7}")
    print()
    return rows


def bench_area_memory(n=100_000):
    gc.collect()
    tracemalloc.start()
    k = Kernel(Config(nr_cpus=4, bits=64))
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(n):
        k.vmalloc(P)
    k.drain_events()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per = (after - before) / n
    print(f"(b) memory per live area: {per:,.0f} bytes ({n:,} vmalloc(1 page) areas: "
          f"{(after - before) / 2**20:.1f} MiB; area record, tree entry, vm_struct, "
          f"page frame, PTE)")
    print()
    return per


def bench_triples(variant="merged"):
    rows = []
    for cpus in (1, 8):
        k = Kernel(Config(nr_cpus=cpus, bits=64, variant=variant))
        state = {"i": 0}

        def triple():
            cpu = state["i"] % cpus
            state["i"] += 1
            a = k.vm_map_ram(4, cpu=cpu)
            k.touch(a, 4, cpu=cpu)
            k.vm_unmap_ram(a, 4, cpu=cpu)
            k.drain_events()

        per = timed(triple, min_seconds=1.0, min_reps=20_000)
        rows.append((cpus, per * 1e6, state["i"], k.stats.purges, k.stats.ipis))
    print(f"(c) {variant}: vm_map_ram(4) + touch(4 pages) + vm_unmap_ram, 64-bit")
    print(f"    {'CPUs':>5} {'us/triple':>10} {'triples/s':>10} {'thread (real kernel)':>21} {'triples':>8} {'purges':>7} {'IPIs':>6}")
    for cpus, us, n, purges, ipis in rows:
        label = "round-robin" if cpus > 1 else "one CPU"
        print(f"    {cpus:>5} {us:>10.2f} {1e6 / us:>10,.0f} {'2.9 us (1 thread)':>21} {n:>8,} {purges:>7} {ipis:>6}   {label}")
    print()
    return rows


def bench_block_memory(cpus=64, blocks=16):
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    k = Kernel(Config(nr_cpus=cpus, bits=64, ram_size=8 << 30))   # RAM for 2^20 mapped pages
    per_block = k.config.vmap_bbmap_bits // k.config.vmap_max_alloc   # 16 x vm_map_ram(64)
    for cpu in range(cpus):
        for _ in range(blocks * per_block):
            k.vm_map_ram(k.config.vmap_max_alloc, cpu=cpu)
        k.drain_events()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert k.stats_view().vmap_blocks == cpus * blocks
    total = after - before
    pages = cpus * blocks * k.config.vmap_bbmap_bits
    print(f"(d) {cpus} CPUs x {blocks} blocks ({cpus * blocks:,} full 4 MiB blocks, {pages:,} pages mapped): "
          f"{total / 2**20:.1f} MiB, {total / (cpus * blocks) / 1024:.1f} KiB per block "
          f"({total / pages:.0f} bytes per mapped page)")
    print()
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", metavar="NAME",
                        help="a kernel generation; repeat to compare in one run (default merged)")
    variants = parser.parse_args().variant or ["merged"]
    print(f"vmapviz kernel benchmarks (Python {sys.version.split()[0]})")
    print()
    if len(variants) > 1:
        for variant in variants:
            bench_vmalloc_pairs(variant, (100, 100_000))
        for variant in variants:
            bench_triples(variant)
        return
    rows = bench_vmalloc_pairs(variants[0])
    bench_area_memory()
    bench_triples(variants[0])
    bench_block_memory()
    worst = max(us for _, us, *_ in rows)
    ratio = rows[-1][1] / rows[0][1]
    print(f"goal (a): at most 8 us per pair: {worst:.2f} us at worst -> {'met' if worst <= 8 else 'NOT met'}; "
          f"at {rows[-1][0]:,} live areas within 1.5x of {rows[0][0]:,}: {ratio:.2f}x "
          f"-> {'met' if ratio <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
