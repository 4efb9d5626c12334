"""Helpers for the browser tests and the serve benchmark: a `vmapviz serve` on a free
loopback port, Debian's Chromium driven by playwright, and the server's child
processes read from /proc (Linux)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parent.parent


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not os.path.exists(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`python -m vmapviz serve` on 127.0.0.1 and a free port, until stop()."""

    def __init__(self, *args: str, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.port = port or free_port()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vmapviz", "serve", "--host", host, "--port", str(self.port), *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.output: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._ready = threading.Event()
        self._readers = [threading.Thread(target=self._drain, args=(name,), daemon=True)
                         for name in self.output]
        for reader in self._readers:
            reader.start()
        if not self._ready.wait(60):
            self.stop()
            raise RuntimeError(f"vmapviz serve did not start: {self.output}")
        self.ready = time.perf_counter()
        self.url = f"http://{host}:{self.port}/"

    def _drain(self, name: str) -> None:
        """Read a pipe to its end (a full pipe would stall the server)."""
        for line in getattr(self.proc, name):
            self.output[name].append(line)
            if name == "stdout" and "serving on" in line:
                self._ready.set()

    def children(self) -> list[int]:
        return children(self.proc.pid)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for reader in self._readers:
            reader.join(5)
        return self.proc.returncode


def children(pid: int) -> list[int]:
    """The live child processes of `pid`."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_app(browser, url: str, size=(1100, 760)):
    """A new tab on the app, once the app's first frame has arrived, focused for keys."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(url)
    page.wait_for_selector("body.-first-byte", timeout=60_000)
    page.click(".textual-terminal")
    return page


def delivered_svg(page, key: str = "s") -> str:
    """Press `key` (the screenshot key) and return the SVG the app delivers to the
    browser, which opens it in a new tab (its non-breaking spaces as spaces)."""
    with page.context.expect_page(timeout=30_000) as popup:
        page.keyboard.press(key)
    svg_page = popup.value
    svg_page.wait_for_load_state()
    text = svg_page.content()
    svg_page.close()
    return text.replace("&#160;", " ").replace("\xa0", " ")


class Forward:
    """A TCP port forward on this machine, `listen_host`:free port -> 127.0.0.1:`port`, as
    ssh -L or a tunnel gives: the browser's address differs from the server's.  Lives
    until stop() (threads; every connection closed at stop)."""

    def __init__(self, port: int, listen_host: str = "127.0.0.2") -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server((listen_host, 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://{listen_host}:{self.port}/"
        self.sockets: list[socket.socket] = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self.stopped = True
        self.listener.close()
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
