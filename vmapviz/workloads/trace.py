"""Trace files: a run recorded as JSON Lines, and replayed as a workload.

Line 1 is a header: {"vmapviz": "trace", "version": 1, "workload": NAME, "config":
{the fields of Config: nr_cpus, bits, variant, ...}}.  Every other
line is one op: {"cpu": N, "call": NAME, "args": [INT, ...], "result": INT|null|STR}.
A replay runs the ops in file order and reports every result that differs from the
recorded one, with its line.

A trace is read twice, a line at a time, so memory stays flat however long it is:
`load()` checks every line before anything runs (a malformed file is refused with its
file, line and problem), then the replay parses the lines again as it runs them.  Any
input is bounded: a line is at most MAX_LINE bytes, an integer fits in an unsigned long,
a CPU is below MAX_CPUS.
"""

from __future__ import annotations

import dataclasses
import json
import os
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterator

from ..kernel import Config, ConfigError
from ..kernel.config import MAX_CPUS
from ..kernel.calls import SIGNATURES, ULONG
from ..files import InputError, open_regular
from .base import CALLS, OPTIONAL_ARGS, Op, OpSource, OpTuple, Workload

FORMAT = "trace"
VERSION = 1
MAX_LINE = 64 * 1024        # bytes; an op line is under 200, a header under 1,000
ULONG_LIMIT = 1 << 64       # every integer must fit in a 64-bit unsigned long
MIN_PAGE_SIZE = 4096        # the smallest page any Linux port has
MAX_MISMATCHES = 100        # a replay keeps the first ones and counts the rest
CONFIG_KEYS = tuple(f.name for f in dataclasses.fields(Config) if f.init)

Progress = Callable[[int, int], None]   # (bytes read, file size)


class TraceError(ValueError):
    """A trace that cannot be replayed; the message names the file, line and problem."""


class Recorder:
    """Writes a trace as ops run."""

    def __init__(self, out: IO[str], workload: str, config: Config) -> None:
        self.out = out
        header = {"vmapviz": FORMAT, "version": VERSION, "workload": workload,
                  "config": config.as_dict()}
        out.write(json.dumps(header) + "\n")

    def op(self, op: OpTuple, result: object) -> None:
        cpu, call, args = op
        self.out.write(json.dumps({"cpu": cpu, "call": call, "args": list(args),
                                   "result": result}) + "\n")


@dataclass(frozen=True)
class TraceOp:
    line: int
    op: Op
    result: object


@dataclass(frozen=True)
class TraceWorkload(Workload):
    """A trace file played back as a workload.  `load()` has checked every line; the
    ops are read again from the file by each replay."""

    path: str = ""
    nr_ops: int = 0
    cpu_lines: dict = field(default_factory=dict)  # cpu -> first line that uses it
    wide_line: tuple | None = None  # (line, value) of the first argument >= 2**32
    checked: str | None = None      # the file's identity() when load() checked it

    def config(self, **overrides) -> Config:
        cfg = super().config(**overrides)
        beyond = [(line, cpu) for cpu, line in self.cpu_lines.items() if cpu >= cfg.nr_cpus]
        if beyond:
            line, cpu = min(beyond)
            raise TraceError(f"{self.path}:{line}: cpu {cpu} is beyond the config's "
                             f"{cfg.nr_cpus} CPUs")
        if self.wide_line is not None and cfg.bits == 32:
            line, value = self.wide_line
            raise TraceError(f"{self.path}:{line}: argument {value:#x} does not fit in a "
                             "32-bit unsigned long")
        return cfg

    def source(self, config: Config) -> "TraceSource":
        return TraceSource(self.path, self.nr_ops, self.checked)


class TraceSource(OpSource):
    """The ops of a checked trace, parsed as they are asked for."""

    def __init__(self, path: str, total: int, checked: str | None = None) -> None:
        self.path, self.total = path, total
        self.ops = _ops(path, checked)
        self.current: TraceOp | None = next(self.ops, None)
        self.mismatches: list[str] = []   # the first MAX_MISMATCHES
        self.mismatch_count = 0

    def next(self) -> Op | None:
        return None if self.current is None else self.current.op

    @property
    def ended(self) -> bool:
        return self.current is None

    def feed(self, result: object) -> None:
        t = self.current
        if result != t.result:
            self.mismatch_count += 1
            if len(self.mismatches) < MAX_MISMATCHES:
                self.mismatches.append(f"{self.path}:{t.line}: {t.op.call} returned "
                                       f"{_show(result)}, the trace recorded {_show(t.result)}")
        self.current = next(self.ops, None)


def _show(v: object) -> str:
    return "NULL" if v is None else hex(v) if isinstance(v, int) and v > 0xFFFF else str(v)


def load(path: str | os.PathLike, progress: Progress | None = None) -> TraceWorkload:
    """Check a whole trace, a line at a time; raise TraceError naming the first bad
    line.  `progress(done, total)` is told how many bytes have been read."""
    path = str(path)
    lines = _lines(path, progress)
    first = next(lines, None)
    checked = identity(path)
    if first is None:
        raise TraceError(f"{path}:1: empty file, expected a vmapviz trace header")
    name, defaults = _parse_header(path, first[1])
    nr_ops, cpu_lines, wide, calls = 0, {}, None, set()
    for n, text in lines:
        t = _parse_op(path, n, text)
        nr_ops += 1
        calls.add(t.op.call)
        cpu_lines.setdefault(t.op.cpu, n)
        if wide is None:
            wide = next(((n, a) for a in t.op.args if a >= 1 << 32), None)
    name = name or Path(path).stem
    return TraceWorkload(
        name=Path(path).name, summary=f"trace of {name}, {nr_ops:,} ops",
        watch=f"A replay of {path}, recorded from {name}; any result that differs is reported.",
        streams=None, defaults=defaults, needs=frozenset(calls), path=path, nr_ops=nr_ops,
        cpu_lines=cpu_lines, wide_line=wide, checked=checked)


def identity(path: str) -> str:
    """What says a file is still the one that was checked: device, inode, size, mtime."""
    return _identity(os.stat(path))


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def _lines(path: str, progress: Progress | None = None,
           expect: str | None = None) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line, each at most MAX_LINE bytes of UTF-8.
    A trace is read twice, so it must be a regular file (a pipe such as `<(cat t)` or
    /dev/stdin would be empty the second time); `expect`: the identity() it had when
    it was checked, refused if the file changed since."""
    try:
        f = open_regular(path, "a trace is read twice (checked, then replayed); save it to a file")
        st = os.fstat(f.fileno())
    except InputError as e:
        raise TraceError(str(e)) from None
    except OSError as e:
        raise TraceError(f"{path}: cannot read: {e.strerror or e}") from None
    size = st.st_size
    if expect is not None and _identity(st) != expect:
        f.close()
        raise TraceError(f"{path}: changed since it was checked; load it again")
    with f:
        done, n = 0, 0
        while True:
            try:
                raw = f.readline(MAX_LINE + 1)
            except OSError as e:
                raise TraceError(f"{path}: cannot read: {e.strerror or e}") from None
            if not raw:
                if progress is not None:
                    progress(done, size)
                return
            n += 1
            done += len(raw)
            if len(raw) > MAX_LINE:
                raise TraceError(f"{path}:{n}: line longer than {MAX_LINE:,} bytes")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise TraceError(f"{path}:{n}: not UTF-8 text (byte {e.start + 1}), "
                                 "not a vmapviz trace") from None
            if progress is not None and not n % 4096:
                progress(done, size)
            if text.strip():
                yield n, text


def _ops(path: str, checked: str | None = None) -> Iterator[TraceOp]:
    lines = _lines(path, expect=checked)
    next(lines, None)  # the header
    for n, text in lines:
        yield _parse_op(path, n, text)


def _json(path: str, n: int, text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise TraceError(f"{path}:{n}: bad JSON: {e.msg} at column {e.colno}") from None
    except ValueError as e:  # an integer of more digits than Python converts
        raise TraceError(f"{path}:{n}: bad JSON: {e}") from None
    except RecursionError:
        raise TraceError(f"{path}:{n}: bad JSON: nested too deeply") from None


def _is_int(v: object) -> bool:
    """A JSON integer (true and false are not)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _ulong(v: object) -> bool:
    return _is_int(v) and 0 <= v < ULONG_LIMIT


def _brief(v: object) -> str:
    """A value as the message shows it: short, however big or deep."""
    return reprlib.repr(v)


def _parse_header(path: str, text: str) -> tuple[str | None, dict]:
    """The header's workload name and its config, checked."""
    header = _json(path, 1, text)
    if not isinstance(header, dict) or header.get("vmapviz") != FORMAT:
        raise TraceError(f'{path}:1: not a vmapviz trace (the header needs "vmapviz": "trace")')
    version = header.get("version")
    if not _is_int(version) or version != VERSION:
        raise TraceError(f"{path}:1: unsupported trace version {_brief(version)}")
    name = header.get("workload")
    if name is not None and not isinstance(name, str):
        raise TraceError(f"{path}:1: workload must be a string, not {_brief(name)}")
    conf = header.get("config")
    if not isinstance(conf, dict):
        raise TraceError(f'{path}:1: the header has no "config" object')
    for key, value in conf.items():
        if key not in CONFIG_KEYS:
            raise TraceError(f"{path}:1: unknown config key {_brief(key)} (known: {', '.join(CONFIG_KEYS)})")
        default = getattr(Config, key, None)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TraceError(f"{path}:1: config {key} must be true or false, not {_brief(value)}")
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise TraceError(f"{path}:1: config {key} must be a string, not {_brief(value)}")
        elif not (_ulong(value) or value is None and default is None):
            raise TraceError(f"{path}:1: config {key} must be a non-negative integer below 2**64"
                             f"{' or null' if default is None else ''}, not {_brief(value)}")
    page = conf.get("page_size", MIN_PAGE_SIZE)
    if page < MIN_PAGE_SIZE or page & (page - 1):
        raise TraceError(f"{path}:1: config page_size must be a power of two of at least "
                         f"{MIN_PAGE_SIZE}, not {page}")
    try:
        Config(**conf)
    except (ConfigError, TypeError, ValueError) as e:
        raise TraceError(f"{path}:1: bad config: {e}") from None
    return name, dict(conf)


def _parse_op(path: str, n: int, text: str) -> TraceOp:
    rec = _json(path, n, text)
    where = f"{path}:{n}"
    if not isinstance(rec, dict):
        raise TraceError(f"{where}: expected an object with cpu, call, args")
    call = rec.get("call")
    if not isinstance(call, str) or call not in CALLS:
        raise TraceError(f"{where}: unknown call {_brief(call)} (known: {', '.join(CALLS)})")
    cpu = rec.get("cpu")
    if not _is_int(cpu) or not 0 <= cpu < MAX_CPUS:
        raise TraceError(f"{where}: cpu must be a non-negative integer below {MAX_CPUS}, not {_brief(cpu)}")
    args = rec.get("args", [])
    if not isinstance(args, list):
        raise TraceError(f"{where}: args must be a list, not {_brief(args)}")
    names = CALLS[call]
    optional = OPTIONAL_ARGS.get(call, ())
    if len(args) < len(names):
        raise TraceError(f"{where}: {call} is missing argument '{names[len(args)]}'")
    if len(args) > len(names) + len(optional):
        raise TraceError(f"{where}: {call} takes {len(names) + len(optional)} arguments, got {len(args)}")
    required, extra = SIGNATURES[call]
    for arg, value in zip(required + extra, args):
        limit = ULONG_LIMIT if arg.ctype == ULONG else 1 << 32   # an unsigned int: 32 bits
        if not (_is_int(value) and 0 <= value < limit):
            raise TraceError(f"{where}: argument '{arg.name}' of {call} must be a non-negative "
                             f"integer below 2**{limit.bit_length() - 1}, not {_brief(value)}")
    result = rec.get("result")
    if not (result is None or isinstance(result, str) or _ulong(result)):
        raise TraceError(f"{where}: result must be an integer, a string or null, not {_brief(result)}")
    return TraceOp(n, Op(cpu, call, tuple(args)), result)
