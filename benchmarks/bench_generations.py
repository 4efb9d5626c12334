"""Benchmarks of the kernel generations (not a test): `python benchmarks/bench_generations.py`.

(a) The thread's loop on each generation, with 1 and 8 CPUs (every CPU in turn runs one
    iteration): vanilla maps with vmap(4)/vunmap (it has no vm_map_ram), the rewrite with
    vm_map_ram(4)/vm_unmap_ram.  Simulator time per iteration, and the kernel's raw counts
    per iteration (nodes walked, lock acquisitions, flushes, IPIs).
(b) vmalloc(1 page) + vfree pairs on vanilla with 100 and 100,000 live areas packed at the
    start: time per pair and the nodes the kernel's walk examined per vmalloc.  Goal: the
    time at 100,000 within 2x of the time at 100.
"""

from __future__ import annotations

import time

from vmapviz.kernel import Config, Kernel

P = 4096
COUNTS = ("walk_total", "remove_walk_total", "purge_walk_total", "vmlist_lock_write",
          "vmap_area_lock", "vb_lock", "vbq_lock", "tlb_flushes", "ipis", "tlb_full_flushes")


def loop(k: Kernel, cpu: int) -> None:
    if k.generation.offers("vm_map_ram"):
        a = k.vm_map_ram(4, cpu)
        k.touch(a, 4, cpu)
        k.vm_unmap_ram(a, 4, cpu)
    else:
        a = k.vmap(4, cpu)
        k.touch(a, 4, cpu)
        k.vunmap(a, cpu)
    k.drain_events()


def bench_loop(variant: str, cpus: int, iterations: int = 40_000) -> tuple[float, dict]:
    k = Kernel(Config(nr_cpus=cpus, bits=64, variant=variant))
    for i in range(iterations // 4):          # warm up: blocks, lazy areas, a purge or two
        loop(k, i % cpus)
    before = {n: getattr(k.stats, n) for n in COUNTS}
    t0 = time.perf_counter()
    for i in range(iterations):
        loop(k, i % cpus)
    per = (time.perf_counter() - t0) / iterations
    return per, {n: (getattr(k.stats, n) - before[n]) / iterations for n in COUNTS}


def bench_pairs(live: int) -> tuple[float, float]:
    k = Kernel(Config(nr_cpus=4, bits=64, variant="vanilla"))
    for _ in range(live):
        k.vmalloc(P)
    k.drain_events()
    walks = []
    reps = 3000
    t0 = time.perf_counter()
    for _ in range(reps):
        a = k.vmalloc(P)
        walks.append(k.stats.last_walk)
        k.vfree(a)
        k.drain_events()
    return (time.perf_counter() - t0) / reps, sum(walks) / len(walks)


def main() -> None:
    print("(a) the thread's loop (map 4 pages, touch them, unmap), every CPU in turn")
    head = "    variant  cpus   us/iter  " + "  ".join(f"{n:>12}" for n in COUNTS)
    print(head)
    for variant in ("vanilla", "merged"):
        for cpus in (1, 8):
            per, counts = bench_loop(variant, cpus)
            print(f"    {variant:8} {cpus:4}  {per * 1e6:8.1f}  "
                  + "  ".join(f"{counts[n]:12.3f}" for n in COUNTS))
    print("\n(b) vanilla: vmalloc(1 page) + vfree pairs, live areas packed at the start")
    rows = [(live, *bench_pairs(live)) for live in (100, 100_000)]
    for live, per, walk in rows:
        print(f"    {live:>7,} live areas: {per * 1e6:6.1f} us per pair, {walk:,.0f} nodes examined per vmalloc")
    print(f"    time at 100,000 / time at 100: {rows[1][1] / rows[0][1]:.2f}x (goal: within 2x)")


if __name__ == "__main__":
    main()
