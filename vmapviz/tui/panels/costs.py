"""What each free costs, for a generation that flushes at once (no lazy flushing).

Before the rewrite every vunmap() unlinks its area under vmlist_lock and flushes the
TLB there and then: on x86 flush_tlb_all(), an IPI to every other CPU and every CPU's
TLB emptied.  The panel shows the last free's bill (from its op's events), the totals
(flushes, IPIs, whole-TLB flushes each CPU received, lock acquisitions) and the walk
lengths as sparklines: nodes examined by each allocation and each removal, kept from
the AreaAlloc and AreaRemove events of the snapshots, a bounded history.
"""

from __future__ import annotations

from collections import deque

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from ...kernel.events import AreaAlloc, AreaRemove
from ...kernel.views import COUNTERS
from ...run.snapshot import Snapshot
from .. import palette as P
from .lazy import SPARK
from .base import SnapshotPanel

HISTORY = 512        # walks remembered, per kind


def sparkline(values, width: int) -> str:
    """The last `width` values as bars scaled to the largest; 0 is the lowest bar."""
    values = list(values)[-max(1, width):]
    top = max(values, default=0) or 1
    return "".join(SPARK[0] if not v else SPARK[max(1, round((len(SPARK) - 1) * v / top))]
                   for v in values)


def lock_counters(lock: str) -> tuple[str, ...]:
    """The counters (views.COUNTERS) of a lock a generation names in Features.locks:
    'vmlist_lock' -> vmlist_lock_write, vmlist_lock_read; 'vb->lock' -> vb_lock."""
    name = lock.replace("->", "_")
    return tuple(c for c in COUNTERS if c == name or c.startswith(name + "_"))


def free_bill(events, nr_cpus: int) -> dict | None:
    """What the free in `events` (one op's events) cost: the call, TLB flushes, IPIs,
    TLBs emptied whole, the removal walks; None when no area was removed."""
    walks = [e.walk for e in events if isinstance(e, AreaRemove)]
    if not walks:
        return None
    flushes = [e for e in events if e.kind == "flush"]
    ret = next((e for e in events if e.kind == "return"), None)
    return {
        "op": events[0].op, "cpu": events[0].cpu,
        "call": ret.name if ret is not None else "free",
        "flushes": len(flushes), "whole": sum(e.whole for e in flushes),
        "ipis": sum(e.ipis for e in flushes),
        "emptied": nr_cpus * sum(e.whole for e in flushes), "walks": walks,
    }


class CostPanel(Widget, SnapshotPanel):
    """The cost-of-a-free panel.  See the module docstring."""

    DEFAULT_CSS = """
    CostPanel { height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.snap: Snapshot | None = None
        self.alloc_walks: deque[int] = deque(maxlen=HISTORY)
        self.remove_walks: deque[int] = deque(maxlen=HISTORY)
        self.bill: dict | None = None
        self._last_op = -1

    def update_snapshot(self, snap: Snapshot) -> None:
        old, self.snap = self.snap, snap
        if old is not None and (old.config != snap.config or old.workload != snap.workload
                                or snap.op < old.op):
            self.alloc_walks.clear()
            self.remove_walks.clear()
            self.bill = None
            self._last_op = -1
        new = [e for e in snap.events if e.op > self._last_op]
        if new:
            self._last_op = new[-1].op
            self.alloc_walks.extend(e.walk for e in new if isinstance(e, AreaAlloc))
            self.remove_walks.extend(e.walk for e in new if isinstance(e, AreaRemove))
            last_free = next((e.op for e in reversed(new) if isinstance(e, AreaRemove)), None)
            if last_free is not None:
                self.bill = free_bill([e for e in new if e.op == last_free], snap.config.nr_cpus)
        if old is None or new or snap.running != old.running or snap.stats != old.stats:
            self.refresh()

    def on_resize(self) -> None:
        self.refresh()

    def render(self) -> Text:
        snap = self.snap
        if snap is None:
            return Text("waiting for the first snapshot…", style=P.active().muted)
        s, cfg = snap.stats, snap.config
        width = max(20, self.content_size.width)
        t = Text(no_wrap=True, overflow="ellipsis")
        self._bill_line(t)
        t.append("TLB flushes ", style=P.active().muted)
        t.append(f"{s.tlb_flushes:,}", style="bold")
        t.append("  IPIs ", style=P.active().muted)
        t.append(f"{s.ipis:,}", style="bold")
        t.append("  whole-TLB flushes ", style=P.active().muted)
        per_cpu = s.full_flushes_per_cpu
        if len(per_cpu) <= 8:
            for cpu, n in enumerate(per_cpu):
                t.append(f"cpu{cpu}", style=P.cpu_style(cpu))
                t.append(f" {n:,} ")
        else:
            low, high = min(per_cpu), max(per_cpu)
            t.append(f"{low:,}{f' to {high:,}' * (high != low)} on each of {len(per_cpu)} "
                     f"CPU{'s' * (len(per_cpu) != 1)}")
        t.append("\n")
        for lock in snap.generation.features.locks:
            for c in lock_counters(lock):
                mode = c[len(lock.replace("->", "_")) + 1:]
                t.append(f"{lock}{' ' * bool(mode)}{mode} ", style=P.active().muted)
                t.append(f"{getattr(s, c):,}  ")
        t.append("stale TLB entries ", style=P.active().muted)
        t.append(f"{sum(snap.stale_counts):,}\n")
        spark = max(8, width - 32)
        for label, walks in (("alloc walk ", self.alloc_walks), ("free walk  ", self.remove_walks)):
            shown = list(walks)[-spark:]
            t.append(label, style=P.active().muted)
            t.append(sparkline(shown, spark).ljust(spark), style=P.cpu_tint(1))
            if shown:
                t.append(f" last {shown[-1]:,} max {max(shown):,}", style=P.active().muted)
            t.append("\n")
        t.append("WARN ", style=P.active().muted)
        t.append(f"{s.warnings:,}", style=P.BADGES["warn"] if s.warnings else Style())
        t.append("  BUG ", style=P.active().muted)
        t.append(f"{s.bugs:,}", style=P.BADGES["bug"] if s.bugs else Style())
        t.append("  failures ", style=P.active().muted)
        t.append(f"{s.alloc_failures:,}")
        t.append("  refused ", style=P.active().muted)
        t.append(f"{s.refused_calls:,}")
        t.append("  areas ", style=P.active().muted)
        t.append(f"{s.live_areas:,}")
        t.append("  ops/s ", style=P.active().muted)
        t.append(f"{snap.ops_per_s:,.0f}" if snap.running else "-")
        if cfg.flush == "range":
            t.append("  flush model: range", style=P.active().muted)
        return t

    def _bill_line(self, t: Text) -> None:
        b = self.bill
        t.append("last free ", style="bold")
        if b is None:
            t.append("none yet: the bill of the next vfree/vunmap shows here\n", style=P.active().muted)
            return
        t.append(f"cpu{b['cpu']}", style=P.cpu_style(b["cpu"]))
        t.append(f" {b['call']}() ")
        n = b["flushes"]
        how = "flush_tlb_all" if b["whole"] == n else "range flush"
        t.append(f" {n} {how} ", style=P.BADGES["flush"])
        t.append(f" {b['ipis']:,} IPI{'s' * (b['ipis'] != 1)} · {b['emptied']:,} TLBs emptied · "
                 f"walk {'+'.join(map(str, b['walks']))}")
        t.append(f" · op {b['op']:,}\n", style=P.active().muted)
