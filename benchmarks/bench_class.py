"""A class of 30 on `vmapviz serve`, measured (never asserted): memory and CPU per tab.

Each "tab" is a websocket client from the page's origin that reads every frame its app
sends, as xterm.js in a browser does (no browser: the students' browsers run on their
own machines; what the teacher's machine pays is the server and one app per tab).
Memory is each app's proportional set size (Pss, /proc/PID/smaps_rollup: shared pages
split between the apps that share them) and resident set (VmRSS); CPU is each app's
user+system time over a 10 s window, per second of wall time (/proc/PID/stat).

- before: every tab visible, each app playing at the default 20 ops/s (what every tab
  did before hidden and idle tabs paused; it is still what a visible, used tab does);
- after: the tabs hidden (the page's visibilitychange message), each app paused.

On a 2-core machine 30 playing apps ask for more CPU than there is, so "before" is
also measured with 4 tabs, which the machine can serve in full; with 30 the per-tab
share is capped by the cores (the total says so).

    python benchmarks/bench_class.py [TABS]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from test_helpers import load

browser = load("browser.py")
Served, cpu_seconds, wait_for = browser.Served, browser.cpu_seconds, browser.wait_for

WINDOW = 10.0


def pss_rss(pid: int) -> tuple[float, float]:
    """(Pss, VmRSS) of a process, in MiB."""
    pss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
               if line.startswith("Pss:"))
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    return pss / 1024, rss / 1024


async def cpu_shares(pids: list[int], window: float = WINDOW) -> list[float]:
    before = [cpu_seconds(p) for p in pids]
    await asyncio.sleep(window)
    return [(cpu_seconds(p) - b) / window for p, b in zip(pids, before)]


def line(what: str, apps: list[int], shares: list[float], server_share: float) -> str:
    mem = [pss_rss(p) for p in apps]
    pss = sum(m[0] for m in mem) / len(mem)
    rss = sum(m[1] for m in mem) / len(mem)
    cpu = sum(shares) / len(shares)
    return (f"{what:<34} {len(apps):>3} tabs: per tab Pss {pss:5.1f} MiB (RSS {rss:5.1f}), "
            f"CPU {cpu:6.1%} of a core; all tabs {sum(m[0] for m in mem) / 1024:4.2f} GiB Pss, "
            f"{sum(shares):5.2f} cores; server {server_share:5.1%}")


async def tabs(server: Served, n: int, report: list[str], playing_only: bool = False) -> None:
    import aiohttp
    origin = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as session:
        sockets, readers, received = [], [], [0] * n
        for i in range(n):
            ws = await session.ws_connect(f"{origin}/ws?width=120&height=40", headers={"Origin": origin},
                                          max_msg_size=0)
            sockets.append(ws)
            readers.append(asyncio.create_task(drain(ws, received, i)))
            await asyncio.to_thread(wait_for, lambda: len(server.children()) == len(sockets), 60)
        apps = server.children()
        while min(received) < 20_000:   # every app has painted its screens
            await asyncio.sleep(0.5)
        await asyncio.sleep(10)   # and settled into playing
        shares = await cpu_shares(apps + [server.proc.pid])
        report.append(line("before: visible, playing 20 ops/s", apps, shares[:-1], shares[-1]))
        if not playing_only:
            for ws in sockets:
                await ws.send_json(["visibility", "hidden"])
            await asyncio.sleep(3)
            shares = await cpu_shares(apps + [server.proc.pid])
            report.append(line("after: hidden, paused", apps, shares[:-1], shares[-1]))
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
    gone = await asyncio.to_thread(wait_for, lambda: not server.children(), 60)
    report.append(f"{'':<34} tabs closed: {'every app ended' if gone else 'APPS LEFT RUNNING'}")


async def drain(ws, received: list[int], i: int) -> None:
    async for message in ws:
        received[i] += len(message.data) if isinstance(message.data, (bytes, str)) else 0


def main(n: int = 30) -> None:
    server = Served("map-touch-unmap", "--max-sessions", str(max(n, 4)))
    report: list[str] = []
    try:
        t0 = time.perf_counter()
        asyncio.run(tabs(server, 4, report, playing_only=True))
        asyncio.run(tabs(server, n, report))
        report.append(f"(measured in {time.perf_counter() - t0:.0f} s)")
    finally:
        server.stop()
    print("\n".join(report))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
