"""The command line: the TUI by default, headless runs, replays, the workload and kernel
lists, screenshots (SVG, PNG), GIF animations, the TUI served to browsers, real machines'
/proc/vmallocinfo and the cost model.  Every user error is one line on stderr and exit
status 2; each exit status means one thing (EPILOG)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import sys

from . import __version__
from .kernel import ConfigError
from .export import LAYOUTS, ExportError, check_image_path
from .kernel.config import FLUSH_MODELS, MAX_CPUS
from .kernel.generations import GENERATIONS, NAMES
from .lesson import LessonError
from .vmallocinfo import VmallocinfoError
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


def _nr_cpus(text: str) -> int:
    """NR_CPUS: up to the largest any generation allows (6.12's MAXSMP, 8192); the
    generation's own limit is Config's to check."""
    n = _number(text, "a number of CPUs")
    most = max(g.layout.nr_cpus_max for g in GENERATIONS.values())
    if not 1 <= n <= most:
        raise argparse.ArgumentTypeError(f"--config-nr-cpus must be between 1 and {most}, not {n}")
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


def _public_url(text: str) -> str:
    """`serve --public-url`: the http(s) address browsers open, without a trailing /."""
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(text)
        ok = parts.scheme in ("http", "https") and parts.hostname and not (parts.query or parts.fragment)
        parts.port   # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"--public-url takes http(s)://HOST[:PORT][/PATH], not {text!r}")
    return text.rstrip("/")


def _font_size(text: str) -> int:
    n = _count(text)
    if not 8 <= n <= 48:
        raise argparse.ArgumentTypeError(f"--font-size must be between 8 and 48 pixels, not {n}")
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
    p.add_argument("--config-nr-cpus", type=_nr_cpus, metavar="N",
                   help="CONFIG_NR_CPUS, which sizes the vmap blocks (default 8, or the next power of "
                   "two above --cpus)")
    p.add_argument("--bits", type=lambda t: _number(t, "32 or 64"), choices=(32, 64),
                   help="32- or 64-bit machine (default: the workload's)")
    p.add_argument("--seed", type=lambda t: _number(t, "a seed"),
                   help="seed of the CPU interleaving and the workload (default: a trace's, else 1)")


def build_parser() -> Parser:
    p = Parser(prog="vmapviz", description="Interactive visualiser of the Linux vmalloc address space: "
               "a faithful simulation of Nick Piggin's 2008 vmap rewrite (rbtree of vmap areas, lazy "
               "TLB flushing, per-CPU vmap blocks) and of the vmap layer it replaced. With no command, "
               f"opens the TUI on map-touch-unmap. Kernel generations (--variant): {_generations_text()}.",
               epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"vmapviz {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    command = functools.partial(sub.add_parser, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)

    t = command("tui", help="open the interactive TUI (the default)")
    t.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    _machine_options(t)
    t.add_argument("--vmallocinfo", metavar="FILE", help="show a /proc/vmallocinfo dump instead")
    _watch_option(t)
    _theme_option(t)

    c = command("compare", help="compare mode: one workload, one seed, two kernel generations "
                "in lockstep, side by side")
    c.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    c.add_argument("--variants", type=_variants, default=("vanilla", "merged"), metavar="A,B",
                   help=f"the two generations (default vanilla,merged): {_generations_text()}")
    _machine_options(c, variant=False)
    _theme_option(c)

    r = command("run", help="run a workload headless and print a summary")
    r.add_argument("workload", help="a built-in workload (see `vmapviz workloads`) or a trace file")
    _machine_options(r)
    r.add_argument("--ops", type=_count, metavar="N", help="stop after N ops (default: the workload's length)")
    r.add_argument("--record", metavar="FILE", help="record the run as a JSON Lines trace")
    r.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    r.add_argument("--vmallocinfo", action="store_true",
                   help="print the simulated kernel's /proc/vmallocinfo at the end, in its generation's "
                   "format, instead of the table (with --json: as a key)")

    rp = command("replay", help="replay a trace and report results that differ")
    rp.add_argument("trace", help="a trace file written by --record")
    _machine_options(rp)
    rp.add_argument("--json", action="store_true", help="print one JSON object instead of the table")

    w = command("workloads", help="list the built-in workloads")
    w.add_argument("--json", action="store_true", help="print JSON")

    g = command("variants", help="list the kernel generations (--variant NAME)")
    g.add_argument("--json", action="store_true", help="print JSON")

    s = command("screenshot", help="run N ops headless and save the TUI screen as SVG or PNG")
    s.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    s.add_argument("--out", required=True, metavar="FILE.svg|FILE.png", help="where to write the picture")
    s.add_argument("--ops", type=_count, default=200, metavar="N", help="ops to run first (default 200)")
    s.add_argument("--size", type=_size, default=(120, 40), metavar="COLSxROWS", help="terminal size (default 120x40)")
    _machine_options(s)
    _theme_option(s)

    g = command("export", help="render a run as an animated GIF, a frame every K ops")
    g.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    g.add_argument("--gif", required=True, metavar="FILE.gif", help="where to write the animation")
    g.add_argument("--ops", type=_positive, required=True, metavar="N", help="ops to run")
    g.add_argument("--every", type=_positive, required=True, metavar="K", help="a frame every K ops")
    g.add_argument("--size", type=_size, default=(120, 40), metavar="COLSxROWS", help="terminal size (default 120x40)")
    g.add_argument("--fps", type=_fps, default=10.0, metavar="F", help="frames a second (default 10)")
    g.add_argument("--layout", choices=LAYOUTS, default="presenter",
                   help="presenter (default): the TUI's presenter layout (key l), a large map over "
                   "the explanation, the better slide and about a third of the file; full: every panel")
    g.add_argument("--font-size", type=_font_size, default=10, metavar="PX",
                   help="type size in pixels (default 10: 6x12-pixel cells, 720x480 at 120x40; "
                   "larger is crisper and larger)")
    _machine_options(g)
    _theme_option(g)

    w = command("serve", help="serve the TUI to web browsers, one app per tab")
    w.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    w.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    w.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    w.add_argument("--fontsize", type=_positive, default=16, metavar="N", help="the page's type size in pixels (default 16)")
    w.add_argument("--public-url", type=_public_url, metavar="URL",
                   help="the address browsers open (e.g. https://host.example/ behind a tunnel or a "
                   "proxy); the page's URLs use it, and sockets from it are let in. Without it they "
                   "use the address each browser used")
    w.add_argument("--max-sessions", type=_positive, default=40, metavar="N",
                   help="tabs served at once (default 40); one more gets a page saying the server is full")
    _machine_options(w)
    _theme_option(w)

    v = command("vmallocinfo", help="summarise /proc/vmallocinfo (or a copy of it)")
    v.add_argument("file", nargs="?", default="/proc/vmallocinfo", metavar="FILE|-",
                   help="a vmallocinfo dump, - for standard input (default /proc/vmallocinfo)")
    v.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    _watch_option(v)
    v.add_argument("--cpus", type=_cpus, metavar="N",
                   help="online CPUs of the machine, for lazy_max_pages() (default: this machine's)")
    v.add_argument("--page-size", type=int, choices=(4096, 16384, 65536), default=4096,
                   help="the machine's page size (default 4096)")
    v.add_argument("--top", type=int, default=10, metavar="N", help="callers listed (default 10)")

    sc = command("scaling", help="the cost model's ns per iteration at each thread count, vanilla "
                        "against the rewrite")
    sc.add_argument("--workload", default=DEFAULT_WORKLOAD, help="workload to model (default map-touch-unmap)")
    sc.add_argument("--threads", type=_threads, default=[1, 2, 4, 8], metavar="N,N,...",
                    help="thread counts (default 1,2,4,8)")
    sc.add_argument("--cpus", type=_cpus, default=8, metavar="N", help="CPUs of the modelled machine (default 8)")
    sc.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    sc.add_argument("--profile", action="store_true",
                    help="how the model splits the time at the last thread count (lock wait, flush, IPIs, "
                    "walk, work), beside the thread's XFS profiles (e.g. --workload xfs-dir --cpus 64 --threads 64)")

    q = command("quiz", help="questions about a seeded run, to predict before revealing (-c)")
    q.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    _machine_options(q)
    q.add_argument("-n", type=_positive, default=5, metavar="N", help="how many questions (default 5)")
    q.add_argument("-c", action="store_true", help="compute the answers, each with its reason")
    q.add_argument("--ops", type=_positive, metavar="N", help="draw the questions from the first N ops (default 30,000)")
    q.add_argument("--json", action="store_true", help="print the questions and answers as JSON")

    le = command("lesson", help="play a lesson (`vmapviz lesson list` lists them)")
    le.add_argument("lesson", metavar="NAME|FILE|list", help="a built-in lesson, a lesson file (.toml), or list")
    le.add_argument("--tui", action="store_true", help="play it in the TUI, a stop at a time")
    _theme_option(le)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command or "tui"](args)
    except (UsageError, ConfigError, UnknownWorkload, TraceError, VmallocinfoError, ExportError,
            LessonError) as e:
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
                                     seed=args.seed, flush=args.flush,
                                     config_nr_cpus=args.config_nr_cpus)


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
    if args.vmallocinfo:
        if args.vmallocinfo == "-":
            raise UsageError("--vmallocinfo takes a file: the TUI needs standard input for the keys")
        from .tui.vmallocinfo import run_vmallocinfo_tui
        return run_vmallocinfo_tui(args.vmallocinfo, args.watch, args.cpus)
    if args.watch is not None:
        raise UsageError("--watch needs --vmallocinfo FILE")
    workload, _ = _workload_and_config(args.workload, args)  # refuse bad options first
    from .tui.app import run_tui
    code = run_tui(workload, args.variant, args.cpus, args.bits, args.seed, args.flush, args.theme,
                   config_nr_cpus=args.config_nr_cpus)
    return code if code in (OK, INTERRUPTED) else CRASHED  # Textual exits 1 on a crash


def cmd_run(args) -> int:
    from .report import print_json, print_report, print_vmallocinfo, run_headless, stop_on_signals
    workload, config = _workload_and_config(args.workload, args)
    try:
        record = open(args.record, "w") if args.record else None
        with stop_on_signals() as stop:
            try:
                result = run_headless(workload, config, args.ops, record, progress=not args.json,
                                      vmallocinfo=getattr(args, "vmallocinfo", False), stop=stop)
            finally:
                if record:
                    record.close()
    except OSError as e:
        raise UsageError(f"--record {file_error(args.record, e)}") from None
    if result["interrupted"]:
        print(f"vmapviz: interrupted at op {result['ops']:,}", file=sys.stderr)
    if args.json:
        print_json(result)
    elif getattr(args, "vmallocinfo", False):
        print_vmallocinfo(result)
    else:
        print_report(result)
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
    workload, _ = _workload_and_config(args.workload, args)
    check_image_path(args.out)
    from .tui.app import save_screenshot
    try:
        path = save_screenshot(args.out, workload, args.variant, args.cpus, args.bits, args.seed,
                               args.ops, size=args.size, flush=args.flush, theme=args.theme,
                               config_nr_cpus=args.config_nr_cpus, progress=True)
    except OSError as e:
        raise UsageError(f"--out {file_error(args.out, e)}") from None
    print(path)
    return OK


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
                        flush=args.flush, config_nr_cpus=args.config_nr_cpus,
                        layout=args.layout, font_size=args.font_size)
    print(f"{args.gif}: {frames} frames")
    return 0


def cmd_serve(args) -> int:
    _workload_and_config(args.workload, args)
    from .serve import serve, session_args
    serve(args.host, args.port, args.fontsize, session_args(args), args.public_url, args.max_sessions)
    return 0


def cmd_quiz(args) -> int:
    from . import quiz
    workload, config = _workload_and_config(args.workload, args)
    questions = quiz.generate(workload, config, args.n, args.seed, args.ops or quiz.HORIZON)
    if args.json:
        import json
        print(json.dumps([q.as_json() for q in questions]))
        return 0
    print("\n".join(quiz.machine_lines(config, workload)))
    print()
    for i, q in enumerate(questions, 1):
        print(f"{i}. {q.question}")
        if args.c:
            print(f"   answer: {q.answer}: {q.why}")
    if not args.c:
        print("\nPredict each answer, then run again with -c to see them.")
    return 0


def cmd_lesson(args) -> int:
    from . import lesson
    if args.lesson == "list":
        for item in lesson.catalog():
            print(f"{item.name.split('-', 1)[-1]:<16} {item.title}: {item.summary}")
        return 0
    chosen = lesson.find(args.lesson)
    if args.tui:
        from .tui.app import run_tui
        run_tui(chosen.workload.name if not getattr(chosen.workload, "path", "") else chosen.workload.path,
                theme=args.theme, lesson=chosen)
        return 0
    wrong = lesson.play(chosen)
    if wrong:
        print(f"\n{wrong} of the lesson's numbers differ from the simulator's", file=sys.stderr)
    return 1 if wrong else 0


COMMANDS = {"tui": cmd_tui, "run": cmd_run, "replay": cmd_replay, "workloads": cmd_workloads,
            "variants": cmd_variants, "screenshot": cmd_screenshot, "export": cmd_export,
            "serve": cmd_serve, "vmallocinfo": cmd_vmallocinfo, "scaling": cmd_scaling,
            "quiz": cmd_quiz, "lesson": cmd_lesson, "compare": cmd_compare}
