"""What a workload's source costs an op, without the kernel: `source.next()` and
`source.feed(result)` for the built-in workloads whose CPUs draw at random.

    python benchmarks/bench_source.py                      # CPU µs an op, this tree
    python benchmarks/bench_source.py --before ../before   # beside an earlier checkout
    python benchmarks/bench_source.py --instructions       # valgrind's count an op instead

The kernel's results are stood in for by one constant per call (an address for the calls
that map, "ok" for touch, None for the rest), so the figure is the source alone: the
schedule's draw, the stream's step and the Op it hands out.  The µs figure is the best of
ROUNDS rounds of CPU time; the instruction count runs the loop N and 2N times under
`valgrind --tool=callgrind` and divides the difference by N, as bench_instructions.py does.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = 3

# (workload, variant or "" for its default)
FIGURES = [("map-touch-unmap", ""), ("map-touch-unmap", "vanilla"), ("xfs-dir", ""),
           ("vmalloc-churn", ""), ("xen-pat", "")]

# `python -c LOOP WORKLOAD VARIANT N`: N ops of the source after a warm-up; prints CPU µs an op.
LOOP = r'''
import sys, time
from vmapviz.workloads import get
name, variant, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
w = get(name)
cfg = w.config(variant=variant or None)
ADDR = 0xffffc90000000000
RESULT = {"vm_map_ram": ADDR, "vmap": ADDR, "vmalloc": ADDR, "vmalloc_align": ADDR,
          "get_vm_area": ADDR, "touch": "ok"}.get
src = w.source(cfg)
def loop(n):
    nxt, feed = src.next, src.feed
    for _ in range(n):
        op = nxt()
        feed(RESULT(op[1]))
loop(500)
t0 = time.process_time()
loop(n)
print((time.process_time() - t0) / n * 1e6)
'''


def run(tree: str, args: list[str], valgrind: bool) -> str:
    cmd = [sys.executable, "-c", LOOP, *args]
    if valgrind:
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd]
    out = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=tree, PYTHONHASHSEED="0"), cwd=tree, check=True,
                         capture_output=True, text=True)
    return out.stderr if valgrind else out.stdout


def micros(tree: str, name: str, variant: str) -> float:
    return float(run(tree, [name, variant, "200000"], False))


def instructions(tree: str, name: str, variant: str, n: int = 20_000) -> int:
    def count(k: int) -> int:
        return int(re.search(r"Collected : (\d+)", run(tree, [name, variant, str(k)], True)).group(1))
    return (count(2 * n) - count(n)) // n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="TREE", help="an earlier checkout to measure beside this one")
    parser.add_argument("--instructions", action="store_true", help="valgrind's instructions an op, not µs")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--only", metavar="WORKLOAD", help="this workload's rows alone")
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        sys.exit("bench_source: valgrind is not installed (apt-get install valgrind)")
    trees = ([("before", os.path.abspath(args.before))] if args.before else []) + [("now", ROOT)]
    unit = "instructions" if args.instructions else "µs (CPU)"
    print(f"{'source, an op: ' + unit:36} " + " ".join(f"{n:>10}" for n, _ in trees) +
          (f" {'ratio':>7}" if len(trees) > 1 else ""))
    for name, variant in FIGURES:
        if args.only and name != args.only:
            continue
        if args.instructions:
            row = [instructions(tree, name, variant) for _, tree in trees]
            shown = " ".join(f"{v:>10,}" for v in row)
        else:
            row = [min(micros(tree, name, variant) for _ in range(args.rounds)) for _, tree in trees]
            shown = " ".join(f"{v:>10.3f}" for v in row)
        label = name + (f" ({variant})" if variant else "")
        print(f"{label:36} {shown}" + (f" {row[0] / row[1]:6.2f}x" if len(trees) > 1 else ""), flush=True)


if __name__ == "__main__":
    main()
