"""`vmapviz scaling` on a terminal: the cost model's table and a plot of its two curves."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .output import Output  # a closed pipe is exit status 141, not Rich's 1

STYLES = {"vanilla": "bold red", "merged": "bold green", "posted": "bold yellow"}
MARKS = {"vanilla": "v", "merged": "m", "posted": "p"}
MARK_SET = set(MARKS.values()) | {"*"}


ITERATION = {"map-touch-unmap": "map+touch+unmap", "xfs-dir": "buffer (map, touch, unmap)"}


def table_view(table: dict) -> Table:
    gens = list(table["ns"])
    what = ITERATION.get(table.get("workload", "map-touch-unmap"), "iteration")
    t = Table(title=f"simulated ns per {what}, {table['params']['cpus']} CPUs", box=None,
              padding=(0, 2))
    t.add_column("threads", justify="right")
    for g in gens:
        t.add_column(g, justify="right", style=STYLES.get(g))
    t.add_column("speed-up", justify="right")
    for i, n in enumerate(table["threads"]):
        t.add_row(str(n), *(f"{table['ns'][g][i]:,.0f}" for g in gens), f"{table['speedup'][i]:.2f}x")
    return t


# The mechanisms, as the bars and tables name and draw them.
MECHANISM_NAMES = {"lock_wait": "lock wait", "ipi": "IPI round trip", "flush": "own flush",
                   "irq": "IPIs taken", "walk": "walk", "work": "work"}
MECHANISM_STYLES = {"lock_wait": "bold red", "ipi": "bold magenta", "flush": "yellow",
                    "irq": "cyan", "walk": "blue", "work": "green"}
MECHANISM_MARKS = {"lock_wait": "█", "ipi": "▓", "flush": "▒", "irq": "░", "walk": "▚", "work": "■"}


def parts_view(table: dict) -> Table:
    """Where an iteration's time goes, per generation and thread count."""
    t = Table(title="where the time goes (ns per iteration)", box=None, padding=(0, 1))
    for col in ("", "threads", *MECHANISM_NAMES.values()):
        t.add_column(col, justify="right")
    for g, rows in table["parts"].items():
        for n, parts in zip(table["threads"], rows):
            t.add_row(g, str(n), *(f"{parts.get(k, 0.0):,.0f}" for k in MECHANISM_NAMES))
    return t


def bars_view(table: dict, width: int = 60) -> Text:
    """Where the time goes as stacked bars, one per generation and thread count, all on
    one scale (the longest bar is `width` cells): lock wait, IPI round trip, own flush,
    IPIs taken, walk, work."""
    out = Text()
    out.append("where the time goes, per iteration (one scale for every bar)\n", style="bold")
    rows = [(g, n, parts) for g, per in table["parts"].items() for n, parts in zip(table["threads"], per)]
    top = max((sum(p.values()) for _, _, p in rows), default=0.0) or 1.0
    label = max((len(g) for g, _, _ in rows), default=0) + 4
    for g, n, parts in rows:
        out.append(f"{g} {n:>3} ".rjust(label + 1), STYLES.get(g, ""))
        cells, acc = 0, 0.0
        for k in MECHANISM_NAMES:
            acc += parts.get(k, 0.0)
            upto = round(acc / top * width)
            if upto > cells:
                out.append(MECHANISM_MARKS[k] * (upto - cells), MECHANISM_STYLES[k])
                cells = upto
        out.append(f" {sum(parts.values()):,.0f} ns\n")
    for i, (k, name) in enumerate(MECHANISM_NAMES.items()):
        out.append("\n" + " " * (label + 1) if i % 3 == 0 else "  ")
        out.append(MECHANISM_MARKS[k], MECHANISM_STYLES[k])
        out.append(f" {name}", "dim")
    return out


def plot(table: dict, height: int = 12, step: int = 10, marks: dict[str, float] | None = None) -> Text:
    """Both curves on one grid: one column group per thread count, y from 0 to the maximum.
    `marks` (generation -> ns) are drawn as ◆ on the first thread count's column: where
    a run stands."""
    threads, series = table["threads"], table["ns"]
    marks = {g: v for g, v in (marks or {}).items() if v is not None}
    top = max([max(v) for v in series.values()] + list(marks.values())) or 1.0
    width = step * (len(threads) - 1) + 1
    grid = [[(" ", "")] * width for _ in range(height)]
    for g, values in series.items():
        row_of = [height - 1 - round(v / top * (height - 1)) for v in values]
        for i in range(len(values) - 1):        # dotted segments between the points
            for x in range(1, step):
                r = round(row_of[i] + (row_of[i + 1] - row_of[i]) * x / step)
                grid[r][i * step + x] = ("·", STYLES.get(g, ""))
        for i, r in enumerate(row_of):
            # another curve's point there: beside it, not over it
            free = [x for x in (i * step, i * step + 1, i * step - 1, i * step + 2, i * step - 2)
                    if 0 <= x < width and grid[r][x][0] not in MARK_SET]
            grid[r][free[0] if free else i * step] = (MARKS.get(g, "*"), STYLES.get(g, ""))
    for g, v in marks.items():
        grid[height - 1 - round(v / top * (height - 1))][0] = ("◆", STYLES.get(g, "bold"))
    out = Text()
    for r, cells in enumerate(grid):
        label = top * (height - 1 - r) / (height - 1)
        out.append(f"{label:>8,.0f} ns │" if r in (0, height // 2, height - 1) else f"{'':>12}│")
        for ch, style in cells:
            out.append(ch, style)
        out.append("\n")
    out.append(" " * 12 + "└" + "─" * width + "\n")
    out.append(" " * 13 + "".join(f"{n:<{step}}" for n in threads) + "threads\n")
    out.append(" " * 13 + "  ".join(f"{MARKS.get(g, '*')} {g}" for g in series)
               + ("  ◆ this run" if marks else ""), "dim")
    return out


def bar_width(table: dict, columns: int) -> int:
    """The longest bar that fits `columns` beside its label and its total."""
    label = max(len(g) for g in table["ns"]) + 5
    return max(10, min(60, columns - label - 14))


def print_scaling(table: dict) -> None:
    console = Output()
    console.print(Group(table_view(table), Text(), plot(table), Text(),
                        bars_view(table, bar_width(table, console.width)), Text(), parts_view(table)))


def attribution_view(tables: dict) -> Group:
    """Each generation's 1-thread row, ns by mechanism, with the lock held and the source."""
    parts = []
    for gen, rows in tables.items():
        row = rows[-1].get("row") if rows and "row" in rows[-1] else None
        body = [r for r in rows if "mechanism" in r]
        total = sum(r["ns"] for r in body)
        title = (f"{gen}: the 1-thread row, {row:,.0f} ns, by mechanism" if row is not None
                 else f"{gen}: one thread, {total:,.0f} ns (no row of the thread's to calibrate on)")
        t = Table(title=title, box=None, padding=(0, 1), title_justify="left")
        for col, just in (("mechanism", "left"), ("ns", "right"), ("lock held", "left"), ("source", "left")):
            t.add_column(col, justify=just, overflow="fold")
        for r in body:
            t.add_row(r["mechanism"], f"{r['ns']:,.1f}", r["lock"], r["source"])
        t.add_row("total", f"{total:,.1f}", "", "")
        parts += [t, Text()]
    return Group(*parts)


def print_attribution(tables: dict) -> None:
    Output().print(attribution_view(tables))


def sensitivity_view(result: dict) -> Table:
    """Each constant at 0.5x and 2x: vanilla's ns at the thread count and the speed-up."""
    base = result["base"]
    t = Table(title=f"sensitivity: vanilla at {result['threads']} threads on {result['cpus']} CPUs "
                    f"(now {base['vanilla']:,.0f} ns, {base['speedup']:.2f}x), the model calibrated again",
              caption="low, high: the constant at 0.5x and 2x (wake_share, which is 0, at 0.5 and 1); "
                      "vanilla: ns per iteration; ÷ merged: the speed-up",
              box=None, padding=(0, 1), pad_edge=False, collapse_padding=True)
    t.add_column("constant", no_wrap=True)
    for col in ("now", "low", "vanilla", "÷ merged", "high", "vanilla", "÷ merged"):
        t.add_column(col, justify="right", no_wrap=True)
    for name, row in result["constants"].items():
        low, high = row["low"], row["high"]
        t.add_row(name, f"{row['now']:g}", f"{low['value']:g}", f"{low['vanilla']:,.0f}", f"{low['speedup']:.1f}x",
                  f"{high['value']:g}", f"{high['vanilla']:,.0f}", f"{high['speedup']:.1f}x")
    return t


def print_sensitivity(result: dict) -> None:
    Output().print(sensitivity_view(result))


class Progress:
    """Progress of a long table on stderr, one line rewritten, when stderr is a terminal."""

    def __init__(self, stream=None) -> None:
        import sys
        self.stream = stream or sys.stderr
        self.shown = False
        self.live = self.stream.isatty()

    def __call__(self, line: str) -> None:
        if self.live:
            self.stream.write(f"\r\x1b[Kvmapviz scaling: {line} (Ctrl+C stops)")
            self.stream.flush()
            self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


ROWS = {"lock_wait": "vmap's locks", "other_locks": "other locks", "flush": "flushing",
        "irq": "IPIs taken", "walk": "walk", "work": "work (the rest)"}
LINES = {"lock_wait": "_write_lock (vmlist_lock)", "other_locks": "_spin_lock, ia64_spinlock_contention, "
         "_atomic_dec_and_lock", "flush": "smp_call_function and the IPI sends (sn_send_IPI_phys, "
         "sn2_send_IPI, pio_phys_write_mmr)", "walk": "__get_vm_area_node, remove_vm_area",
         "work": "every other line (__reg_op, the vmap blocks' bitmaps, among them)"}


def profile_view(split: dict) -> Group:
    """The model's split of a thread's time beside the thread's XFS profiles: shares of
    the busy ticks (idle is a share of all ticks); which profile lines make each row."""
    model, prof = split["model"], split["profile"]
    t = Table(title=f"{split['workload']}, {split['threads']} threads, {split['cpus']} CPUs: shares of busy time",
              caption="Before, After: the thread's profiles (64-CPU ia64 SN2); vanilla, merged: the model",
              box=None, padding=(0, 2))
    t.add_column("", no_wrap=True)
    for col in ("Before", "vanilla", "After", "merged"):
        t.add_column(col, justify="right", no_wrap=True)

    def cell(shares: dict, cat: str, missing: str) -> str:
        return f"{100 * shares[cat]:.2f}%" if cat in shares else missing

    for cat, label in ROWS.items():
        t.add_row(label, *(text for g in ("vanilla", "merged") for text in (
            cell(prof[g], cat, "not listed"), cell(model[g]["shares"], cat, "not modelled"))))
    t.add_row("idle, of all", cell(prof["vanilla"], "idle", ""), "not modelled",
              cell(prof["merged"], "idle", ""), "not modelled")
    t.add_row("ns per buffer", "", f"{model['vanilla']['ns']:,.0f}", "", f"{model['merged']['ns']:,.0f}")
    notes = Text("the profile lines: ", style="dim")
    notes.append("; ".join(f"{ROWS[cat]}: {fns}" for cat, fns in LINES.items()) + "; idle: default_idle",
                 style="dim")
    return Group(t, Text(), notes)


def print_profile(split: dict) -> None:
    Output().print(profile_view(split))
