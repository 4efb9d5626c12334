"""What a snapshot and a checkpoint cost after 10^5 ops, on 4, 8 and 16 CPUs.

    python benchmarks/bench_checkpoint.py                     # this tree
    python benchmarks/bench_checkpoint.py --before ../before  # beside an earlier checkout
    python benchmarks/bench_checkpoint.py --ops 20000         # shorter runs

For each case, a Run (no timeline) steps the workload OPS ops; then, in CPU time, the
best of ROUNDS rounds of REPEAT each: a snapshot (`take()` of the Run's kernel, what
the driver publishes), a checkpoint (`(kernel, ())` pickled as `Timeline.save`
does, the recent events left out: a `timeline.Checkpoint`, or a plain pickle in a tree
from before it) and its restore, with the
checkpoint's size.  Goals (issue 27): snapshot < 0.3 ms, checkpoint < 0.5 ms.  Each
tree runs in its own subprocess (PYTHONPATH set to it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = [("map-touch-unmap", 4), ("map-touch-unmap", 8), ("map-touch-unmap", 16),
         ("xfs-dir", 4), ("xfs-dir", 8), ("xfs-dir", 16)]

MEASURE = r'''
import json, pickle, sys, time
try:
    from vmapviz.run.driver import Run
    from vmapviz.run.snapshot import take
except ImportError:                    # a tree from before the package layout (--before)
    from vmapviz.driver import Run
    from vmapviz.snapshot import take
from vmapviz.workloads import get
name, cpus, ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
w = get(name)
run = Run(w, w.config(nr_cpus=cpus))
for _ in range(ops):
    run.step()
k = run.kernel

def best(f, repeat=20, rounds=3):
    out = []
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(repeat):
            f()
        out.append((time.process_time() - t0) / repeat * 1e3)
    return min(out)

try:                                   # what Timeline.save does
    from vmapviz.run.timeline import Checkpoint
    save, load = Checkpoint, Checkpoint.load
except ImportError:                    # before out-of-band buffers: a plain pickle
    save, load = lambda obj: pickle.dumps(obj, pickle.HIGHEST_PROTOCOL), pickle.loads
blob = save((k, ()))
print(json.dumps({"snapshot": best(lambda: take(k)), "checkpoint": best(lambda: save((k, ()))),
                  "restore": best(lambda: load(blob)), "bytes": len(blob),
                  "tlb": sum(len(t) for t in k.pgtable.tlbs)}))
'''


def measure(tree: str, name: str, cpus: int, ops: int) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, name, str(cpus), str(ops)],
                         env=dict(os.environ, PYTHONPATH=tree), cwd=tree, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="TREE", help="an earlier checkout to measure beside this one")
    parser.add_argument("--ops", type=int, default=100_000)
    args = parser.parse_args()
    trees = ([("before", os.path.abspath(args.before))] if args.before else []) + [("now", ROOT)]
    print(f"{'after ' + format(args.ops, ',') + ' ops':24} {'tree':6} {'snapshot ms':>11} "
          f"{'checkpoint ms':>13} {'restore ms':>10} {'bytes':>10} {'TLB entries':>11}")
    for name, cpus in CASES:
        for label, tree in trees:
            m = measure(tree, name, cpus, args.ops)
            print(f"{name + ', ' + str(cpus) + ' CPUs':24} {label:6} {m['snapshot']:11.3f} "
                  f"{m['checkpoint']:13.3f} {m['restore']:10.3f} {m['bytes']:10,} {m['tlb']:11,}",
                  flush=True)
    print("goals: snapshot < 0.3 ms, checkpoint < 0.5 ms")


if __name__ == "__main__":
    main()
