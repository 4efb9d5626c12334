"""Reliability figures (measured and printed, never asserted).

    python benchmarks/bench_reliability.py            # all three
    python benchmarks/bench_reliability.py keys       # or: hostile, replay

1. keys:    10 random sequences of 500 keys (seeded), sent in bursts at full speed to
            the TUI (headless), with the driver playing: how many crashed.  Goal: 0.
2. hostile: peak memory (max RSS) of `vmapviz replay` on each hostile one-line trace,
            in a fresh process.  Goal: under 100 MB.
3. replay:  a 1,000,000-op trace: time and peak memory to check and replay it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback

from test_helpers import load
from vmapviz.run.spec import RunSpec
from vmapviz.tui.app import VmapvizApp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
burst = load("tui/tui_helpers.py").burst
KEYS = load("tui/test_reliability.py").KEYS   # the same keys the test mashes


# -- 1. key mashing -----------------------------------------------------------------------------

async def mash_once(seed: int, n: int, shots: str) -> str | None:
    """n keys at full speed; None if the app survived (or quit through the palette's
    "Quit the application", status 0), else what went wrong."""
    rng = random.Random(seed)
    app = VmapvizApp(RunSpec.of("map-touch-unmap", speed=None), screenshot_dir=shots)
    async with app.run_test(size=(120, 40)) as pilot:
        sent = 0
        while sent < n:
            keys = [rng.choice(KEYS) for _ in range(min(n - sent, rng.randint(1, 30)))]
            burst(app, *keys)
            sent += len(keys)
            await pilot.pause(0)
            if app._exception is not None or not app.is_running:
                break
        await pilot.pause(0.5)
        problem = None if app._exception is None and app.return_code in (None, 0) else \
            f"{app._exception!r}, exit status {app.return_code}"
        app.stop_driver()
    return problem


def bench_keys(sequences: int = 10, keys: int = 500) -> None:
    crashes = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as shots:
        for seed in range(sequences):
            try:
                problem = asyncio.run(mash_once(seed, keys, shots))
            except Exception as e:  # noqa: BLE001 - a crash is what is counted
                where = traceback.extract_tb(e.__traceback__)[-1]
                problem = f"{type(e).__name__}: {e} at {where.filename}:{where.lineno} {where.name}"
            if problem:
                crashes.append((seed, problem))
    print(f"keys: {sequences} sequences of {keys} keys (seeds 0-{sequences - 1}) in "
          f"{time.perf_counter() - t0:.1f} s: {len(crashes)} crashes")
    for seed, problem in crashes:
        print(f"  seed {seed}: {problem}")


# -- 2. hostile one-line traces ---------------------------------------------------------------------

HEADER = json.dumps({"vmapviz": "trace", "version": 1, "config": {"nr_cpus": 1, "bits": 64}})


def hostile() -> dict[str, bytes]:
    """The worst single lines we know, each after a valid header (unless it replaces it).
    The calls marked [kernel] are valid trace lines whose cost the kernel's own bounds
    (a RAM size in Config) decide."""
    op = lambda call, *args: (HEADER + "\n" + json.dumps({"cpu": 0, "call": call, "args": list(args)})).encode()
    line = lambda text: (HEADER + "\n" + text).encode()
    return {
        "binary (64 MiB of zeros, no newline)": bytes(64 << 20),
        "one 64 MiB line of digits": line("[" + "7" * (64 << 20) + "]"),
        "nested 60,000 deep": line("[" * 60_000),
        "a 4,000-digit integer": line('{"cpu": 0, "call": "vmalloc", "args": [' + "9" * 4000 + "]}"),
        "a 5,000-digit integer": line('{"cpu": 0, "call": "vmalloc", "args": [' + "9" * 5000 + "]}"),
        "16,000 arguments": line('{"cpu": 0, "call": "vmalloc", "args": [' + ",".join(["1"] * 16000) + "]}"),
        "header: page_size 1": json.dumps({"vmapviz": "trace", "version": 1, "config": {"page_size": 1}}).encode(),
        "[kernel] vmalloc(2**63)": op("vmalloc", 2 ** 63),
        "[kernel] vmalloc(2**36)": op("vmalloc", 2 ** 36),
        "[kernel] vmap(2**40)": op("vmap", 2 ** 40),
        "[kernel] vm_map_ram(10**7)": op("vm_map_ram", 10 ** 7),
        "[kernel] touch(VMALLOC_START, 2**40)": op("touch", 0xFFFFC20000000000, 2 ** 40),
        "[kernel] get_vm_area(2**44, 0)": op("get_vm_area", 2 ** 44, 0),
    }


def vmapviz_peak(*argv: str, timeout: float = 600.0) -> tuple[str, float, str]:
    """(outcome, peak RSS in MB, stdout) of `vmapviz ARGV` in a fresh process, which
    reports its own peak (VmHWM: ru_maxrss would carry this process's over exec); limited to 1 GiB of address space, so a runaway ends as a
    MemoryError."""
    code = ("import atexit, resource, runpy, sys;"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30));"
            "hwm = lambda: next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'));"
            "atexit.register(lambda: print(f'peak {hwm()}', file=sys.stderr));"
            f"sys.argv = ['vmapviz', *{list(argv)!r}];"
            "runpy.run_module('vmapviz', run_name='__main__')")
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=timeout, env=dict(os.environ, PYTHONPATH=ROOT))
    except subprocess.TimeoutExpired:
        return f"still running after {timeout:.0f} s", float("nan"), ""
    lines = p.stderr.strip().splitlines()
    peak = int(lines.pop().split()[1]) / 1024 if lines and lines[-1].startswith("peak ") else float("nan")
    return f"exit {p.returncode}: " + (lines or ["(nothing on stderr)"])[-1][:90], peak, p.stdout


def bench_hostile() -> None:
    print("hostile one-line traces: peak RSS of `vmapviz replay` in a fresh process each")
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in hostile().items():
            path = os.path.join(tmp, "t.jsonl")
            with open(path, "wb") as f:
                f.write(body)
            outcome, peak, _ = vmapviz_peak("replay", path, "--json", timeout=60)
            print(f"  {name:40s} {peak:7.1f} MB  {outcome.replace(path, 'T')}")


# -- 3. a long replay ---------------------------------------------------------------------------------

def bench_replay(ops: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "long.jsonl")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vmapviz", "run", "map-touch-unmap", "--cpus", "1",
                        "--ops", str(ops), "--record", trace, "--json"], check=True,
                       capture_output=True, env=dict(os.environ, PYTHONPATH=ROOT))
        size = os.path.getsize(trace)
        print(f"replay: recorded {ops:,} ops ({size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        outcome, peak, out = vmapviz_peak("replay", trace, "--json")
        wall = time.perf_counter() - t0
        r = json.loads(out)
        print(f"replay: checked and replayed in {wall:.1f} s (replay loop {r['wall_s']:.1f} s), "
              f"{outcome}, {r['mismatch_count']} mismatches, peak RSS {peak:.0f} MB")
        outcome, peak, out = vmapviz_peak("run", "map-touch-unmap", "--cpus", "1", "--ops", "10", "--json")
        print(f"replay: for scale, a 10-op run peaks at {peak:.0f} MB")


if __name__ == "__main__":
    which = sys.argv[1:] or ["keys", "hostile", "replay"]
    for name in which:
        {"keys": bench_keys, "hostile": bench_hostile, "replay": bench_replay}[name]()
