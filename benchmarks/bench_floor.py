"""How fast the triple and the pair can be in CPython at all: the simulator's triple
beside its floor (floor_triple.py: the same work flattened into one class, with and
without events), and its vmalloc+vfree pair beside floor_pair.py, with 100 and with
10,000 live areas.

    python benchmarks/bench_floor.py                  # CPU microseconds, best of 3 rounds
    python benchmarks/bench_floor.py --instructions   # and valgrind's instruction counts
    python benchmarks/bench_floor.py --mypyc          # and the floors compiled by mypyc
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

# `python -c FLOOR triple|pair events|bare N LIVE`: N triples or pairs of a floor after a
# warm-up (the pair's beside LIVE areas made first), its CPU microseconds per iteration.
FLOOR = r'''
import sys, time
import floor_pair, floor_triple
what, events, n, live = sys.argv[1], sys.argv[2] == "events", int(sys.argv[3]), int(sys.argv[4])
if what == "triple":
    floor = floor_triple.Floor(events)
    def loop(n):
        for _ in range(n):
            floor.triple()
            floor.events.clear()
else:
    floor = floor_pair.Floor(events)
    for _ in range(live):
        floor.vmalloc(4096)
    def loop(n):
        for _ in range(n):
            floor.vfree(floor.vmalloc(4096))
            floor.events.clear()
loop(500)
t0 = time.process_time()
loop(n)
print((time.process_time() - t0) / n * 1e6)
'''


def command(what: str, loop: str, n: int, live: int) -> list[str]:
    if what == "simulator":
        return [sys.executable, "-c", LOOP, loop, "1" if loop == "triple" else str(live), str(n)]
    return [sys.executable, "-c", FLOOR, loop, what, str(n), str(live)]


def run(what: str, loop: str, n: int, live: int, path: str, valgrind: bool = False) -> str:
    cmd = (["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] if valgrind else []) + \
        command(what, loop, n, live)
    out = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=os.pathsep.join((path, ROOT))),
                         check=True, capture_output=True, text=True)
    return out.stderr if valgrind else out.stdout


def microseconds(what: str, loop: str, live: int, path: str) -> float:
    return min(float(run(what, loop, 20_000, live, path)) for _ in range(ROUNDS))


def instructions(what: str, loop: str, live: int, path: str, n: int = 3000) -> int:
    counts = [int(re.search(r"Collected : (\d+)", run(what, loop, m, live, path, True)).group(1))
              for m in (n, 2 * n)]
    return (counts[1] - counts[0]) // n


def compiled() -> str:
    """A temporary directory holding the floors compiled by mypyc."""
    tmp = tempfile.mkdtemp(prefix="vmapviz-floor-")
    for name in ("floor_triple.py", "floor_pair.py"):
        shutil.copy(os.path.join(HERE, name), tmp)
    build = subprocess.run([sys.executable, "-m", "mypyc", "floor_triple.py", "floor_pair.py"], cwd=tmp,
                           capture_output=True, text=True)
    if build.returncode:
        sys.exit("bench_floor: mypyc failed (pip install mypy):\n" + (build.stderr or build.stdout)[-2000:])
    return tmp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    parser.add_argument("--mypyc", action="store_true", help="also time the floors compiled by mypyc")
    parser.add_argument("--only", choices=("triple", "pair"), help="one table only")
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        sys.exit("bench_floor: valgrind is not installed (apt-get install valgrind)")
    tmp = compiled() if args.mypyc else None
    tables = [("triple", 0, "per triple, 1 CPU"), ("pair", 100, "per pair, 100 live areas"),
              ("pair", 10_000, "per pair, 10,000 live areas")]
    for loop, live, title in tables:
        if args.only and loop != args.only:
            continue
        rows = [("simulator", f"the simulator's {loop}", HERE), ("events", "floor, with events", HERE),
                ("bare", "floor, no events or details", HERE)]
        if tmp:
            rows += [("events", "floor, with events, mypyc", tmp), ("bare", "floor, bare, mypyc", tmp)]
        print(f"{title:34} {'µs':>7}" + (f" {'instructions':>13}" if args.instructions else ""))
        for what, label, path in rows:
            line = f"{label:34} {microseconds(what, loop, live, path):7.2f}"
            if args.instructions:
                line += f" {instructions(what, loop, live, path):13,}"
            print(line, flush=True)
    if tmp:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
