"""How fast the triple and the pair can be in CPython at all: the simulator's triple
beside its floor (floor_triple.py: the same work with the same representations and
records, flattened into one class) on 1 and on 8 CPUs, and its vmalloc+vfree pair
beside floor_pair.py (with and without events), with 100 and with 10,000 live areas.

    python benchmarks/bench_floor.py                  # CPU microseconds, best of 3 rounds
    python benchmarks/bench_floor.py --instructions   # and valgrind's instruction counts
    python benchmarks/bench_floor.py --mypyc          # and the floors compiled by mypyc
                                                      # (pip install mypy)
    python benchmarks/bench_floor.py --check 20000    # the triple's floor beside the simulator,
                                                      # 1 and 8 CPUs (floor_triple.check)
    python benchmarks/bench_floor.py --bytecodes      # where the triple's floor spends its
                                                      # bytecodes, by function and by line

Each figure runs in its own subprocess.  Instructions: N and 2N triples under
`valgrind --tool=callgrind`, the difference divided by N (start-up cancels out), hashes
seeded (PYTHONHASHSEED=0).
"""

from __future__ import annotations

import argparse
import linecache
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

from bench_speed import LOOP  # the simulator's triple, as bench_speed times it

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ROUNDS = 3

# `python -c FLOOR triple|pair events|bare N ARG`: N triples or pairs of a floor after a
# warm-up, its CPU microseconds per iteration: the triple's on ARG CPUs, the CPU rotating
# and the records drained as bench_speed's loop does; the pair's beside ARG areas made first.
FLOOR = r'''
import sys, time
import floor_pair, floor_triple
what, events, n, arg = sys.argv[1], sys.argv[2] == "events", int(sys.argv[3]), int(sys.argv[4])
if what == "triple":
    floor = floor_triple.Floor(arg)
    def loop(n):
        for i in range(n):
            c = i % arg
            a = floor.vm_map_ram(4, cpu=c)
            floor.touch(a, 4, cpu=c)
            floor.vm_unmap_ram(a, 4, cpu=c)
            floor.drain_records()
else:
    floor = floor_pair.Floor(events)
    for _ in range(arg):
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


def command(what: str, loop: str, n: int, arg: int) -> list[str]:
    """`arg`: the triple's CPUs, the pair's live areas."""
    if what == "simulator":
        return [sys.executable, "-c", LOOP, loop, str(arg), str(n)]
    return [sys.executable, "-c", FLOOR, loop, what, str(n), str(arg)]


def run(what: str, loop: str, n: int, arg: int, path: str, valgrind: bool = False) -> str:
    cmd = (["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] if valgrind else []) + \
        command(what, loop, n, arg)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join((path, ROOT)), PYTHONHASHSEED="0")
    # cwd: where `python -c` looks first, so that `path`'s floors are the ones imported
    out = subprocess.run(cmd, env=env, cwd=path, check=True, capture_output=True, text=True)
    return out.stderr if valgrind else out.stdout


def microseconds(what: str, loop: str, arg: int, path: str) -> float:
    return min(float(run(what, loop, 20_000, arg, path)) for _ in range(ROUNDS))


def instructions(what: str, loop: str, arg: int, path: str, n: int = 3000) -> int:
    counts = [int(re.search(r"Collected : (\d+)", run(what, loop, m, arg, path, True)).group(1))
              for m in (n, 2 * n)]
    return (counts[1] - counts[0]) // n


def compiled() -> str:
    """A temporary directory holding the floors compiled by mypyc."""
    tmp = tempfile.mkdtemp(prefix="vmapviz-floor-")
    for name in ("floor_triple.py", "floor_pair.py"):
        shutil.copy(os.path.join(HERE, name), tmp)
    # The triple's floor reads vmapviz's Config and records: this checkout's, typed
    # where they are (follow_imports silent, as the project's mypy settings).
    build = subprocess.run([sys.executable, "-m", "mypyc", "--follow-imports=silent", "floor_triple.py",
                            "floor_pair.py"], cwd=tmp, env=dict(os.environ, MYPYPATH=ROOT),
                           capture_output=True, text=True)
    if build.returncode:
        sys.exit("bench_floor: mypyc failed (pip install mypy):\n" + (build.stderr or build.stdout)[-2000:])
    return tmp


def check(n: int) -> None:
    """floor_triple.check() on 1 and 8 CPUs: every record and the final state equal."""
    sys.path.insert(0, ROOT)            # this checkout's vmapviz, as the figures' subprocesses
    from floor_triple import check as differences
    failed = False
    for nr_cpus in (1, 8):
        found = differences(n, nr_cpus)
        print(f"{n:,} triples on {nr_cpus} CPU{'s' * (nr_cpus > 1)}: "
              + ("equal (every record, the final state)" if not found else "\n  ".join(["DIFFERENT"] + found)))
        failed = failed or bool(found)
    if failed:
        sys.exit(1)


def bytecodes(n: int = 18_432) -> None:
    """The bytecodes of n triples of the floor on 1 CPU (by default 72 blocks, 8 purges:
    their share counted), by sys.settrace after a warm-up, per triple: by function and by
    line of floor_triple.py."""
    sys.path.insert(0, ROOT)
    import floor_triple
    floor = floor_triple.Floor(1)
    by_function: Counter[str] = Counter()
    by_line: Counter[int] = Counter()

    def trace(frame, event, arg):       # type: ignore[no-untyped-def]
        if event == "call":
            frame.f_trace_opcodes, frame.f_trace_lines = True, False
        elif event == "opcode":
            by_function[frame.f_code.co_name] += 1
            if frame.f_code.co_filename == floor_triple.__file__ and frame.f_lineno is not None:
                by_line[frame.f_lineno] += 1
        return trace

    def loop(n: int, cpus: int = 1) -> None:     # FLOOR's loop
        for i in range(n):
            c = i % cpus
            addr = floor.vm_map_ram(4, cpu=c)
            floor.touch(addr, 4, cpu=c)
            floor.vm_unmap_ram(addr, 4, cpu=c)
            floor.drain_records()

    loop(3000)
    sys.settrace(trace)
    loop(n)
    sys.settrace(None)
    print(f"bytecodes per triple {sum(by_function.values()) / n:.1f} (FLOOR's loop included)")
    for name, count in by_function.most_common():
        print(f"{count / n:8.1f}  {name}")
    for line, count in sorted(by_line.items()):
        if count >= n / 2:
            print(f"{count / n:8.1f}  {line:4}  {linecache.getline(floor_triple.__file__, line).strip()[:90]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    parser.add_argument("--mypyc", action="store_true", help="also time the floors compiled by mypyc")
    parser.add_argument("--only", choices=("triple", "pair"), help="one table only")
    parser.add_argument("--check", type=int, metavar="N", help="only check the triple's floor over N triples")
    parser.add_argument("--bytecodes", action="store_true", help="only count the triple floor's bytecodes")
    args = parser.parse_args()
    if args.check is not None:
        check(args.check)
        return
    if args.bytecodes:
        bytecodes()
        return
    if args.instructions and shutil.which("valgrind") is None:
        sys.exit("bench_floor: valgrind is not installed (apt-get install valgrind)")
    tmp = compiled() if args.mypyc else None
    tables = [("triple", 1, "per triple, 1 CPU"), ("triple", 8, "per triple, 8 CPUs"),
              ("pair", 100, "per pair, 100 live areas"), ("pair", 10_000, "per pair, 10,000 live areas")]
    for loop, arg, title in tables:
        if args.only and loop != args.only:
            continue
        rows = [("simulator", f"the simulator's {loop}", HERE), ("events", "floor, with events", HERE)]
        if loop == "pair":              # the triple's floor always records, as the simulator
            rows.append(("bare", "floor, no events or details", HERE))
        if tmp:
            rows.append(("events", "floor, with events, mypyc", tmp))
            if loop == "pair":
                rows.append(("bare", "floor, bare, mypyc", tmp))
        print(f"{title:34} {'µs':>7}" + (f" {'instructions':>13}" if args.instructions else ""))
        for what, label, path in rows:
            line = f"{label:34} {microseconds(what, loop, arg, path):7.2f}"
            if args.instructions:
                line += f" {instructions(what, loop, arg, path):13,}"
            print(line, flush=True)
    if tmp:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
