"""Modal screens: help, the workload picker, the CPU count picker, the log filter."""

from __future__ import annotations

import contextlib

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ..actions import ACTIONS, OTHER_KEYS
from ..panels.eventlog import FILTER_KINDS
from ..panels.table import PANELS as TABLE


def keys() -> list[tuple[str, str]]:
    """(keys, what they do) for the help: the action table, then the keys the panels
    and Textual handle."""
    return [(a.key_text, a.help) for a in ACTIONS if a.keys] + list(OTHER_KEYS)


PANELS = [(p.title, p.help) for p in TABLE if p.help]   # the panel table's help lines

GLYPHS = [
    ("█ ▄ ▁", "vmap block pages (hue of its CPU): allocated, dirty (6.12: freed), not yet handed out"),
    ("▓", "vmalloc"), ("▚", "vmap / vm_map_ram through the global allocator"),
    ("░", "ioremap"), ("▞", "vm_area without pages"),
    ("╳", "lazily freed, awaiting a TLB flush"),
    ("◦", "purged, waiting in a vmap node's pool for a request of its size (neither busy nor free)"),
    ("·", "guard page / the page the search leaves"),
    ("▌▐█ ▖▗▄ ▙▟", "bitmaps, two pages a cell: full height allocated, half height dirty, empty free"),
    ("F- FD -D --", "blocks panel (2008): the block is on its CPU's free list (F) and/or dirty list (D), "
                    "- for not"),
    ("W F P b ·", "time strip: an op with a WARN or BUG, a TLB flush, a purge, a vmap block made or "
                  "freed; · none (the most notable shown); click or g to go there"),
    ("areas 3 live, 2 lazy", "lazy panel: areas in use, and areas freed lazily that wait for a purge"),
]


class AnswersOnce:
    """For a screen that is dismissed: keys that arrive together (c, enter, enter, or
    ctrl+p, enter, enter) would dismiss it twice: its callback would run twice and the
    second pop would take the main screen, which Textual refuses with ScreenStackError."""

    _answered = False

    def dismiss(self, result=None) -> AwaitComplete:
        if self._answered or self.app.screen is not self:
            return AwaitComplete.nothing()
        self._answered = True
        return super().dismiss(result)


class PickList(OptionList):
    """An OptionList whose PageUp / PageDown before it has laid out its lines (a key
    right behind the one that opened the picker) does nothing: in Textual 8.2.8 it
    raises KeyError in OptionList._move_page."""

    def action_page_up(self) -> None:
        with contextlib.suppress(KeyError):
            super().action_page_up()

    def action_page_down(self) -> None:
        with contextlib.suppress(KeyError):
            super().action_page_down()


class Modal(AnswersOnce, ModalScreen):
    """A modal screen that answers once."""


def _section(title: str, rows: list[tuple[str, str]]) -> Group:
    """A heading and two columns; a long line wraps under its own column."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", width=max(len(name) for name, _ in rows), no_wrap=True)
    grid.add_column()
    for name, what in rows:
        grid.add_row(name, what)
    return Group(Text(title, style="bold underline"), Padding(grid, (0, 0, 0, 2)), Text(""))


class HelpScreen(Modal):
    """Every key, panel and glyph; or, given `rows`, a screen's own keys (compare mode)."""

    AUTO_FOCUS = "#help-box"
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, rows: list[tuple[str, str]] | None = None, title: str = "vmapviz help") -> None:
        super().__init__()
        self.rows, self.title_text = rows, title

    def compose(self) -> ComposeResult:
        sections = [_section("Keys", self.rows)] if self.rows is not None else [
            _section("Keys", keys()), _section("Panels", PANELS), _section("Glyphs", GLYPHS)]
        with VerticalScroll(id="help-box") as box:
            box.border_title = self.title_text
            yield Static(Group(*sections, Text("escape closes this help", style="dim")), id="help-text")

    def action_dismiss(self) -> None:
        self.dismiss(None)


class PickScreen(Modal):
    """A list of choices (and, optionally, an input for a free answer such as a path)."""

    AUTO_FOCUS = "OptionList"
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, options: list[tuple[str, str]], current: str | None = None,
                 free_text: str | None = None, placeholder: str = "path/to/trace.jsonl") -> None:
        super().__init__()
        self.title_text = title
        self.options = options
        self.current = current
        self.free_text = free_text
        self.placeholder = placeholder

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
            yield PickList(*opts, id="pick-list")
            if self.free_text:
                yield Label(self.free_text, classes="pick-label")
                yield Input(placeholder=self.placeholder, id="pick-input")

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


class FilterScreen(Modal):
    AUTO_FOCUS = "Input"
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="filter-box") as box:
            box.border_title = "filter the event log"
            yield Label("kinds and CPUs, e.g. `flush warn cpu2`; empty shows everything.\n"
                        f"kinds: ops {' '.join(k for k in FILTER_KINDS if k != 'return')}")
            yield Input(value=self.current, id="filter-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
