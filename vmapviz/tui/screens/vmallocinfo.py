"""`vmapviz tui --vmallocinfo FILE [--watch [S]]`: a /proc/vmallocinfo dump on screen.

With real addresses, a map of the used span: rows of cells in address order, each cell
the kind that covers most of it (the main map's glyphs), long free stretches folded into
one line, a cursor, and an inspector with the raw lines under it.  With hashed or zeroed
addresses there is no layout to draw: the screen says so and shows a table by caller and
kind instead.  With --watch the file is re-read; areas born since the last read are
drawn in green, areas freed in red (until the next change).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass
from itertools import accumulate

from rich.markup import escape
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Static

from ...models import vmallocinfo as vi
from .. import palette as P
from .. import themes
from ..signals import INTERRUPTED, catch_signals
from ...units import human_bytes, pct

KIND_CLASS = {"vmalloc": P.VMALLOC, "vmap": P.VMAP, "vm_map_ram": P.VMAP, "ioremap": P.IOREMAP,
              "sparse": P.VM_AREA, "vm_area": P.VM_AREA, "unpurged": P.LAZY}
def born() -> Style:
    """An area new since the last read: the background tinted Okabe-Ito green."""
    return Style(bgcolor=P.mix(P.active().background, "#009E73", 0.45))


def freed() -> Style:
    """An area gone since the last read: the background tinted vermillion."""
    return Style(bgcolor=P.mix(P.active().background, "#D55E00", 0.45))
MAX_ROWS = 2000       # the cell grows (by powers of two) until the span fits in this many rows
FOLD_ROWS = 2         # free stretches longer than this many rows fold into one line
ALIGN_CELLS = 16      # rows hold a multiple of 16 cells and start 16-cell aligned
LABEL_W = 17          # "ffffc90000000000 "
MAX_LISTED = 3        # raw lines in the inspector


@dataclass(frozen=True)
class Row:
    """A line of the map: cells from `base`, or a folded free stretch [base, end)."""

    base: int
    end: int = 0
    folded: bool = False


def stretches(areas: list[vi.Area], cell: int, cols: int) -> list[tuple[int, int]]:
    """[lo, hi) of each run of areas (sorted by start) closer than FOLD_ROWS rows, lo
    rounded down to a 16-cell boundary."""
    fold = FOLD_ROWS * cell * cols
    out: list[tuple[int, int]] = []
    lo = hi = None
    for a in areas:
        if hi is not None and a.start - hi <= fold:
            hi = max(hi, a.end)
            continue
        if hi is not None:
            out.append((lo, max(hi, lo + 1)))
        lo, hi = a.start - a.start % (ALIGN_CELLS * cell), a.end
    out.append((lo, max(hi, lo + 1)))   # a stretch of empty areas (size 0) still gets a row
    return out


def map_rows(areas: list[vi.Area], cell: int, cols: int) -> list[Row]:
    """The map's lines: each stretch of areas cell by cell, the holes between folded."""
    rows: list[Row] = []
    row_bytes = cell * cols
    runs = stretches(areas, cell, cols)
    for (lo, hi), nxt in zip(runs, [*runs[1:], None]):
        rows.extend(Row(r) for r in range(lo, hi, row_bytes))
        if nxt:
            rows.append(Row(hi, nxt[0], folded=True))
    return rows


def count_rows(areas: list[vi.Area], cell: int, cols: int) -> int:
    """len(map_rows(...)), counted, not built: one huge area must not make millions of rows."""
    runs = stretches(areas, cell, cols)
    return sum(-(-(hi - lo) // (cell * cols)) for lo, hi in runs) + len(runs) - 1


def choose_cell(areas: list[vi.Area], cols: int, page: int) -> int:
    """The smallest power-of-two multiple of a page that lays the span out in MAX_ROWS."""
    cell = page
    while count_rows(areas, cell, cols) > MAX_ROWS:
        cell *= 2
    return cell


class SpanMap(Widget, can_focus=True):
    """The used span of a dump with real addresses, with a cursor."""

    DEFAULT_CSS = "SpanMap { height: 1fr; }"
    BINDINGS = [
        Binding("left", "move(-1, 0)", "cursor", show=False),
        Binding("right", "move(1, 0)", "cursor", show=False),
        Binding("up", "move(0, -1)", "cursor", show=False),
        Binding("down", "move(0, 1)", "cursor", show=False),
        Binding("pageup", "move(0, -10)", "page up", show=False),
        Binding("pagedown", "move(0, 10)", "page down", show=False),
        Binding("home", "jump(0)", "start", show=False),
        Binding("end", "jump(-1)", "end", show=False),
        Binding("z", "zoom(0.5)", "zoom in"),
        Binding("Z", "zoom(2)", "zoom out"),
    ]

    class CursorMoved(Message):
        def __init__(self, start: int, end: int) -> None:
            super().__init__()
            self.start, self.end = start, end

    def __init__(self, page_size: int, id: str | None = None) -> None:
        super().__init__(id=id)
        self.page = page_size
        self.areas: list[vi.Area] = []     # by start: the dump's, and the ones just freed
        self.starts: list[int] = []
        self.max_end: list[int] = []       # the highest end among areas[:i + 1]
        self.born: set[int] = set()        # id() of areas born at the last change
        self.freed: set[int] = set()       # id() of areas freed at the last change (ghosts)
        self.cell = 0
        self.zoomed: int | None = None     # a cell size chosen with z/Z, else the fitted one
        self.cols = 0
        self.rows: list[Row] = []
        self.row, self.col, self.top = 0, 0, 0
        self._strips: dict[int, Strip] = {}

    # -- data -------------------------------------------------------------------------
    def show(self, areas: list[vi.Area], born: list[vi.Area] = (), freed: list[vi.Area] = ()) -> None:
        """A new read: the areas, and those born and freed since the previous one."""
        addr = self.cursor_range()[0] if self.rows else None
        self.areas = sorted([*areas, *freed], key=lambda a: a.start)
        self.starts = [a.start for a in self.areas]
        self.max_end = list(accumulate((a.end for a in self.areas), max))
        self.born, self.freed = {id(a) for a in born}, {id(a) for a in freed}
        self._layout(addr)

    def _layout(self, addr: int | None = None) -> None:
        self.cols = cols = self._cols()
        self.cell = self.zoomed or (choose_cell(self.areas, cols, self.page) if self.areas else self.page)
        self.rows = map_rows(self.areas, self.cell, cols) if self.areas else [Row(0)]
        self._strips.clear()
        self._place(self.areas[0].start if addr is None and self.areas else addr or 0)
        self.refresh()

    def _place(self, addr: int) -> None:
        """Put the cursor on the cell holding addr (or the nearest cells row)."""
        bases = [r.base for r in self.rows]
        i = max(0, bisect_right(bases, addr) - 1)
        while self.rows[i].folded and i + 1 < len(self.rows):
            i += 1
        self.row = i
        self.col = min(self.cols - 1, max(0, (addr - self.rows[i].base) // self.cell))
        self._scroll()
        self._announce()

    def cursor_range(self) -> tuple[int, int]:
        start = self.rows[self.row].base + self.col * self.cell
        return start, start + self.cell

    def areas_in(self, start: int, end: int) -> list[vi.Area]:
        """Areas overlapping [start, end), by start (areas may overlap: a freed area and
        its unpurged line share their range)."""
        out = []
        k = bisect_left(self.starts, end) - 1
        while k >= 0 and self.max_end[k] > start:
            if self.areas[k].end > start:
                out.append(self.areas[k])
            k -= 1
        out.reverse()
        return out

    # -- drawing ----------------------------------------------------------------------
    def _cols(self) -> int:
        return max(ALIGN_CELLS, (self.size.width - LABEL_W) // ALIGN_CELLS * ALIGN_CELLS)

    def on_resize(self) -> None:
        if self._cols() != self.cols and self.areas:
            self._layout(self.cursor_range()[0])

    def _cell(self, start: int) -> tuple[str, Style]:
        end = start + self.cell
        inside = self.areas_in(start, end)
        if not inside:
            return " ", Style()
        cover: Counter[str] = Counter()
        for a in inside:
            cover[a.kind] += min(a.end, end) - max(a.start, start)
        kind = cover.most_common(1)[0][0]
        cls = KIND_CLASS[kind]
        if self.cell == self.page and len(inside) == 1:
            a = inside[0]
            if a.kind not in (vi.VM_MAP_RAM, vi.UNPURGED) and start == a.end - self.page:
                cls = P.GUARD                                  # its guard page
        glyph, style = P.class_glyph(cls)
        if any(id(a) in self.freed for a in inside):
            style = style + freed()
        elif any(id(a) in self.born for a in inside):
            style = style + born()
        return glyph, style

    def _strip(self, i: int) -> Strip:
        strip = self._strips.get(i)
        if strip is None:
            r = self.rows[i]
            if r.folded:
                text = f"{'':16} ··· {human_bytes(r.end - r.base)} free ···"
                segs = [Segment(text[:self.cols + LABEL_W], P.active().log["gap"])]
            else:
                segs = [Segment(f"{r.base:016x} ", P.active().muted)]
                segs += [Segment(*self._cell(r.base + c * self.cell)) for c in range(self.cols)]
            strip = self._strips[i] = Strip(segs)
        return strip

    def render_line(self, y: int) -> Strip:
        i = self.top + y
        if i >= len(self.rows):
            return Strip.blank(self.size.width)
        strip = self._strip(i)
        if i == self.row:
            x = LABEL_W + self.col
            glyph = strip.crop(x, x + 1).text or " "
            strip = Strip.join([strip.crop(0, x), Strip([Segment(glyph, P.active().cursor)]),
                                strip.crop(x + 1, self.cols + LABEL_W)])
        return strip.adjust_cell_length(self.size.width)

    # -- the cursor -------------------------------------------------------------------
    def _scroll(self) -> None:
        h = max(1, self.size.height)
        if self.row < self.top:
            self.top = self.row
        elif self.row >= self.top + h:
            self.top = self.row - h + 1

    def _announce(self) -> None:
        self.post_message(self.CursorMoved(*self.cursor_range()))

    def _step(self, row: int, dy: int) -> int:
        """dy cells rows up or down from `row`, over folded lines, stopping at the ends."""
        step = 1 if dy > 0 else -1
        for _ in range(abs(dy)):
            nxt = row + step
            while 0 <= nxt < len(self.rows) and self.rows[nxt].folded:
                nxt += step
            if not 0 <= nxt < len(self.rows):
                break
            row = nxt
        return row

    def action_move(self, dx: int, dy: int) -> None:
        col = self.col + dx
        if 0 <= col < self.cols:
            row = self._step(self.row, dy)
        else:                               # off the side: wrap to the row before or after
            row = self._step(self.row, -1 if col < 0 else 1)
            if row == self.row:
                return
            col %= self.cols
        self.row, self.col = row, col
        self._scroll()
        self.refresh()
        self._announce()

    def action_jump(self, where: int) -> None:
        if self.areas:
            self._place(self.areas[where].start)
            self.refresh()

    def action_zoom(self, factor: float) -> None:
        """Halve or double the cell: at least a page, at most 4 * MAX_ROWS lines."""
        cell = int(self.cell * factor)
        if self.page <= cell < 1 << 64 and count_rows(self.areas, cell, self.cols) <= 4 * MAX_ROWS:
            self.zoomed = cell
            self._layout(self.cursor_range()[0])

    def on_click(self, event) -> None:
        i, x = self.top + event.y, event.x - LABEL_W
        if 0 <= i < len(self.rows) and not self.rows[i].folded and 0 <= x < self.cols:
            self.row, self.col = i, x
            self.refresh()
            self._announce()


def group_rows(dump: vi.Dump) -> list[tuple[str, str, list[vi.Area]]]:
    """(caller, kind, areas) groups, most pages first, then most address space."""
    groups: dict[tuple[str, str], list[vi.Area]] = {}
    for a in dump.areas:
        groups.setdefault((a.who, a.kind), []).append(a)
    return sorted(((who, kind, areas) for (who, kind), areas in groups.items()),
                  key=lambda g: (-sum(a.pages or 0 for a in g[2]), -sum(a.size for a in g[2]), g[0], g[1]))


class VmallocinfoApp(themes.Readable, App):
    """One dump, or a live file, on screen."""

    TITLE = "vmapviz: /proc/vmallocinfo"
    CSS = """
    Screen { layout: vertical; background: $background; }
    #header { height: 1; background: $panel; color: $foreground; }
    #header, #summary, #change { text-wrap: nowrap; text-overflow: ellipsis; }
    #summary { height: auto; max-height: 3; padding: 0 1; }
    #nolayout { height: auto; padding: 0 1; color: $background; background: $warning; }
    SpanMap, DataTable, #inspector {
        border: round $vz-border; border-title-color: $foreground; border-title-style: bold;
        border-subtitle-color: $vz-muted; background: $surface;
    }
    SpanMap:focus, DataTable:focus { border: round $vz-focus; }
    DataTable { height: 1fr; }
    #inspector { height: 6; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    #change { height: 1; padding: 0 1; color: $vz-muted; }
    """
    BINDINGS = [Binding("q", "quit", "quit"), Binding("r", "reread", "re-read")]

    def __init__(self, path: str, dump: vi.Dump, watch: float | None = None,
                 cpus: int | None = None, page_size: int = vi.PAGE_SIZE, theme: str | None = None) -> None:
        super().__init__()
        themes.register(self)
        if theme:
            self.theme = theme
        self.path, self.dump, self.watch = path, dump, watch
        self.cpus, self.page = cpus or vi.online_cpus(), page_size
        self.reads = 1
        self.last_change: vi.Change = vi.Change()
        self.groups: list[tuple[str, str, list[vi.Area]]] = []

    @property
    def real(self) -> bool:
        return self.dump.addresses == vi.REAL

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield Static(id="summary")
        if self.real:
            yield SpanMap(self.page, id="map")
        else:
            yield Static(id="nolayout")
            yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
        yield Static(id="inspector")
        yield Static(id="change")
        yield Footer()

    def _theme_changed(self, _theme) -> None:
        """Draw the map again in the palette of the new theme."""
        P.activate(themes.palette_for(self.theme_variables))
        for m in self.query(SpanMap):
            m._strips.clear()
            m.refresh()

    def on_mount(self) -> None:
        P.activate(themes.palette_for(self.theme_variables))
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.real:
            m = self.query_one(SpanMap)
            m.border_title = "the used span, in address order"
            m.focus()
        else:
            t = self.query_one(DataTable)
            t.border_title = "by caller and kind"
            t.add_columns("caller", "kind", "areas", "pages", "address space",
                          *(("change",) if self.watch else ()))
            t.border_subtitle = f"{self.dump.addresses}: {self.dump.evidence}"
            t.focus()
        self.query_one("#inspector").border_title = "under the cursor"
        self.query_one("#change", Static).update(Text(
            f"re-reading every {self.watch:g} s: areas born since the last read in green, freed in red"
            if self.watch else "r re-reads the file", style="dim"))
        self._show(vi.Change())
        if self.watch:
            self.set_interval(self.watch, self.action_reread)
        catch_signals(True, lambda: self.exit(return_code=INTERRUPTED))

    # -- reading ----------------------------------------------------------------------
    def action_reread(self) -> None:
        """Read the file again and show what changed."""
        try:
            new = vi.read(self.path, self.page, again=True)
        except vi.VmallocinfoError as e:
            self.notify(str(e), severity="error", timeout=3)
            return
        self.reads += 1
        if new.addresses != self.dump.addresses:
            self.notify(f"addresses are now {new.addresses}: restart to change the view",
                        severity="warning")
            return
        ch = vi.diff(self.dump, new)
        if not ch:          # the same lines: keep the previous read and its highlights
            self._header()
            return
        self.dump, self.last_change = new, ch
        self.query_one("#change", Static).update(Text(f"read {self.reads}: " + vi.change_line(
            ch, new, self.cpus, self.page), style=P.active().muted))
        self._show(ch)

    def _show(self, ch: vi.Change) -> None:
        d = self.dump
        self._header()
        self.query_one("#summary", Static).update(self._summary())
        if self.real:
            self.query_one(SpanMap).show(d.areas, ch.born + ch.queued, ch.freed + ch.purged)
            self._map_subtitle()
        else:
            self.query_one("#nolayout", Static).update(Text(
                f"No layout to draw: {vi.ADDRESS_ADVICE[d.addresses]}."))
            self._fill_table(ch)

    def _header(self) -> None:
        d = self.dump
        mode = f" · every {self.watch:g} s, read {self.reads}" if self.watch else ""
        self.query_one("#header", Static).update(Text(
            f" vmapviz · {self.path} · {len(d.areas):,} areas · {d.addresses} addresses{mode}"))

    def _summary(self) -> Text:
        s = vi.summarize(self.dump, self.cpus, self.page, top=0)
        kinds = " · ".join(f"{k} {n:,}" for k, n in s["kinds"].items())
        u, lazy_max = s["unpurged"], s["lazy_max_pages"]
        width = 20
        full = min(width, round(width * u["pages"] / lazy_max))
        text = Text.assemble(
            (kinds, "bold"), f" · {s['pages']:,} pages mapped",
            (f" · {len(self.dump.skipped)} malformed lines skipped" if self.dump.skipped else "", "yellow"),
            "\nunpurged ", (f"{u['areas']:,} areas, {u['pages']:,}/{lazy_max:,} pages ", "bold"),
            ("█" * full, P.active().gauge), ("░" * (width - full), P.active().faint),
            f" {pct(u['pages'], lazy_max)} of lazy_max_pages, {s['cpus']} CPUs")
        lay = s["layout"]
        if lay:
            text.append(f"\nspan {human_bytes(lay['span_bytes'])}, {pct(lay['used_bytes'], lay['span_bytes'])}"
                        f" in areas; largest free gap {human_bytes(lay['largest_gap_bytes'])}; "
                        f"fragmentation {lay['fragmentation']:.2f}")
        return text

    # -- the map (real addresses) -----------------------------------------------------
    def _map_subtitle(self) -> None:
        m = self.query_one(SpanMap)
        m.border_subtitle = (f"one cell = {human_bytes(m.cell)} · ▓ vmalloc ▚ vmap ░ ioremap "
                             f"▞ other ╳ unpurged · guard · green born, red freed")

    def on_span_map_cursor_moved(self, msg: SpanMap.CursorMoved) -> None:
        areas = self.query_one(SpanMap).areas_in(msg.start, msg.end)
        self._inspect(f"{msg.start:#x}-{msg.end:#x}", areas)
        self._map_subtitle()

    # -- the table (hashed or zeroed addresses) ---------------------------------------
    def _fill_table(self, ch: vi.Change) -> None:
        t = self.query_one(DataTable)
        born = Counter((a.who, a.kind) for a in ch.born + ch.queued)
        freed = Counter((a.who, a.kind) for a in ch.freed + ch.purged)
        row = t.cursor_row
        t.clear()
        self.groups = group_rows(self.dump)
        for who, kind, areas in self.groups:
            b, f = born[(who, kind)], freed[(who, kind)]
            change = Text.assemble((f"+{b}" if b else "", "green"), " " if b and f else "",
                                   (f"-{f}" if f else "", "red"))
            t.add_row(who, kind, f"{len(areas):,}", f"{sum(a.pages or 0 for a in areas):,}",
                      human_bytes(sum(a.size for a in areas)), *((change,) if self.watch else ()))
        if self.groups:
            t.move_cursor(row=min(row, len(self.groups) - 1))
            self._inspect_group(t.cursor_row)

    def on_data_table_row_highlighted(self, msg: DataTable.RowHighlighted) -> None:
        self._inspect_group(msg.cursor_row)

    def _inspect_group(self, i: int) -> None:
        if 0 <= i < len(self.groups):
            who, kind, areas = self.groups[i]
            self._inspect(f"{who} · {kind}", areas)

    # -- the inspector ----------------------------------------------------------------
    def _inspect(self, title: str, areas: list[vi.Area]) -> None:
        ins = self.query_one("#inspector", Static)
        ins.border_title = f"under the cursor: {escape(title)}"
        if not areas:
            ins.update(Text("free: no area here", style="dim"))
            return
        born = {id(a) for a in self.last_change.born + self.last_change.queued}
        freed = {id(a) for a in self.last_change.freed + self.last_change.purged}
        text = Text()
        for a in areas[:MAX_LISTED]:
            tag = " freed" if id(a) in freed else " born" if id(a) in born else ""
            text.append(f"{a.line:>6}{tag}: ", "green" if tag == " born" else "red" if tag else "dim")
            text.append(a.raw.strip() + "\n")
        if len(areas) > MAX_LISTED:
            text.append(f"... and {len(areas) - MAX_LISTED:,} more", "dim")
        ins.update(text)


def run_vmallocinfo_tui(path: str, watch: float | None = None, cpus: int | None = None,
                        page_size: int = vi.PAGE_SIZE, theme: str | None = None) -> int:
    """Read the file (a bad one, or one that cannot be read again, is refused before the
    screen opens), then show it.  Returns the app's exit status: 0, 130 after SIGTERM or
    SIGHUP, 1 after a crash."""
    dump = vi.read(path, page_size, again=True)
    app = VmallocinfoApp(path, dump, watch, cpus, page_size, theme)
    app.run()
    return app.return_code or 0
