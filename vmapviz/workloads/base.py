"""What a workload is: per-CPU streams of kernel calls, interleaved one call at a time
in an order fixed by the seed.

A stream is a generator: it yields `(call, args)` and receives the call's result, so a
stream can free what it allocated.  The scheduler picks the next CPU among those whose
stream has a call ready with a `random.Random` seeded from the run's seed, which gives
the same order on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Generator, Iterator, NamedTuple

from ..kernel import Config

Stream = Generator[tuple[str, tuple], object, None]

# Every call a workload or a trace may make: its argument names, all ints.  (get_vm_area
# takes optional start and end after size and flags.)
CALLS: dict[str, tuple[str, ...]] = {
    "vmalloc": ("size",),
    "vmalloc_align": ("size", "align"),
    "vfree": ("addr",),
    "vmap": ("nr_pages",),
    "vunmap": ("addr",),
    "get_vm_area": ("size", "flags"),
    "remove_vm_area": ("addr",),
    "vmalloc_to_page": ("addr",),
    "vm_map_ram": ("count",),
    "vm_unmap_ram": ("addr", "count"),
    "vm_unmap_aliases": (),
    "touch": ("addr", "nr_pages"),
    "purge": (),
}
OPTIONAL_ARGS = {"get_vm_area": ("start", "end")}


class Op(NamedTuple):
    """One call on one CPU."""

    cpu: int
    call: str
    args: tuple


class OpSource:
    """What a run reads ops from: `next()` gives the next op or None at the end;
    `feed(result)` hands that op's result back."""

    total: int | None = None  # how many ops it has, when known

    @property
    def ended(self) -> bool:  # pragma: no cover - interface
        """True once every op has run (asking does not change what runs next)."""
        raise NotImplementedError

    def next(self) -> Op | None:  # pragma: no cover - interface
        raise NotImplementedError

    def feed(self, result: object) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class Interleaver(OpSource):
    """Runs one generator per CPU, choosing the next CPU at random (seeded)."""

    def __init__(self, streams: dict[int, Stream], seed: int) -> None:
        self.rng = random.Random(f"vmapviz-schedule:{seed}")
        self.ready: list[tuple[int, Stream, tuple[str, tuple]]] = []
        for cpu in sorted(streams):
            first = _advance(streams[cpu], None, prime=True)
            if first is not None:
                self.ready.append((cpu, streams[cpu], first))
        self.current = -1

    @property
    def ended(self) -> bool:
        return not self.ready

    def next(self) -> Op | None:
        if not self.ready:
            return None
        self.current = self.rng.randrange(len(self.ready)) if len(self.ready) > 1 else 0
        cpu, _, (call, args) = self.ready[self.current]
        return Op(cpu, call, args)

    def feed(self, result: object) -> None:
        cpu, stream, _ = self.ready[self.current]
        nxt = _advance(stream, result)
        if nxt is None:
            del self.ready[self.current]
        else:
            self.ready[self.current] = (cpu, stream, nxt)


def _advance(stream: Stream, result: object, prime: bool = False):
    try:
        return next(stream) if prime else stream.send(result)
    except StopIteration:
        return None


@dataclass(frozen=True)
class Workload:
    """A named workload: its streams, the machine it wants (overridable) and what a
    class should watch for."""

    name: str
    summary: str
    watch: str
    streams: Callable[[Config, Callable[[int], random.Random]], dict[int, Stream]]
    defaults: dict = field(default_factory=dict)  # nr_cpus, bits, variant
    default_ops: int | None = None   # for endless workloads: a headless run's length
    expect_failures: str = ""        # why allocation failures are the expected outcome

    def config(self, **overrides) -> Config:
        """The Config to run with: the workload's defaults, then the overrides that are
        not None.  A new width without a range of its own gets that width's range."""
        opts = dict(self.defaults)
        if overrides.get("bits") not in (None, opts.get("bits")) and overrides.get("vmalloc_start") is None:
            opts.pop("vmalloc_start", None)
            opts.pop("vmalloc_end", None)
        opts.update({k: v for k, v in overrides.items() if v is not None})
        return Config(**opts)

    def source(self, config: Config) -> OpSource:
        def rng_for(cpu: int) -> random.Random:
            return random.Random(f"vmapviz-{self.name}:{config.seed}:{cpu}")
        return Interleaver(self.streams(config, rng_for), config.seed)


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
