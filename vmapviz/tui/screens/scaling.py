"""The cost model's scaling chart as a screen: `vmapviz scaling`'s table, plot and
breakdown as stacked bars per thread count (scaling_view), on the thread's machine (8 CPUs,
1 to 8 threads), one generation per set of registry features.  Opened
from compare mode it also shows where the current run stands: the model's ns per op of
each side so far, as ns per map+touch+unmap (three ops), a ◆ on the 1-thread column.

The table takes about 20 seconds the first time; a thread computes it and the session
keeps it.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import get_current_worker

from ...models import costmodel
from ...run.compare import PairSnapshot
from ...kernel.generations import GENERATIONS
from ...faces.scaling_view import bar_width, bars_view, parts_view, plot, table_view
from ..words.contrast import sim_ns_per_op

THREADS = (1, 2, 4, 8)
OPS = costmodel.OPS_PER_ITERATION["map-touch-unmap"]


def chart_generations() -> tuple[str, ...]:
    """One generation per set of registry features (the later one of a set: posted and
    merged share theirs, and the model cannot tell them apart)."""
    by_features = {g.features: name for name, g in GENERATIONS.items()}
    return tuple(name for name in GENERATIONS if name in by_features.values())


_TABLES: dict[tuple, dict] = {}   # the session's tables, by thread counts and CPUs


def chart_table(threads: tuple[int, ...] = THREADS, cpus: int = costmodel.CALIBRATION_CPUS,
                stop=None) -> dict:
    """The chart's table, computed once a session; `stop` may raise to abandon it (the
    screen closed), and then nothing is kept."""
    key = (threads, cpus)
    if key not in _TABLES:
        _TABLES[key] = costmodel.scaling(list(threads), cpus, generations=chart_generations(), stop=stop)
    return _TABLES[key]


class _Closed(Exception):
    """The chart's screen closed while its table was being computed."""


def standing(pair: PairSnapshot) -> tuple[dict[str, float], Text]:
    """Where the run stands: the marks for the plot (ns per iteration) and a line each."""
    marks: dict[str, float] = {}
    out = Text()
    out.append(f"this run ({pair.sides[0].workload}, {pair.sides[0].config.nr_cpus} CPUs, "
               f"op {pair.op:,}), one op at a time, nothing contending:\n", style="bold")
    for snap in pair.sides:
        name = snap.config.variant
        ns = sim_ns_per_op(snap)
        if ns is None:
            why = "no op yet" if not snap.op else "the model has no calibration for it (2008's machine only)"
            out.append(f"  {name}: {why}\n")
            continue
        marks[name] = ns * OPS
        out.append(f"  {name}: {ns:,.0f} ns per op, {ns * OPS:,.0f} per {OPS} ops (◆)\n")
    return marks, out


class ScalingScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,S", "close", "close")]
    AUTO_FOCUS = "#scaling-box"
    DEFAULT_CSS = """
    ScalingScreen { align: center middle; background: $background 60%; }
    #scaling-box {
        width: 100; max-width: 100%; height: 95%;
        border: round $vz-focus; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, pair: PairSnapshot | None = None) -> None:
        super().__init__()
        self.pair = pair

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="scaling-box") as box:
            box.border_title = "the cost model: ns per map+touch+unmap against threads"
            yield Static("Computing the model's table (about 20 s the first time)...", id="scaling-text")

    def on_mount(self) -> None:
        self.run_worker(self._compute, thread=True, exclusive=True)

    def _compute(self) -> None:
        worker = get_current_worker()

        def stop() -> None:
            if worker.is_cancelled:
                raise _Closed

        try:
            table = chart_table(stop=stop)
        except _Closed:
            return
        self.app.call_from_thread(self.show_table, table)

    def show_table(self, table: dict) -> None:
        if not self.is_attached:
            return
        marks, stands = standing(self.pair) if self.pair is not None else ({}, Text())
        width = bar_width(table, self.query_one("#scaling-box").size.width - 4)
        self.query_one("#scaling-text", Static).update(Group(
            table_view(table), Text(), plot(table, marks=marks), Text(), stands,
            bars_view(table, width), Text(), parts_view(table),
            Text("escape closes this chart", style="dim")))

    def action_close(self) -> None:
        self.dismiss(None)
