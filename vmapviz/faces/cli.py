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
import signal
import sys
import threading

from .. import __version__
from ..kernel import BUILD as KERNEL_BUILD, ConfigError
from ..tui.slides import LAYOUTS, MAX_UNTIL
from ..kernel.config import FLUSH_MODELS, MAX_CPUS
from ..kernel.generations import GENERATIONS, NAMES
from ..run.spec import RunSpec
from ..workloads import TraceError, UnknownWorkload, catalog, get

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
    from ..tui.minsize import MIN_COLS, MIN_ROWS
    cols_text, x, rows_text = text.lower().partition("x")
    if not x:
        raise argparse.ArgumentTypeError(f"--size takes COLSxROWS, e.g. 120x40, not {text!r}")
    cols, rows = _number(cols_text, "COLS"), _number(rows_text, "ROWS")
    if cols < MIN_COLS or rows < MIN_ROWS:
        raise argparse.ArgumentTypeError(f"{cols}x{rows} is smaller than the TUI's minimum "
                                         f"{MIN_COLS}x{MIN_ROWS}")
    return cols, rows


def _quiz_kinds() -> list[str]:
    from ..teaching.quiz import KINDS
    return list(KINDS)


def _kinds(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in _quiz_kinds()]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"--kinds takes some of {', '.join(_quiz_kinds())}, not {text!r}")
    return kinds


def _generations_text() -> str:
    return "; ".join(f"{g.name} ({g.version})" for g in GENERATIONS.values())


def _decimal(text: str) -> float | None:
    """A decimal number in ASCII digits (float() takes other scripts' digits, inf, nan)."""
    return float(text) if re.fullmatch(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", text) else None


def _seconds(text: str) -> float:
    s = _decimal(text)
    if s is None:
        raise argparse.ArgumentTypeError(f"--watch takes seconds in digits 0-9, not {text!r}")
    if not 0.05 <= s <= 3600:
        raise argparse.ArgumentTypeError(f"--watch takes 0.05 to 3600 seconds, not {text}")
    return s


def _watch_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--watch", type=_seconds, nargs="?", const=1.0, metavar="SECONDS",
                   help="re-read the file every SECONDS (default 1) and show what changed")


def _duration(text: str) -> float:
    try:
        s = float(text) if text.isascii() else -1.0
    except ValueError:
        s = -1.0
    if not 0.1 <= s <= 86400:
        raise argparse.ArgumentTypeError(f"--seconds takes 0.1 to 86400 seconds, not {text!r}")
    return s


def _threads(text: str) -> list[int]:
    if not re.fullmatch(r"[0-9]+(,[0-9]+)*", text):
        raise argparse.ArgumentTypeError(f"--threads takes numbers in digits 0-9 separated by commas, "
                                         f"not {text!r}")
    counts = [int(x) for x in text.split(",")]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--threads takes positive numbers, not {text!r}")
    return counts


def _page_size(text: str) -> int:
    return _number(text, "a page size")


def _top(text: str) -> int:
    return _number(text, "a number of callers")


def _generations(text: str) -> tuple[str, ...]:
    from ..kernel.generations import NAMES
    names = tuple(text.split(","))
    unknown = [n for n in names if n not in NAMES]
    if unknown or len(names) < 2 or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"--variants takes two or more different generations of "
                                         f"{', '.join(NAMES)}, separated by commas, not {text!r}")
    return names


def _positive(text: str) -> int:
    n = _count(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {n}")
    return n


def _slide_options(p: argparse.ArgumentParser, layout: str, font_size: int | None) -> None:
    p.add_argument("--layout", choices=LAYOUTS, default=layout,
                   help=f"presenter{' (default)' if layout == 'presenter' else ''}: the TUI's presenter "
                   "layout (key l), a large map over the explanation, the better slide and about a third "
                   f"of a GIF; full{' (default)' if layout == 'full' else ''}: every panel")
    if font_size is None:
        p.add_argument("--font-size", type=_font_size, metavar="PX",
                       help="type size in pixels (default: the SVG's 20 px, the PNG's 20 px cells)")
    else:
        p.add_argument("--font-size", type=_font_size, default=font_size, metavar="PX",
                       help=f"type size in pixels (default {font_size}: 6x12-pixel cells, 720x480 at "
                       "120x40 in a GIF; larger is crisper and larger)")


def _port(text: str) -> int:
    n = _number(text, "a port")
    if not 1 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"--port must be between 1 and 65535, not {n}")
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
    fps = _decimal(text)
    if fps is None:
        raise argparse.ArgumentTypeError(f"--fps takes a number in digits 0-9, not {text!r}")
    if not 0.1 <= fps <= 50:
        raise argparse.ArgumentTypeError(f"--fps must be between 0.1 and 50, not {text}")
    return fps


def _theme(text: str) -> str:
    from ..tui.themes import names
    if text not in names():
        raise argparse.ArgumentTypeError(f"no theme {text!r}; the themes are: {', '.join(names())}")
    return text


def _theme_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--theme", type=_theme, metavar="NAME",
                   help="a Textual theme or vmapviz-light / vmapviz-projector (default textual-dark)")


def _in_process_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in-process", action="store_true",
                   help="run the simulation in the TUI's own process (a thread) instead of a child "
                   "process: for machines where a second process is unwelcome; the screen then "
                   "drops frames at full speed to leave the simulation its time")


def _variants(text: str) -> tuple[str, str]:
    from ..run.compare import parse_variants
    try:
        return parse_variants(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _machine_options(p: argparse.ArgumentParser, variant: bool = True, tiny: bool = False) -> None:
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
    if tiny:    # the commands that run the preset (tui, run, quiz); elsewhere it is refused
        p.add_argument("--tiny", action="store_true",
                       help="a machine to work by hand: 64 pages of vmalloc range, vmap blocks of 16 pages, "
                       "VMAP_MAX_ALLOC 4, lazy_max_pages 16, 2 CPUs (unless --cpus); the rules stay the kernel's")
    p.add_argument("-s", "--seed", type=lambda t: _number(t, "a seed"),
                   help="seed of the CPU interleaving and the workload (default: a trace's, else 1)")


def build_parser() -> Parser:
    p = Parser(prog="vmapviz", description="Interactive visualiser of the Linux vmalloc address space: "
               "a faithful simulation of Nick Piggin's 2008 vmap rewrite (rbtree of vmap areas, lazy "
               "TLB flushing, per-CPU vmap blocks) and of the vmap layer it replaced. With no command, "
               f"opens the TUI on map-touch-unmap. Kernel generations (--variant): {_generations_text()}.",
               epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"vmapviz {__version__} ({KERNEL_BUILD} kernel)")
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    command = functools.partial(sub.add_parser, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)

    t = command("tui", help="open the interactive TUI (the default)")
    t.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    _machine_options(t, tiny=True)
    t.add_argument("--vmallocinfo", metavar="FILE", help="show a /proc/vmallocinfo dump instead")
    _watch_option(t)
    _theme_option(t)
    _in_process_option(t)

    c = command("compare", help="compare mode: one workload, one seed, two kernel generations "
                "in lockstep, side by side")
    c.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    c.add_argument("--variants", type=_variants, default=("vanilla", "merged"), metavar="A,B",
                   help=f"the two generations (default vanilla,merged): {_generations_text()}")
    _machine_options(c, variant=False)
    _theme_option(c)
    _in_process_option(c)

    r = command("run", help="run a workload headless and print a summary")
    r.add_argument("workload", help="a built-in workload (see `vmapviz workloads`) or a trace file")
    _machine_options(r, tiny=True)
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
    s.add_argument("--ops", "--until", type=_count, dest="until", metavar="N",
                   help="the op shown (default 200; --until is the same)")
    s.add_argument("--from", type=_count, dest="start", metavar="OP",
                   help="with --until-flush: look for the flush from this op (default 0); alone: the op shown")
    s.add_argument("--until-flush", action="store_true",
                   help="show the first op (after --from) that flushes the TLB")
    s.add_argument("--size", type=_size, default=(120, 40), metavar="COLSxROWS", help="terminal size (default 120x40)")
    _slide_options(s, "full", None)
    _machine_options(s)
    _theme_option(s)

    g = command("export", help="render a run as an animated GIF or a self-contained HTML player, a frame every K ops")
    g.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    g.add_argument("--gif", metavar="FILE.gif", help="write the animation as a GIF")
    g.add_argument("--html", metavar="FILE.html", help="write a player: one HTML file, no network, "
                   "a slider and the arrow keys to scrub, play/pause, the text as text")
    g.add_argument("--ops", "--until", type=_count, dest="until", metavar="N",
                   help="the last frame's op (--until is the same)")
    g.add_argument("--from", type=_count, dest="start", metavar="OP",
                   help="the first frame's op (default: K, after the first K ops)")
    g.add_argument("--until-flush", action="store_true",
                   help="end at the first op after the first frame that flushes the TLB (a purge's "
                   "flush on the rewrite), which gets the last frame; --ops/--until is then the most "
                   f"ops to look (default {MAX_UNTIL:,})")
    g.add_argument("--every", type=_positive, required=True, metavar="K", help="a frame every K ops")
    g.add_argument("--size", type=_size, default=(120, 40), metavar="COLSxROWS", help="terminal size (default 120x40)")
    g.add_argument("--fps", type=_fps, default=10.0, metavar="F", help="frames a second (default 10)")
    _slide_options(g, "presenter", 10)
    _machine_options(g)
    _theme_option(g)

    w = command("serve", help="serve the TUI to web browsers, one app per tab")
    w.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    w.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    w.add_argument("--port", type=_port, default=8000, help="port, 1 to 65535 (default 8000)")
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
    v.add_argument("--page-size", type=_page_size, choices=(4096, 16384, 65536), default=4096,
                   help="the machine's page size (default 4096)")
    v.add_argument("--top", type=_top, default=10, metavar="N", help="callers listed (default 10)")

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
    sc.add_argument("--variants", type=_generations, default=("vanilla", "merged"), metavar="GEN,GEN,...",
                    help="generations to model, any registered (default vanilla,merged); the speed-up is "
                    "the first over the second")
    sc.add_argument("--sensitivity", action="store_true",
                    help="each constant at 0.5x and 2x, the model calibrated again: vanilla's ns at 8 threads "
                    "on 8 CPUs and the speed-up over merged")
    sc.add_argument("--attribution", action="store_true",
                    help="every ns of each generation's 1-thread row: mechanism, lock held, source")

    q = command("quiz", help="questions about a seeded run, to predict before revealing (-c)")
    q.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help="a built-in workload or a trace file")
    _machine_options(q, tiny=True)
    q.add_argument("-n", type=_positive, default=5, metavar="N", help="how many questions (default 5)")
    q.add_argument("-c", action="store_true", help="compute the answers, each with its reason")
    q.add_argument("--ops", type=_positive, metavar="N", help="draw the questions from the first N ops (default 30,000)")
    q.add_argument("--json", action="store_true", help="print the questions and answers as JSON "
                   "(each with its kind and the given it shows)")
    q.add_argument("--kinds", type=_kinds, metavar="K,K,...",
                   help="only these kinds of question: " + ", ".join(_quiz_kinds()))
    q.add_argument("--level", type=int, choices=(1, 2, 3), default=2,
                   help="1: single-op questions with all the state shown (address, bits, lazy, flush, "
                   "ipis, fails); 2 (default): also the walk and what the kernel does next; 3: also "
                   "predictions over several ops (lazy_run)")
    q.add_argument("--show-ops", action="store_true",
                   help="print every op from op 1 to the last question, the questions among them")
    q.add_argument("--sheet", metavar="DIR", help="write one sheet per student (Markdown and HTML) and "
                   "an answer key (key.json, key.md) into DIR; needs --students")
    q.add_argument("--students", metavar="N|FILE", help="with --sheet: N students, or a file of names "
                   "(one a line); each student's seed comes from --seed and the name")

    gr = command("grade", help="grade a class's answers (CSV) against a sheet's key.json")
    gr.add_argument("key", metavar="KEY", help="the key.json `quiz --sheet` wrote")
    gr.add_argument("answers", metavar="ANSWERS.csv",
                    help="a header student,1,2,... then one row a student (an empty cell: no answer)")
    gr.add_argument("--json", action="store_true", help="print one JSON object instead of the table")

    lv = command("live", help="the TUI with this machine's kernel as its source (tracefs, root)")
    lv.add_argument("--stir", type=_count, nargs="?", const=200, metavar="N",
                    help="make bounded vmalloc activity: N short-lived threads (default 200), "
                    "each with a vmalloc'ed kernel stack")
    _theme_option(lv)

    rl = command("record", help="record this machine's vmalloc events (--live FILE) as JSON Lines")
    rl.add_argument("--live", required=True, metavar="FILE", help="where to write the recording")
    rl.add_argument("--seconds", type=_duration, metavar="S",
                    help="how long to record (default 5, or while --stir runs and 1 s after)")
    rl.add_argument("--stir", type=_count, nargs="?", const=200, metavar="N",
                    help="make bounded vmalloc activity meanwhile: N short-lived threads (default 200)")
    rl.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    rr = command("replay-live", help="hold the simulator against a recording of the real kernel")
    rr.add_argument("file", metavar="FILE", help="a recording (record --live) or a tracefs text capture")
    rr.add_argument("--variant", choices=NAMES, metavar="NAME",
                    help="the simulated generation (default: the one that follows the recorded kernel)")
    rr.add_argument("--cpus", type=_cpus, metavar="N",
                    help="online CPUs (default: the recording's; a text capture's: this machine's)")
    rr.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")

    le = command("lesson", help="play a lesson (`vmapviz lesson list` lists them)")
    le.add_argument("lesson", metavar="NAME|FILE|list", help="a built-in lesson, a lesson file (.toml), or list")
    le.add_argument("--tui", action="store_true", help="play it in the TUI, a stop at a time")
    _theme_option(le)
    _in_process_option(le)
    return p


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    # SIGTERM and SIGHUP end any command as Ctrl+C does (exit status 130), unless the
    # command handles them itself (a run stops between two ops, a TUI quits as q does).
    main_thread = threading.current_thread() is threading.main_thread()
    old = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)} if main_thread else {}
    try:
        return _main(argv)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command or "tui"](args)
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
    except _bad_input() as e:   # last: evaluated only for an exception no clause above took
        print(f"vmapviz: {e}", file=sys.stderr)
        return BAD_INPUT


def _bad_input() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad input (exit status 2).  The commands' own are
    imported here, once one of them may have been raised, not when vmapviz starts: a
    command imports only what it runs."""
    from ..live.events import LiveError
    from ..models.vmallocinfo import VmallocinfoError
    from ..teaching.lesson import LessonError
    from ..teaching.sheet import GradeError
    from .export import ExportError
    return (UsageError, ConfigError, UnknownWorkload, TraceError, VmallocinfoError, ExportError, GradeError,
            LessonError, LiveError)


def file_error(path, e: OSError) -> str:
    """'PATH: problem', the path absolute (never empty: '.' or '' say nothing)."""
    where = os.path.abspath(path) if path not in (None, "") else "(unnamed file)"
    return f"{where}: {e.strerror or e}"


def spec_from(args, name: str | None = None) -> RunSpec:
    """The run the command line asks for: the workload `name` (default: the argument
    `workload`) and the machine options; built, so validated, once, here."""
    name = args.workload if name is None else name
    with _loading_progress(name) as progress:
        workload = get(name, progress)
    return RunSpec.of(workload, variant=getattr(args, "variant", None), nr_cpus=args.cpus, bits=args.bits,
                      seed=args.seed, flush=args.flush, config_nr_cpus=args.config_nr_cpus,
                      tiny=getattr(args, "tiny", False))


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
        from ..tui.screens.vmallocinfo import run_vmallocinfo_tui
        return _tui_status(run_vmallocinfo_tui(args.vmallocinfo, args.watch, args.cpus, theme=args.theme))
    if args.watch is not None:
        raise UsageError("--watch needs --vmallocinfo FILE")
    spec = spec_from(args)  # refuse bad options first
    return _run_tui(spec, args)


def _run_tui(spec, args, lesson=None) -> int:
    """The TUI on its driver: the simulation in a child process, started before the UI
    is imported so that the two start up side by side, and ended however the UI ends;
    with --in-process, a thread of the app's own process."""
    driver = None
    if not args.in_process:
        from ..run.child import ChildDriver
        driver = ChildDriver(spec)
    try:
        from ..tui.app import run_tui
        return _tui_status(run_tui(spec, args.theme, lesson=lesson, driver=driver))
    finally:
        if driver is not None:
            driver.stop()


def _tui_status(code: int) -> int:
    """A Textual app's exit status as the CLI's: Textual exits 1 on a crash."""
    return code if code in (OK, INTERRUPTED) else CRASHED


def cmd_run(args) -> int:
    from .report import print_json, print_report, print_vmallocinfo, run_headless, stop_on_signals
    spec = spec_from(args)
    if args.record and _same_file(args.record, getattr(spec.workload, "path", "")):
        raise UsageError(f"--record {args.record}: that is the trace being replayed; recording "
                         "would overwrite it before it is read (record to another file)")
    try:
        record = open(args.record, "w") if args.record else None
        with stop_on_signals() as stop:
            try:
                result = run_headless(spec, args.ops, record, progress=not args.json,
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


def _same_file(a: str, b: str) -> bool:
    """Do paths a and b name one existing file (a link, another spelling)?"""
    try:
        return bool(b) and os.path.samefile(a, b)
    except OSError:
        return False


def cmd_replay(args) -> int:
    args.workload, args.ops, args.record = args.trace, None, None
    return cmd_run(args)


def cmd_workloads(args) -> int:
    if args.json:
        import json
        print(json.dumps([{"name": n, "summary": s} for n, s in catalog()]))
        return 0
    from rich.table import Table

    from .output import Output
    table = Table(box=None, show_header=False, padding=(0, 2))
    for name, summary in catalog():
        table.add_row(f"[bold]{name}[/]", summary)
    Output().print(table)
    return 0


def _default_layouts(name: str) -> dict[int, tuple[int, int, str]]:
    """Each width's default vmalloc range on a generation, with its summary line."""
    from ..kernel import Config
    out = {}
    for bits in (64, 32):
        cfg = Config(variant=name, bits=bits, nr_cpus=1)
        out[bits] = (cfg.vmalloc_start, cfg.vmalloc_end,
                     cfg.generation.layout.summary(bits, cfg.config_nr_cpus, cfg.ram_size))
    return out


def cmd_variants(args) -> int:
    gens = list(GENERATIONS.values())
    layouts = {g.name: _default_layouts(g.name) for g in gens}
    if args.json:
        import json
        print(json.dumps([{"name": g.name, "version": g.version, "description": g.description,
                           "calls": list(g.calls), "lazy_flush": g.features.lazy_flush,
                           "vmap_blocks": g.features.vmap_blocks, "locks": list(g.features.locks),
                           "vmalloc": {str(b): {"start": s, "end": e, "text": t}
                                       for b, (s, e, t) in layouts[g.name].items()}}
                          for g in gens]))
        return 0
    from rich.markup import escape
    from rich.table import Table

    from .output import Output
    table = Table(box=None, show_header=True, header_style="bold", padding=(0, 2))
    for col in ("name", "version", "what it is", "lazy flush", "vmap blocks"):
        table.add_column(col)
    for g in gens:
        where = "; ".join(t for _, _, t in layouts[g.name].values())
        table.add_row(f"[bold]{g.name}[/]", g.version, f"{g.description}\n[dim]{escape(where)}[/]",
                      "yes" if g.features.lazy_flush else "no", "yes" if g.features.vmap_blocks else "no")
    Output().print(table)
    return 0


def cmd_screenshot(args) -> int:
    from .export import check_image_path, save_screenshot
    spec = spec_from(args)
    check_image_path(args.out)
    if args.start is not None and args.until is not None and not args.until_flush:
        raise UsageError("screenshot shows one op: give --from (with --until-flush) or --until, not both")
    try:
        path = save_screenshot(args.out, spec, args.until, args.start, args.until_flush, size=args.size,
                               layout=args.layout, font_size=args.font_size, progress=True, theme=args.theme)
    except OSError as e:
        raise UsageError(f"--out {file_error(args.out, e)}") from None
    print(path)
    return OK


def cmd_vmallocinfo(args) -> int:
    from ..models import vmallocinfo as vi
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
    from ..tui.screens.compare import run_compare
    return _tui_status(run_compare(spec_from(args), args.variants, args.theme, in_process=args.in_process))


def cmd_scaling(args) -> int:
    from ..models import costmodel
    from .scaling_view import Progress
    progress = Progress()
    try:
        if args.sensitivity:
            result = costmodel.sensitivity(progress=progress)
        elif args.attribution:
            result = {g: costmodel.attribution(g) for g in args.variants}
        elif args.profile:
            _check_cost(costmodel, [args.threads[-1]], args.cpus, ("vanilla", "merged"), args.workload)
            result = costmodel.profile_split(args.workload, args.cpus, args.threads[-1])
        else:
            _check_cost(costmodel, args.threads, args.cpus, args.variants, args.workload)
            result = costmodel.scaling(args.threads, args.cpus, args.workload, args.variants,
                                       progress=progress)
    except costmodel.ModelError as e:
        raise UsageError(str(e)) from None
    finally:
        progress.done()
    from . import scaling_view as view
    if args.json:
        import json
        keep = ("threads", "ns", "speedup", "params", "parts")
        plain = args.sensitivity or args.attribution or args.profile
        print(json.dumps(result if plain else {k: result[k] for k in keep}))
    elif args.sensitivity:
        view.print_sensitivity(result)
    elif args.attribution:
        view.print_attribution(result)
    elif args.profile:
        view.print_profile(result)
    else:
        view.print_scaling(result)
    return 0


def _check_cost(costmodel, threads: list[int], cpus: int, generations, workload: str) -> None:
    """Refuse a table whose simulation is out of proportion (issue 28: 1,024 CPUs ran
    for a quarter of an hour), with one line."""
    work = costmodel.cost_estimate(threads, cpus, tuple(generations), workload)
    if work > costmodel.MAX_WORK:
        raise UsageError(f"scaling: --cpus {cpus} with --threads {','.join(map(str, threads))} would take "
                         f"about {work // costmodel.WORK_PER_S:,} s of CPU, over the cap of "
                         f"{costmodel.MAX_WORK // costmodel.WORK_PER_S} s; use fewer CPUs or threads")


def cmd_export(args) -> int:
    from .export import check_image_path, export
    spec = spec_from(args)
    if not (args.gif or args.html):
        raise UsageError("export writes --gif FILE.gif or --html FILE.html (or both)")
    for path, suffix in ((args.gif, ".gif"), (args.html, ".html")):
        if path:
            check_image_path(path, (suffix,))
    if args.until is None and not args.until_flush:
        raise UsageError("export needs --ops N (or --until OP, or --until-flush): where the film ends")
    from ..tui.headless import Span
    until = args.until if args.until is not None else (args.start or 0) + MAX_UNTIL
    if args.start is not None and args.start > until:
        raise UsageError(f"--from {args.start} is after the last op {until}")
    frames = export(spec, Span(args.every, until, args.start, args.until_flush), gif=args.gif,
                    html=args.html, size=args.size, fps=args.fps, layout=args.layout,
                    font_size=args.font_size, theme=args.theme)
    for path in (args.gif, args.html):
        if path:
            print(f"{path}: {frames} frames")
    return 0


def cmd_serve(args) -> int:
    spec_from(args)   # refuse bad options before listening
    from .serve import serve, session_args
    try:
        serve(args.host, args.port, args.fontsize, session_args(args), args.public_url, args.max_sessions)
    except OSError as e:   # the port is taken, or the address is not this machine's
        raise UsageError(f"cannot listen on {args.host} port {args.port}: {e.strerror or e}") from None
    return INTERRUPTED   # serve() returns only once SIGINT or SIGTERM stopped it


def cmd_quiz(args) -> int:
    from ..teaching import quiz
    spec = spec_from(args)
    workload, config = spec.workload, spec.config
    kinds = [k for k in (args.kinds or quiz.KINDS) if k in quiz.LEVELS[args.level]]
    if not kinds:
        raise UsageError(f"none of --kinds {','.join(args.kinds)} is asked at --level {args.level}")
    horizon = args.ops or quiz.HORIZON
    if args.sheet or args.students:
        if not (args.sheet and args.students):
            raise UsageError("--sheet DIR and --students N|FILE go together")
        from ..teaching.sheet import students_from, write_sheets
        names = students_from(args.students)
        paths = write_sheets(args.sheet, spec, names, args.n, kinds, args.level, horizon)
        print(f"{args.sheet}: {len(names)} sheets (Markdown and HTML), key.json and key.md "
              f"({len(paths)} files)")
        return 0
    questions = quiz.generate(spec, args.n, horizon, kinds)
    if args.json:
        import json
        print(json.dumps([q.as_json() for q in questions]))
        return 0
    print("\n".join(quiz.machine_lines(config, workload)))
    print()
    if args.show_ops and questions:
        _print_ops(workload, config, questions, args.c)
    else:
        for i, q in enumerate(questions, 1):
            print(f"{i}. {q.question}")
            if args.c:
                print(f"   answer: {quiz.answer_text(q)}: {q.why}")
    for line in _quiz_shortfall(args, quiz, kinds, horizon, len(questions), workload.name, config):
        print(line)
    if not args.c:
        print("\nPredict each answer, then run again with -c to see them.")
    return 0


def _quiz_shortfall(args, quiz, kinds, horizon, got, name, config) -> list[str]:
    """Why a quiz asked fewer questions than -n, or left out kinds of --kinds."""
    out = []
    left_out = [k for k in args.kinds or () if k not in kinds]
    if left_out:
        out.append(f"Not asked at --level {args.level}: {', '.join(left_out)} (level "
                   f"{min(lv for lv, ks in quiz.LEVELS.items() if left_out[0] in ks)} asks it).")
    gen = config.variant
    unowned = [k for k in kinds if gen not in quiz.FOR[k]]
    if unowned:
        out.append(f"Not asked on {gen}: {', '.join(unowned)} (the answer's why is not written "
                   f"for {gen}: {'; '.join(k + ' is ' + ', '.join(quiz.FOR[k]) + ' only' for k in unowned)}).")
    if got < args.n:
        asked = [k for k in kinds if k not in unowned]
        out.append(f"Only {got} of {args.n} questions: the first {horizon:,} ops of {name} on "
                   f"{config.generation.title} have no more ops that a question of the kinds "
                   f"{', '.join(asked) or 'asked'} can be asked about with all it needs shown "
                   "(try --tiny, another --level or --ops N).")
    return out


def _print_ops(workload, config, questions, answers: bool) -> None:
    """Every op from op 1 to the last question's, each question before its op."""
    from ..run.driver import Run
    from ..teaching import quiz
    run, asked = Run(workload, config), {q.op: (i, q) for i, q in enumerate(questions, 1)}
    while run.kernel.op < questions[-1].op:
        op = run.peek()
        n = run.kernel.op + 1
        if n in asked:
            i, q = asked[n]
            print(f"{i}. {q.question}")
            if answers:
                print(f"   answer: {quiz.answer_text(q)}: {q.why}")
        else:
            print(f"   op {n:,}: cpu{op.cpu} {op.call}({', '.join(str(a) if a <= 0xFFFFF else hex(a) for a in op.args)})")
        run.advance()


def cmd_grade(args) -> int:
    from ..teaching.sheet import grade, grade_lines
    report = grade(args.key, args.answers)
    if args.json:
        import json
        print(json.dumps(report))
    else:
        print("\n".join(grade_lines(report)))
    return 0


def cmd_lesson(args) -> int:
    from ..teaching import lesson
    if args.lesson == "list":
        for item in lesson.catalog():
            print(f"{item.name.split('-', 1)[-1]:<16} {item.title}: {item.summary}")
        return 0
    chosen = lesson.find(args.lesson)
    if args.tui:
        return _run_tui(chosen.spec(), args, lesson=chosen)
    wrong = lesson.play(chosen)
    if wrong:
        print(f"\n{wrong} of the lesson's numbers differ from the simulator's", file=sys.stderr)
    return 1 if wrong else 0


def cmd_live(args) -> int:
    from ..live.stir import MAX_STIR
    if args.stir is not None and not 1 <= args.stir <= MAX_STIR:
        raise UsageError(f"--stir takes 1 to {MAX_STIR:,} threads, not {args.stir}")
    from ..tui.screens.live import run_live
    code = run_live(args.stir or 0, args.theme)
    return code if code in (OK, INTERRUPTED) else CRASHED


def cmd_record(args) -> int:
    import json

    from ..live import recording
    from ..live.report import print_summary, summary
    from ..live.stir import MAX_STIR
    if args.stir is not None and not 1 <= args.stir <= MAX_STIR:
        raise UsageError(f"--stir takes 1 to {MAX_STIR:,} threads, not {args.stir}")
    folder = os.path.dirname(os.path.abspath(args.live))
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--live {file_error(args.live, PermissionError(13, 'cannot write in its folder'))}")
    seconds = args.seconds if args.seconds is not None or args.stir else 5.0
    if args.json:
        rec = recording.record(seconds, args.stir or 0)
    else:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        bar = Progress(TextColumn("recording"), BarColumn(), TextColumn("{task.fields[events]:,} events"),
                       TimeElapsedColumn(), transient=True, console=Console(stderr=True))
        task = bar.add_task("rec", total=seconds, events=0)

        def tick(t: float, n: int) -> None:   # the bar starts once the source runs
            if not bar.live.is_started:
                bar.start()
            bar.update(task, completed=t, events=n)
        try:
            rec = recording.record(seconds, args.stir or 0, tick=tick)
        finally:
            if bar.live.is_started:
                bar.stop()
    try:
        recording.write(rec, args.live)
    except OSError as e:
        raise UsageError(f"--live {file_error(args.live, e)}") from None
    if args.json:
        print(json.dumps(summary(rec)))
    else:
        print_summary(rec, args.live)
    if rec.interrupted:
        print(f"vmapviz: interrupted after {rec.seconds:.1f} s; {args.live} holds what was read",
              file=sys.stderr)
        return INTERRUPTED
    return OK


def cmd_replay_live(args) -> int:
    from ..live import recording, replay
    rec = recording.load(args.file, cpus=args.cpus)
    result = replay.replay(rec, args.variant or replay.default_variant(rec.kernel))
    if args.json:
        import json
        print(json.dumps(result.as_json()))
    else:
        from ..live.report import print_result
        print_result(result)
    return OK


COMMANDS = {"tui": cmd_tui, "run": cmd_run, "replay": cmd_replay, "workloads": cmd_workloads,
            "variants": cmd_variants, "screenshot": cmd_screenshot, "export": cmd_export,
            "serve": cmd_serve, "vmallocinfo": cmd_vmallocinfo, "scaling": cmd_scaling,
            "quiz": cmd_quiz, "grade": cmd_grade, "lesson": cmd_lesson, "compare": cmd_compare,
            "live": cmd_live, "record": cmd_record, "replay-live": cmd_replay_live}
