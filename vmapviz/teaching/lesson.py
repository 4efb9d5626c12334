"""Lessons: scripted demonstrations a teacher writes in TOML, checked before anything runs.

A lesson names a workload (or a trace, relative to the lesson file) and a config, then
steps.  Each step does one thing, then stops with an optional note and checks its
optional `expect`ed numbers:

    run = 120                 go to op 120 (back or forward)
    until = "flush"           run to the next op with an event of that kind (events.UNTIL)
    call = "purge"            call purge() or vm_unmap_aliases() now
    restart = {variant = "merged"}   the same lesson's workload again on another config
    quiz = "address"          ask a question about the next op (quiz.KINDS), then run it
    highlight = "blocks"      point at a panel (tui/panels/table.py) or at {start = ..., end = ...}
    note = "..."              alone: a pause with a note

`expect = {op = 6912, tlb_flushes = 1}` names the op and any counter of the stats
(StatsView) the stop must show.  The built-in lessons live in vmapviz/teaching/lessons/.
"""

from __future__ import annotations

import re
import reprlib
import tomllib
from typing import Any, NoReturn
from dataclasses import dataclass, field
from pathlib import Path

from ..run.driver import Run
from ..run.spec import RunSpec
from ..files import InputError, open_regular
from ..kernel import ConfigError, StatsView
from ..kernel.events import UNTIL, VOID
from ..tui.panels.table import LESSON_NAMES as PANELS   # textual-free: names only
from .quiz import KINDS, ONE_OP, Question, next_question
from ..run.timeline import Timeline
from ..workloads import TraceError, UnknownWorkload, Workload, get

LESSONS_DIR = Path(__file__).with_name("lessons")
ACTIONS = ("run", "until", "call", "restart", "quiz", "highlight")
CALLS = ("purge", "vm_unmap_aliases")
CONFIG_KEYS = ("variant", "nr_cpus", "bits", "seed", "flush", "config_nr_cpus", "tiny")
STATS = tuple(name for name, f in StatsView.__dataclass_fields__.items() if f.type in (int, "int"))
MAX_UNTIL = 1_000_000   # ops an until step runs at most
MAX_OP = 1_000_000      # the furthest op a run step goes to (about 20 s headless)
MAX_STEPS = 1_000
MAX_BYTES = 1 << 20     # a lesson file; the built-in ones are under 4 KiB
MAX_DEPTH = 32          # arrays and inline tables nested in a lesson (tomllib recurses)


class LessonError(ValueError):
    """A lesson that cannot run; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class Step:
    line: int
    action: str                 # one of ACTIONS, or "note" for a pause
    value: Any = None           # the action's TOML value, checked by value_problem()
    note: str = ""
    expect: dict = field(default_factory=dict)

    def describe(self) -> str:
        a, v = self.action, self.value
        if a == "run":
            return f"go to op {v:,}"
        if a == "until":
            return f"run to the next {v}"
        if a == "call":
            return f"call {v}()"
        if a == "restart":
            return "restart with " + ", ".join(f"{k} {x}" for k, x in v.items())
        if a == "quiz":
            return f"a question: {KINDS[v]}"
        if a == "highlight":
            return f"look at {PANELS[v]}" if isinstance(v, str) else f"look at {v['start']:#x}-{v['end']:#x}"
        return "a pause"


@dataclass(frozen=True)
class Lesson:
    name: str
    path: str
    title: str
    summary: str
    workload: Workload
    config: dict
    steps: tuple[Step, ...]

    def spec(self, changes: dict | None = None) -> RunSpec:
        """The run the lesson file asks for, with a step's `restart` changes."""
        return RunSpec.of(self.workload, **{**self.config, **(changes or {})})


def catalog() -> list[Lesson]:
    """The built-in lessons, in the order of their numbers."""
    return [load(p) for p in _builtin_paths()]


def _builtin_paths() -> list[Path]:
    return sorted(LESSONS_DIR.glob("*.toml"), key=lambda p: (int(p.stem.split("-")[0]), p.stem))


def find(name: str) -> Lesson:
    """A built-in lesson by name (the file's stem, with or without its number) or a file."""
    path = Path(name)
    if path.suffix == ".toml" or path.exists():
        return load(path)
    for p in _builtin_paths():
        if name in (p.stem, p.stem.split("-", 1)[-1]):
            return load(p)
    names = ", ".join(p.stem.split("-", 1)[-1] for p in _builtin_paths())
    raise LessonError(f"no lesson {name!r}; the lessons are: {names} (or give a .toml file)")


def load(path: str | Path) -> Lesson:
    """Read and check a whole lesson; raise LessonError naming the first problem."""
    path = Path(path)
    text = _read(path)
    deep = _too_deep(text)
    if deep:
        raise LessonError(f"{path}:{deep}: nested more than {MAX_DEPTH} deep")
    try:
        data = tomllib.loads(text)
    except RecursionError:   # not reached after _too_deep(), whatever tomllib's stack
        raise LessonError(f"{path}:1: nested too deeply") from None
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column \d+\)", str(e))
        line = m.group(1) if m else "1"
        raise LessonError(f"{path}:{line}: {re.sub(r' [(]at line.*', '', str(e))}") from None
    return _Checker(path, text).lesson(data)


def _read(path: Path) -> str:
    """The lesson's text: a regular file (a FIFO or a device is refused, never waited
    on), at most MAX_BYTES, in UTF-8."""
    try:
        with open_regular(str(path), "a lesson is read from a file") as f:
            data = f.read(MAX_BYTES + 1)
    except InputError as e:
        raise LessonError(str(e)) from None
    except OSError as e:
        raise LessonError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:
        raise LessonError(f"{path}:1: larger than {MAX_BYTES >> 10:,} KiB, not a lesson")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise LessonError(f"{path}:{line}: not UTF-8 text (byte {e.start + 1}), not a lesson") from None


def _too_deep(text: str) -> int:
    """The line where arrays and inline tables nest past MAX_DEPTH, else 0 (brackets in
    strings are counted too: a lesson with that many is refused as well)."""
    depth = 0
    for n, line in enumerate(text.splitlines(), 1):
        for ch in line:
            if ch in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    return n
            elif ch in "]}":
                depth -= 1
    return 0


def _brief(v: object) -> str:
    """A value as an error message shows it: short, however big or deep."""
    return reprlib.repr(v)


class _Checker:
    """Checks a parsed lesson; finds the line of a key in the text for its errors."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines = path, text.splitlines()
        self.step_headers = [i for i, t in enumerate(self.lines) if re.match(r"\s*\[\[\s*step\s*\]\]", t)]

    def fail(self, problem: str, key: str | None = None, step: int | None = None,
             table: str | None = None) -> NoReturn:
        raise LessonError(f"{self.path}:{self.line(key, step, table)}: {problem}")

    def line(self, key: str | None, step: int | None = None, table: str | None = None) -> int:
        """The line of `key` in the top level, in [table], or in the step-th [[step]]."""
        start, header = 0, None
        if step is not None:
            headers = self.step_headers
            if step < len(headers):
                start = header = headers[step]
        elif table is not None:
            found = [i for i, t in enumerate(self.lines) if re.match(rf"\s*\[\s*{table}\s*\]", t)]
            if found:
                start = header = found[0]
        for i in range(start + (header is not None), len(self.lines)):
            text = self.lines[i]
            if re.match(r"\s*\[", text):
                break
            if key is not None and re.match(rf"\s*{re.escape(key)}\s*=", text):
                return i + 1
        return (header if header is not None else 0) + 1

    def lesson(self, data: dict) -> Lesson:
        allowed = {"title", "summary", "workload", "trace", "config", "step"}
        for key in data:
            if key not in allowed:
                self.fail(f"unknown key {key!r} (a lesson has {', '.join(sorted(allowed))})", key)
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            self.fail("the lesson needs a title = \"...\"", "title")
        workload = self.workload(data)
        config = data.get("config", {})
        if not isinstance(config, dict):
            self.fail("config must be a table: [config]", "config")
        for key in config:
            if key not in CONFIG_KEYS:
                self.fail(f"unknown config key {key!r} (one of {', '.join(CONFIG_KEYS)})", key, table="config")
        self.config(workload, config, None)
        steps = data.get("step")
        if not isinstance(steps, list) or not steps:
            self.fail("the lesson has no steps: add [[step]] tables", "step")
        if len(steps) > MAX_STEPS:
            self.fail(f"{len(steps):,} steps: a lesson has at most {MAX_STEPS:,}", None, MAX_STEPS)
        return Lesson(self.path.stem, str(self.path), title.strip(), str(data.get("summary", "")),
                      workload, dict(config), tuple(self.step(i, s, workload, config) for i, s in enumerate(steps)))

    def workload(self, data: dict) -> Workload:
        name, trace = data.get("workload"), data.get("trace")
        if (name is None) == (trace is None):
            self.fail("name either a workload = \"...\" or a trace = \"file.jsonl\"", "workload")
        key = "workload" if trace is None else "trace"
        value = name if trace is None else str(self.path.parent / trace) if isinstance(trace, str) else trace
        if not isinstance(value, str):
            self.fail(f"{key} must be a string", key)
        try:
            return get(value)
        except (UnknownWorkload, TraceError) as e:
            self.fail(str(e), key)

    def config(self, workload: Workload, changes: dict, step: int | None, base: dict | None = None) -> None:
        try:
            workload.config(**{**(base or {}), **changes})
        except (ConfigError, TypeError) as e:
            self.fail(f"bad config: {e}", next(iter(changes), None) if step is None else "restart",
                      step, "config" if step is None else None)

    def step(self, i: int, s: object, workload: Workload, config: dict) -> Step:
        if not isinstance(s, dict):
            self.fail("a step must be a table", "step")
        for key in s:
            if key not in ACTIONS + ("note", "expect"):
                self.fail(f"unknown step key {key!r} (one of {', '.join(ACTIONS)}, note, expect)", key, i)
        actions = [a for a in ACTIONS if a in s]
        if len(actions) > 1:
            self.fail(f"a step does one thing, this one has {' and '.join(actions)}", actions[1], i)
        action = actions[0] if actions else "note"
        value = s.get(action)
        note = s.get("note", "")
        if not isinstance(note, str):
            self.fail("note must be a string", "note", i)
        if action == "note" and not note:
            self.fail("an empty step: give it an action or a note", None, i)
        bad = self.value_problem(action, value)
        if bad:
            self.fail(bad, action, i)
        if action == "restart":
            self.config(workload, value, i, config)
        expect = s.get("expect", {})
        if not isinstance(expect, dict):
            self.fail("expect must be a table, e.g. expect = {op = 10, tlb_flushes = 1}", "expect", i)
        for key, v in expect.items():
            if key not in ("op", "result") and key not in STATS:
                self.fail(f"expect: unknown number {key!r} (op, result or a counter: "
                          f"{', '.join(STATS[:6])}, ...)", "expect", i)
            if key == "result" and not (type(v) is int or v == "NULL"):
                self.fail(f"expect: result must be an integer (an address) or \"NULL\", not {_brief(v)}",
                          "expect", i)
            elif key != "result" and type(v) is not int:
                self.fail(f"expect: {key} must be an integer, not {_brief(v)}", "expect", i)
        return Step(self.line(action if action != "note" else "note", i), action, value, note.strip(), dict(expect))

    @staticmethod
    def value_problem(action: str, v: object) -> str | None:
        if action == "run" and (type(v) is not int or not 0 <= v <= MAX_OP):
            return f"run takes an op number from 0 to {MAX_OP:,}, not {_brief(v)}"
        if action == "until" and (not isinstance(v, str) or v not in UNTIL):
            return f"until takes one of {', '.join(UNTIL)}, not {_brief(v)}"
        if action == "call" and (not isinstance(v, str) or v not in CALLS):
            return f"call takes one of {', '.join(CALLS)}, not {_brief(v)}"
        if action == "quiz" and (not isinstance(v, str) or v not in ONE_OP):
            return f"quiz takes one of {', '.join(ONE_OP)}, not {_brief(v)}"
        if action == "restart" and (not isinstance(v, dict) or not v or set(v) - set(CONFIG_KEYS)):
            return f"restart takes a table of {', '.join(CONFIG_KEYS)}, not {_brief(v)}"
        if action == "highlight":
            if isinstance(v, str):
                return None if v in PANELS else f"highlight takes a panel ({', '.join(PANELS)}) or {{start, end}}, not {_brief(v)}"
            if not (isinstance(v, dict) and set(v) == {"start", "end"} and all(type(x) is int for x in v.values())
                    and v["start"] < v["end"]):
                return f"highlight takes a panel or {{start = ADDR, end = ADDR}} with start < end, not {_brief(v)}"
        return None


def check_expect(step: Step, op: int, stats, result: object = None) -> list[str]:
    """The numbers of `step.expect` that the stop does not show, as sentences.
    `result`: what the stop's last op returned (an address, NULL, a value)."""
    wrong = []
    for key, want in step.expect.items():
        if key == "result":
            got = "NULL" if result is None else result
            if got != want:
                wrong.append(f"the last op returned {_value(got)}, the lesson says {_value(want)}")
            continue
        got = op if key == "op" else getattr(stats, key)
        if got != want:
            wrong.append(f"{key} is {got:,}, the lesson says {want:,}")
    return wrong


def _value(v: object) -> str:
    return f"{v:#x}" if isinstance(v, int) and v > 0xFFFFF else f"{v:,}" if isinstance(v, int) else str(v)


def last_result(run: Run) -> object:
    """What the run's last op returned: an address or value, None for NULL (VOID: nothing)."""
    ret = next((e for e in reversed(getattr(run, "last_op", None) or []) if e.kind == "return"), None)
    return VOID if ret is None else ret.result


# -- playing a lesson ----------------------------------------------------------------------

@dataclass(frozen=True)
class Stop:
    """Where a step left the run: its op, the counters, what `expect` got wrong, and
    the question a quiz step asks (about the next op, which has not run yet)."""

    index: int
    step: Step
    op: int
    stats: StatsView
    wrong: list
    question: Question | None = None


class Player:
    """Plays a lesson's steps on a Run with a timeline: `do(run, i)` performs step i and
    returns the run (a new one after a restart) and the Stop.  The headless player and
    the TUI (through Driver.apply, in the driver's thread) share it."""

    def __init__(self, lesson: Lesson) -> None:
        self.lesson = lesson
        self.changes: dict = {}

    def new_run(self) -> Run:
        return Run(self.lesson.workload, self.lesson.spec(self.changes).config, timeline=Timeline())

    def do(self, run: Run, index: int) -> tuple[Run, Stop]:
        step = self.lesson.steps[index]
        question = None
        a, v = step.action, step.value
        if a == "run":
            run.seek(v)
        elif a == "until":
            run.run(MAX_UNTIL, until=v)
        elif a == "call":
            run.call(v)
        elif a == "restart":
            self.changes.update(v)
            run = self.new_run()
        elif a == "quiz":
            question = next_question(run, [v])
            if question is not None:     # its expect is checked once the answer is out
                return run, Stop(index, step, run.kernel.op, run.kernel.stats_view(), [], question)
        return run, self.stop(run, index, question)

    def stop(self, run: Run, index: int, question: Question | None = None) -> Stop:
        step = self.lesson.steps[index]
        stats = run.kernel.stats_view()
        return Stop(index, step, run.kernel.op, stats,
                    check_expect(step, run.kernel.op, stats, last_result(run)), question)

    def reveal(self, run: Run, stop: Stop) -> Stop:
        """Run the op a quiz step asked about: the stop with the answer out."""
        run.advance()
        return self.stop(run, stop.index, stop.question)


def play_to(run: Run, lesson: Lesson, start: int, target: int) -> tuple[Run, Stop | None]:
    """Driver.apply's function for a lesson in the TUI: from stop `start` (-1: none
    yet), perform the steps up to `target`; going back replays the lesson from its start
    (a few thousand ops), quizzes answered on the way.  A module-level function, so that
    it can be sent to a driver in another process (run/child.py)."""
    player = Player(lesson)
    if target <= start or start < 0:
        run, first = player.new_run(), 0
    else:
        first = start + 1
        for step in lesson.steps[:first]:      # the config the restarts before it made
            if step.action == "restart":
                player.changes.update(step.value)
    stop = None
    for i in range(first, target + 1):
        run, stop = player.do(run, i)
        if stop.question is not None and i < target:
            stop = player.reveal(run, stop)
    return run, stop


def reveal(run: Run, lesson: Lesson, stop: Stop) -> tuple[Run, Stop]:
    """Driver.apply's function: the stop of a quiz step with its answer out."""
    return run, Player(lesson).reveal(run, stop)


def state_line(op: int, stats: StatsView) -> str:
    """The numbers a lesson's stop shows."""
    s = stats
    return (f"op {op:,} · {plural(s.live_areas, 'live area')}, {s.lazy_areas:,} lazy "
            f"(vmap_lazy_nr {s.lazy_pages:,} of {plural(s.lazy_max_pages, 'page')}) · "
            f"{plural(s.tlb_flushes, 'TLB flush', 'TLB flushes')}, {plural(s.ipis, 'IPI')}, "
            f"{plural(s.purges, 'purge')} · {plural(s.vmap_blocks, 'vmap block')} · "
            f"{plural(s.warnings, 'warning')}")


def plural(n: int, one: str, many: str | None = None) -> str:
    """"1 IPI", "2 IPIs", "1,024 pages": one number format (grouped), the noun agreeing."""
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def play(lesson: Lesson, out=print) -> int:
    """Play a whole lesson headless, printing each stop; the number of stated numbers
    the simulator did not reproduce."""
    player = Player(lesson)
    run = player.new_run()
    cfg = run.config
    out(f"{lesson.title}")
    if lesson.summary:
        out(lesson.summary)
    out(f"({lesson.workload.name}, {cfg.generation.title}, {cfg.nr_cpus} CPUs, {cfg.bits}-bit, seed {cfg.seed})")
    wrong = 0
    for i, step in enumerate(lesson.steps):
        run, stop = player.do(run, i)
        out("")
        out(f"{i + 1}. {step.describe()}")
        if stop.question is not None:
            q = stop.question
            out(f"   Q: {q.question}")
            stop = player.reveal(run, stop)
            out(f"   A: {q.answer}: {q.why}")
        for line in step.note.splitlines():
            out(f"   {line}")
        out(f"   [{state_line(stop.op, stop.stats)}]")
        for problem in stop.wrong:
            out(f"   MISMATCH: {problem}")
        wrong += len(stop.wrong)
    return wrong
