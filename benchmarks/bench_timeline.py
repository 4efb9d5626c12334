"""Time travel figures (issue 12).  Run: python benchmarks/bench_timeline.py [OPS] [WORKLOAD]

Runs OPS ops (default 1,000,000) of a workload (default map-touch-unmap) with a
Timeline (checkpoints adapted to the measured costs, 200 MiB budget), then measures:

- the forward run's ops/s with and without the timeline (the cost of checkpointing);
- stepping back one op from the end, and from random ops it was first taken to;
- jumping to op 0 and to op OPS - 1 (from op 0), and to random ops;
- the checkpoints' memory and count, the log's memory, and K at the end.
"""

from __future__ import annotations

import random
import statistics
import sys
import time

from vmapviz.run.driver import Run
from vmapviz.run.timeline import Timeline
from vmapviz.workloads import get


CPU: list[float] = []   # the CPU seconds of each timed call (the machine may be shared)


def timed(fn) -> float:
    """Wall seconds of fn(); its CPU seconds go to CPU."""
    t0, c0 = time.perf_counter(), time.thread_time()
    fn()
    CPU.append(time.thread_time() - c0)
    return time.perf_counter() - t0


def cpu(n: int) -> str:
    """The CPU time of the last n timed calls."""
    return ", ".join(f"{c * 1e3:.0f}" for c in CPU[-n:])


def forward(run: Run, ops: int) -> float:
    """Seconds to run `ops` ops."""
    step = run.step
    t0 = time.perf_counter()
    for _ in range(ops):
        step()
    return time.perf_counter() - t0


def main() -> None:
    ops = int(sys.argv[1].replace("_", "")) if len(sys.argv) > 1 else 1_000_000
    name = sys.argv[2] if len(sys.argv) > 2 else "map-touch-unmap"
    w = get(name)
    cfg = w.config()
    bare = forward(Run(w, cfg), min(ops, 100_000)) / min(ops, 100_000)
    run = Run(w, cfg, timeline=Timeline())
    total = forward(run, ops)
    tl = run.timeline
    print(f"{name}, {ops:,} ops: {ops / total:,.0f} ops/s with the timeline "
          f"({total:.1f} s), {1 / bare:,.0f} ops/s without (the first 100,000 ops)")
    print(f"checkpoints: {len(tl.points)}, {tl.bytes / 2**20:.1f} MiB; log {tl.log.nbytes / 2**20:.1f} MiB; "
          f"K at the end {tl.k:,}; op cost {tl.op_cost * 1e6:.1f} us")
    end = run.kernel.op
    back = [timed(lambda: run.seek(run.kernel.op - 1)) for _ in range(5)]
    print(f"step back one op from op {end:,} (5 times): "
          f"{', '.join(f'{t * 1e3:.0f}' for t in back)} ms (CPU {cpu(5)} ms)")
    print(f"jump to op 0: {timed(lambda: run.seek(0)) * 1e3:.0f} ms (CPU {cpu(1)} ms)")
    print(f"jump to op {end - 1:,} from op 0: {timed(lambda: run.seek(end - 1)) * 1e3:.0f} ms "
          f"(CPU {cpu(1)} ms)")
    worst = []
    for p in tl.points[-6:-1]:       # from just below a checkpoint: K - 2 ops to replay
        run.seek(p - 1)
        worst.append(timed(lambda: run.seek(p - 2)))
    print(f"step back one op from just below 5 checkpoints (the longest replays): "
          f"{', '.join(f'{t * 1e3:.0f}' for t in worst)} ms (CPU {cpu(5)} ms)")
    rng = random.Random(12)
    jumps, backs = [], []
    for _ in range(20):
        target = rng.randrange(1, end)
        jumps.append(timed(lambda: run.seek(target)))
        backs.append(timed(lambda: run.seek(run.kernel.op - 1)))
    cj, cb = CPU[-40::2], CPU[-39::2]
    print(f"20 jumps to random ops: median {statistics.median(jumps) * 1e3:.0f} ms, "
          f"max {max(jumps) * 1e3:.0f} ms (CPU median {statistics.median(cj) * 1e3:.0f}, "
          f"max {max(cj) * 1e3:.0f} ms)")
    print(f"a step back after each: median {statistics.median(backs) * 1e3:.0f} ms, "
          f"max {max(backs) * 1e3:.0f} ms (CPU median {statistics.median(cb) * 1e3:.0f}, "
          f"max {max(cb) * 1e3:.0f} ms)")
    print(f"after the jumps: {len(tl.points)} checkpoints, {tl.bytes / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
