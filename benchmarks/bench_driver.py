"""Driver and snapshot figures (issue 4).  Run: python benchmarks/bench_driver.py

- ops/s of map-touch-unmap through the Driver thread (snapshots at 30/s to a consumer
  that does nothing) against the same Run driven directly in a loop;
- the time to build one snapshot with 100,000 areas, and with 64 CPUs x 16 blocks.
"""

from __future__ import annotations

import time

from vmapviz.run.driver import Driver, Run
from vmapviz.kernel import Config, Kernel
from vmapviz.run.snapshot import take
from vmapviz.run.spec import RunSpec
from vmapviz.workloads import get

SECONDS = 3.0
ROUNDS = 3   # this machine's speed drifts: alternate the two and keep each one's best


def direct(workload: str, cpus: int | None = None, seconds: float = SECONDS) -> float:
    """The headless loop (the CLI's): Run.step() as fast as possible."""
    w = get(workload)
    run = Run(w, w.config(nr_cpus=cpus))
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(1000):
            run.step()
        n += 1000
    return n / (time.perf_counter() - t0)


def through_driver(workload: str, cpus: int | None = None,
                   seconds: float = SECONDS) -> tuple[float, int]:
    """The Driver thread at full speed; ops/s and the snapshots it delivered."""
    snaps = []
    d = Driver(RunSpec.of(workload, nr_cpus=cpus, speed=None), on_snapshot=lambda s: snaps.append(1))
    d.start()
    d.play()
    time.sleep(0.3)
    op0, t0 = d.latest.op, time.perf_counter()
    time.sleep(seconds)
    op1, t1 = d.latest.op, time.perf_counter()
    d.stop()
    return (op1 - op0) / (t1 - t0), len(snaps)


def snapshot_cost(kernel: Kernel, repeat: int = 20) -> float:
    prev = take(kernel)
    t0 = time.perf_counter()
    for _ in range(repeat):
        kernel.tree.generation += 1          # force a fresh copy of the areas each time
        prev = take(kernel, prev)
    return (time.perf_counter() - t0) / repeat


def main() -> None:
    for cpus in (1, 8):
        d = v = n = 0
        for _ in range(ROUNDS):
            d = max(d, direct("map-touch-unmap", cpus))
            rate, snaps = through_driver("map-touch-unmap", cpus)
            if rate > v:
                v, n = rate, snaps
        print(f"map-touch-unmap {cpus} CPU(s): direct {d:,.0f} ops/s, through the driver "
              f"{v:,.0f} ops/s ({v / d:.0%}), {n / (SECONDS + 0.3):.0f} snapshots/s delivered "
              f"(best of {ROUNDS} alternating runs each)")
    k = Kernel(Config(nr_cpus=4))
    for _ in range(100_000):
        k.vmalloc(4096)
    k.drain_events()
    print(f"snapshot with {len(k.tree):,} areas: {snapshot_cost(k) * 1e3:.2f} ms")
    k = Kernel(Config(nr_cpus=64))
    for cpu in range(64):
        for _ in range(16):
            k.vm_map_ram(64, cpu=cpu)     # 16 blocks of 1024 bits: 16 x 16 maps of 64 pages
            for _ in range(15):
                k.vm_map_ram(64, cpu=cpu)
    k.drain_events()
    print(f"snapshot with 64 CPUs x {k.stats_view().vmap_blocks // 64} blocks: {snapshot_cost(k) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
