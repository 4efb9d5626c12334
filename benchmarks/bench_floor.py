"""How fast the triple can be in CPython at all: the simulator's triple beside its floor
(floor_triple.py: the same work flattened into one class, with and without events).

    python benchmarks/bench_floor.py                  # CPU microseconds, best of 3 rounds
    python benchmarks/bench_floor.py --instructions   # and valgrind's instruction counts
    python benchmarks/bench_floor.py --mypyc          # and the floor compiled by mypyc
                                                      # (pip install mypy)

Each figure runs in its own subprocess.  Instructions: N and 2N triples under
`valgrind --tool=callgrind`, the difference divided by N (start-up cancels out).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

from bench_speed import LOOP  # the simulator's triple, as bench_speed times it

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ROUNDS = 3

FLOOR = r'''
import sys, time
from floor_triple import run
events, n = sys.argv[1] == "events", int(sys.argv[2])
run(500, events)
t0 = time.process_time()
run(n, events)
print((time.process_time() - t0) / n * 1e6)
'''


def command(what: str, n: int) -> list[str]:
    if what == "simulator":
        return [sys.executable, "-c", LOOP, "triple", "1", str(n)]
    return [sys.executable, "-c", FLOOR, what, str(n)]


def run(what: str, n: int, path: str, valgrind: bool = False) -> str:
    cmd = (["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] if valgrind else []) + command(what, n)
    out = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=os.pathsep.join((path, ROOT))),
                         check=True, capture_output=True, text=True)
    return out.stderr if valgrind else out.stdout


def microseconds(what: str, path: str) -> float:
    return min(float(run(what, 30_000, path)) for _ in range(ROUNDS))


def instructions(what: str, path: str, n: int = 3000) -> int:
    counts = [int(re.search(r"Collected : (\d+)", run(what, m, path, True)).group(1)) for m in (n, 2 * n)]
    return (counts[1] - counts[0]) // n


def compiled() -> str:
    """A temporary directory holding floor_triple compiled by mypyc."""
    tmp = tempfile.mkdtemp(prefix="vmapviz-floor-")
    shutil.copy(os.path.join(HERE, "floor_triple.py"), tmp)
    build = subprocess.run([sys.executable, "-m", "mypyc", "floor_triple.py"], cwd=tmp,
                           capture_output=True, text=True)
    if build.returncode:
        sys.exit("bench_floor: mypyc failed (pip install mypy):\n" + (build.stderr or build.stdout)[-2000:])
    return tmp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    parser.add_argument("--mypyc", action="store_true", help="also time the floor compiled by mypyc")
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        sys.exit("bench_floor: valgrind is not installed (apt-get install valgrind)")
    rows = [("simulator", "the simulator's triple", HERE), ("events", "floor, with events", HERE),
            ("bare", "floor, no events or details", HERE)]
    if args.mypyc:
        tmp = compiled()
        rows += [("events", "floor, with events, mypyc", tmp), ("bare", "floor, bare, mypyc", tmp)]
    print(f"{'per triple, 1 CPU':34} {'µs':>7}" + (f" {'instructions':>13}" if args.instructions else ""))
    for what, label, path in rows:
        line = f"{label:34} {microseconds(what, path):7.2f}"
        if args.instructions:
            line += f" {instructions(what, path):13,}"
        print(line, flush=True)
    if args.mypyc:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
