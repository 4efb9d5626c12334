"""`vmapviz live`: the TUI with this machine's kernel as its source.

A reader thread reads the trace instance (`live.tracefs.TraceSource`), applies the events
to a `live.state.LiveState` and leaves the newest snapshot; the app draws snapshots only,
with the panels that apply to a real kernel: the address map (real addresses), the lazy
gauge (the real vmap_lazy_nr against lazy_max_pages()) and the event log, beside a panel
of its own with the purges, allocations by size and by task, and the rates.  The line at
the top says it is the real kernel, its version and CPU count.
"""

from __future__ import annotations

import os
import signal
import threading

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Static

from ...kernel.generations import Features
from ...models import vmallocinfo as vi
from ...live.recording import snapshot_vmallocinfo
from ...live.state import LiveState
from ...live.stir import stir
from ...live.tracefs import TraceSource, machine
from .. import themes
from ..panels.addrmap import AddressMap
from ..panels.eventlog import EventLog
from ..panels.lazy import LazyPanel

FRAME = 0.25     # seconds between two looks at the newest snapshot
# What the live source draws on the map, for its legend and cells: traced areas (their
# guard page counted in the tracepoint's size) and vmallocinfo's busy areas by kind,
# lazy ones until a purge's range covers them.  No vmap blocks (no tracepoint shows
# vb_alloc()), no pools, and no gap page after each area (6.x leaves none; the snapshot's
# config is 2008's only for its shape).
LIVE_DRAWS = Features(lazy_flush=True, vmap_blocks=False, gap_page=False, locks=())
GRACE = 3.0      # seconds a signalled app has to exit before the process ends


def _kib(n: int) -> str:
    return f"{n // 1024} KiB" if n % 1024 == 0 else f"{n} B"


class LivePanel(Static):
    """Purges as they happen, allocations by size and by task, rates a second."""

    def show(self, st: LiveState) -> None:
        r = st.rates()
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("per s ", style="bold")
        t.append(f"{r['area']:.1f} allocs · {r['lazy']:.1f} frees · {r['purge']:.2f} purges\n")
        t.append("seen ", style="bold")
        t.append(f"{st.allocs:,} allocs · {st.frees:,} frees · {st.nr_purges:,} purges"
                 + (f" · {st.failed} failed" if st.failed else "") + "\n")
        t.append("by size ", style="bold")
        t.append(" · ".join(f"{_kib(s)}/{_kib(a)} ×{n:,}" for (s, a), n in st.by_size.most_common(3))
                 or "-")
        t.append("\nby task ", style="bold")
        t.append(" · ".join(f"{task} ×{n:,}" for task, n in st.by_task.most_common(3)) or "-")
        t.append("\npurges ", style="bold")
        if not st.purges:
            t.append("none yet")
        for p in reversed(st.purges):
            t.append(f"\n  #{p.op:,} {p.task}: {p.npurged:,} areas, {p.start:#x}-{p.end:#x}")
        self.update(t)


class LiveLazyPanel(LazyPanel):
    """The lazy panel on the real kernel: the gauge of the last free's nr_lazy against
    nr_lazy_max, and the last purge; the simulator's TLB and IPI counters are not
    reported by the tracepoints, so they are not shown."""

    def render(self) -> Text:
        snap = self.snap
        if snap is None:
            return Text("waiting for the first event…")
        s = snap.stats
        t = self.gauge_text(s.lazy_pages, s.lazy_max_pages, max(20, self.content_size.width))
        last = next((e for e in reversed(snap.events) if e.kind == "purge"), None)
        t.append("purges ", style="bold")
        t.append(f"{s.purges:,}")
        if last is not None:
            t.append(f" · last #{last.op:,}: {last.npurged:,} areas by {last.task}")
        t.append(f"\nlazy areas seen {s.lazy_areas:,} · busy {s.live_areas:,}")
        if not s.lazy_max_pages:
            t.append("\n(the gauge fills at the first lazy free)")
        return t


class LiveApp(App):
    """This machine's vmap layer, live."""

    TITLE = "vmapviz live"
    CSS = """
    Screen { layout: vertical; }
    #header { height: 1; background: $primary-background; text-style: bold; }
    #header, #note { text-wrap: nowrap; text-overflow: ellipsis; padding: 0 1; }
    #note { height: 1; color: $text-muted; }
    AddressMap { height: 1fr; min-height: 6; border: round $primary; }
    #middle { height: 9; }
    LiveLazyPanel { width: 1fr; height: 100%; border: round $primary; }
    LivePanel { width: 1fr; height: 100%; border: round $primary; }
    EventLog { height: 1fr; min-height: 4; border: round $primary; }
    LiveLazyPanel, LivePanel { text-wrap: nowrap; text-overflow: ellipsis; }
    """
    BINDINGS = [Binding("q", "quit", "quit"), Binding("s", "stir", "stir"),
                Binding("tab", "focus_next", "next panel", show=False)]

    def __init__(self, source: TraceSource, state: LiveState, stir_n: int = 0,
                 theme: str | None = None) -> None:
        super().__init__()
        self.source, self.state = source, state
        self.stir_n = stir_n or 200
        self.stir_at_start = bool(stir_n)
        self.stop = threading.Event()
        self.latest = None          # the reader's newest snapshot
        self.shown = None
        self.stirring = 0           # threads being stirred now
        self._theme = theme
        self._reader = threading.Thread(target=self._read, daemon=True, name="vmapviz-live-reader")
        self._config = state.config()
        self.signalled = False
        self._old_handlers: dict = {}

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield Static(id="note")
        yield AddressMap(id="map", features=LIVE_DRAWS)
        with Horizontal(id="middle"):
            yield LiveLazyPanel(id="lazy")
            yield LivePanel(id="live")
        yield EventLog(id="log")
        yield Footer()

    def on_mount(self) -> None:
        themes.register(self)
        if self._theme:
            self.theme = self._theme
        self.query_one("#lazy").border_title = "lazy: the real vmap_lazy_nr"
        self.query_one("#live").border_title = "purges, sizes, tasks, rates"
        self.query_one("#log").border_title = "events (tracefs)"
        self.query_one(AddressMap).border_title = "vmalloc"
        self._reader.start()
        self.set_interval(FRAME, self._tick)
        self._catch_signals()
        if self.stir_at_start:
            self.action_stir()
        self._tick()

    def _catch_signals(self) -> None:
        """SIGTERM and SIGHUP: the trace instance goes at once (the source's close() is
        safe from here), then the app quits as q does; should its exit hang (a terminal
        gone with SIGHUP), a watchdog ends the process after GRACE seconds."""
        self._old_handlers = {sig: signal.signal(sig, self._signalled)
                              for sig in (signal.SIGTERM, signal.SIGHUP)}

    def _signalled(self, signum=None, frame=None) -> None:
        self.signalled = True
        self.stop.set()
        self.source.close(quiet=True)
        watchdog = threading.Timer(GRACE, self._give_up)
        watchdog.daemon = True
        watchdog.start()
        self.call_later(self.exit, return_code=130)

    def _give_up(self) -> None:
        """The app did not exit in time: clean up and end the process."""
        self.source.close(quiet=True)
        os._exit(130)

    def _read(self) -> None:
        """The reader thread: trace lines to state, state to the newest snapshot."""
        while not self.stop.is_set():
            events = self.source.read(0.1)
            if events or self.latest is None:
                self.state.apply(events)
                if self.state.config().vmalloc_start != self._config.vmalloc_start:
                    self._config = self.state.config()
                self.latest = (self.state.snapshot(self._config), self.state.seq)

    def action_stir(self) -> None:
        if self.stirring:
            return
        self.stirring = self.stir_n
        threading.Thread(target=self._stir, daemon=True, name="vmapviz-stir-driver").start()

    def _stir(self) -> None:
        stir(self.stir_n, self.stop)
        self.stirring = 0

    def _tick(self) -> None:
        latest = self.latest
        st = self.state
        info = machine()
        self.query_one("#header", Static).update(
            f"REAL KERNEL · Linux {st.kernel} · {st.cpus} CPUs · page {st.page} · tracefs "
            f"{self.source.path} · {st.seq:,} events" + (f" · {self.source.lost:,} LOST" if self.source.lost else "")
            + (f" · stirring {self.stirring} threads" if self.stirring else ""))
        placed = len(st.placed())
        how = ("at their real addresses" if st.addresses == vi.REAL else
               "placed by order and size (its addresses are hashed: kernel.kptr_restrict=0)")
        self.query_one("#note", Static).update(
            f"{placed:,} busy areas from /proc/vmallocinfo at start, {how}; traced areas at their "
            f"real addresses · s: stir {self.stir_n} threads · q: quit" if info else "")
        if latest is None or latest is self.shown:
            return
        self.shown = latest
        snap = latest[0]
        with self.batch_update():
            self.query_one(AddressMap).update_snapshot(snap)
            self.query_one(LiveLazyPanel).update_snapshot(snap)
            self.query_one(EventLog).update_snapshot(snap)
            self.query_one(LivePanel).show(st)

    def on_unmount(self) -> None:
        self.stop.set()
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)


def run_live(stir_n: int = 0, theme: str | None = None) -> int:
    """`vmapviz live`: open the source (errors exit 2 before the TUI starts), run the
    app, and close the source however the app ends."""
    from ...live.tracefs import cleanup_on_signals
    info = machine()
    with cleanup_on_signals(), TraceSource() as source:
        lines, addresses = snapshot_vmallocinfo()
        state = LiveState(info["kernel"], info["cpus"], info["page_size"], lines, addresses)
        app = LiveApp(source, state, stir_n, theme)
        try:
            app.run()
        finally:
            app.stop.set()
            app._reader.join(timeout=2) if app._reader.is_alive() else None
    return 130 if app.signalled else (app.return_code or 0)
