"""Benchmarks of the TUI (measured and printed, never asserted).

    python benchmarks/bench_tui.py            # all five
    python benchmarks/bench_tui.py frame      # or: frames, ops, latency, startup

1. frame:   one full frame of the map and the blocks panel (every line rendered from
            cold caches) at 200x60, with 100 and with 100,000 areas.  Goal: within 1.5x.
1b. frames: CPU ms a frame at 120x40, overall and by panel, while a seeded run plays
            at full speed: a fixed sequence of snapshots (map-touch-unmap, seed 1,
            4,000 ops apart) applied one a frame, each frame composed (issue 27's
            goal: 30 frames a second, so well under 33 ms); and the garbage
            collector's share of it, by generation.
2. ops:     driver ops/s with the TUI attached (headless app via run_test at 120x40,
            playing as fast as possible) against the same driver headless, with the
            simulation in a child process and in a thread (--in-process); the CPU an op
            takes, frames shown a second, the UI thread's share of a CPU (issue 27's
            goal: >= 90% of headless at 30 frames a second), and the garbage
            collector's CPU a frame in the app's process.
3. latency: key press to painted screen while the driver runs at full speed.
            Goal: < 100 ms.
4. startup: from process start to the first painted frame of the app (headless).
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import subprocess
import sys
import time

from bench_driver import direct  # the CLI's loop, measured the same way
from vmapviz.kernel import BlockView, Config, Kernel, QueueView, VmapArea
from vmapviz.kernel.vmap_area import FLAG_NAMES
from vmapviz.run.snapshot import Snapshot
from vmapviz.run.spec import RunSpec

SIZE = (200, 60)


# -- 1. frame cost against the number of areas ------------------------------------------------

def synthetic(n_areas: int, nr_cpus: int = 4) -> Snapshot:
    """n vmalloc areas of 1-4 pages (the last one the guard page) packed from
    VMALLOC_START, each with its free page after it, every 7th lazy, then one vmap
    block per CPU with a mixed bitmap."""
    cfg = Config(nr_cpus=nr_cpus, bits=64)
    pg = cfg.page_size
    flag = {name: bit for bit, name in FLAG_NAMES}
    areas, addr = [], cfg.vmalloc_start
    for i in range(n_areas):
        pages = 1 + i % 4
        lazy = i % 7 == 0
        areas.append(VmapArea(addr, addr + pages * pg, "vmalloc", "lazy" if lazy else "busy", pg,
                              i % nr_cpus, i, flag["VM_VM_AREA"] | lazy * flag["VM_LAZY_FREE"]))
        addr += (pages + 1) * pg
    blocks = []
    bs = cfg.vmap_block_size
    addr = (addr + bs - 1) & ~(bs - 1)
    for cpu in range(nr_cpus):
        areas.append(VmapArea(addr, addr + bs, "vmap_block", "busy", 0, cpu, n_areas + cpu))
        alloc = (1 << 700) - 1
        dirty = int("0110" * 100, 2)
        blocks.append(BlockView(cpu + 1, cpu, addr, addr + bs, 1024 - 700, bin(dirty).count("1"),
                                alloc, dirty, True, True))
        addr += 2 * bs
    queues = tuple(QueueView(c, (c + 1,), (c + 1,), 0) for c in range(nr_cpus))
    return Snapshot(config=cfg, stats=Kernel(cfg).stats_view(), workload="synthetic", op=n_areas,
                    areas=tuple(areas), area_generation=n_areas, queues=queues,
                    blocks=tuple(blocks), stale=tuple(frozenset() for _ in range(nr_cpus)))


class FakeDriver:
    """Enough of the driver for an app that only shows given snapshots."""

    speed = 20.0
    running = False
    timeline = None   # no time travel: the time strip stays empty

    seeking = None

    def __init__(self, snap: Snapshot) -> None:
        self.latest = snap
        self.on_snapshot = None
        self.config = snap.config

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def play(self) -> None: ...
    def cancel(self) -> None: ...
    def set_snapshot_hz(self, hz: float) -> None: ...


def bench_frame(repeats: int = 40) -> dict:
    from vmapviz.tui.panels.addrmap import AddressMap
    from vmapviz.tui.app import VmapvizApp
    from vmapviz.tui.panels.blocks import BlockList

    results = {}

    async def one(n: int) -> tuple[float, float]:
        snap = synthetic(n)
        app = VmapvizApp(driver=FakeDriver(snap), autoplay=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            amap, blocks = app.query_one(AddressMap), app.query_one(BlockList)
            blocks.select(blocks.block_ids()[0])   # every bit of one block, too
            await pilot.pause()
            times, full = [], []
            for _ in range(repeats):
                amap._rows.clear()
                amap._row_classes.clear()
                blocks._cache.clear()
                t0 = time.perf_counter()
                for y in range(amap.content_size.height):
                    amap.render_line(y)
                for y in range(blocks.size.height):
                    blocks.render_line(y)
                times.append(time.perf_counter() - t0)
                # the whole screen composed, as Textual paints a full refresh
                amap._rows.clear()
                amap._row_classes.clear()
                blocks._cache.clear()
                app.screen.refresh()
                for w in app.screen.walk_children():
                    w.refresh()
                t0 = time.perf_counter()
                app.screen._compositor.render_update(full=True)
                full.append(time.perf_counter() - t0)
            # the minimum: the machine's noise only ever adds time
            return min(times), min(full)

    for _ in range(3):                   # interleaved, best of three rounds
        for n in (100, 100_000):
            m, f = asyncio.run(one(n))
            old = results.get(n, (m, f))
            results[n] = (min(m, old[0]), min(f, old[1]))
    return results


# -- 1b. CPU a frame, by panel, at 120x40 ------------------------------------------------------

class GcClock:
    """The CPU time the garbage collector takes while on (gc.callbacks, in whichever
    thread of this process collects): seconds and passes by generation."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.passes = [0, 0, 0]
        self._t0 = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.thread_time()
        else:
            self.seconds[info["generation"]] += time.thread_time() - self._t0
            self.passes[info["generation"]] += 1

    def on(self) -> None:
        self.seconds, self.passes = [0.0, 0.0, 0.0], [0, 0, 0]
        gc.callbacks.append(self._callback)

    def off(self) -> None:
        gc.callbacks.remove(self._callback)


FRAMES_OPS = 4_000    # ops between two snapshots: about 120k ops/s shown 30 times a second


def seeded_snapshots(count: int, ops_apart: int = FRAMES_OPS) -> list[Snapshot]:
    """The snapshots a driver playing map-touch-unmap (seed 1) at full speed publishes,
    `ops_apart` ops apart, its measured rate fixed (so that they are the same every time)."""
    from vmapviz.run.driver import Driver
    d = Driver(RunSpec.of(WORKLOAD, seed=1, speed=None))
    d.running = True
    d._rate = lambda: ops_apart * 30.0
    snaps = []
    for _ in range(count):
        d._run.run(ops_apart)
        d.latest = d._snapshot()
        snaps.append(d.latest)
    return snaps


def bench_frames(count: int = 150, warm: int = 30) -> dict:
    """CPU ms a frame over `count` frames after `warm` ones: applying the snapshot
    (apply_snapshot) and then handling its messages and composing the screen (a pilot
    pause, less the cost of one with nothing to do), their sum's median and mean; and
    by panel the mean
    CPU ms a frame of taking the snapshot (update_snapshot) plus drawing its lines
    (render_lines)."""
    from vmapviz.tui.app import VmapvizApp

    snaps = seeded_snapshots(warm + count)
    gc.collect()
    gc.freeze()   # the bench's own list of snapshots is no garbage collection work of the app's
    by_panel: dict[tuple[str, str], float] = {}
    clock = GcClock()
    app_threshold = []

    def timed(name: tuple[str, str], fn):
        def wrapper(*args, **kwargs):
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                by_panel[name] = by_panel.get(name, 0.0) + time.thread_time() - t0
        return wrapper

    async def main() -> list[float]:
        app = VmapvizApp(driver=FakeDriver(snaps[0]), autoplay=False)
        app.freeze_at_first_paint = True     # as the CLI's run_tui does
        per_frame = []
        async with app.run_test(size=OPS_SIZE) as pilot:
            await pilot.pause()
            for line, panel in app.fed:
                name = type(panel).__name__
                panel.update_snapshot = timed((name, "take"), panel.update_snapshot)
                panel.render_lines = timed((name, "draw"), panel.render_lines)
            for i, snap in enumerate(snaps):
                if i == warm:
                    by_panel.clear()
                    app_threshold.append(gc.get_threshold())
                    clock.on()
                t0 = time.thread_time()
                app.apply_snapshot(snap)
                t1 = time.thread_time()
                await pilot.pause()         # its messages handled, the screen composed
                t2 = time.thread_time()
                await pilot.pause()         # the same with nothing to do: the pilot's own cost
                t3 = time.thread_time()
                per_frame.append((t1 - t0, max(0.0, (t2 - t1) - (t3 - t2))))
            clock.off()
        return per_frame[warm:]

    threshold = gc.get_threshold()
    per_frame = asyncio.run(main())
    gc.set_threshold(*threshold)   # as the app found it (it sets its own at first paint)
    gc.unfreeze()
    whole = [a + c for a, c in per_frame]
    return dict(median=statistics.median(whole) * 1e3, mean=statistics.fmean(whole) * 1e3,
                apply=statistics.fmean(a for a, _ in per_frame) * 1e3,
                compose=statistics.fmean(c for _, c in per_frame) * 1e3,
                panels={k: v / count * 1e3 for k, v in by_panel.items()}, count=count,
                gc=[t / count * 1e3 for t in clock.seconds], gc_passes=[n / count for n in clock.passes],
                threshold=app_threshold[0])


# -- 2. ops/s with and without the TUI ------------------------------------------------------------
#
# Issue 27's goal: driver ops/s with the TUI attached at >= 90% of the same driver headless,
# the screen at 30 frames a second at 120x40.  "Attached" is the app in Textual's headless
# test driver (run_test at 120x40: every frame is composed and rendered as on a terminal,
# only the bytes are not written), playing map-touch-unmap as fast as possible; "headless"
# is the same driver with no view (its snapshots still built and, for the child, sent).
# ops/s is read from the driver's snapshots over the same seconds; the CPU the simulation
# took per op (the child process's, or the driver thread's) is read from /proc, so the
# figures can be compared on a loaded machine too.

OPS_SIZE = (120, 40)
WORKLOAD = "map-touch-unmap"


def _cpu_s(path: str) -> float:
    """utime + stime of a process or thread, from /proc/.../stat."""
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sim_cpu(driver) -> tuple[float, dict[str, float]]:
    """The CPU seconds the simulation has taken (the child's, or the driver thread's),
    and each of its threads' (the child's driver, snapshot delivery and command loop)."""
    proc = getattr(driver, "_proc", None)
    if proc is not None:
        tasks = f"/proc/{proc.pid}/task"
        return _cpu_s(f"/proc/{proc.pid}/stat"), {t: _cpu_s(f"{tasks}/{t}/stat") for t in os.listdir(tasks)}
    cpu = _cpu_s(f"/proc/self/task/{driver._thread.native_id}/stat")
    return cpu, {"driver": cpu}


def _per_op(before: tuple, after: tuple, ops: int) -> tuple[float, float]:
    """CPU µs an op of the whole simulation, and of its busiest thread (the driver's)."""
    busiest = max(after[1][t] - before[1].get(t, 0.0) for t in after[1])
    return (after[0] - before[0]) / max(1, ops) * 1e6, busiest / max(1, ops) * 1e6


def _new_driver(mode: str):
    from vmapviz.run.child import ChildDriver
    from vmapviz.run.driver import Driver
    spec = RunSpec.of(WORKLOAD, seed=1, speed=None)
    return ChildDriver(spec) if mode == "child" else Driver(spec)


def headless_driver(mode: str, seconds: float) -> tuple[float, float, float]:
    """A driver with no view, playing as fast as possible: ops/s and CPU µs an op (all,
    and its driver thread's)."""
    d = _new_driver(mode)
    d.start()
    d.play()
    while d.latest is None or d.latest.op < 1000:     # started (a child takes a moment)
        time.sleep(0.05)
    time.sleep(0.5)
    op0, t0, c0 = d.latest.op, time.perf_counter(), _sim_cpu(d)
    time.sleep(seconds)
    op1, t1, c1 = d.latest.op, time.perf_counter(), _sim_cpu(d)
    d.stop()
    return ((op1 - op0) / (t1 - t0), *_per_op(c0, c1, op1 - op0))


def attached(mode: str, seconds: float) -> dict:
    """The app attached to a driver at 120x40, playing as fast as possible: ops/s, CPU
    µs an op of the simulation, frames/s shown, the UI thread's share of a CPU."""
    from vmapviz.tui.app import VmapvizApp

    clock = GcClock()

    async def main() -> dict:
        app = VmapvizApp(driver=_new_driver(mode), autoplay=True)
        app.freeze_at_first_paint = True     # as the CLI's run_tui does
        async with app.run_test(size=OPS_SIZE) as pilot:
            while app.driver.latest is None or app.driver.latest.op < 1000:
                await pilot.pause(0.05)
            await pilot.pause(0.5)
            d = app.driver
            clock.on()
            op0, n0, t0, c0, u0 = d.latest.op, app.snapshots_applied, time.perf_counter(), _sim_cpu(d), time.thread_time()
            await pilot.pause(seconds)
            op1, n1, t1, c1, u1 = d.latest.op, app.snapshots_applied, time.perf_counter(), _sim_cpu(d), time.thread_time()
            clock.off()
            app.stop_driver()
        wall = t1 - t0
        cpu_us, thread_us = _per_op(c0, c1, op1 - op0)
        frames = max(1, n1 - n0)
        return dict(ops=(op1 - op0) / wall, cpu_us=cpu_us, thread_us=thread_us,
                    fps=(n1 - n0) / wall, ui=(u1 - u0) / wall, frame_ms=(u1 - u0) / frames * 1e3,
                    gc_ms=sum(clock.seconds) / frames * 1e3)

    threshold = gc.get_threshold()
    try:
        return asyncio.run(main())
    finally:
        gc.unfreeze()                    # the app froze this process's objects at first paint
        gc.set_threshold(*threshold)     # and set its thresholds


def bench_ops(seconds: float = 5.0, rounds: int = 3) -> None:
    """Each measurement `rounds` times, interleaved.  Of the ops/s, the best (the
    machine's noise only takes speed away); of the CPU an op, the median."""
    load0 = os.getloadavg()
    cli: list[float] = []
    rows: dict[str, list] = {}
    for _ in range(rounds):
        cli.append(direct(WORKLOAD, seconds=seconds))
        for mode in ("child", "thread"):
            rows.setdefault(f"headless {mode}", []).append(headless_driver(mode, seconds))
            a = attached(mode, seconds)
            rows.setdefault(f"attached {mode}", []).append(
                (a["ops"], a["cpu_us"], a["thread_us"], a["fps"], a["ui"], a["frame_ms"], a["gc_ms"]))
    med = lambda rs, i: statistics.median(r[i] for r in rs)   # noqa: E731
    print(f"ops/s, {WORKLOAD}, {seconds:.0f} s each, {rounds} interleaved rounds: the best ops/s, the "
          f"median CPU; load average {load0[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, "
          f"{os.cpu_count()} CPUs:")
    print(f"  the CLI's headless loop (no timeline)       {max(cli):10,.0f}")
    for mode, where in (("child", "the simulation in a child process (the default)"),
                        ("thread", "the simulation in a thread of the app's process (--in-process)")):
        hs, ts = rows[f"headless {mode}"], rows[f"attached {mode}"]
        h, t = max(r[0] for r in hs), max(r[0] for r in ts)
        hcpu, tcpu, hth, tth = med(hs, 1), med(ts, 1), med(hs, 2), med(ts, 2)
        print(f"  {where}:")
        print(f"    driver headless                           {h:10,.0f}  {hcpu:5.1f} µs CPU an op "
              f"({hth:.1f} in the driver thread)")
        print(f"    driver + TUI at {OPS_SIZE[0]}x{OPS_SIZE[1]}                    {t:10,.0f}  {tcpu:5.1f} µs CPU an op "
              f"({tth:.1f} in the driver thread)")
        print(f"      = {t / h:.0%} of headless ops/s (rounds: "
              f"{', '.join(f'{a[0] / b[0]:.0%}' for a, b in zip(ts, hs))}); {hcpu / tcpu:.0%} in CPU an op")
        print(f"    frames shown {med(ts, 3):.1f}/s; the UI thread {med(ts, 4):.0%} of a CPU, "
              f"{med(ts, 5):.1f} ms of CPU a frame, of which the garbage collector (the whole "
              f"process's) {med(ts, 6):.1f} ms (medians)")


# -- 3. key-to-screen latency ------------------------------------------------------------------------

def key_latency(presses: int = 30, key_name: str = "e") -> list[float]:
    from textual import events

    from vmapviz.tui.app import VmapvizApp

    lat: list[float] = []

    async def main() -> None:
        app = VmapvizApp(RunSpec.of("map-touch-unmap", seed=1, speed=None), autoplay=True)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.5)
            box = app.query_one("#explain")
            amap = app.query_one("AddressMap")
            for i in range(presses):
                # what the key changes: e hides/shows a panel (a layout), z/Z zoom the
                # map (every row redrawn), space goes through the driver and back
                if key_name == "e":
                    before = box.display
                    changed = lambda: box.display != before  # noqa: E731
                elif key_name in ("z", "Z"):
                    before = amap.view.shift
                    changed = lambda: amap.view.shift != before  # noqa: E731
                elif key_name == "space-ack":
                    before = app.header.asked
                    changed = lambda: app.header.asked not in (None, before)  # noqa: E731
                else:
                    before = app.snap.running
                    changed = lambda: app.snap.running != before  # noqa: E731
                done = asyncio.Event()
                name = key_name if key_name != "Z" or i % 2 else "z"
                if key_name == "z":
                    name = "z" if i % 2 == 0 else "Z"
                if name == "space-ack":
                    name = "space"
                    app.header.asked = None
                    await pilot.pause(0.3)   # let the last answer arrive first
                    before = None
                key = events.Key(name, name if len(name) == 1 else " ")
                key.set_sender(app)
                t0 = time.perf_counter()
                app._driver.send_message(key)
                while not changed():
                    await asyncio.sleep(0.0005)

                def painted(t0=t0, done=done) -> None:
                    lat.append(time.perf_counter() - t0)
                    done.set()

                app.call_after_refresh(painted)
                await asyncio.wait_for(done.wait(), 5)
                await pilot.pause(0.05)
            app.stop_driver()

    asyncio.run(main())
    return lat


# -- 4. start-up ---------------------------------------------------------------------------------------

STARTUP = r"""
import asyncio, sys, time
from vmapviz.run.child import ChildDriver
from vmapviz.run.spec import RunSpec
from vmapviz.tui.app import VmapvizApp
async def main():
    app = VmapvizApp(driver=ChildDriver(RunSpec.of()) if sys.argv[1] == "child" else None)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.first_paint is None or app.snapshots_applied == 0:
            await pilot.pause(0.001)
        print(app.first_paint - T0, time.perf_counter() - T0)
        app.stop_driver()
asyncio.run(main())
"""


def startup(mode: str, runs: int = 5) -> list[tuple[float, float, float]]:
    """(the whole process, interpreter start to first paint, to the first snapshot shown)."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", "import time; T0 = time.perf_counter()\n" + STARTUP, mode],
                             capture_output=True, text=True, check=True)
        paint, shown = map(float, res.stdout.strip().splitlines()[-1].split())
        out.append((time.perf_counter() - t0, paint, shown))
    return out


def main(argv: list[str]) -> None:
    which = set(argv) or {"frame", "frames", "ops", "latency", "startup"}
    if "frame" in which:
        r = bench_frame()
        (m100, f100), (m100k, f100k) = r[100], r[100_000]
        print(f"frame (map + blocks, {SIZE[0]}x{SIZE[1]}, cold caches, best of 3 x 40):")
        print(f"  100 areas      {m100 * 1e3:6.2f} ms   whole screen composed {f100 * 1e3:6.2f} ms")
        print(f"  100,000 areas  {m100k * 1e3:6.2f} ms   whole screen composed {f100k * 1e3:6.2f} ms")
        print(f"  ratio          {m100k / m100:6.2f}x (goal <= 1.5x)")
    if "frames" in which:
        load = os.getloadavg()[0]
        r = bench_frames()
        print(f"frames ({OPS_SIZE[0]}x{OPS_SIZE[1]}, {WORKLOAD} seed 1, a snapshot every {FRAMES_OPS:,} ops, "
              f"{r['count']} frames; load average {load:.2f}, {os.cpu_count()} CPUs):")
        print(f"  CPU a frame: median {r['median']:.2f} ms, mean {r['mean']:.2f} ms "
              f"(applying the snapshot {r['apply']:.2f}, composing {r['compose']:.2f}; 30 a second: 33.3 ms)")
        print("  by panel, mean CPU ms a frame: taking the snapshot (update_snapshot) + drawing (render_lines)")
        names = {name for name, _ in r["panels"]}
        cost = {n: (r["panels"].get((n, "take"), 0.0), r["panels"].get((n, "draw"), 0.0)) for n in names}
        for name, (take, draw) in sorted(cost.items(), key=lambda kv: -sum(kv[1])):
            print(f"    {name:<16} {take + draw:6.2f} = {take:5.2f} + {draw:5.2f}")
        print(f"    {'all panels':<16} {sum(map(sum, cost.values())):6.2f}")
        print(f"  garbage collector, in the above: {sum(r['gc']):.2f} ms a frame (generations 0/1/2: "
              + ", ".join(f"{t:.2f} ms in {n:.2f} passes" for t, n in zip(r["gc"], r["gc_passes"]))
              + f"; the app's thresholds {r['threshold']})")
    if "ops" in which:
        bench_ops()
    if "latency" in which:
        print("key to painted screen, driver at full speed, 30 presses each (goal < 100 ms):")
        for key, what in (("z", "z/Z zoom (whole map redrawn)"), ("e", "e explanations (layout)"),
                          ("space-ack", "space play/pause, header answers"),
                          ("space", "space play/pause, the driver's state shown")):
            lat = sorted(key_latency(30, key))
            print(f"  {what:<38} median {statistics.median(lat) * 1e3:5.1f} ms  "
                  f"p90 {lat[int(len(lat) * 0.9)] * 1e3:5.1f} ms  max {lat[-1] * 1e3:5.1f} ms")
    if "startup" in which:
        print(f"start-up (headless, 120x40, median of 5; load average {os.getloadavg()[0]:.2f}):")
        for mode in ("child", "thread"):
            s = startup(mode)
            wall, paint, shown = (statistics.median(x[i] for x in s) for i in range(3))
            print(f"  simulation in a {mode:<6} from interpreter start: first paint {paint * 1e3:.0f} ms, "
                  f"first snapshot shown {shown * 1e3:.0f} ms; whole process incl. exit {wall * 1e3:.0f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
