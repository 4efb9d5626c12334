"""The command line: the TUI by default, headless runs, replays, the workload list and
SVG screenshots.  Every user error is one line on stderr and exit status 2; each exit
status means one thing (EPILOG)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import sys

from . import __version__
from .kernel import ConfigError
from .kernel.config import MAX_CPUS, VARIANTS
from .workloads import TraceError, UnknownWorkload, catalog, get

DEFAULT_WORKLOAD = "map-touch-unmap"

# Exit statuses.
OK, DIFFER, BAD_INPUT, CRASHED, INTERRUPTED, OUTPUT_CLOSED = 0, 1, 2, 3, 130, 141
EPILOG = """\
numbers are ASCII digits, optionally grouped with _ (--ops 1_000_000).

exit status:
  0    ok
  1    replay: results differ from the trace
  2    bad input: options, workload, trace or configuration (one line on stderr)
  3    vmapviz itself failed (a crash of the TUI, out of memory): please report it
  130  interrupted (Ctrl+C, SIGTERM, SIGHUP); a run prints what it did so far
  141  the output was closed early (e.g. `vmapviz replay t.jsonl | head -1`)"""


class UsageError(Exception):
    """A bad command line, workload, trace or configuration."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage dump
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _number(text: str, what: str) -> int:
    """A non-negative integer in ASCII digits, optionally grouped with _."""
    if not re.fullmatch(r"[0-9]+(_[0-9]+)*", text):
        raise argparse.ArgumentTypeError(f"expected {what} in digits 0-9, not {text!r}")
    return int(text)


def _cpus(text: str) -> int:
    n = _number(text, "a number of CPUs")
    if not 1 <= n <= MAX_CPUS:
        raise argparse.ArgumentTypeError(f"--cpus must be between 1 and {MAX_CPUS}, not {n}")
    return n


def _count(text: str) -> int:
    return _number(text, "a number of ops")


def _size(text: str) -> tuple[int, int]:
    from .tui.minsize import MIN_COLS, MIN_ROWS
    cols, x, rows = text.lower().partition("x")
    if not x:
        raise argparse.ArgumentTypeError(f"--size takes COLSxROWS, e.g. 120x40, not {text!r}")
    cols, rows = _number(cols, "COLS"), _number(rows, "ROWS")
    if cols < MIN_COLS or rows < MIN_ROWS:
        raise argparse.ArgumentTypeError(f"{cols}x{rows} is smaller than the TUI's minimum "
                                         f"{MIN_COLS}x{MIN_ROWS}")
    return cols, rows


def _machine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--variant", choices=VARIANTS, help="merged (v2.6.28, default) or posted (2008-08-18)")
    p.add_argument("--cpus", type=_cpus, metavar="N", help="simulated CPUs (default: the workload's)")
    p.add_argument("--bits", type=lambda t: _number(t, "32 or 64"), choices=(32, 64),
                   help="32- or 64-bit machine (default: the workload's)")
    p.add_argument("--seed", type=lambda t: _number(t, "a seed"),
                   help="seed of the CPU interleaving and the workload (default: a trace's, else 1)")


def build_parser() -> Parser:
    p = Parser(prog="vmapviz", description="Interactive visualiser of the Linux vmalloc address space: "
               "a faithful simulation of Nick Piggin's 2008 vmap rewrite (rbtree of vmap areas, lazy "
               "TLB flushing, per-CPU vmap blocks). With no command, opens the TUI on map-touch-unmap.",
               epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"vmapviz {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    command = functools.partial(sub.add_parser, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)

    t = command("tui", help="open the interactive TUI (the default)")
    t.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    _machine_options(t)

    r = command("run", help="run a workload headless and print a summary")
    r.add_argument("workload", help="a built-in workload (see `vmapviz workloads`) or a trace file")
    _machine_options(r)
    r.add_argument("--ops", type=_count, metavar="N", help="stop after N ops (default: the workload's length)")
    r.add_argument("--record", metavar="FILE", help="record the run as a JSON Lines trace")
    r.add_argument("--json", action="store_true", help="print one JSON object instead of the table")

    rp = command("replay", help="replay a trace and report results that differ")
    rp.add_argument("trace", help="a trace file written by --record")
    _machine_options(rp)
    rp.add_argument("--json", action="store_true", help="print one JSON object instead of the table")

    w = command("workloads", help="list the built-in workloads")
    w.add_argument("--json", action="store_true", help="print JSON")

    s = command("screenshot", help="run N ops headless and save the TUI screen as SVG")
    s.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    s.add_argument("--out", required=True, metavar="FILE.svg", help="where to write the SVG")
    s.add_argument("--ops", type=_count, default=200, metavar="N", help="ops to run first (default 200)")
    s.add_argument("--size", type=_size, default=(120, 40), metavar="COLSxROWS", help="terminal size (default 120x40)")
    _machine_options(s)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command or "tui"](args)
    except (UsageError, ConfigError, UnknownWorkload, TraceError) as e:
        print(f"vmapviz: {e}", file=sys.stderr)
        return BAD_INPUT
    except BrokenPipeError:
        # The reader went away: say nothing more, and keep Python from complaining when
        # it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OUTPUT_CLOSED
    except OSError as e:
        print(f"vmapviz: {file_error(e.filename, e)}", file=sys.stderr)
        return BAD_INPUT
    except MemoryError:
        print("vmapviz: out of memory (MemoryError)", file=sys.stderr)
        return CRASHED
    except KeyboardInterrupt:
        print("vmapviz: interrupted", file=sys.stderr)
        return INTERRUPTED


def file_error(path, e: OSError) -> str:
    """'PATH: problem', the path absolute (never empty: '.' or '' say nothing)."""
    where = os.path.abspath(path) if path not in (None, "") else "(unnamed file)"
    return f"{where}: {e.strerror or e}"


def _workload_and_config(name: str, args):
    with _loading_progress(name) as progress:
        workload = get(name, progress)
    return workload, workload.config(variant=args.variant, nr_cpus=args.cpus, bits=args.bits,
                                     seed=args.seed)


def _loading_progress(name: str):
    """For a long trace (4 MiB or more), a progress bar on stderr while it is checked."""
    try:
        long = os.path.isfile(name) and os.path.getsize(name) >= 4 << 20
    except OSError:
        long = False
    if not long:
        return contextlib.nullcontext()
    from .report import byte_progress
    return byte_progress(f"checking {os.path.basename(name)}")


def cmd_tui(args) -> int:
    if not hasattr(args, "workload"):  # bare `vmapviz`
        args = build_parser().parse_args(["tui"])
    workload, _ = _workload_and_config(args.workload, args)  # refuse bad options first
    from .tui.app import run_tui
    code = run_tui(workload, args.variant, args.cpus, args.bits, args.seed)
    return code if code in (OK, INTERRUPTED) else CRASHED  # Textual exits 1 on a crash


def cmd_run(args) -> int:
    from .report import print_json, print_report, run_headless, stop_on_signals
    workload, config = _workload_and_config(args.workload, args)
    try:
        record = open(args.record, "w") if args.record else None
        with stop_on_signals() as stop:
            try:
                result = run_headless(workload, config, args.ops, record, progress=not args.json,
                                      stop=stop)
            finally:
                if record:
                    record.close()
    except OSError as e:
        raise UsageError(f"--record {file_error(args.record, e)}") from None
    if result["interrupted"]:
        print(f"vmapviz: interrupted at op {result['ops']:,}", file=sys.stderr)
    print_json(result) if args.json else print_report(result)
    return INTERRUPTED if result["interrupted"] else DIFFER if result["mismatch_count"] else OK


def cmd_replay(args) -> int:
    args.workload, args.ops, args.record = args.trace, None, None
    return cmd_run(args)


def cmd_workloads(args) -> int:
    if args.json:
        import json
        print(json.dumps([{"name": n, "summary": s} for n, s in catalog()]))
        return 0
    from rich.table import Table

    from .report import Output
    table = Table(box=None, show_header=False, padding=(0, 2))
    for name, summary in catalog():
        table.add_row(f"[bold]{name}[/]", summary)
    Output().print(table)
    return 0


def cmd_screenshot(args) -> int:
    workload, _ = _workload_and_config(args.workload, args)
    from .tui.app import save_screenshot
    try:
        path = save_screenshot(args.out, workload, args.variant, args.cpus, args.bits, args.seed,
                               args.ops, size=args.size, progress=True)
    except OSError as e:
        raise UsageError(f"--out {file_error(args.out, e)}") from None
    print(path)
    return OK


COMMANDS = {"tui": cmd_tui, "run": cmd_run, "replay": cmd_replay, "workloads": cmd_workloads,
            "screenshot": cmd_screenshot}
