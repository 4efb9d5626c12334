"""Instructions per op, counted by valgrind: the same figure on every run, however busy
the machine (timings on a shared machine swing by 2x).

    python benchmarks/bench_instructions.py                     # this tree
    python benchmarks/bench_instructions.py --before ../before  # beside an earlier checkout

Each figure runs a loop N and 2N times under `valgrind --tool=callgrind` and divides
the difference in instructions by N, so start-up and set-up cancel out: the triple
(vm_map_ram(4) + touch + vm_unmap_ram) on 1 and 8 CPUs, a vmalloc(1 page) + vfree
pair with 100 and 10,000 live areas, and one op of map-touch-unmap through the driver's
Run (`advance()`, or `step()` in a tree from before event records) with and without its
timeline (checkpoints every 6,000 ops: the adaptive policy would measure valgrind's
slowness), and `vmapviz run`'s loop (run_headless, its end-of-run snapshot and digest left
out): bench_speed.py's loops.  Hashes are seeded (PYTHONHASHSEED=0); what is left of the
noise is the collector's timing, a few hundred instructions.  Needs valgrind (Debian's package).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

from bench_speed import LOOP  # the loops bench_speed times

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


FIGURES = [("triple", 1, 3000, "triple, 1 CPU"), ("triple", 8, 3000, "triple, 8 CPUs"),
           ("pair", 100, 3000, "vmalloc+vfree, 100 live"),
           ("pair", 10_000, 3000, "vmalloc+vfree, 10,000 live"),
           ("step", 0, 6000, "Run.advance, map-touch-unmap"),
           ("step", 1, 6000, "Run.advance with its timeline"),
           ("cli", 0, 6000, "vmapviz run's loop, map-touch-unmap")]


def instructions(tree: str, what: str, arg: int, n: int) -> int:
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          sys.executable, "-c", LOOP, what, str(arg), str(n)],
                         env=dict(os.environ, PYTHONPATH=tree, PYTHONHASHSEED="0"), cwd=tree, check=True,
                         capture_output=True, text=True).stderr
    return int(re.search(r"Collected : (\d+)", out).group(1))


def per_op(tree: str, what: str, arg: int, n: int) -> int:
    return (instructions(tree, what, arg, 2 * n) - instructions(tree, what, arg, n)) // n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="TREE", help="an earlier checkout to count beside this one")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("bench_instructions: valgrind is not installed (apt-get install valgrind)")
    trees = ([("before", os.path.abspath(args.before))] if args.before else []) + [("now", ROOT)]
    print(f"{'instructions per op':32} " + " ".join(f"{n:>10}" for n, _ in trees) +
          (f" {'ratio':>7}" if len(trees) > 1 else ""))
    for what, arg, n, label in FIGURES:
        row = [per_op(tree, what, arg, n) for _, tree in trees]
        print(f"{label:32} " + " ".join(f"{v:>10,}" for v in row) +
              (f" {row[0] / row[1]:6.2f}x" if len(trees) > 1 else ""), flush=True)


if __name__ == "__main__":
    main()
