"""The Textual app: the vmalloc address space, the per-CPU vmap blocks, lazy flushing
and the kernel's events, live.

The driver runs the simulation in its own thread and posts every new Snapshot as a
`SnapshotReady` message (run_view.py); a pending one is replaced by a newer one, so a
busy UI skips to the newest state and never slows the kernel.
The app shows a snapshot when its frame is due (pacing.py), inside `batch_update()`,
and each panel of the panel table (panels/table.py) refreshes only the lines that
changed; the run line is panels/header.py.  Every action that can fail ends in a notification, never a
traceback.
"""

from __future__ import annotations

import gc
import os
import time
from itertools import groupby
from pathlib import Path

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Static

from ..kernel.views import Config
from ..run.snapshot import Snapshot
from ..run.spec import RunSpec
from . import palette as P
from . import themes
from .actions import ACTIONS, CPU_CHOICES, bindings
from .commands import PaletteHost, VmapvizCommands
from .footer import FitFooter
from .minsize import MESSAGE, fits
from .pacing import FramePacer
from .panels.addrmap import AddressMap
from .panels.base import SnapshotPanel
from .panels.blocks import BlockList
from .panels.eventlog import EventLog
from .panels.explain import ExplainPanel
from .panels.header import Header
from .panels.inspector import Inspector
from .panels.lesson import LessonPanel, LessonRunner
from .panels.table import PANELS, Panel
from .panels.timeline import SLOW_SEEK, SeekScreen, TimelineStrip
from .screens.dialogs import FilterScreen, HelpScreen, PickScreen
from .teaching import Teaching
from .run_view import RunView, SnapshotReady, guarded
from .screens.quiz import Score
from .signals import catch_signals

class VmapvizApp(RunView, themes.Readable, Teaching, PaletteHost):
    """vmapviz's interactive view.  See the module docstring."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "vmapviz"
    COMMANDS = App.COMMANDS | {VmapvizCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    AUTO_FOCUS = "#map"
    BINDINGS = bindings()   # from the one action table (actions.py)

    # Set by the CLI's runs (run_tui, compare's run): at the first paint, the objects made
    # so far (modules, Textual, the widgets) leave the garbage collector's full passes
    # (gc.freeze), which at full speed walked them all a few times a second: 2.5-3.5 ms
    # of a 15 ms frame at 120x40 (bench_tui.py frames).  Tests' apps leave it off, so
    # that the apps they drop are still collected.
    freeze_at_first_paint = False
    # And the youngest generation is collected after GC_YOUNG more allocations than
    # frees of containers instead of 700: a frame leaves its Strips in reference cycles
    # (Textual 8.2.8 caches a Strip in its own crop and divide caches), so only the
    # collector frees them, and at 700 it passed 3 times a frame, walking the frame's
    # live objects each time: 2.4 ms of CPU a frame at 120x40, against 1.0 ms at 10,000
    # (bench_tui.py frames; GcClock).
    GC_YOUNG = 10_000

    def __init__(self, spec: RunSpec | None = None, *, autoplay: bool = True,
                 driver=None, screenshot_dir: str | os.PathLike | None = None,
                 theme: str | None = None, lesson=None, compare=None) -> None:
        super().__init__()
        themes.register(self)
        if theme:
            self.theme = theme
        # `vmapviz compare`: compare mode alone, on the pair's driver (no main run behind it)
        self.compare_at_start = compare
        if driver is None and compare is None:
            from ..run.driver import Driver
            driver = Driver(spec if spec is not None else RunSpec.of())
        if compare is not None:
            self.title = "vmapviz compare"
        self.driver = driver
        self.autoplay = autoplay
        self.snap: Snapshot | None = None
        self.screenshot_dir = Path(screenshot_dir) if screenshot_dir is not None else Path.cwd()
        self.snapshots_applied = 0
        self.first_paint: float | None = None
        self._last_error: str | None = None
        self._features = None      # the generation features the panels were picked for
        self._speed = driver.speed if driver is not None else None
        self.pacer = FramePacer(self, self.apply_snapshot)
        self.score = Score()
        self.quiz_kinds: list[str] | None = None     # the kinds quiz mode asks (T picks); None: all
        self.lesson: LessonRunner | None = None
        self._start_lesson = lesson
        self.panels: dict[str, Widget] = {}               # the main screen's, by id (on_mount)
        self.fed: list[tuple[Panel, SnapshotPanel]] = []  # those that snapshots feed
        if lesson is not None:
            self.autoplay = False

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """The panels of the table (panels/table.py) in order, each in its row; none
        under compare mode alone."""
        if self.compare_at_start is not None:
            return
        yield Static(MESSAGE, id="too-small")
        for row, line in groupby(PANELS, key=lambda p: p.row):
            if row is None:
                yield from (self._make_panel(p) for p in line)
            else:
                with Horizontal(id=row):
                    yield from (self._make_panel(p) for p in line)
        yield FitFooter()

    @staticmethod
    def _make_panel(line: Panel) -> Widget:
        widget = line.widget_class()(id=line.id)
        widget.border_title = line.title
        return widget

    def on_mount(self) -> None:
        P.activate(themes.palette_for(self.theme_variables))
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._catch_signals(True)
        if self.compare_at_start is not None:
            from .screens.compare import CompareScreen
            self.push_screen(CompareScreen(self.compare_at_start, standalone=True))
            self.call_after_refresh(self._painted)
            return
        # References to the main screen's panels: a modal screen on top (help, a
        # picker, the palette) must not hide them from the snapshots.
        q = self.query_one
        self.panels = {p.id: q(f"#{p.id}") for p in PANELS}
        self.fed = [(p, w) for p, w in zip(PANELS, self.panels.values()) if isinstance(w, SnapshotPanel)]
        self.header, self.amap, self.blocks = q(Header), q(AddressMap), q(BlockList)
        self.log_panel, self.inspector = q(EventLog), q(Inspector)
        self.explain_box, self.explain_text = q(ExplainPanel), q("#explain-text", Static)
        self.lesson_panel = q(LessonPanel)
        self.start_driver(self.autoplay)
        self.set_interval(0.25, self._watch_seek)
        if self.driver.latest is not None:
            self.apply_snapshot(self.driver.latest)
        self.call_after_refresh(self._painted)
        if self._start_lesson is not None:
            self.start_lesson(self._start_lesson)

    def _catch_signals(self, on: bool) -> None:
        """SIGTERM and SIGHUP quit as q does, so Textual restores the terminal (main
        screen, no mouse reporting, cursor shown); the exit status is then 130."""
        catch_signals(on, self._signalled)

    def _signalled(self) -> None:
        self.stop_driver()
        self.exit(return_code=130)

    def on_resize(self, event) -> None:
        self.screen_stack[0].set_class(not fits(*event.size), "-too-small")

    def _painted(self) -> None:
        if self.first_paint is None:
            self.first_paint = time.perf_counter()
            if self.freeze_at_first_paint:
                gc.freeze()
                gc.set_threshold(self.GC_YOUNG, *gc.get_threshold()[1:])

    def _theme_changed(self, _theme) -> None:
        """Draw every panel again in the palette of the new theme."""
        P.activate(themes.palette_for(self.theme_variables))
        for _line, panel in self.fed:
            panel.restyle()

    async def on_unmount(self) -> None:
        self._catch_signals(False)
        self.stop_driver()

    # -- snapshots ------------------------------------------------------------------------

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self.pacer.offer(message.snapshot)

    def _watch_seek(self) -> None:
        """A jump or run-until that takes long shows its progress (escape stops it)."""
        seeking = self.driver.seeking
        if (seeking is not None and time.monotonic() - seeking[2] >= SLOW_SEEK
                and not isinstance(self.screen, SeekScreen)):
            self.push_screen(SeekScreen(self.driver))

    @property
    def run_config(self) -> Config:
        """The config of the run on screen, from its snapshot (the driver's thread owns
        the live run); before the first snapshot, the one asked for."""
        return self.snap.config if self.snap is not None else self.driver.requested.config

    def run_span(self):
        return self.snap.timeline if self.snap is not None else None

    def key_map(self) -> AddressMap:
        return self.amap

    def user_acted(self) -> None:
        """A key was pressed: it stops a long jump where it is, and the snapshots of the
        next moments are shown at once, so the answer to the key is on screen without
        waiting for the frame pacing."""
        self.driver.cancel()
        self.pacer.hurry()

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Show `snap`: every panel takes what it needs and refreshes what changed."""
        if snap is self.snap or not self.amap.is_attached:
            return
        self.snap = snap
        self.snapshots_applied += 1
        with self.batch_update():
            features = snap.generation.features
            self._pick_panels(features)
            for line, panel in self.fed:
                # a panel the generation has nothing for gets nothing; one that redraws
                # whole waits while it is not displayed; the others keep current, hidden
                if line.shown_with(features) and (panel.display or not line.hidden_waits):
                    panel.update_snapshot(snap)
            if snap.error and snap.error != self._last_error:
                self.log_panel.add_error(snap.op, snap.error)
                self.notify(snap.error, title="driver error", severity="error", timeout=8)
            self._last_error = snap.error

    def _pick_panels(self, features) -> None:
        """Show the panels the generation's features call for (each line's `needs`,
        never a generation's name).  A row says which of its panels are there
        (-with-<id> / -no-<id>) for the stylesheet's layouts: without blocks the middle
        row shrinks to its panel; the free tree shows on wide screens only."""
        if features == self._features:
            return
        self._features = features
        # Classes, not inline display, so that the stylesheet's layouts (presenter) still apply.
        for line in PANELS:
            if line.needs:
                shown = line.shown_with(features)
                self.panels[line.id].set_class(not shown, "-absent")
                if line.row is not None:
                    row = self.query_one(f"#{line.row}")
                    row.set_class(shown, f"-with-{line.id}")
                    row.set_class(not shown, f"-no-{line.id}")
        self.refresh_bindings()

    # -- helpers --------------------------------------------------------------------------

    def on_address_map_cursor_moved(self, message: AddressMap.CursorMoved) -> None:
        self.inspector.show(addr=message.addr, cell_bytes=message.cell_bytes)

    def on_address_map_block_chosen(self, message: AddressMap.BlockChosen) -> None:
        self.action_select_block()

    def block_at(self, addr: int):
        if self.snap is None:
            return None
        for b in self.snap.blocks:
            if b.start <= addr < b.end:
                return b
        return None

    def load_then(self, load, then) -> None:
        """Open and check a file the user named (a trace, a lesson) in a thread, never
        the UI's: a slow disk or a long trace must not freeze the screen (a FIFO or a
        device is refused there, without waiting).  then(result) runs in the UI thread;
        a bad file is one error notification."""
        def work() -> None:
            try:
                result = load()
            except (ValueError, OSError) as e:   # TraceError, LessonError, UnknownWorkload
                self.call_from_thread(self.report_error, e)
                return
            self.call_from_thread(guarded(lambda app: then(result)), self)

        self.run_worker(work, thread=True, exit_on_error=False, group="load")

    @guarded
    def restart_with(self, **changes) -> None:
        """Start over with another workload, variant, CPU count or width."""
        self.user_acted()
        self.driver.restart(self.driver.requested.replace(**changes))
        what = ", ".join(f"{k.replace('nr_cpus', 'CPUs')} {getattr(v, 'name', v)}" for k, v in changes.items())
        self.notify(f"Restarted with {what}.", timeout=3)
        if self.snap is not None and self.snap.running:
            self.driver.play()   # a run that was playing goes on playing; a paused one waits

    # -- actions (those that act on a run on screen: run_view.py) ---------------------------

    def expect(self, state: str | None) -> None:
        """The header's badge shows what a key asked for until the driver's snapshot does."""
        header = self.header
        if state is None:
            if self.snap is not None and not self.snap.finished:
                header.ask("PAUSED" if header.expected_running() else "RUNNING")
        elif header.expected_running():
            header.ask(state)

    def after_reset(self) -> None:
        self.log_panel.clear()

    def on_timeline_strip_jump(self, message: TimelineStrip.Jump) -> None:
        self.user_acted()
        self.driver.jump(message.op)

    @guarded
    def action_compare(self, other: str | None = None) -> None:
        """Compare mode: this run on two generations in lockstep (screens/compare.py)."""
        from .screens.compare import open_compare
        open_compare(self, other)

    def compare_mode(self):
        """Compare mode's screen while it is open, else None."""
        from .screens.compare import CompareScreen
        return next((s for s in self.screen_stack if isinstance(s, CompareScreen)), None)

    @guarded
    def action_scaling(self) -> None:
        from .screens.scaling import ScalingScreen
        self.push_screen(ScalingScreen())

    @guarded
    def action_select_block(self) -> None:
        gen = self.run_config.generation
        if not gen.features.vmap_blocks:
            self.notify(f"{gen.title} has no vmap blocks.", severity="warning", timeout=3)
            return
        amap = self.amap
        vb = self.block_at(amap.cursor)
        if vb is None and amap.view is not None:
            end = amap.cursor + amap.view.cell_bytes
            vb = next((b for b in (self.snap.blocks if self.snap else ())
                       if b.start < end and b.end > amap.cursor), None)
        if vb is None:
            self.notify("No vmap block under the cursor: move it onto a block (█ ▄ ▁ in a CPU's "
                        "hue), or tab to the blocks panel and press enter there.",
                        severity="warning", timeout=4)
            return
        blocks = self.blocks
        blocks.select(None if blocks.selected == vb.id else vb.id)

    @guarded
    def action_deselect(self) -> None:
        self.driver.cancel()
        self.blocks.select(None)

    @guarded
    def action_pick_workload(self) -> None:
        from ..workloads import catalog
        current = self.snap.workload if self.snap else None

        def chosen(name: str | None) -> None:
            if name:
                from ..workloads import get
                self.load_then(lambda: get(name), lambda workload: self.restart_with(workload=workload))

        self.push_screen(PickScreen("pick a workload", catalog(), current,
                                    free_text="or the path of a trace file, then enter:"), chosen)

    @guarded
    def action_variant(self) -> None:
        """Cycle through every registered generation that can run the workload, from the
        one last asked for (so v v moves twice, even before the first restart lands)."""
        from ..kernel.views import ConfigError
        from ..kernel.generations import NAMES
        cfg = self.driver.requested.config
        i = NAMES.index(cfg.variant)
        for name in NAMES[i + 1:] + NAMES[:i]:
            try:   # a generation without a call the workload needs, or that cannot boot
                   # this machine (6.18 on 32-bit allows 8 CPUs): UnsupportedWorkload is one
                cfg.replace(variant=name)
                self.driver.workload.config(variant=name, nr_cpus=cfg.nr_cpus, bits=cfg.bits)
            except ConfigError:
                continue
            self.restart_with(variant=name)
            return
        self.notify(f"No other generation can run {self.driver.workload.name}.", timeout=3)

    @guarded
    def action_cpus(self) -> None:
        current = str(self.driver.requested.config.nr_cpus)

        def chosen(value: str | None) -> None:
            if value:
                self.restart_with(nr_cpus=int(value))

        options = [(str(n), "CPU" if n == 1 else "CPUs") for n in CPU_CHOICES]
        self.push_screen(PickScreen("how many CPUs", options, current), chosen)

    @guarded
    def action_bits(self) -> None:
        cfg = self.driver.requested.config
        self.restart_with(bits=32 if cfg.bits == 64 else 64)

    @guarded
    def action_unmap_aliases(self) -> None:
        self._extra_call("vm_unmap_aliases", "vm_unmap_aliases()")

    @guarded
    def action_purge(self) -> None:
        self._extra_call("purge", "purge_vmap_area_lazy()")

    def _extra_call(self, call: str, name: str) -> None:
        """Run `call` now, outside the workload; a generation without it refuses it
        (an op with a Refused event, which the explanation tells about)."""
        self.user_acted()
        self.driver.call(call)
        cfg = self.run_config
        if cfg.offers(call):
            self.notify(f"{name} called.", timeout=2)
        else:
            self.notify(f"{name} does not exist in {cfg.generation.version}: refused.",
                        severity="warning", timeout=3)

    @guarded
    def action_toggle_explain(self) -> None:
        box = self.explain_box
        box.display = not box.display
        self.notify("Explanations " + ("shown." if box.display else "hidden (e shows them)."),
                    timeout=2)

    @guarded
    def action_filter_log(self) -> None:
        log = self.log_panel

        def chosen(text: str | None) -> None:
            if text is None:
                return
            try:
                log.set_filter(text, self.run_config.nr_cpus)
            except ValueError as e:
                self.report_error(e)
                return
            self.notify(f"Log filter: {log.filter_text or 'everything'}", timeout=2)

        self.push_screen(FilterScreen(log.filter_text), chosen)

    @guarded
    def action_screenshot(self) -> None:
        snap = self.snap
        name = f"vmapviz-{snap.workload if snap else 'run'}-op{snap.op if snap else 0}.svg"
        name = name.replace(os.sep, "_")
        if self.is_web:   # in a browser: the browser gets the file, the server keeps nothing
            self.deliver_screenshot(name)
            self.notify(f"Screenshot sent to the browser: {name}", timeout=6)
            return
        stem, n = name.removesuffix(".svg"), 1
        while (self.screenshot_dir / name).exists():   # s s s at one op: -2, -3
            n += 1
            name = f"{stem}-{n}.svg"
        path = self.save_screenshot(name, str(self.screenshot_dir))
        self.notify(f"Screenshot saved: {path}", timeout=6)

    @guarded
    def action_presenter(self) -> None:
        """The presenter layout: a large map over the explanation, for a projector."""
        on = not self.screen_stack[0].has_class("-presenter")
        self.screen_stack[0].set_class(on, "-presenter")
        self.explain_box.display = True
        self.notify("Presenter layout: l goes back." if on else "All panels.", timeout=2)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self.stop_driver()
        self.exit()

    @guarded
    def action_set_speed(self, speed: float | None) -> None:
        self._speed = speed
        self.user_acted()
        self.driver.set_speed(speed)

    @guarded
    def action_log_filter(self, text: str) -> None:
        self.log_panel.set_filter(text, self.run_config.nr_cpus)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """An action that needs a feature the running generation lacks is disabled."""
        needs = NEEDS.get((action, parameters))
        if needs and not self.run_config.generation.features.have(needs):
            return False
        return True


NEEDS = {(a.handler, a.args): a.needs for a in ACTIONS if a.needs}


# -- entry points for the CLI ---------------------------------------------------------------

def run_tui(spec: RunSpec, theme: str | None = None, lesson=None, driver=None) -> int:
    """`vmapviz` / `vmapviz tui ...`: open the app, playing at a pace a person can follow
    (or paused at a lesson's first stop), on `driver` (the CLI's: a child process's,
    run/child.py, unless --in-process; None: a Driver thread in this process).  Returns
    the app's exit status: 0, 130 after SIGTERM or SIGHUP, 1 after a crash."""
    app = VmapvizApp(spec, theme=theme, lesson=lesson, driver=driver)
    app.freeze_at_first_paint = True
    try:
        app.run()
    finally:
        app.stop_driver()
    return app.return_code or 0
