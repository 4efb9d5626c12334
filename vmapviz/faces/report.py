"""Headless runs: a workload run to the end (or N ops) without the TUI, reported as a
Rich table, or as one JSON object for scripts and benchmarks.  Rich is imported by what
draws (the bars, the table): a run printed as JSON never imports it."""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from typing import IO, TYPE_CHECKING

from ..run.driver import Run
from ..run.spec import RunSpec
from ..kernel import BUILD, COMPILED
from ..kernel.events import KINDS
from ..run.snapshot import take

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

PROGRESS_FROM = 20_000  # runs at least this long get a progress bar
BAR_EVERY = 4096        # ops between two updates of the bar (a multiple of LOOK_EVERY)
LOOK_EVERY = 256        # ops between two looks at a signal and at the run's troubles


class Stop:
    """A request to stop a headless run between two ops (see stop_on_signals)."""

    def __init__(self) -> None:
        self.signal: int | None = None


@contextmanager
def stop_on_signals():
    """While in the block, SIGINT, SIGTERM and SIGHUP ask the run to stop at its next
    look, within LOOK_EVERY ops (about a millisecond); a second one stops it at once,
    with KeyboardInterrupt."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if stop.signal is not None:
            raise KeyboardInterrupt
        stop.signal = signum

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, handler) for s in signals}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_headless(spec: RunSpec, ops: int | None = None,
                 record: IO[str] | None = None, progress: bool = False,
                 vmallocinfo: bool = False, stop: Stop | None = None) -> dict:
    """Run `ops` ops (None: the workload's default length, or to its end) on the
    driver's Run, and return the result object that --json prints, read from the final
    snapshot.  A `stop` request ends the run between two ops: the result then says
    "interrupted"."""
    workload, config = spec.workload, spec.config
    run = Run(workload, config, record, keep=None)   # every event, until a look reads them
    stop = stop or Stop()
    limit = ops if ops is not None else run.source.total or workload.default_ops
    stats = run.kernel.stats
    notable: list[str] = []

    def troubles() -> int:
        return stats.warnings + stats.bugs + stats.faults + stats.use_after_free + stats.refused_calls

    seen = troubles()
    bar = op_progress(limit) if progress and limit and limit >= PROGRESS_FROM else None
    t0 = time.perf_counter()
    with bar or nullcontext():
        task = bar.add_task("ops", total=limit) if bar else None
        n = 0
        # Ops run LOOK_EVERY at a time with nothing asked between two (Run.step's cost
        # an op); each look reads the signal, and when the counters of trouble moved,
        # the notable events of the ops since the last look.
        while (limit is None or n < limit) and stop.signal is None and not run.done:
            n += run.run(LOOK_EVERY if limit is None else min(LOOK_EVERY, limit - n))
            if troubles() != seen:
                seen = troubles()
                if len(notable) < 20:
                    notable.extend(f"op {e.op} cpu{e.cpu} {e.line()}" for e in run.recent
                                   if KINDS[e.kind].notable)
            run.records.clear()
            if bar and (n % BAR_EVERY < LOOK_EVERY or n == limit):
                bar.update(task, completed=n)
    wall = time.perf_counter() - t0
    snap = take(run.kernel, workload=workload.name, op=n, finished=run.done)
    extra = {}
    if vmallocinfo:
        lines, hidden = run.kernel.vmallocinfo()
        extra["vmallocinfo"] = {"lines": lines, "hidden": hidden}
    return extra | {
        "workload": workload.name,
        "variant": config.variant,
        "version": config.generation.version,
        "translation": workload.translation_note(config),
        "cpus": config.nr_cpus,
        "config_nr_cpus": config.config_nr_cpus,
        "bits": config.bits,
        "ops": n,
        "seed": config.seed,
        "finished": run.source.ended,
        "interrupted": stop.signal is not None,
        "wall_s": round(wall, 4),
        "ops_per_s": round(n / wall, 1) if wall > 0 else None,
        "stats": dataclasses.asdict(snap.stats),
        "expected_failures": workload.expect_failures,
        "notable": notable[:20],
        "mismatches": run.mismatches,
        "mismatch_count": run.mismatch_count,
        "digest": run.kernel.digest(),
    }


@contextmanager
def byte_progress(title: str):
    """A bar of bytes on stderr while in the block, removed at its end; yields the
    `progress(done, total)` callback that moves it."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
    with Progress(TextColumn(f"[bold]{title}"), BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(title, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def op_progress(total: int) -> Progress:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    return Progress(TextColumn("[bold]running"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("ops"), TimeRemainingColumn(), console=Console(stderr=True),
                    transient=True)


def print_json(result: dict, out: IO[str] | None = None) -> None:
    (out or sys.stdout).write(json.dumps(result) + "\n")


def print_vmallocinfo(result: dict) -> None:
    """The simulated /proc/vmallocinfo on stdout (so it can be piped into `vmapviz
    vmallocinfo -`); what the file hides, on stderr."""
    from rich.console import Console
    info = result["vmallocinfo"]
    for line in info["lines"]:
        print(line)
    if info["hidden"]:
        Console(stderr=True).print(f"[dim]{info['hidden']}[/]", highlight=False)


def print_report(result: dict, console: Console | None = None) -> None:
    """The human summary: what ran, how fast, and the kernel's counters."""
    from rich.table import Table

    from .output import Output
    console = console or Output()
    s = result["stats"]
    from ..kernel.generations import GENERATIONS
    gen = GENERATIONS[result["variant"]]
    head = (f"[bold]{result['workload']}[/] · {gen.title} · "
            f"{result['cpus']} CPU{'s' if result['cpus'] > 1 else ''} · {result['bits']}-bit · "
            f"seed {result['seed']}")
    console.print(head)
    if result["translation"]:
        console.print(f"[dim]{result['translation']}[/]")
    ops_s = f"{result['ops_per_s']:,.0f}" if result["ops_per_s"] else "-"
    end = ("" if result["finished"] else ", interrupted" if result["interrupted"]
           else ", stopped at the op limit")
    console.print(f"{result['ops']:,} ops in {result['wall_s']:.2f} s ({ops_s} ops/s){end}")
    if COMPILED:
        console.print(f"[dim]the kernel: {BUILD} (VMAPVIZ_COMPILE build)[/]")
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
    # Names and values whole at any width (80 columns in a pipe); the meaning wraps.
    table.add_column("counter", no_wrap=True, min_width=len("vm_unmap_aliases_calls"))
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("meaning", style="dim", overflow="fold")
    lazy, blocks = gen.features.lazy_flush, gen.features.vmap_blocks
    rows = [
        ("tlb_flushes", s["tlb_flushes"], "flush_tlb_kernel_range() calls", True),
        ("ipis", s["ipis"], "IPIs they cost: nr_cpus - 1 each", True),
        ("purges", s["purges"], "__purge_vmap_area_lazy() runs with work", lazy),
        ("lazy_pages", f"{s['lazy_pages']:,} / {s['lazy_max_pages']:,}", "vmap_lazy_nr / lazy_max_pages()", lazy),
        ("live_areas", s["live_areas"], "busy areas", True),
        ("lazy_areas", s["lazy_areas"], "areas freed lazily, awaiting a purge", lazy),
        ("vmap_blocks", s["vmap_blocks"], "live per-CPU vmap blocks", blocks),
        ("vm_unmap_aliases_calls", s["vm_unmap_aliases_calls"], "", blocks),
        ("alloc_failures", s["alloc_failures"], "allocations that found no hole", True),
        ("failed_calls", s["failed_calls"], "calls that returned NULL", True),
        ("refused_calls", s["refused_calls"], f"calls {gen.version} does not have", not blocks),
        ("warnings", s["warnings"], "WARN_ON()s and warning printks", True),
        ("bugs", s["bugs"], "BUG_ON()s and oopses", True),
        ("faults", s["faults"], "touches of unmapped pages", True),
        ("use_after_free", s["use_after_free"], "touches of freed pages via stale mappings", True),
        ("walk_total", f"{s['walk_total']:,}", "nodes the first-fit walks examined", True),
        ("vmlist_lock_write", f"{s['vmlist_lock_write']:,}", "write_lock(&vmlist_lock)", True),
        ("vmap_area_lock", f"{s['vmap_area_lock']:,}", "spin_lock(&vmap_area_lock)", lazy),
    ]
    for name, value, meaning, shown in rows:
        if shown:
            table.add_row(name, str(value), meaning)
    console.print(table)
    if result["expected_failures"] and (s["alloc_failures"] or s["warnings"]):
        console.print(f"[yellow]failures expected:[/] {result['expected_failures']}")
    for line in result["notable"]:
        style = "bold red" if "BUG" in line or "use-after-free" in line else "yellow"
        console.print(f"[{style}]{line}[/]", highlight=False)
    if result["mismatches"]:
        console.print(f"[bold red]{result['mismatch_count']:,} results differ from the trace:[/]")
        for line in result["mismatches"][:20]:
            console.print(f"  {line}", highlight=False)
    console.print(f"[dim]state digest {result['digest']}[/]")
