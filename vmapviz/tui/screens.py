"""Modal screens: help, the workload picker, the CPU count picker, the log filter."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

KEYS = [
    ("space", "play / pause"),
    ("n  or  →", "step one op (→ steps when the map does not have focus; on the map it moves the cursor)"),
    ("f", "run to the next TLB flush"),
    ("N ←  F  g", "back one op / to the last TLB flush / to op N (or click the time strip)"),
    ("t  L ] [", "quiz: predict the next op / lessons: pick one, next stop, back a stop"),
    ("+  -", "speed up / slow down (up to as fast as possible)"),
    ("z  Z  0", "zoom the map in / out (a page a cell to the whole range) / fit it again"),
    ("arrows, mouse", "move the map cursor (click a cell; wheel scrolls; PgUp/PgDn pan)"),
    ("enter  escape", "select the block under the cursor (every bit of it) / deselect it"),
    ("w", "pick a workload (or a trace file)"),
    ("v", "switch variant: merged v2.6.28 / posted 2008-08-18"),
    ("c", "change the CPU count"),
    ("b", "switch width: 64-bit / 32-bit"),
    ("a", "call vm_unmap_aliases() now"),
    ("p", "purge the lazy areas now (purge_vmap_area_lazy)"),
    ("r", "reset: the same run from op 0"),
    ("e", "show / hide the explanations"),
    ("/", "filter the event log by kind and CPU"),
    ("tab", "move focus: map, blocks, log (arrows then work in that panel)"),
    ("s", "save an SVG screenshot (in a browser: the browser gets it)"),
    ("l", "presenter layout: a large map and the explanation, for a projector"),
    ("ctrl+p", "command palette: workloads and every action"),
    ("?", "this help"),
    ("q", "quit"),
]

PANELS = [
    ("header", "workload, variant, CPUs, width, seed, running or paused, speed, op count"),
    ("vmalloc space", "the map of [VMALLOC_START, VMALLOC_END); the title says what is shown and "
                      "what one cell is. A cell shows the dominant state of its pages; a lazily "
                      "freed area wins from a quarter of the cell up."),
    ("under the cursor", "the areas in the cell: range, size, flags, kind, state, block and CPU, "
                         "and which CPUs' TLBs still hold stale entries for it"),
    ("per-CPU vmap blocks", "each CPU's free and dirty lists in list order; each block's alloc_map "
                            "and dirty_map as a bar; every bit of the selected block"),
    ("lazy TLB flushing", "vmap_lazy_nr against lazy_max_pages, flushes, IPIs, purges, failures, "
                          "WARN and BUG counts, and a sparkline of flushes by op"),
    ("events", "kernel-style lines of each op, WARN/BUG/flush tagged; filter with /"),
    ("what just happened", "two or three sentences on the last op, for the classroom (e hides it)"),
]

GLYPHS = [
    ("█ ▄ ▁", "vmap block pages (hue of its CPU): allocated, dirty, not yet handed out"),
    ("▓", "vmalloc"), ("▚", "vmap / vm_map_ram through the global allocator"),
    ("░", "ioremap"), ("▞", "vm_area without pages"),
    ("╳", "lazily freed, awaiting a TLB flush"), ("·", "guard page / the page the search leaves"),
    ("▌▐█ ▖▗▄ ▙▟", "bitmaps, two pages a cell: full height allocated, half height dirty, empty free"),
]


class HelpScreen(ModalScreen[None]):
    AUTO_FOCUS = "#help-box"
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        t = Text()
        t.append("Keys\n", style="bold underline")
        for k, what in KEYS:
            t.append(f"  {k:<14}", style="bold")
            t.append(f"{what}\n")
        t.append("\nPanels\n", style="bold underline")
        for k, what in PANELS:
            t.append(f"  {k}: ", style="bold")
            t.append(f"{what}\n")
        t.append("\nGlyphs\n", style="bold underline")
        for k, what in GLYPHS:
            t.append(f"  {k:<14}", style="bold")
            t.append(f"{what}\n")
        t.append("\nescape closes this help", style="dim")
        with VerticalScroll(id="help-box") as box:
            box.border_title = "vmapviz help"
            yield Static(t, id="help-text")

    def action_dismiss(self) -> None:
        self.dismiss(None)


class PickScreen(ModalScreen[str | None]):
    """A list of choices (and, optionally, an input for a free answer such as a path)."""

    AUTO_FOCUS = "OptionList"
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, options: list[tuple[str, str]], current: str | None = None,
                 free_text: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.options = options
        self.current = current
        self.free_text = free_text

    def compose(self) -> ComposeResult:
        with Vertical(id="pick-box") as box:
            box.border_title = self.title_text
            opts = []
            for value, desc in self.options:
                label = Text()
                label.append(value, style="bold")
                if value == self.current:
                    label.append(" (current)", style="dim")
                if desc:
                    label.append(f"  {desc}", style="dim")
                opts.append(Option(label, id=value))
            yield OptionList(*opts, id="pick-list")
            if self.free_text:
                yield Label(self.free_text, classes="pick-label")
                yield Input(placeholder="path/to/trace.jsonl", id="pick-input")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        for i, (value, _) in enumerate(self.options):
            if value == self.current:
                ol.highlighted = i
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class FilterScreen(ModalScreen[str | None]):
    AUTO_FOCUS = "Input"
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="filter-box") as box:
            box.border_title = "filter the event log"
            yield Label("kinds and CPUs, e.g. `flush warn cpu2`; empty shows everything.\n"
                        "kinds: ops area lazy purge flush block alias warn bug fault uaf error")
            yield Input(value=self.current, id="filter-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
