"""`vmapviz scaling` on a terminal: the cost model's table and a plot of its two curves."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

STYLES = {"vanilla": "bold red", "merged": "bold green", "posted": "bold yellow"}
MARKS = {"vanilla": "v", "merged": "m", "posted": "p"}


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
    Console().print(profile_view(split))
