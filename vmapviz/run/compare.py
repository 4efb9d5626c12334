"""Compare mode's runner: one workload, one seed, two kernel generations in lockstep.

`Pair` steps two `driver.Run`s together, op n on both (each generation runs its own
translation of the workload, `Workload.streams_for`), and looks like one Run to
`driver.Driver`; `CompareDriver` is a Driver whose run is a Pair, so the thread, the
commands, the pacing and the snapshot delivery are the Driver's.  It publishes a
`PairSnapshot`: one ordinary Snapshot per generation.
"""

from __future__ import annotations

from dataclasses import dataclass

from .driver import Driver, DriverError, Events, Records, Run, run_loop
from ..kernel import Config, ConfigError
from ..kernel.generations import NAMES
from .snapshot import Snapshot, TimelineView, take, watch_fields
from .spec import RunSpec
from .timeline import Timeline
from ..workloads import Workload

DEFAULT_PAIR = ("vanilla", "merged")


def parse_variants(text: str) -> tuple[str, str]:
    """`vanilla,merged` -> ("vanilla", "merged"): two different registered generations."""
    names = tuple(n.strip() for n in text.split(","))
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ConfigError(f"no generation {unknown[0]!r}; the generations are: {', '.join(NAMES)}")
    if len(names) != 2 or names[0] == names[1]:
        raise ConfigError(f"compare mode takes two different generations separated by a comma "
                          f"(e.g. vanilla,merged), not {text!r}")
    return names


class Side:
    """One generation's run, and the part of its recent past the compare screen reads:
    its recent events and its last op's (not the flush sparkline's op numbers)."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def snapshot(self, previous: Snapshot | None, total_ops: int | None, **fields) -> Snapshot:
        run, tl = self.run, self.run.timeline
        span = TimelineView(tl.start, tl.end, {}) if tl is not None else None   # no strip: no marks
        return take(run.kernel, previous, workload=run.workload.name, timeline=span,
                    translation=run.workload.translation_note(run.config), op=run.kernel.op,
                    **watch_fields(run),
                    total_ops=run.source.total if run.source.total is not None else total_ops,
                    finished=run.done, events=run.recent, last_op=tuple(run.last_op),
                    flush_per=run.flushes.per, flush_counts=run.flushes.counts(), **fields)


class Pair:
    """Two Runs of one workload on two configs, stepped together.  To the Driver it is a
    Run: `advance()` gives the op's records of both sides (`step()` its events),
    `kernel` the first side's (the op count, equal on both).  The pair ends when either
    side's workload ends, with both sides at the shorter one's last op."""

    def __init__(self, workload: Workload, configs: tuple[Config, Config]) -> None:
        self.sides = tuple(Side(Run(workload, cfg, timeline=Timeline())) for cfg in configs)
        self.workload, self.config = workload, configs[0]
        self.kernel = self.sides[0].run.kernel
        self.done = False

    def advance(self) -> Records | None:
        return [r for side in self.sides for r in side.run.last_records] if self.run(1) else None

    def step(self) -> Events | None:
        return self.last_op if self.run(1) else None

    @property
    def last_op(self) -> Events:
        """The last op's events, the first side's then the second's."""
        return [e for side in self.sides for e in side.run.last_op]

    def note(self, error: DriverError) -> None:
        """An error of the driver's: the pair snapshot's `error` shows it, neither
        side's events."""

    def run(self, n: int, until: str | None = None, stop=None) -> int:
        """Run.run() for the pair; with `until` or `stop`, op by op (run_loop).  Else up
        to n ops on both sides: the first side's n, then the second's, so that each
        generation's code stays specialised by CPython's interpreter (alternating the
        two kernel classes op by op costs about a fifth of the pair's speed, see
        benchmarks/bench_compare.py).  How many ran on both: fewer than n when a
        workload ended, and then the pair is done."""
        if until is not None or stop is not None:
            return run_loop(self.advance, n, until, stop)
        first, second = (side.run for side in self.sides)
        ran = first.run(n)
        caught_up = second.run(ran)
        if caught_up < ran:   # the second ended first: the first goes back to its op
            first.seek(second.kernel.op)
            self.kernel = first.kernel
        self.done = caught_up < n
        return caught_up

    def seek(self, n: int) -> None:
        """Run.seek() for the pair: both sides to op n (time travel on both), or both
        to the shorter one's end when a workload ends first."""
        for side in self.sides:
            side.run.seek(n)
        end = min(side.run.kernel.op for side in self.sides)
        for side in self.sides:
            if side.run.kernel.op > end:
                side.run.seek(end)
        self.kernel = self.sides[0].run.kernel
        self.done = any(side.run.done for side in self.sides)

    def previous(self, kind: str) -> int | None:
        """The last op before this one marked `kind` on either side, or None."""
        found = [op for side in self.sides if (op := side.run.previous(kind)) is not None]
        return max(found) if found else None

    def call(self, name: str, *args, cpu: int = 0) -> Events:
        """An extra call on both sides (a generation without it refuses it); its events."""
        return [e for side in self.sides for e in side.run.call(name, *args, cpu=cpu)]


@dataclass(frozen=True)
class PairSnapshot:
    """The two sides at the same op; the driver's fields read like a Snapshot's."""

    sides: tuple[Snapshot, Snapshot]

    @property
    def op(self) -> int:
        return self.sides[0].op

    @property
    def running(self) -> bool:
        return self.sides[0].running

    @property
    def finished(self) -> bool:
        return any(s.finished for s in self.sides)

    @property
    def error(self) -> str | None:
        return self.sides[0].error

    @property
    def speed(self) -> float | None:
        return self.sides[0].speed


class CompareDriver(Driver):
    """A Driver whose run is a Pair: `workload` on `variants` with the same options
    (CPUs, width, seed, flush model).  A workload either generation cannot run is
    refused here (UnsupportedWorkload), before any thread starts."""

    BURST_OPS = 256   # a side's ops in a row (Pair.run): about a burst's time for the pair

    def __init__(self, spec: RunSpec, pair: tuple[str, str] = DEFAULT_PAIR, **driver_options) -> None:
        self.variants = parse_variants(",".join(pair))
        super().__init__(spec, **driver_options)    # builds the Pair: a refusal raises here

    def _new_run(self) -> Pair:
        """The spec's machine on each generation (RunSpec.on: NR_CPUS and the seed kept)."""
        return Pair(self.spec.workload, tuple(self.spec.on(v).config for v in self.variants))

    def _snapshot(self) -> PairSnapshot:
        previous = self.latest.sides if self.latest is not None else (None, None)
        fields = dict(running=self.running, speed=self.speed, ops_per_s=self._rate(), error=self._error)
        return PairSnapshot(tuple(side.snapshot(prev, self.max_ops, **fields)
                                  for side, prev in zip(self._run.sides, previous)))
