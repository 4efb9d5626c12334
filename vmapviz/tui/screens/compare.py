"""Compare mode: one workload, one seed, two kernel generations in lockstep.

A `CompareDriver` (vmapviz/run/compare.py) steps both runs in its thread and publishes a
pair of snapshots.  The screen shows the two maps (`TwinMap`: one zoom, one cursor,
one scroll), side by side on wide terminals and stacked on narrow ones, the counters
side by side with their ratio, and what the last op did on each generation
(tui/words/contrast.py).  It is a mode of the app (`VmapvizApp`): C or the palette
opens it over the main screen, `vmapviz compare` opens the app on it with no main run.
Its keys are rows of the app's action table, and their handlers the main screen's
(run_view.py): stepping, playing, run-to-flush, time travel, the speed keys and reset
act on both.  escape or q goes back to the main screen, or quits when `vmapviz
compare` opened it.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ...run.compare import CompareDriver, PairSnapshot
from ...run.spec import RunSpec
from ...kernel.generations import GENERATIONS, NAMES
from .. import palette as P
from ..panels.addrmap import AddressMap
from ..panels.explain import EXPLAIN_MAX_SPEED
from ..panels.header import speed_text
from ..run_view import RunView, SnapshotReady
from ..words.contrast import contrast, rows
from ..actions import ACTIONS, Action
from ..footer import FitFooter
from .dialogs import HelpScreen


class TwinMap(AddressMap):
    """One of the two maps: its zoom, cursor and scroll are its twin's.  Whichever map
    moves leads, the other follows; in fit mode both fit the larger used span."""

    def __init__(self, label: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label
        self.twin: TwinMap | None = None
        self._following = False

    def title(self) -> str:
        return f"{self.label} · {super().title()}"

    def fit_shift(self, cols: int) -> int:
        own = super().fit_shift(cols)
        twin = self.twin
        if twin is None or twin.snap is None or twin.view is None:
            return own
        return max(own, AddressMap.fit_shift(twin, twin.view.cols))

    def _post_cursor(self) -> None:
        super()._post_cursor()
        self._lead()

    def _update_title(self) -> None:
        super()._update_title()
        self._lead()

    def _lead(self) -> None:
        if self.twin is not None and not self._following:
            self.twin.follow(self)

    def follow(self, leader: AddressMap) -> None:
        """Take the leader's zoom, cursor and first row."""
        v, lv = self.view, leader.view
        if v is None or lv is None or (v.shift, self.top, self.cursor, self.fit) == (
                lv.shift, leader.top, leader.cursor, leader.fit):
            return
        self._following = True
        try:
            self.fit, self.cursor = leader.fit, leader.cursor
            if v.shift != lv.shift:
                self._relayout(lv.shift)
            self.top = max(0, min(leader.top, self.view.total_rows - self.map_rows))
            self.refresh()
            self._update_title()
        finally:
            self._following = False


def pair_for(current: str, other: str | None) -> tuple[str, str]:
    """The two generations to compare, older first: `current` and `other`, by default
    vanilla (or merged, when vanilla is the one running)."""
    if other is None:
        other = "vanilla" if current != "vanilla" else "merged"
    if other == current:
        raise ValueError(f"{current} is the generation running: compare it with another one")
    return tuple(sorted((current, other), key=NAMES.index))


def open_compare(app, other: str | None = None) -> None:
    """From the main screen: the main run's workload and machine on its generation and
    `other`.  The main run pauses meanwhile and plays on afterwards if it was playing."""
    main = app.driver
    driver = main.paired(pair_for(main.config.variant, other))   # of the main driver's kind
    was_running = main.running
    main.pause()

    def back(_result) -> None:
        if was_running:
            main.play()

    app.push_screen(CompareScreen(driver, autoplay=was_running), back)


# The main screen's actions compare mode does, on both sides (keys, words and help from
# the one action table), and its own way out.
ON_BOTH = ("toggle", "step", "until('flush')", "step_back", "back_to_flush", "jump", "speed(1)",
           "speed(-1)", "zoom(-1)", "zoom(1)", "fit", "reset", "scaling", "help")
# Help lines that say something else here: compare mode has no time strip, and its help
# lists its own keys.
HELP_HERE = {"jump": "go to op N, on both", "help": "this help: compare mode's keys"}
ACTIONS_HERE = tuple(a._replace(help=HELP_HERE.get(a.action, a.help))
                     for a in ACTIONS if a.keys and a.action in ON_BOTH) + (
    Action("escape,q", "close", (), "back", "leave compare mode", True),)


class CompareScreen(RunView, ModalScreen[None]):
    """See the module docstring."""

    HORIZONTAL_BREAKPOINTS = [(0, "-stacked"), (120, "-side")]
    AUTO_FOCUS = "#map-0"
    BINDINGS = [a.binding() for a in ACTIONS_HERE]
    ACTIONS = ACTIONS_HERE
    BOTH = " on both"
    DEFAULT_CSS = """
    CompareScreen { layout: vertical; background: $background; }
    #compare-header { height: 1; background: $panel; color: $foreground; }
    #twin-maps { layout: horizontal; height: 1fr; }
    CompareScreen.-stacked #twin-maps { layout: vertical; }
    #twin-maps TwinMap { width: 1fr; height: 1fr; }
    #compare-bottom { height: 9; }
    #counters, #contrast {
        border: round $vz-border; border-title-color: $foreground; border-title-style: bold;
        background: $surface; color: $foreground; padding: 0 1;
    }
    #counters { width: auto; max-width: 60%; }
    CompareScreen.-stacked #counters { padding: 0 0; }
    #contrast { width: 1fr; }
    """

    def __init__(self, driver: CompareDriver, *, autoplay: bool = True, standalone: bool = False) -> None:
        super().__init__()
        self.driver = driver
        self.autoplay = autoplay
        self.standalone = standalone
        self.snap: PairSnapshot | None = None
        self._speed = driver.speed
        self._explained = -2
        self._last_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(" vmapviz compare", id="compare-header")
        with Container(id="twin-maps"):
            for i, name in enumerate(self.driver.variants):
                gen = GENERATIONS[name]
                yield TwinMap(f"{gen.name} {gen.version}", id=f"map-{i}")
        with Horizontal(id="compare-bottom"):
            counters = Static("", id="counters")
            a, b = self.driver.variants
            counters.border_title = f"counters · ratio = {a} ÷ {b}"
            yield counters
            with VerticalScroll(id="contrast") as box:
                box.border_title = "what the last op did on each"
                box.can_focus = False
                yield Static("", id="contrast-text")
        yield FitFooter()

    def on_mount(self) -> None:
        self.maps = (self.query_one("#map-0", TwinMap), self.query_one("#map-1", TwinMap))
        self.maps[0].twin, self.maps[1].twin = self.maps[1], self.maps[0]
        self.header = self.query_one("#compare-header", Static)
        self.counters = self.query_one("#counters", Static)
        self.contrast_box = self.query_one("#contrast")
        self.contrast_text = self.query_one("#contrast-text", Static)
        self.paced(self._speed)
        self.start_driver(self.autoplay)
        self.apply(self.driver.latest)

    def on_unmount(self) -> None:
        self.stop_driver()

    def on_address_map_cursor_moved(self, message: AddressMap.CursorMoved) -> None:
        message.stop()   # the twin maps' cursor is not the main screen's inspector's

    def on_address_map_block_chosen(self, message: AddressMap.BlockChosen) -> None:
        message.stop()   # nor are their blocks the main run's

    # -- snapshots --------------------------------------------------------------------

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self.apply(message.snapshot)

    def apply(self, pair: PairSnapshot) -> None:
        if pair is self.snap or not self.is_attached:
            return
        self.snap = pair
        with self.app.batch_update():
            self._show_header(pair)
            for amap, snap in zip(self.maps, pair.sides):
                amap.update_snapshot(snap)
            self.counters.update(self._counter_table(pair))
            fast = pair.running and (pair.speed is None or pair.speed > EXPLAIN_MAX_SPEED)
            last = pair.sides[0].last_op[-1].op if pair.sides[0].last_op else -1
            if fast and self._explained != -3:
                self._explained = -3
                self.contrast_box.border_title = "what the last op did on each"
                self.contrast_text.update("Running too fast to contrast every op. Press space to "
                                          "pause, n to step one op on both, f to run to the next "
                                          "TLB flush on either, or - to slow down.")
            elif not fast and (last != self._explained or pair.op == 0):
                self._explained = last
                self.contrast_box.border_title = (f"what op {last:,} did on each" if last >= 0
                                                  else "what the last op did on each")
                self.contrast_text.update(contrast(pair))
        if pair.error and pair.error != self._last_error:
            self.notify(pair.error, title="driver error", severity="error", timeout=8)
        self._last_error = pair.error

    def _show_header(self, pair: PairSnapshot) -> None:
        a, b = pair.sides
        cfg = a.config
        width = self.size.width or 80
        right = Text()
        if pair.finished:
            right.append(" FINISHED ", style="bold reverse")
        elif pair.running:
            right.append(" RUNNING ", style=P.BADGES["running"])
        else:
            right.append(" PAUSED ", style=P.BADGES["paused"])
        right.append(f" {speed_text(pair.speed)} ops/s  ")
        right.append(f"op {pair.op:,} ", style="bold")
        left = Text()
        left.append(" compare ", style="bold reverse")
        left.append(f" {a.workload}", style="bold")
        left.append(f" · {a.config.variant} vs {b.config.variant} · {cfg.nr_cpus} CPUs · "
                    f"{cfg.bits}-bit · seed {cfg.seed}")
        left.truncate(max(10, width - right.cell_len - 1), overflow="ellipsis")
        gap = max(1, width - left.cell_len - right.cell_len)
        self.header.update(Text.assemble(left, " " * gap, right))

    def _counter_table(self, pair: PairSnapshot) -> Table:
        a, b = (s.config.variant for s in pair.sides)
        t = Table(box=None, padding=(0, 1), show_edge=False)
        t.add_column("", no_wrap=True)
        for name in (a, b, "ratio"):
            t.add_column(name, justify="right", no_wrap=True)
        for row in rows(pair):
            t.add_row(*row)
        return t

    # -- actions ----------------------------------------------------------------------

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen([(a.key_text, a.help) for a in ACTIONS_HERE],
                                        "compare mode: both sides at once"))

    def run_span(self):
        return self.snap.sides[0].timeline if self.snap is not None else None

    def key_map(self) -> TwinMap:
        """The focused map (either: they move together)."""
        return self.focused if isinstance(self.focused, TwinMap) else self.maps[0]

    def paced(self, speed: float | None) -> None:
        """Frames a second: 20 at a pace a person follows; when running fast, 8 if the
        driver shares this process (a frame redraws two maps, and its time is taken from
        the simulation), else 30 (the driver's `ui_share`: a child process's)."""
        fast = 30 if getattr(self.driver, "ui_share", 0) >= 1 else 8
        self.driver.set_snapshot_hz(20 if speed is not None and speed <= EXPLAIN_MAX_SPEED else fast)

    def action_scaling(self) -> None:
        from .scaling import ScalingScreen
        self.app.push_screen(ScalingScreen(self.snap))

    def action_close(self) -> None:
        self.stop_driver()
        if self.standalone:
            self.app.exit()
        else:
            self.dismiss(None)


def run_compare(spec: RunSpec, pair: tuple[str, str], theme: str | None = None,
                in_process: bool = False) -> int:
    """`vmapviz compare ...`: refuses a workload either generation cannot run (raised
    before the screen opens), else opens the app in compare mode, playing, the two
    kernels in a child process (run/child.py) unless `in_process`.  Returns the app's
    exit status (0, 130 after SIGTERM or SIGHUP, 1 after a crash)."""
    from ...run.child import ChildDriver
    from ..app import VmapvizApp
    driver = CompareDriver(spec, pair) if in_process else ChildDriver(spec, pair)
    app = VmapvizApp(theme=theme, compare=driver)
    app.freeze_at_first_paint = True
    try:
        app.run()
    finally:
        driver.stop()
    return app.return_code or 0
