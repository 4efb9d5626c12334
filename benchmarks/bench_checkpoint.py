"""What a snapshot and a checkpoint cost after 10^5 ops, on 4, 8 and 16 CPUs.

    python benchmarks/bench_checkpoint.py                     # this tree
    python benchmarks/bench_checkpoint.py --before ../before  # beside an earlier checkout
    python benchmarks/bench_checkpoint.py --ops 20000         # shorter runs
    python benchmarks/bench_checkpoint.py --every 1024        # checkpoints K ops apart

For each case, a Run (no timeline) steps the workload OPS - K ops, takes a checkpoint
there (`timeline.Checkpoint`, as `Timeline.save` does: `(kernel, ())`, the recent
events left out), and steps K more.  Then, in CPU time, best of ROUNDS rounds of REPEAT
each: a snapshot (`take()` of the Run's kernel, what the driver publishes); the
checkpoint the timeline makes there, sharing the buffers unchanged since the one K ops
before ("bytes added": what it adds to the timeline; in a tree from before the sharing
every buffer is copied, and before `Checkpoint` it is a plain pickle); a cold one
(nothing to share) and its restore, with its size.  These repeat with the caches warm,
as the earlier figures were taken.  "in run" goes on with a checkpoint every K ops,
all kept, and gives their median: the same work after K ops of other work, the caches
cold.  Goals (issue 27): snapshot < 0.3 ms, checkpoint < 0.5 ms.  Each tree runs in
its own subprocess (PYTHONPATH set to it).
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
import copy, json, pickle, statistics, sys, time
try:
    from vmapviz.run.driver import Run
    from vmapviz.run.snapshot import take
except ImportError:                    # a tree from before the package layout (--before)
    from vmapviz.driver import Run
    from vmapviz.snapshot import take
from vmapviz.workloads import get
name, cpus, ops, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
SAVES, REPEAT, ROUNDS = 10, 20, 3
try:
    from vmapviz.run.timeline import Checkpoint
    try:                               # what Timeline.save does: share with the last one
        from vmapviz.run.timeline import Shared
        save, new_last = Checkpoint, Shared
    except ImportError:                # before the sharing: every buffer copied
        save, new_last = lambda obj, last: Checkpoint(obj), dict
    cold, load = Checkpoint, Checkpoint.load
except ImportError:                    # before out-of-band buffers: a plain pickle
    cold, load = lambda obj: pickle.dumps(obj, pickle.HIGHEST_PROTOCOL), pickle.loads
    save, new_last = lambda obj, last: cold(obj), dict
w = get(name)
run = Run(w, w.config(nr_cpus=cpus))
for _ in range(ops - every):
    run.step()
k = run.kernel
last = new_last()
kept = [save((k, ()), last)]           # the checkpoint before, K ops earlier
for _ in range(every):
    run.step()

def best(f, repeat=REPEAT, rounds=ROUNDS):
    out = []
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(repeat):
            f()
        out.append((time.process_time() - t0) / repeat * 1e3)
    return min(out)

def new_bytes(blob, before):
    return len(blob) if not hasattr(blob, "buffers") else \
        len(blob.data) + sum(len(b) for b in blob.buffers if id(b) not in before)

# The same last one each time, each copy dropped once used: what a checkpoint copies is
# freed after it, as in the cold one and the earlier figures.
lasts = [copy.copy(last) for _ in range(REPEAT * ROUNDS)]
checkpoint = best(lambda: save((k, ()), lasts.pop()))
before = {id(b) for b in getattr(kept[0], "buffers", ())}
added = new_bytes(save((k, ()), copy.copy(last)), before)
blob = cold((k, ()))
m = {"snapshot": best(lambda: take(k)), "checkpoint": checkpoint, "added": added,
     "cold": best(lambda: cold((k, ()))), "restore": best(lambda: load(blob)), "bytes": len(blob),
     "tlb": sum(len(t) for t in k.pgtable.tlbs)}
saves = []                             # on with a checkpoint every K ops, all kept
for _ in range(SAVES):
    for _ in range(every):
        run.step()
    t0 = time.process_time()
    kept.append(save((k, ()), last))
    saves.append((time.process_time() - t0) * 1e3)
m["run"] = statistics.median(saves)
print(json.dumps(m))
'''


def measure(tree: str, name: str, cpus: int, ops: int, every: int) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, name, str(cpus), str(ops), str(every)],
                         env=dict(os.environ, PYTHONPATH=tree), cwd=tree, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="TREE", help="an earlier checkout to measure beside this one")
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=4096, metavar="K",
                        help="ops between two checkpoints (the timeline adapts K; 3,000-6,500 here)")
    args = parser.parse_args()
    trees = ([("before", os.path.abspath(args.before))] if args.before else []) + [("now", ROOT)]
    print(f"{'after ' + format(args.ops, ',') + ' ops':24} {'tree':6} {'snapshot ms':>11} "
          f"{'checkpoint ms':>13} {'in run':>6} {'bytes added':>11} {'cold ms':>7} "
          f"{'restore ms':>10} {'bytes':>10} {'TLB entries':>11}")
    for name, cpus in CASES:
        for label, tree in trees:
            m = measure(tree, name, cpus, args.ops, args.every)
            print(f"{name + ', ' + str(cpus) + ' CPUs':24} {label:6} {m['snapshot']:11.3f} "
                  f"{m['checkpoint']:13.3f} {m['run']:6.3f} {m['added']:11,} "
                  f"{m['cold']:7.3f} {m['restore']:10.3f} {m['bytes']:10,} {m['tlb']:11,}",
                  flush=True)
    print("goals: snapshot < 0.3 ms, checkpoint < 0.5 ms")


if __name__ == "__main__":
    main()
