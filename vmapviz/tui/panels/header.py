"""The header: one line of the run's parameters and its state (running, speed, op);
and the speeds the + and - keys step through."""

from __future__ import annotations

import time

from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from ...run.snapshot import Snapshot
from .. import palette as P
from .base import SnapshotPanel
from .lines import text_strip


SPEEDS: tuple[float | None, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, None)


def speed_text(speed: float | None) -> str:
    return "max" if speed is None else f"{speed:,.0f}"


def next_speed(current: float | None, direction: int) -> float | None:
    """The listed speed one step faster (direction 1) or slower (-1) than `current`."""
    if current in SPEEDS:
        i = SPEEDS.index(current)
    else:  # an unlisted speed: the nearest listed one on the wanted side
        finite = [s for s in SPEEDS if s is not None]
        i = sum(1 for s in finite if current is not None and s < current)
        if direction > 0 and i < len(finite) and finite[i] == current:
            i += 1
        direction = 0 if direction > 0 else -1
    return SPEEDS[max(0, min(len(SPEEDS) - 1, i + direction))]


class Header(Widget, SnapshotPanel):
    """One line: the run's parameters on the left, its state on the right.  Drawn
    through the Line API from segments: the left part (the run's parameters, in the
    longest form that fits) is made once per run and palette, only the right part (the
    state, the speed, the op) each frame; as a Static it cost 1.4 ms of CPU a frame at
    full speed, mostly turning a new Text into Content and strips (bench_tui.py frames)."""

    asked: str | None = None   # a state asked for by a key, until the driver shows it

    asked_at = 0.0
    slide = False   # a picture for a slide: no state badge, no speed

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._snap: Snapshot | None = None
        self._line = Text(" vmapviz")                      # what the line shows
        self._lefts: tuple[tuple, list[Text]] = ((), [])     # (key, the left part's forms)
        self._strip: tuple[tuple, Strip] | None = None       # ((line, width, base), strip)

    def update_snapshot(self, snap: Snapshot | None) -> None:
        self._snap = snap
        if self.asked is not None and snap is not None and (
                (self.asked == "RUNNING") == snap.running or snap.finished
                or time.perf_counter() - self.asked_at > 1.0):
            self.asked = None
        self.refresh_text()

    def ask(self, state: str) -> None:
        """Answer a play/pause key at once; the driver's snapshot confirms it (or,
        after a second, whatever the driver shows wins)."""
        self.asked, self.asked_at = state, time.perf_counter()
        self.refresh_text()

    def expected_running(self) -> bool | None:
        snap = self._snap
        if self.asked is not None:
            return self.asked == "RUNNING"
        return None if snap is None else snap.running

    def _left_forms(self, snap: Snapshot) -> list[Text]:
        """The run's parameters, longest form first (dropped on a narrow screen: the
        vmapviz tag, the generation's title for its variant name, NR_CPUS, the tiny
        preset's constants); made again only for another run or palette."""
        cfg = snap.config
        key = (snap.workload, cfg, id(P.active()))
        if key == self._lefts[0]:
            return self._lefts[1]
        cpus = f"{cfg.nr_cpus} CPU{'s' * (cfg.nr_cpus != 1)}"
        flush = " · range flushes" if cfg.flush == "range" else ""   # x86's flush_tlb_all is the default
        # online CPUs and, when it differs, CONFIG_NR_CPUS (dropped last on a narrow screen)
        nr = f" (NR_CPUS {cfg.config_nr_cpus})" if cfg.config_nr_cpus != cfg.nr_cpus else ""
        tiny = [f" · {cfg.tiny_text()}", " · tiny"] if cfg.tiny else ["", ""]
        forms = []
        for variant, tag, nr_cpus, small in ((cfg.generation.title, True, nr, tiny[0]),
                                             (cfg.generation.title, False, nr, tiny[0]),
                                             (cfg.variant, False, "", tiny[0]),
                                             (cfg.generation.title, False, nr, tiny[1]),
                                             (cfg.variant, False, nr, tiny[1]), (cfg.variant, False, "", tiny[1])):
            left = Text()
            if tag:
                left.append(" vmapviz ", style="bold reverse")
            left.append(f" {snap.workload}", style="bold")
            left.append(f" · {variant} · {cpus}{nr_cpus} · {cfg.bits}-bit{flush}{small} · seed {cfg.seed}")
            forms.append(left)
        self._lefts = (key, forms)
        return forms

    def refresh_text(self) -> None:
        snap = self._snap
        if snap is None:
            self._show(Text(" vmapviz"))
            return
        width = self.size.width or 120
        right = Text()
        if self.asked is not None and not self.slide:
            right.append(f" {self.asked}… ", style="bold reverse")
        elif snap.finished:
            right.append(" FINISHED ", style="bold reverse")
        elif not self.slide:
            state = "running" if snap.running else "paused"
            right.append(f" {state.upper()} ", style=P.BADGES[state])
        if not self.slide:
            right.append(f" {speed_text(snap.speed)} ops/s")
            if snap.running and width >= 110:
                right.append(f" ({snap.ops_per_s:,.0f} measured)")
        total = f" / {snap.total_ops:,}" if snap.total_ops and width >= 100 else ""
        right.append(f"  op {snap.op:,}{total} ", style="bold")
        forms = self._left_forms(snap)
        left = next((f for f in forms if f.cell_len + right.cell_len < width), forms[-1])
        gap = width - left.cell_len - right.cell_len
        if gap < 1:
            left = left.copy()
            left.truncate(max(10, width - right.cell_len - 1), overflow="ellipsis")
            gap = max(1, width - left.cell_len - right.cell_len)
        self._show(Text.assemble(left, " " * gap, right))

    def _show(self, line: Text) -> None:
        if line != self._line:
            self._line = line
            self.refresh()

    def render_line(self, y: int) -> Strip:
        width, base = self.size.width, self.rich_style
        if y:
            return Strip.blank(width, base)
        key = (self._line, width, base)
        if self._strip is None or self._strip[0] != key:
            self._strip = (key, text_strip(self._line, base, self.app.console).crop(0, width))
        return self._strip[1]

    def restyle(self) -> None:
        self.refresh_text()

    def on_resize(self) -> None:
        self.refresh_text()
