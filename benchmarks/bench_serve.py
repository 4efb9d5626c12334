"""`vmapviz serve` and `vmapviz export --gif`, measured (never asserted):

- the time from starting `vmapviz serve` to the first painted frame in Chromium (the
  header's colour on the page), and from opening the page to it;
- the CPU an idle, paused session's app uses, and the server's, over 10 s;
- the CPU after the tab is closed (the app must be gone; the server's share);
- the time and size of a 100-frame GIF at 120x40, and of the same run's HTML player;
  the player's load time from disk with the network off.

Needs Debian's Chromium and playwright, like the browser tests.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time

from test_helpers import load

browser = load("browser.py")
Served, alive, cpu_seconds, launch, missing, wait_for = (
    browser.Served, browser.alive, browser.cpu_seconds, browser.launch, browser.missing, browser.wait_for)

HEADER_BG = {(0x24, 0x2F, 0x38)}   # textual-dark's $panel, behind the header


def painted(page) -> bool:
    from PIL import Image
    shot = Image.open(io.BytesIO(page.screenshot(clip={"x": 0, "y": 0, "width": 1100, "height": 14})))
    return any(colour in HEADER_BG for _, colour in shot.convert("RGB").getcolors(1 << 20))


def cpu_share(pid: int, seconds: float = 10.0) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def bench_serve() -> None:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = launch(p)
        server = Served()
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        opened = time.perf_counter()
        page.goto(server.url)
        wait_for(lambda: painted(page), 60, interval=0.02)
        now = time.perf_counter()
        print(f"serve -> first painted frame: {now - server.started:.2f} s "
              f"(server ready {server.ready - server.started:.2f} s, page -> frame {now - opened:.2f} s)")
        page.click(".textual-terminal")
        page.keyboard.press(" ")
        time.sleep(2)
        app = server.children()[0]
        print(f"idle paused session: app {cpu_share(app):.1%} of a CPU, "
              f"server {cpu_share(server.proc.pid):.1%}")
        page.close()
        gone = wait_for(lambda: not alive(app), 30)
        print(f"tab closed: app {'exited' if gone else 'STILL RUNNING'}, "
              f"children left {len(server.children())}, server {cpu_share(server.proc.pid):.2%} of a CPU")
        print(f"server exit status on SIGTERM: {server.stop()}")
        browser.close()


def bench_export(browser: bool) -> None:
    """The GIF and the HTML player of one run, side by side: export time and size; the
    player's load time from disk in Chromium with the network off (to its first frame
    drawn), and a scrub to the last frame."""
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("gif", "html"):
            path = os.path.join(tmp, f"run.{kind}")
            cmd = [sys.executable, "-m", "vmapviz", "export", f"--{kind}", path, "--ops", "1000", "--every", "10"]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            took = time.perf_counter() - t0
            print(f"{kind.upper():<4}, 100 frames at 120x40 ({' '.join(cmd[2:])}): {took:.1f} s, "
                  f"{os.path.getsize(path) / 1024:.0f} KiB")
        if browser:
            from pathlib import Path

            from playwright.sync_api import sync_playwright
            with sync_playwright() as p:
                b = launch(p)
                page = b.new_context(offline=True).new_page()
                uri = Path(path).as_uri()
                t0 = time.perf_counter()
                page.goto(uri)
                page.wait_for_function("window.player && window.player.frame === 0")
                loaded = time.perf_counter() - t0
                t0 = time.perf_counter()
                page.evaluate("window.player.show(99)")
                scrub = time.perf_counter() - t0
                print(f"HTML opened from disk, network off: first frame in {loaded * 1000:.0f} ms; "
                      f"frame 1 -> 100 in {scrub * 1000:.0f} ms")
                b.close()


if __name__ == "__main__":
    reason = missing()
    if reason:
        print(f"serve: skipped: {reason}")
    else:
        bench_serve()
    bench_export(reason is None)
