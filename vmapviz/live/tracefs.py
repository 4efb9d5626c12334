"""This machine's vmalloc tracepoints, read through tracefs from a trace instance of
vmapviz's own (/sys/kernel/tracing/instances/vmapviz), so that nothing else using
tracefs is disturbed.

`TraceSource` is a context manager: entering it checks root, mounts tracefs if it is
not mounted (and says so on stderr), makes the instance and enables the three
`vmalloc:*` events in it; leaving it, however the program leaves (an exception,
Ctrl+C, SIGTERM or SIGHUP: `cleanup_on_signals`), disables them, removes the instance
and unmounts tracefs again if it mounted it.  Only SIGKILL leaves the instance behind;
the next start says how to remove it.

Nothing here knows the kernel's rules: it turns trace_pipe's lines into events
(`events.parse_line`).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
from typing import Iterator

from .events import EVENT_NAMES, LiveError, Malformed, lost_events, parse_line

TRACEFS = "/sys/kernel/tracing"
INSTANCE = "vmapviz"


def machine() -> dict:
    """What a recording's header says of this machine: kernel release, online CPUs,
    page size."""
    return {"kernel": os.uname().release, "arch": os.uname().machine,
            "cpus": os.sysconf("SC_NPROCESSORS_ONLN"), "page_size": os.sysconf("SC_PAGE_SIZE")}


def kernel_version(release: str) -> tuple[int, int]:
    """(major, minor) of a release string such as 6.18.44-fc-v1300."""
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isascii() and c.isdigit()) or 0)
    except (IndexError, ValueError):
        return 0, 0


class TraceSource:
    """The vmalloc events of this machine, from the instance `name` under `root`."""

    def __init__(self, root: str = TRACEFS, name: str = INSTANCE) -> None:
        self.root = root
        self.path = os.path.join(root, "instances", name)
        self.mounted = False        # we mounted tracefs (and unmount it on close)
        self.fd: int | None = None  # trace_pipe
        self.lost = 0               # events the kernel dropped (trace_pipe's LOST lines)
        self.seq = 0                # events read so far
        self._partial = b""
        self._lock = threading.Lock()

    # -- opening and closing -------------------------------------------------------------

    def __enter__(self) -> "TraceSource":
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        if os.geteuid() != 0:
            raise LiveError("the live source needs root: tracefs and the vmalloc tracepoints are "
                            "root's (run it with sudo)")
        if not os.path.isdir(os.path.join(self.root, "instances")):
            self._mount()
        events = os.path.join(self.root, "events", "vmalloc")
        missing = [e for e in EVENT_NAMES if not os.path.isdir(os.path.join(events, e))]
        if missing:
            raise LiveError(f"this kernel ({os.uname().release}) has no vmalloc:{missing[0]} "
                            f"tracepoint ({events}): it needs Linux 6.3 or later built with "
                            "CONFIG_TRACING")
        try:
            os.mkdir(self.path)
        except FileExistsError:
            raise LiveError(f"{self.path} exists: another vmapviz live or record --live is "
                            f"running, or one was killed with SIGKILL (then `rmdir {self.path}`)") from None
        except OSError as e:
            raise LiveError(f"{self.path}: cannot make the trace instance: {e.strerror}") from None
        self._write("events/vmalloc/enable", "1")
        self._write("tracing_on", "1")
        self.fd = os.open(os.path.join(self.path, "trace_pipe"), os.O_RDONLY | os.O_NONBLOCK)

    def _mount(self) -> None:
        got = subprocess.run(["mount", "-t", "tracefs", "nodev", self.root], capture_output=True,
                             text=True)
        if got.returncode or not os.path.isdir(os.path.join(self.root, "instances")):
            raise LiveError(f"tracefs is not mounted at {self.root} and mounting it failed "
                            f"({got.stderr.strip() or 'no instances/ after mounting'}): "
                            f"`mount -t tracefs nodev {self.root}` as root")
        self.mounted = True
        print(f"vmapviz: mounted tracefs at {self.root} (mount -t tracefs nodev {self.root}); "
              "it is unmounted again on exit", file=sys.stderr)

    def _write(self, name: str, value: str) -> None:
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def close(self, quiet: bool = False) -> None:
        """Disable the events, remove the instance, unmount what we mounted.  Safe to
        call again, and from a signal handler: a step that fails (a reader thread still
        inside trace_pipe keeps the instance busy) is retried by the next call; `quiet`
        leaves the last failure unsaid."""
        with self._lock:
            if self.fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self.fd)
                self.fd = None
            if os.path.isdir(self.path):
                with contextlib.suppress(OSError):
                    self._write("events/vmalloc/enable", "0")
                with contextlib.suppress(OSError):
                    os.rmdir(self.path)
            if self.mounted and not os.path.isdir(self.path):
                got = subprocess.run(["umount", self.root], capture_output=True, text=True)
                self.mounted = bool(got.returncode)
                if self.mounted and not quiet:
                    print(f"vmapviz: left tracefs mounted at {self.root}: {got.stderr.strip()}",
                          file=sys.stderr)

    # -- reading -------------------------------------------------------------------------

    def read(self, timeout: float = 0.1) -> list:
        """The events trace_pipe has now, waiting at most `timeout` seconds for the
        first.  A line tracefs prints that is no vmalloc event is skipped; its LOST
        lines are counted in `lost`."""
        if self.fd is None:
            return []
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        out = []
        for raw in lines:
            text = raw.decode("utf-8", "replace")
            n = lost_events(text)
            if n:
                self.lost += n
                continue
            try:
                ev = parse_line(text, self.seq + 1)
            except Malformed:
                continue   # tracefs prints only event lines here; never stop the reader
            if ev is not None:
                self.seq += 1
                out.append(ev)
        return out

    def events(self, stop: threading.Event) -> Iterator[list]:
        """Batches of events until `stop` is set."""
        while not stop.is_set():
            yield self.read()


@contextlib.contextmanager
def cleanup_on_signals():
    """While in the block, SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread,
    as Ctrl+C does, so that every `with TraceSource()` is left through its close()."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
