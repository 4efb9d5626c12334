"""Workloads: the built-ins, the lib/test_vmalloc.c ports, and trace files."""

from __future__ import annotations

import os

from .base import CALLS, Op, OpSource, UnsupportedWorkload, Workload
from .builtin import BUILTINS
from .lib_test_vmalloc import PORTS
from .trace import Recorder, TraceError, TraceWorkload, load

WORKLOADS: dict[str, Workload] = {w.name: w for w in BUILTINS + PORTS}


class UnknownWorkload(ValueError):
    """Neither a built-in workload nor a trace file."""


def catalog() -> list[tuple[str, str]]:
    """(name, summary) of every built-in, in display order."""
    return [(w.name, w.summary) for w in WORKLOADS.values()]


def get(name: str, progress=None) -> Workload:
    """A built-in by name, or a trace by path (`progress` as for `load()`)."""
    if name in WORKLOADS:
        return WORKLOADS[name]
    if os.path.sep in name or name.endswith((".jsonl", ".json")) or os.path.exists(name):
        return load(name, progress)
    raise UnknownWorkload(f"unknown workload {name!r}; `vmapviz workloads` lists them "
                          "(or give the path of a trace file)")


__all__ = ["CALLS", "Op", "OpSource", "UnsupportedWorkload", "Workload", "WORKLOADS", "UnknownWorkload", "catalog",
           "get", "Recorder", "TraceError", "TraceWorkload", "load"]
