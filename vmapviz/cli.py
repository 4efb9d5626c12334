"""The command line: the TUI by default, headless runs, replays, the workload list,
screenshots (SVG, PNG), GIF animations and the TUI served to browsers.  Every user
error is one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .kernel import ConfigError
from .export import ExportError, check_image_path
from .kernel.config import FLUSH_MODELS, MAX_CPUS
from .kernel.generations import GENERATIONS, NAMES
from .vmallocinfo import VmallocinfoError
from .workloads import TraceError, UnknownWorkload, catalog, get

DEFAULT_WORKLOAD = "map-touch-unmap"


class UsageError(Exception):
    """A bad command line, workload, trace or configuration."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage dump
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _cpus(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--cpus takes a number, not {text!r}") from None
    if not 1 <= n <= MAX_CPUS:
        raise argparse.ArgumentTypeError(f"--cpus must be between 1 and {MAX_CPUS}, not {n}")
    return n


def _count(text: str) -> int:
    try:
        n = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of ops, not {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number of ops, not {n}")
    return n


def _size(text: str) -> tuple[int, int]:
    try:
        cols, rows = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size takes COLSxROWS, e.g. 120x40, not {text!r}") from None
    return cols, rows


def _generations_text() -> str:
    return "; ".join(f"{g.name} ({g.version})" for g in GENERATIONS.values())


def _seconds(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--watch takes seconds, not {text!r}") from None
    if not 0.05 <= s <= 3600:
        raise argparse.ArgumentTypeError(f"--watch takes 0.05 to 3600 seconds, not {text}")
    return s


def _watch_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--watch", type=_seconds, nargs="?", const=1.0, metavar="SECONDS",
                   help="re-read the file every SECONDS (default 1) and show what changed")


def _threads(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threads takes numbers separated by commas, not {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--threads takes positive numbers, not {text!r}")
    return counts


def _positive(text: str) -> int:
    n = _count(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {n}")
    return n


def _fps(text: str) -> float:
    try:
        fps = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fps takes a number, not {text!r}") from None
    if not 0.1 <= fps <= 50:
        raise argparse.ArgumentTypeError(f"--fps must be between 0.1 and 50, not {text}")
    return fps


def _theme(text: str) -> str:
    from .tui.themes import names
    if text not in names():
        raise argparse.ArgumentTypeError(f"no theme {text!r}; the themes are: {', '.join(names())}")
    return text


def _theme_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--theme", type=_theme, metavar="NAME",
                   help="a Textual theme or vmapviz-light / vmapviz-projector (default textual-dark)")


def _variants(text: str) -> tuple[str, str]:
    from .compare import parse_variants
    try:
        return parse_variants(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _machine_options(p: argparse.ArgumentParser, variant: bool = True) -> None:
    if variant:
        p.add_argument("--variant", choices=NAMES, metavar="NAME",
                       help=f"the kernel generation: {_generations_text()} (default: the workload's; "
                       "`vmapviz variants` describes them)")
    p.add_argument("--flush", choices=FLUSH_MODELS,
                   help="flush_tlb_kernel_range(): all (x86: every CPU's whole TLB, the default) "
                   "or range (only the range, as on ARM)")
    p.add_argument("--cpus", type=_cpus, metavar="N", help="simulated CPUs (default: the workload's)")
    p.add_argument("--bits", type=int, choices=(32, 64), help="32- or 64-bit machine (default: the workload's)")
    p.add_argument("--seed", type=int, default=1, help="seed of the CPU interleaving and the workload (default 1)")


def build_parser() -> Parser:
    p = Parser(prog="vmapviz", description="Interactive visualiser of the Linux vmalloc address space: "
               "a faithful simulation of Nick Piggin's 2008 vmap rewrite (rbtree of vmap areas, lazy "
               "TLB flushing, per-CPU vmap blocks) and of the vmap layer it replaced. With no command, "
               f"opens the TUI on map-touch-unmap. Kernel generations (--variant): {_generations_text()}.")
    p.add_argument("--version", action="version", version=f"vmapviz {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")

    t = sub.add_parser("tui", help="open the interactive TUI (the default)")
    t.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    _machine_options(t)
    t.add_argument("--vmallocinfo", metavar="FILE", help="show a /proc/vmallocinfo dump instead")
    _watch_option(t)
    _theme_option(t)

    c = sub.add_parser("compare", help="compare mode: one workload, one seed, two kernel generations "
                       "in lockstep, side by side")
    c.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    c.add_argument("--variants", type=_variants, default=("vanilla", "merged"), metavar="A,B",
                   help=f"the two generations (default vanilla,merged): {_generations_text()}")
    _machine_options(c, variant=False)
    _theme_option(c)

    r = sub.add_parser("run", help="run a workload headless and print a summary")
    r.add_argument("workload", help="a built-in workload (see `vmapviz workloads`) or a trace file")
    _machine_options(r)
    r.add_argument("--ops", type=_count, metavar="N", help="stop after N ops (default: the workload's length)")
    r.add_argument("--record", metavar="FILE", help="record the run as a JSON Lines trace")
    r.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    r.add_argument("--vmallocinfo", action="store_true",
                   help="print the simulated kernel's /proc/vmallocinfo at the end, in its generation's "
                   "format, instead of the table (with --json: as a key)")

    rp = sub.add_parser("replay", help="replay a trace and report results that differ")
    rp.add_argument("trace", help="a trace file written by --record")
    _machine_options(rp)
    rp.add_argument("--json", action="store_true", help="print one JSON object instead of the table")

    w = sub.add_parser("workloads", help="list the built-in workloads")
    w.add_argument("--json", action="store_true", help="print JSON")

    g = sub.add_parser("variants", help="list the kernel generations (--variant NAME)")
    g.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("screenshot", help="run N ops headless and save the TUI screen as SVG or PNG")
    s.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    s.add_argument("--out", required=True, metavar="FILE.svg|FILE.png", help="where to write the picture")
    s.add_argument("--ops", type=_count, default=200, metavar="N", help="ops to run first (default 200)")
    s.add_argument("--size", type=_size, default=(120, 40), metavar="COLSxROWS", help="terminal size (default 120x40)")
    _machine_options(s)
    _theme_option(s)

    g = sub.add_parser("export", help="render a run as an animated GIF, a frame every K ops")
    g.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    g.add_argument("--gif", required=True, metavar="FILE.gif", help="where to write the animation")
    g.add_argument("--ops", type=_positive, required=True, metavar="N", help="ops to run")
    g.add_argument("--every", type=_positive, required=True, metavar="K", help="a frame every K ops")
    g.add_argument("--size", type=_size, default=(120, 40), metavar="COLSxROWS", help="terminal size (default 120x40)")
    g.add_argument("--fps", type=_fps, default=10.0, metavar="F", help="frames a second (default 10)")
    _machine_options(g)
    _theme_option(g)

    w = sub.add_parser("serve", help="serve the TUI to web browsers, one app per tab")
    w.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    w.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    w.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    w.add_argument("--fontsize", type=_positive, default=16, metavar="N", help="the page's type size in pixels (default 16)")
    _machine_options(w)
    _theme_option(w)

    v = sub.add_parser("vmallocinfo", help="summarise /proc/vmallocinfo (or a copy of it)")
    v.add_argument("file", nargs="?", default="/proc/vmallocinfo", metavar="FILE|-",
                   help="a vmallocinfo dump, - for standard input (default /proc/vmallocinfo)")
    v.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    _watch_option(v)
    v.add_argument("--cpus", type=_cpus, metavar="N",
                   help="online CPUs of the machine, for lazy_max_pages() (default: this machine's)")
    v.add_argument("--page-size", type=int, choices=(4096, 16384, 65536), default=4096,
                   help="the machine's page size (default 4096)")
    v.add_argument("--top", type=int, default=10, metavar="N", help="callers listed (default 10)")

    sc = sub.add_parser("scaling", help="the cost model's ns per iteration at each thread count, vanilla "
                        "against the rewrite")
    sc.add_argument("--workload", default=DEFAULT_WORKLOAD, help="workload to model (default map-touch-unmap)")
    sc.add_argument("--threads", type=_threads, default=[1, 2, 4, 8], metavar="N,N,...",
                    help="thread counts (default 1,2,4,8)")
    sc.add_argument("--cpus", type=_cpus, default=8, metavar="N", help="CPUs of the modelled machine (default 8)")
    sc.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    sc.add_argument("--profile", action="store_true",
                    help="how the model splits the time at the last thread count (lock wait, flush, IPIs, "
                    "walk, work), beside the thread's XFS profiles (e.g. --workload xfs-dir --cpus 64 --threads 64)")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command or "tui"](args)
    except (UsageError, ConfigError, UnknownWorkload, TraceError, VmallocinfoError, ExportError) as e:
        print(f"vmapviz: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"vmapviz: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _workload_and_config(name: str, args):
    workload = get(name)
    return workload, workload.config(variant=args.variant, nr_cpus=args.cpus, bits=args.bits,
                                     seed=args.seed, flush=args.flush)


def cmd_tui(args) -> int:
    if not hasattr(args, "workload"):  # bare `vmapviz`
        args = build_parser().parse_args(["tui"])
    if args.vmallocinfo:
        if args.vmallocinfo == "-":
            raise UsageError("--vmallocinfo takes a file: the TUI needs standard input for the keys")
        from .tui.vmallocinfo import run_vmallocinfo_tui
        return run_vmallocinfo_tui(args.vmallocinfo, args.watch, args.cpus)
    if args.watch is not None:
        raise UsageError("--watch needs --vmallocinfo FILE")
    _workload_and_config(args.workload, args)  # refuse bad options before the screen opens
    from .tui.app import run_tui
    run_tui(args.workload, args.variant, args.cpus, args.bits, args.seed, args.flush, args.theme)
    return 0


def cmd_run(args) -> int:
    from .report import print_json, print_report, print_vmallocinfo, run_headless
    workload, config = _workload_and_config(args.workload, args)
    record = open(args.record, "w") if args.record else None
    try:
        result = run_headless(workload, config, args.ops, record, progress=not args.json,
                              vmallocinfo=getattr(args, "vmallocinfo", False))
    finally:
        if record:
            record.close()
    if args.json:
        print_json(result)
    elif getattr(args, "vmallocinfo", False):
        print_vmallocinfo(result)
    else:
        print_report(result)
    return 1 if result["mismatches"] else 0


def cmd_replay(args) -> int:
    args.workload, args.ops, args.record = args.trace, None, None
    return cmd_run(args)


def cmd_workloads(args) -> int:
    if args.json:
        import json
        print(json.dumps([{"name": n, "summary": s} for n, s in catalog()]))
        return 0
    from rich.console import Console
    from rich.table import Table
    table = Table(box=None, show_header=False, padding=(0, 2))
    for name, summary in catalog():
        table.add_row(f"[bold]{name}[/]", summary)
    Console().print(table)
    return 0


def cmd_variants(args) -> int:
    gens = list(GENERATIONS.values())
    if args.json:
        import json
        print(json.dumps([{"name": g.name, "version": g.version, "description": g.description,
                           "calls": list(g.calls), "lazy_flush": g.features.lazy_flush,
                           "vmap_blocks": g.features.vmap_blocks, "locks": list(g.features.locks)}
                          for g in gens]))
        return 0
    from rich.console import Console
    from rich.table import Table
    table = Table(box=None, show_header=True, header_style="bold", padding=(0, 2))
    for col in ("name", "version", "what it is", "lazy flush", "vmap blocks"):
        table.add_column(col)
    for g in gens:
        table.add_row(f"[bold]{g.name}[/]", g.version, g.description,
                      "yes" if g.features.lazy_flush else "no", "yes" if g.features.vmap_blocks else "no")
    Console().print(table)
    return 0


def cmd_screenshot(args) -> int:
    _workload_and_config(args.workload, args)
    check_image_path(args.out)
    from .tui.app import save_screenshot
    path = save_screenshot(args.out, args.workload, args.variant, args.cpus, args.bits, args.seed,
                           args.ops, size=args.size, flush=args.flush, theme=args.theme)
    print(path)
    return 0


def cmd_vmallocinfo(args) -> int:
    from . import vmallocinfo as vi
    if args.watch is not None:
        if args.file == "-":
            raise UsageError("--watch re-reads a file, not standard input")
        return vi.watch(args.file, args.watch, args.cpus, args.page_size)
    dump = vi.read(args.file, args.page_size)
    summary = vi.summarize(dump, args.cpus, args.page_size, args.top)
    if args.json:
        import json
        print(json.dumps(summary))
        for line in dump.problems():
            print(line, file=sys.stderr)
        return 0
    from .vmallocinfo_report import print_summary
    print_summary(summary, dump.problems())
    return 0


def cmd_compare(args) -> int:
    from .tui.compare import run_compare
    run_compare(args.workload, args.variants, args.cpus, args.bits, args.seed, args.flush, args.theme)
    return 0


def cmd_scaling(args) -> int:
    from . import costmodel
    try:
        if args.profile:
            split = costmodel.profile_split(args.workload, args.cpus, args.threads[-1])
        else:
            table = costmodel.scaling(args.threads, args.cpus, args.workload)
    except costmodel.ModelError as e:
        raise UsageError(str(e)) from None
    if args.profile:
        import json
        from .scaling_view import print_profile
        print(json.dumps(split)) if args.json else print_profile(split)
        return 0
    if args.json:
        import json
        print(json.dumps({k: table[k] for k in ("threads", "ns", "speedup", "params", "parts")}))
        return 0
    from .scaling_view import print_scaling
    print_scaling(table)
    return 0


def cmd_export(args) -> int:
    _workload_and_config(args.workload, args)
    check_image_path(args.gif, (".gif",))
    from .export import export_gif
    frames = export_gif(args.gif, args.workload, args.variant, args.cpus, args.bits, args.seed,
                        args.ops, args.every, size=args.size, fps=args.fps, theme=args.theme,
                        flush=args.flush)
    print(f"{args.gif}: {frames} frames")
    return 0


def cmd_serve(args) -> int:
    _workload_and_config(args.workload, args)
    from .serve import serve, session_args
    serve(args.host, args.port, args.fontsize, session_args(args))
    return 0


COMMANDS = {"tui": cmd_tui, "run": cmd_run, "replay": cmd_replay, "workloads": cmd_workloads,
            "variants": cmd_variants, "screenshot": cmd_screenshot, "export": cmd_export,
            "serve": cmd_serve, "vmallocinfo": cmd_vmallocinfo, "scaling": cmd_scaling,
            "compare": cmd_compare}
