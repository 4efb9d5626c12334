"""What `record --live` and `replay-live` print: a recording's summary and the agreement
table, with Rich."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from .events import AllocVmapArea, FreeVmapAreaNoflush, PurgeVmapAreaLazy
from .recording import Recording
from .replay import CLASSES, MAX_LISTED, Result


def summary(rec: Recording) -> dict:
    """The figures `record --live` prints (and tests read)."""
    allocs = [e for e in rec.events if type(e) is AllocVmapArea]
    frees = [e for e in rec.events if type(e) is FreeVmapAreaNoflush]
    return {"kernel": rec.kernel, "cpus": rec.cpus, "seconds": rec.seconds, "events": len(rec.events),
            "counts": rec.counts(), "lost": rec.lost,
            "sizes": Counter(f"{e.size}/{e.align}" for e in allocs).most_common(5),
            "tasks": Counter(e.task for e in allocs).most_common(5),
            "nr_lazy": [min((e.nr_lazy for e in frees), default=0), max((e.nr_lazy for e in frees), default=0)],
            "nr_lazy_max": sorted({e.nr_lazy_max for e in frees}),
            "purges": [(e.npurged, e.task) for e in rec.events if type(e) is PurgeVmapAreaLazy]}


def print_summary(rec: Recording, path: str, console: Console | None = None) -> None:
    s = summary(rec)
    c = console or Console()
    t = Table(title=f"{path}: {s['events']:,} events in {s['seconds']:.1f} s from Linux {s['kernel']} "
              f"({s['cpus']} CPUs)", box=None, show_header=False, padding=(0, 2))
    for name, n in s["counts"].items():
        t.add_row(name, f"{n:,}")
    t.add_row("lost", f"{s['lost']:,}" + ("  (the kernel dropped events)" if s["lost"] else ""))
    t.add_row("sizes (size/align)", ", ".join(f"{k} x{n}" for k, n in s["sizes"]) or "-")
    t.add_row("by task", ", ".join(f"{k} x{n}" for k, n in s["tasks"]) or "-")
    if s["nr_lazy_max"]:
        t.add_row("vmap_lazy_nr", f"{s['nr_lazy'][0]:,} to {s['nr_lazy'][1]:,} pages of "
                  f"lazy_max_pages {', '.join(map(str, s['nr_lazy_max']))}")
    t.add_row("purges", ", ".join(f"{n} areas ({task})" for n, task in s["purges"]) or "none")
    c.print(t)


def _frac(a) -> str:
    return f"{a.agree:,} of {a.total:,}" + (f" ({100 * a.agree / a.total:.1f}%)" if a.total else "")


def print_result(res: Result, console: Console | None = None) -> None:
    c = console or Console()
    lm = "agrees" if set(res.lazy_max_real) <= {res.lazy_max_sim} else "differs"
    t = Table(title=f"replay-live: {res.events:,} recorded events on simulated {res.variant}, "
              f"{res.cpus} CPUs", box=None, show_header=False, padding=(0, 2))
    t.add_row("lazy_max_pages", f"simulated {res.lazy_max_sim:,}, recorded "
              f"{', '.join(f'{v:,}' for v in sorted(set(res.lazy_max_real))) or '-'}: {lm}")
    t.add_row("vmap_lazy_nr after each free", _frac(res.lazy))
    t.add_row("purge points (after which free)", _frac(res.purge_points))
    t.add_row("areas each purge purged", _frac(res.purge_counts))
    t.add_row("purges real / simulated",
              f"{', '.join(f'#{a}:{n}' for a, n in res.purges_real) or 'none'} / "
              f"{', '.join(f'#{a}:{n}' for a, n in res.purges_sim) or 'none'}")
    t.add_row("placement, relative to the previous of its size", _frac(res.placement))
    t.add_row("placement, absolute from the recorded layout",
              _frac(res.absolute) + (f"  {res.absolute_note}" if res.absolute_note else ""))
    c.print(t)
    for note in res.notes:
        c.print(f"note: {note}")
    classes = res.by_class()
    if classes:
        c.print("\n[bold]mismatches by class[/]")
        for cls, n in sorted(classes.items(), key=lambda kv: -kv[1]):
            c.print(f"  {n:6,}  {cls}: {CLASSES[cls]}")
        c.print(f"\n[bold]the first {min(len(res.mismatches), MAX_LISTED)}[/] (event: what, real / simulated)")
        for m in res.mismatches[:MAX_LISTED]:
            c.print(f"  #{m.seq}: {m.what} [{m.cls}] {m.real} / {m.sim}")
