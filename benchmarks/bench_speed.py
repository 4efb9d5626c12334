"""Issue 16's figures, for this tree and, beside it in the same run, an earlier one.

    python benchmarks/bench_speed.py                     # this tree only
    python benchmarks/bench_speed.py --before ../before  # and a checkout of an earlier commit

(make the earlier checkout with `git worktree add ../before <commit>`).  Each tree is
measured in its own subprocess (PYTHONPATH set to it), the trees alternating, ROUNDS
times; each figure is the best round, in CPU time, so a shared machine's other jobs
weigh as little as they can.  Only the public API and the CLI are used, so any commit
can be measured:

- triple: vm_map_ram(4) + touch(4 pages) + vm_unmap_ram, 1 CPU and 8 CPUs round-robin;
- pair: vmalloc(1 page) + vfree with 100 and with 1,000,000 live areas (filled first,
  not timed), 4 CPUs and 8 GiB of RAM (1 GiB has too few pages for 10^6 areas);
- run: `vmapviz run map-touch-unmap --ops 1000000 --json`, CPU seconds of the command
  (user + system, its own and its children's).

LOOP's "cli" (the run command's loop an op, without its end-of-run snapshot and digest)
is bench_instructions.py's only.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = 3

# The loops both this script and bench_instructions.py measure, run in a subprocess
# against any tree: `python -c LOOP WHAT ARG N` runs WHAT N times after a warm-up and
# prints its CPU microseconds per iteration.
LOOP = r'''
import sys, time
from vmapviz.kernel import Config, Kernel
what, arg, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# As the driver's Run drains a kernel and runs an op: its event records where the tree
# has them (typed events made only when read), else its typed events.
drain = getattr(Kernel, "drain_records", Kernel.drain_events)
if what == "triple":               # vm_map_ram(4) + touch + vm_unmap_ram on ARG CPUs
    k = Kernel(Config(nr_cpus=arg, bits=64))
    def loop(n):
        for i in range(n):
            c = i % arg
            a = k.vm_map_ram(4, cpu=c)
            k.touch(a, 4, cpu=c)
            k.vm_unmap_ram(a, 4, cpu=c)
            drain(k)
elif what == "pair":               # vmalloc(1 page) + vfree beside ARG live areas
    k = Kernel(Config(nr_cpus=4, bits=64, ram_size=8 << 30))   # a page for each of 10^6 areas
    for _ in range(arg):
        k.vmalloc(4096)
        k.events.clear()
    def loop(n):
        for _ in range(n):
            k.vfree(k.vmalloc(4096))
            drain(k)
elif what == "cli":                # `vmapviz run`'s loop (run_headless) on map-touch-unmap
    try:
        from vmapviz.faces import report
        from vmapviz.run.spec import RunSpec
        spec = RunSpec.of("map-touch-unmap", speed=None)
        def headless(n):
            report.run_headless(spec, ops=n)
    except ImportError:            # a tree from before the package layout (--before)
        from vmapviz import report
        from vmapviz.workloads import get
        w = get("map-touch-unmap")
        def headless(n):
            report.run_headless(w, w.config(), ops=n)
    from vmapviz.kernel import Kernel
    # The end of a run (the final snapshot and the state's digest) costs what the final
    # state holds, not what the ops did: left out, so N and 2N ops differ by the ops.
    snap = report.take(Kernel(), workload="-", op=0, finished=False)
    report.take = lambda *a, **k: snap
    Kernel.digest = lambda self: "-"
    def loop(n):
        headless(n)
else:                              # a Run of map-touch-unmap, ARG: with a timeline
    try:                           # a tree from before the package layout (--before)
        from vmapviz.driver import Run
        from vmapviz.timeline import Timeline
    except ImportError:
        from vmapviz.run.driver import Run
        from vmapviz.run.timeline import Timeline
    from vmapviz.workloads import get
    w = get("map-touch-unmap")
    run = Run(w, w.config(), timeline=Timeline(every=6000) if arg else None)
    advance = getattr(run, "advance", run.step)
    def loop(n):
        for _ in range(n):
            advance()
loop(500)
t0 = time.process_time()
loop(n)
print((time.process_time() - t0) / n * 1e6)
'''


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(tree: str, what: str, arg: int) -> float:
    env = dict(os.environ, PYTHONPATH=tree)
    if what == "run":                  # CPU seconds of the command (its wall time is the load's)
        t0 = cpu_of_children()
        subprocess.run([sys.executable, "-m", "vmapviz", "run", "map-touch-unmap", "--ops", str(arg),
                        "--json"], env=env, cwd=tree, check=True, capture_output=True)
        return cpu_of_children() - t0
    n = 30_000 if what == "triple" else 20_000
    out = subprocess.run([sys.executable, "-c", LOOP, what, str(arg), str(n)], env=env, cwd=tree,
                         check=True, capture_output=True, text=True)
    return float(out.stdout)


FIGURES = [("triple", 1, "triple, 1 CPU (us)", 5.0), ("triple", 8, "triple, 8 CPUs (us)", 5.0),
           ("pair", 100, "vmalloc+vfree, 100 live (us)", 8.0),
           ("pair", 1_000_000, "vmalloc+vfree, 1,000,000 live (us)", 12.0),
           ("run", 1_000_000, "run map-touch-unmap --ops 1000000 (s CPU)", 2.5)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="TREE", help="an earlier checkout to measure beside this one")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    trees = ([("before", os.path.abspath(args.before))] if args.before else []) + [("now", ROOT)]
    best: dict = {}
    for r in range(args.rounds):
        for what, arg, label, _ in FIGURES:
            for name, tree in trees:
                v = measure(tree, what, arg)
                best[name, label] = min(v, best.get((name, label), v))
                print(f"round {r + 1}: {name:6} {label:40} {v:8.2f}", file=sys.stderr)
    print(f"{'figure':40} " + " ".join(f"{n:>8}" for n, _ in trees) + f" {'goal':>6}" +
          (f" {'speed-up':>9}" if len(trees) > 1 else ""))
    for _, _, label, goal in FIGURES:
        row = [best[n, label] for n, _ in trees]
        line = f"{label:40} " + " ".join(f"{v:8.2f}" for v in row) + f" {goal:6.1f}"
        if len(trees) > 1:
            line += f" {row[0] / row[1]:8.2f}x"
        print(line)
    pairs = [best["now", label] for _, arg, label, _ in FIGURES if label.startswith("vmalloc")]
    print(f"pair at 1,000,000 live areas / at 100: {pairs[1] / pairs[0]:.2f}x (goal 1.5x or less)")


if __name__ == "__main__":
    main()
