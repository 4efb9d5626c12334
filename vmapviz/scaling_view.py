"""`vmapviz scaling` on a terminal: the cost model's table and a plot of its two curves."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

STYLES = {"vanilla": "bold red", "merged": "bold green", "posted": "bold yellow"}
MARKS = {"vanilla": "v", "merged": "m", "posted": "p"}


def table_view(table: dict) -> Table:
    gens = list(table["ns"])
    t = Table(title=f"simulated ns per map+touch+unmap, {table['params']['cpus']} CPUs", box=None,
              padding=(0, 2))
    t.add_column("threads", justify="right")
    for g in gens:
        t.add_column(g, justify="right", style=STYLES.get(g))
    t.add_column("speed-up", justify="right")
    for i, n in enumerate(table["threads"]):
        t.add_row(str(n), *(f"{table['ns'][g][i]:,.0f}" for g in gens), f"{table['speedup'][i]:.2f}x")
    return t


def parts_view(table: dict) -> Table:
    """Where an iteration's time goes, per generation and thread count."""
    t = Table(title="where the time goes (ns per iteration)", box=None, padding=(0, 2))
    for col in ("", "threads", "lock wait", "flushing", "IPIs taken", "walk", "work"):
        t.add_column(col, justify="right")
    for g, rows in table["parts"].items():
        for n, parts in zip(table["threads"], rows):
            t.add_row(g, str(n), *(f"{parts[k]:,.0f}" for k in ("lock_wait", "flush", "irq", "walk", "work")))
    return t


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
            grid[r][i * step] = (MARKS.get(g, "*"), STYLES.get(g, ""))
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


def print_scaling(table: dict) -> None:
    Console().print(Group(table_view(table), Text(), plot(table), Text(), parts_view(table)))
