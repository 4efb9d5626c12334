"""Compare mode's cost (issue 10).  Run: python benchmarks/bench_compare.py [--seconds S]

Headless, as fast as possible: ops/s of one `Run` of each generation alone, against the
lockstep `Pair` of both (one pair op = op n on both generations), and the same through
the driver threads (`Driver` against `CompareDriver`, snapshots at 30/s to a consumer
that does nothing).  The issue asks that the pair keep at least 40% of a single run's
ops/s: the share is given against each single run, and against an ideal pair, whose
sides run as fast as alone (against the faster side alone an ideal pair keeps
slow / (slow + fast) of its ops/s: under half, and under 40% once the slower side is
two thirds as fast).  The pair runs as CompareDriver runs it (`Pair.steps`: BURST_OPS
ops of one side, then as many of the other), and op by op as well (`Pair.step`): two kernels
of different classes alternating through the same code (Kernel._op, Machine.emit...)
keep CPython 3.11's specialised instructions missing, which costs about a fifth.
"""

from __future__ import annotations

import argparse
import time

from vmapviz.run.compare import CompareDriver, Pair
from vmapviz.run.driver import Driver, Run
from vmapviz.run.spec import RunSpec
from vmapviz.workloads import get

ROUNDS = 3   # this machine's speed drifts: alternate the measurements and keep each one's best


def loop(steps, seconds: float) -> float:
    """ops/s of steps(n) (which runs n ops), called with CompareDriver's burst until
    `seconds` passed."""
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += steps(CompareDriver.BURST_OPS)
    return n / (time.perf_counter() - t0)


def alone(workload: str, variant: str, cpus: int, seconds: float) -> float:
    w = get(workload)
    run = Run(w, w.config(variant=variant, nr_cpus=cpus))
    return loop(run.run, seconds)


def paired(workload: str, variants: tuple[str, str], cpus: int, seconds: float, lockstep: bool = False) -> float:
    """The pair as CompareDriver runs it (Pair.run: BURST_OPS ops of a side in a row), or
    alternating the sides op by op (Pair.step)."""
    w = get(workload)
    pair = Pair(w, tuple(w.config(variant=v, nr_cpus=cpus) for v in variants))
    return loop(lambda n: sum(pair.step() is not None for _ in range(n)) if lockstep else pair.run(n), seconds)


def threaded(driver, seconds: float) -> float:
    driver.start()
    driver.play()
    time.sleep(0.3)
    op0, t0 = driver.latest.op, time.perf_counter()
    time.sleep(seconds)
    op1, t1 = driver.latest.op, time.perf_counter()
    driver.stop()
    return (op1 - op0) / (t1 - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--workload", default="map-touch-unmap")
    ap.add_argument("--cpus", type=int, default=4)
    ap.add_argument("--variants", default="vanilla,merged")
    args = ap.parse_args()
    variants = tuple(args.variants.split(","))
    best: dict[str, float] = {}

    def keep(name: str, rate: float) -> None:
        best[name] = max(best.get(name, 0.0), rate)

    for _ in range(ROUNDS):
        for v in variants:
            keep(v, alone(args.workload, v, args.cpus, args.seconds))
        keep("pair", paired(args.workload, variants, args.cpus, args.seconds))
        keep("op by op", paired(args.workload, variants, args.cpus, args.seconds, lockstep=True))
        keep("driver", threaded(Driver(RunSpec.of(args.workload, variant=variants[1], nr_cpus=args.cpus, speed=None),
                                       on_snapshot=lambda s: None), args.seconds))
        keep("compare driver", threaded(CompareDriver(RunSpec.of(args.workload, nr_cpus=args.cpus, speed=None), variants,
                                                      on_snapshot=lambda s: None), args.seconds))
    ideal = 1 / sum(1 / best[v] for v in variants)     # each side as fast as alone
    print(f"{args.workload}, {args.cpus} CPUs, best of {ROUNDS} alternating runs of {args.seconds:g} s:")
    for v in variants:
        print(f"  {v} alone: {best[v]:,.0f} ops/s")
    for name, what in (("pair", f"{CompareDriver.BURST_OPS} ops a side"), ("op by op", "alternating every op")):
        print(f"  {' and '.join(variants)} in lockstep, {what}: {best[name]:,.0f} pair ops/s = "
              + ", ".join(f"{best[name] / best[v]:.0%} of {v} alone" for v in variants)
              + f"; {best[name] / ideal:.0%} of an ideal pair ({ideal:,.0f}: each side as fast as alone)")
    print(f"  through the threads: Driver ({variants[1]}) {best['driver']:,.0f} ops/s, CompareDriver "
          f"{best['compare driver']:,.0f} pair ops/s ({best['compare driver'] / best['driver']:.0%}; "
          + ", ".join(f"{best['compare driver'] / best[v]:.0%} of {v} alone" for v in variants) + ")")


if __name__ == "__main__":
    main()
