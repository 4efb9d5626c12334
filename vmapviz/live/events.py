"""The three vmalloc tracepoints of a real kernel, as typed events, and the tracefs text
line that carries each.

include/trace/events/vmalloc.h (v6.3+; the format files of this 6.18 machine,
events/vmalloc/*/format, say the same):

    alloc_vmap_area          "va_start: %lu size=%lu align=%lu vstart=0x%lx vend=0x%lx failed=%d"
    free_vmap_area_noflush   "va_start=0x%lx nr_lazy=%lu nr_lazy_max=%lu"
    purge_vmap_area_lazy     "start=0x%lx end=0x%lx num_purged=%u"

alloc_vmap_area() prints the address in decimal (`%lu`), the others in hex.  Its size
is what alloc_vmap_area() was asked for: a vm_struct area's guard page included
(__get_vm_area_node() adds it), a vmap block's or vm_map_ram()'s without one.
`nr_lazy` is vmap_lazy_nr in pages after the free was added; `nr_lazy_max` is
lazy_max_pages(); `num_purged` counts areas, not pages.

tracefs prefixes each event with its task, pid, CPU, the irq/preempt flags column
(when the irq-info option is on, the default) and the timestamp:

    bash-8788    [001] .....   262.524049: alloc_vmap_area: va_start: 1844... size=20480 ...

The events subclass the simulator's Event so that the event log draws them as it
draws simulated ones; `op` is the event's sequence number in its source.
"""

from __future__ import annotations

import re

from ..kernel.events import Event

EVENT_NAMES = ("alloc_vmap_area", "free_vmap_area_noflush", "purge_vmap_area_lazy")
ULONG_LIMIT = 1 << 64


class LiveError(Exception):
    """The live source cannot run or a recording cannot be read: one line, exit status 2."""


class Malformed(ValueError):
    """One trace line that is not what tracefs prints; the message names the problem."""


class AllocVmapArea(Event):
    """trace_alloc_vmap_area(): [addr, addr + size) placed (or `failed`)."""
    op: int
    cpu: int
    ts: float
    task: str
    pid: int
    addr: int
    size: int
    align: int
    vstart: int
    vend: int
    failed: int
    kind = "area"

    def line(self) -> str:
        if self.failed:
            return f"{self.task}-{self.pid}: alloc_vmap_area({self.size}, align {self.align}) FAILED"
        return (f"{self.task}-{self.pid}: alloc_vmap_area {self.addr:#x}-{self.addr + self.size:#x} "
                f"({self.size // 1024} KiB, align {self.align // 1024} KiB)")


class FreeVmapAreaNoflush(Event):
    """trace_free_vmap_area_noflush(): the area at `addr` is lazy; vmap_lazy_nr is now
    `nr_lazy` pages against lazy_max_pages() `nr_lazy_max`."""
    op: int
    cpu: int
    ts: float
    task: str
    pid: int
    addr: int
    nr_lazy: int
    nr_lazy_max: int
    kind = "lazy"

    def line(self) -> str:
        return (f"{self.task}-{self.pid}: free {self.addr:#x} lazily, vmap_lazy_nr = "
                f"{self.nr_lazy} of {self.nr_lazy_max}")


class PurgeVmapAreaLazy(Event):
    """trace_purge_vmap_area_lazy(): `npurged` lazy areas in [start, end) purged, one TLB
    flush over the range."""
    op: int
    cpu: int
    ts: float
    task: str
    pid: int
    start: int
    end: int
    npurged: int
    kind = "purge"

    def line(self) -> str:
        return (f"{self.task}-{self.pid}: purge {self.npurged} areas, flush "
                f"{self.start:#x}-{self.end:#x}")


CLASSES = {"alloc_vmap_area": AllocVmapArea, "free_vmap_area_noflush": FreeVmapAreaNoflush,
           "purge_vmap_area_lazy": PurgeVmapAreaLazy}
# What follows each event's name, in ASCII digits only (re.ASCII: no other script's digits).
_D, _X = r"([0-9]{1,20})", r"0x([0-9a-f]{1,16})"
BODIES = {
    "alloc_vmap_area": re.compile(rf"va_start: {_D} size={_D} align={_D} vstart={_X} vend={_X} "
                                  r"failed=(-?[0-9]{1,10})", re.ASCII),
    "free_vmap_area_noflush": re.compile(rf"va_start={_X} nr_lazy={_D} nr_lazy_max={_D}", re.ASCII),
    "purge_vmap_area_lazy": re.compile(rf"start={_X} end={_X} num_purged={_D}", re.ASCII),
}
FORMATS = {   # the print fmt of each format file
    "alloc_vmap_area": "va_start: %lu size=%lu align=%lu vstart=0x%lx vend=0x%lx failed=%d",
    "free_vmap_area_noflush": "va_start=0x%lx nr_lazy=%lu nr_lazy_max=%lu",
    "purge_vmap_area_lazy": "start=0x%lx end=0x%lx num_purged=%u",
}
BASES = {"alloc_vmap_area": (10, 10, 10, 16, 16, 10), "free_vmap_area_noflush": (16, 10, 10),
         "purge_vmap_area_lazy": (16, 16, 10)}
# TASK-PID [CPU] FLAGS TIMESTAMP: EVENT: BODY; the task may hold spaces and dashes,
# a tgid column "(  123)" and the flags column are optional.
LINE = re.compile(r"\s*(?P<task>.+?)-(?P<pid>[0-9]{1,10})\s+(?:\(\s*[-0-9]+\)\s+)?"
                  r"\[(?P<cpu>[0-9]{1,5})\]\s+(?:[^\s:]{4,6}\s+)?(?P<ts>[0-9]{1,12}\.[0-9]{1,9}):\s+"
                  r"(?P<event>[a-z_0-9]+):\s(?P<body>.*?)\s*", re.ASCII)
LOST = re.compile(r"CPU:([0-9]+) \[LOST ([0-9]+) EVENTS\]", re.ASCII)


def parse_line(text: str, seq: int = 0) -> Event | None:
    """One tracefs line: a typed event, or None for another event's line (raises
    Malformed for a line that is not a tracefs event line, or a vmalloc event whose
    fields are not its format's)."""
    m = LINE.fullmatch(text.rstrip("\n"))
    if m is None:
        raise Malformed("not a tracefs event line (TASK-PID [CPU] FLAGS TIMESTAMP: EVENT: FIELDS)")
    name = m["event"]
    if name not in CLASSES:
        return None
    body = BODIES[name].fullmatch(m["body"])
    if body is None:
        raise Malformed(f"{name}: fields {m['body']!r} do not follow its format "
                        f"(\"{FORMATS[name]}\", in ASCII digits)")
    values = [int(v, b) for v, b in zip(body.groups(), BASES[name])]
    if any(not 0 <= v < ULONG_LIMIT for v in values[:5]):
        raise Malformed(f"{name}: a value does not fit in an unsigned long")
    return CLASSES[name]((seq, int(m["cpu"]), float(m["ts"]), m["task"].strip(), int(m["pid"]),
                          *values))


def lost_events(text: str) -> int:
    """The count of a `CPU:N [LOST M EVENTS]` line trace_pipe prints when its buffer
    overflowed, else 0."""
    m = LOST.fullmatch(text.strip())
    return int(m[2]) if m else 0
