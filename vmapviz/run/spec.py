"""A run as one value: the workload, the machine (`Config`, seed included) and the pace.

Built once where the user's input arrives (the command line, the palette, a lesson file,
a trace's header) and handed whole to every face: the driver, the app, compare mode, the
quiz, screenshots and exports.  Nothing downstream re-parses, re-defaults or re-validates
an option.  The options the user asked for are kept beside the Config they made, so a
restart with another workload keeps what was asked (a seed, NR_CPUS) and takes the new
workload's defaults for the rest, as the command line would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..kernel import Config
from ..kernel.config import keep_nr_cpus
from ..workloads import Workload, get

DEFAULT_WORKLOAD = "map-touch-unmap"
DEFAULT_SPEED = 20.0     # ops a second: a pace a person can follow
# What a new workload takes from itself unless asked again: its generation, CPUs, width.
WORKLOAD_OWNS = ("variant", "nr_cpus", "bits")


@dataclass(frozen=True)
class RunSpec:
    """One run: `workload` on `config` at `speed` ops a second (None: as fast as it
    goes).  `asked` holds the Config options the user gave (never None values)."""

    workload: Workload
    config: Config
    speed: float | None = DEFAULT_SPEED
    asked: tuple[tuple[str, Any], ...] = field(default=())

    @classmethod
    def of(cls, workload: str | Workload = DEFAULT_WORKLOAD, *, speed: float | None = DEFAULT_SPEED,
           **asked: Any) -> RunSpec:
        """The spec for a workload (a name, a trace path or a Workload) and the Config
        options asked for (None: the workload's default).  Bad options raise here
        (ConfigError, UnsupportedWorkload, TraceError), before any thread starts."""
        wl = get(workload) if isinstance(workload, str) else workload
        given = tuple(sorted((k, v) for k, v in asked.items() if v is not None and v is not False))
        return cls(wl, wl.config(**dict(given)), speed, given)

    def on(self, variant: str) -> RunSpec:
        """This run's machine on another generation (compare mode): Config.replace()'s
        rules (that generation's own default range and NR_CPUS, unless they were set),
        and the workload's check that the generation can run it."""
        config = self.workload.config(**self.config.replace(variant=variant).as_dict())
        return RunSpec(self.workload, config, self.speed, self.asked)

    def replace(self, workload: str | Workload | None = None, **changes: Any) -> RunSpec:
        """This run with another workload and/or other options (the palette's restart).
        Another workload keeps the options asked for except its generation, CPUs and
        width (its own, unless asked for in `changes`)."""
        asked = dict(self.asked)
        if workload is not None and not changes.keys() & set(WORKLOAD_OWNS):
            for name in WORKLOAD_OWNS:
                asked.pop(name, None)
        speed = changes.pop("speed", self.speed)
        asked.update(changes)
        if "config_nr_cpus" not in changes:
            asked = keep_nr_cpus(asked)   # an NR_CPUS asked before, now below the CPUs: its default
        return RunSpec.of(self.workload if workload is None else workload, speed=speed, **asked)

    @property
    def options(self) -> dict[str, Any]:
        """The options asked for, as keyword arguments of Workload.config()."""
        return dict(self.asked)
