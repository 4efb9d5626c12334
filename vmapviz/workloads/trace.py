"""Trace files: a run recorded as JSON Lines, and replayed as a workload.

Line 1 is a header: {"vmapviz": "trace", "version": 1, "workload": NAME, "config":
{nr_cpus, bits, variant, page_size, vmalloc_start, vmalloc_end, seed, flush, ram_size,
config_nr_cpus}}.  Every other line is one op: {"cpu": N, "call": NAME, "args": [INT, ...], "result": INT|null|STR}.
A replay runs the ops in file order and reports every result that differs from the
recorded one, with its line.  A malformed file is refused before anything runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..kernel import Config, ConfigError
from .base import CALLS, OPTIONAL_ARGS, Op, OpSource, Workload

FORMAT = "trace"
VERSION = 1


class TraceError(ValueError):
    """A trace that cannot be replayed; the message names the file, line and problem."""


class Recorder:
    """Writes a trace as ops run."""

    def __init__(self, out: IO[str], workload: str, config: Config) -> None:
        self.out = out
        header = {"vmapviz": FORMAT, "version": VERSION, "workload": workload,
                  "config": config.as_dict()}
        out.write(json.dumps(header) + "\n")

    def op(self, op: Op, result: object) -> None:
        self.out.write(json.dumps({"cpu": op.cpu, "call": op.call, "args": list(op.args),
                                   "result": result}) + "\n")


@dataclass(frozen=True)
class TraceOp:
    line: int
    op: Op
    result: object


@dataclass(frozen=True)
class TraceWorkload(Workload):
    """A trace file played back as a workload."""

    ops: tuple[TraceOp, ...] = field(default=())
    path: str = ""

    def config(self, **overrides) -> Config:
        cfg = super().config(**overrides)
        for t in self.ops:
            if t.op.cpu >= cfg.nr_cpus:
                raise TraceError(f"{self.path}:{t.line}: cpu {t.op.cpu} is beyond the "
                                 f"config's {cfg.nr_cpus} CPUs")
        return cfg

    def source(self, config: Config) -> "TraceSource":
        return TraceSource(self.ops, self.path)


class TraceSource(OpSource):
    def __init__(self, ops: tuple[TraceOp, ...], path: str) -> None:
        self.ops, self.path = ops, path
        self.i = 0
        self.total = len(ops)
        self.mismatches: list[str] = []

    def next(self) -> Op | None:
        return self.ops[self.i].op if self.i < len(self.ops) else None

    def feed(self, result: object) -> None:
        t = self.ops[self.i]
        if result != t.result:
            self.mismatches.append(f"{self.path}:{t.line}: {t.op.call} returned "
                                   f"{_show(result)}, the trace recorded {_show(t.result)}")
        self.i += 1


def _show(v: object) -> str:
    return "NULL" if v is None else hex(v) if isinstance(v, int) and v > 0xFFFF else str(v)


def load(path: str | Path) -> TraceWorkload:
    """Parse and check a whole trace; raise TraceError naming the first bad line."""
    path = str(path)
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise TraceError(f"{path}: cannot read: {e.strerror or e}") from None
    if not lines:
        raise TraceError(f"{path}:1: empty file, expected a vmapviz trace header")
    header = _json(path, 1, lines[0])
    if not isinstance(header, dict) or header.get("vmapviz") != FORMAT:
        raise TraceError(f'{path}:1: not a vmapviz trace (the header needs "vmapviz": "trace")')
    if header.get("version") != VERSION:
        raise TraceError(f"{path}:1: unsupported trace version {header.get('version')!r}")
    conf = header.get("config")
    if not isinstance(conf, dict):
        raise TraceError(f'{path}:1: the header has no "config" object')
    try:
        defaults = {k: conf[k] for k in ("nr_cpus", "bits", "variant", "page_size", "flush", "ram_size",
                                         "vmalloc_start", "vmalloc_end", "seed", "config_nr_cpus")
                    if k in conf}
        Config(**defaults)
    except (ConfigError, TypeError) as e:
        raise TraceError(f"{path}:1: bad config: {e}") from None
    ops = []
    for n, text in enumerate(lines[1:], start=2):
        if text.strip():
            ops.append(_parse_op(path, n, text))
    name = header.get("workload") or Path(path).stem
    return TraceWorkload(
        name=Path(path).name, summary=f"trace of {name}, {len(ops)} ops",
        watch=f"A replay of {path}, recorded from {name}; any result that differs is reported.",
        streams=None, defaults=defaults, needs=frozenset(t.op.call for t in ops),
        ops=tuple(ops), path=path)


def _json(path: str, n: int, text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise TraceError(f"{path}:{n}: bad JSON: {e.msg} at column {e.colno}") from None


def _parse_op(path: str, n: int, text: str) -> TraceOp:
    rec = _json(path, n, text)
    where = f"{path}:{n}"
    if not isinstance(rec, dict):
        raise TraceError(f"{where}: expected an object with cpu, call, args")
    call = rec.get("call")
    if call not in CALLS:
        raise TraceError(f"{where}: unknown call {call!r} (known: {', '.join(CALLS)})")
    cpu = rec.get("cpu")
    if not isinstance(cpu, int) or isinstance(cpu, bool) or cpu < 0:
        raise TraceError(f"{where}: cpu must be a non-negative integer, not {cpu!r}")
    args = rec.get("args", [])
    if not isinstance(args, list):
        raise TraceError(f"{where}: args must be a list, not {args!r}")
    names = CALLS[call]
    optional = OPTIONAL_ARGS.get(call, ())
    if len(args) < len(names):
        raise TraceError(f"{where}: {call} is missing argument '{names[len(args)]}'")
    if len(args) > len(names) + len(optional):
        raise TraceError(f"{where}: {call} takes {len(names) + len(optional)} arguments, got {len(args)}")
    for name, value in zip(names + optional, args):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise TraceError(f"{where}: argument '{name}' of {call} must be a non-negative "
                             f"integer, not {value!r}")
    result = rec.get("result")
    if result is not None and not isinstance(result, (int, str)):
        raise TraceError(f"{where}: result must be an integer, a string or null, not {result!r}")
    return TraceOp(n, Op(cpu, call, tuple(args)), result)
