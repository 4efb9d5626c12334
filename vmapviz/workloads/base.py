"""What a workload is: per-CPU streams of kernel calls, interleaved one call at a time
in an order fixed by the seed.

A stream is a generator: it yields `(call, args)` and receives the call's result, so a
stream can free what it allocated; its `rng` is an `Rng`, a random.Random seeded from the
workload, the run's seed and the CPU.  The scheduler picks the next CPU among those whose
stream has a call ready with a `random.Random` seeded from the run's seed, which gives
the same order on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Callable, Generator, Iterator, NamedTuple

from ..kernel import Config, ConfigError
from ..kernel.calls import CALLS, OPTIONAL_ARGS

Stream = Generator[tuple[str, tuple], object, None]
OpTuple = tuple[int, str, tuple]   # an op as sources hand it out: (cpu, call, args)
Streams = Callable[[Config, Callable[[int], random.Random]], dict[int, Stream]]

__all__ = ["CALLS", "OPTIONAL_ARGS", "Op", "OpSource", "OpTuple", "Rng", "Translation", "UnsupportedWorkload",
           "Workload", "each_cpu", "on_cpu0"]


class UnsupportedWorkload(ConfigError):
    """A workload that calls what the chosen kernel generation does not have."""


class Op(NamedTuple):
    """One call on one CPU.  A source hands its ops out as plain `(cpu, call, args)`
    tuples, these fields in this order: making a NamedTuple costs about 1,700
    instructions more than a tuple, a third of the source's work an op.  `Op(*op)`
    names the fields where a reader wants them."""

    cpu: int
    call: str
    args: tuple


class OpSource:
    """What a run reads ops from: `next()` gives the next op, a `(cpu, call, args)`
    tuple (an Op or a plain tuple), or None at the end; `feed(result)` hands that op's
    result back."""

    total: int | None = None  # how many ops it has, when known

    @property
    def ended(self) -> bool:  # pragma: no cover - interface
        """True once every op has run (asking does not change what runs next)."""
        raise NotImplementedError

    def next(self) -> OpTuple | None:  # pragma: no cover - interface
        raise NotImplementedError

    def feed(self, result: object) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class Interleaver(OpSource):
    """Runs one generator per CPU, choosing the next CPU at random (seeded).

    Its state is a list `ready` of one entry per CPU whose stream has a call ready:
    [cpu, stream, that call as a (cpu, call, args) tuple], updated in place as the
    stream moves on.  A stream stays a generator: resuming one costs what calling a
    method of a per-CPU state object costs (bench_source.py measured 4,202 against
    4,164 instructions an op of map-touch-unmap), and a generator reads as the loop it is."""

    def __init__(self, streams: dict[int, Stream], seed: int) -> None:
        self.rng = random.Random(f"vmapviz-schedule:{seed}")
        self._draw = self.rng.getrandbits
        self.ready: list[list] = []
        for cpu in sorted(streams):
            first = next(streams[cpu], None)
            if first is not None:
                self.ready.append([cpu, streams[cpu], (cpu, first[0], first[1])])
        self.current = -1

    @property
    def ended(self) -> bool:
        return not self.ready

    def next(self) -> OpTuple | None:
        ready = self.ready
        n = len(ready)
        if n > 1:       # Rng.below(n) inlined (the scheduler draws once an op): randrange(n)
            k, draw = n.bit_length(), self._draw
            i = draw(k)
            while i >= n:
                i = draw(k)
        elif n:
            i = 0
        else:
            return None
        self.current = i
        return ready[i][2]

    def feed(self, result: object) -> None:
        entry = self.ready[self.current]
        try:
            nxt = entry[1].send(result)
        except StopIteration:
            nxt = None
        if nxt is None:
            del self.ready[self.current]
        else:
            entry[2] = (entry[0], nxt[0], nxt[1])


class RoundRobin(Interleaver):
    """Runs the streams in turn, one op each, in CPU order: threads that run at once,
    each one's mapping live while the others map theirs (the cost model's machine).
    A stream that ends leaves the turn."""

    def __init__(self, streams: dict[int, Stream]) -> None:
        super().__init__(streams, 0)

    def next(self) -> OpTuple | None:
        ready = self.ready
        if not ready:
            return None
        self.current = i = (self.current + 1) % len(ready)
        return ready[i][2]

    def feed(self, result: object) -> None:
        before = len(self.ready)
        super().feed(result)
        if len(self.ready) < before:
            self.current -= 1     # the next stream has moved into this one's place


class Rng(random.Random):
    """A stream's random.Random.  randrange(n), randint(a, b) and choice(seq) draw exactly
    as CPython's own do (Random._randbelow_with_getrandbits: getrandbits(n.bit_length())
    until the draw is below n), with one Python frame instead of three: the hot
    workloads draw on most ops.  Every other form and method is random.Random's."""

    def below(self, n: int) -> int:
        """randrange(n) for an int n >= 1."""
        k = n.bit_length()
        r = self.getrandbits(k)
        while r >= n:
            r = self.getrandbits(k)
        return r

    def randrange(self, start, stop=None, step=1):  # type: ignore[override]
        if stop is None and step == 1 and type(start) is int and start > 0:
            return self.below(start)
        return super().randrange(start, stop, step)

    def randint(self, a: int, b: int) -> int:
        if type(a) is int and type(b) is int and b >= a:
            return a + self.below(b - a + 1)
        return super().randint(a, b)

    def choice(self, seq):
        n = len(seq)
        return seq[self.below(n)] if n else super().choice(seq)


@dataclass(frozen=True)
class Translation:
    """What a workload calls on a generation that lacks some of its calls, and why
    that is an honest stand-in."""

    streams: Streams
    needs: frozenset[str]
    note: str


@dataclass(frozen=True)
class Workload:
    """A named workload: its streams, the calls they cannot do without (`needs`; a
    stream may also make calls only when the kernel offers them), its translations for
    generations that lack some of those calls, the machine it wants (overridable) and
    what a class should watch for."""

    name: str
    summary: str
    watch: str
    streams: Streams
    defaults: dict = field(default_factory=dict)  # nr_cpus, bits, variant (config_nr_cpus...)
    default_ops: int | None = None   # for endless workloads: a headless run's length
    expect_failures: str = ""        # why allocation failures are the expected outcome
    needs: frozenset[str] = frozenset()
    translations: dict[str, Translation] = field(default_factory=dict)  # by generation name
    turns: int | None = None         # CPUs 0..turns-1 take turns (RoundRobin); None: seeded interleaving
    # The generations `watch` is written for (empty: the default variant's alone): each
    # generation owns its sentences, and another gets watch_on()'s neutral line.
    watch_for: tuple[str, ...] = ()
    # Notes written for other generations: (their owners, the text).
    watch_also: tuple[tuple[tuple[str, ...], str], ...] = ()

    def watch_texts(self) -> tuple[tuple[tuple[str, ...], str], ...]:
        """Every text of the notes, each with the generations it is written for."""
        return ((self.watch_for or (self.defaults.get("variant", "merged"),), self.watch), *self.watch_also)

    def watch_owned(self, generation: str) -> bool:
        """Whether some text of the notes is written for `generation`."""
        return any(generation in owners for owners, _ in self.watch_texts())

    def watch_on(self, generation: str) -> str:
        """What a class should watch for on `generation`: the text written for it."""
        for owners, text in self.watch_texts():
            if generation in owners:
                return text
        owners = sorted({g for o, _ in self.watch_texts() for g in o})
        return (f"The notes of {self.name} are written for {', '.join(owners)}; on {generation} the "
                "event log and the explanation panel say what each op did.")

    def config(self, **overrides) -> Config:
        """The Config to run with: the workload's defaults, then the overrides that are
        not None (Config.resolve: the rules that tie options together).  Refused (UnsupportedWorkload) when the generation lacks a call the workload needs
        and there is no translation for it."""
        cfg = Config.resolve(self.defaults, overrides)
        gen = cfg.generation
        missing = sorted(self.program(cfg)[1] - set(gen.calls))
        if missing:
            raise UnsupportedWorkload(
                f"workload {self.name!r} calls {', '.join(m + '()' for m in missing)}, which "
                f"{gen.title} does not have; choose another variant or workload")
        return cfg

    def program(self, config: Config) -> tuple[Streams, frozenset[str]]:
        """The streams and the calls they need on the config's generation."""
        t = self.translations.get(config.variant)
        return (t.streams, t.needs) if t is not None else (self.streams, self.needs)

    def streams_for(self, config: Config) -> dict[int, Stream]:
        """Each CPU's stream of calls for a run on `config`."""
        def rng_for(cpu: int) -> random.Random:
            return Rng(f"vmapviz-{self.name}:{config.seed}:{cpu}")
        return self.program(config)[0](config, rng_for)

    def translation_note(self, config: Config) -> str:
        """How this workload runs on the config's generation, when it is translated."""
        t = self.translations.get(config.variant)
        return t.note if t is not None else ""

    def source(self, config: Config) -> OpSource:
        streams = self.streams_for(config)
        if self.turns is None:
            return Interleaver(streams, config.seed)
        return RoundRobin({cpu: streams[cpu] for cpu in range(self.turns)})

    def taking_turns(self, threads: int) -> Workload:
        """This workload with its first `threads` CPUs taking turns op by op."""
        return replace(self, turns=threads)


def each_cpu(stream: Callable[[int, Config, random.Random], Iterator]):
    """Streams for a workload that runs the same loop on every CPU."""
    def streams(config: Config, rng_for) -> dict[int, Stream]:
        return {cpu: stream(cpu, config, rng_for(cpu)) for cpu in range(config.nr_cpus)}
    return streams


def on_cpu0(stream: Callable[[Config, random.Random], Iterator]):
    """Streams for a workload that is one sequence of calls on CPU 0."""
    def streams(config: Config, rng_for) -> dict[int, Stream]:
        return {0: stream(config, rng_for(0))}
    return streams
