"""The kernel's raw counters (views.Counters' fields), one mutable object per machine.

A plain Python class in its own module: the counters are declared once, as
annotations of views.Counters, which a mypyc-compiled class cannot take its
attributes from, so this module stays interpreted in the compiled build (setup.py).
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from .views import COUNTERS, Counters


class Stats(Counters):
    """Counters of what the kernel did, exactly as its C code does it (the fields of
    views.Counters): these raw counts are what a cost model turns into time."""

    COUNTERS = COUNTERS
    __slots__ = COUNTERS + ("full_flushes_per_cpu",)
    full_flushes_per_cpu: list[int]

    def __init__(self, nr_cpus: int) -> None:
        for name in self.COUNTERS:
            setattr(self, name, 0)
        self.full_flushes_per_cpu = [0] * nr_cpus   # whole-TLB flushes each CPU received

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the counters' values in order (a checkpoint pickles them each
        time), not beside their names."""
        return _counted, (type(self), attrgetter(*self.COUNTERS)(self), self.full_flushes_per_cpu)

    def counters(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.COUNTERS}


def _counted(cls: type[Stats], values: tuple[int, ...], per_cpu: list[int]) -> Stats:
    """Counters with these values (Stats.__reduce__)."""
    stats = cls.__new__(cls)
    for name, value in zip(cls.COUNTERS, values):
        setattr(stats, name, value)
    stats.full_flushes_per_cpu = per_cpu
    return stats
