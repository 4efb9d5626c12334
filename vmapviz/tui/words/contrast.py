"""Compare mode's words and numbers: the counters of two generations side by side with
their ratio, and one sentence per generation on what the last op did there.

Pure functions of a `compare.PairSnapshot`: no Textual, tested on their own.
"""

from __future__ import annotations

from ...models import costmodel
from ...run.compare import PairSnapshot
from ...kernel.events import AreaRemove, BlockAlloc, BlockFree, BlockNew
from ...run.snapshot import Snapshot

GLOBAL_LOCKS = ("vmlist_lock_write", "vmlist_lock_read", "vmap_area_lock", "purge_lock",
                "vmap_block_tree_lock")
LOCK_COUNTERS = GLOBAL_LOCKS + ("vbq_lock", "vb_lock")     # and the per-CPU ones
FREES = {"vunmap", "vfree", "vm_unmap_ram", "remove_vm_area"}


def sim_ns_per_op(snap: Snapshot) -> float | None:
    """The cost model's ns per op of the run so far (one thread, nothing contending);
    None before the first op or for a generation the model does not know."""
    if not snap.op:
        return None
    try:
        counts = costmodel.counts_of(snap.stats, dict(snap.extra_counters))
        total = costmodel.op_ns(snap.config.variant, counts, snap.config.nr_cpus, ops=snap.op)
    except costmodel.ModelError:
        return None
    return total / snap.op


def counters(snap: Snapshot) -> dict[str, float | None]:
    """The figures compare mode sets side by side."""
    s = snap.stats
    return {
        "TLB flushes": s.tlb_flushes,
        "IPIs": s.ipis,
        "nodes walked": costmodel.counts_of(s).walk,
        "lock acquisitions": sum(getattr(s, name) for name in LOCK_COUNTERS),
        "  of global locks": sum(getattr(s, name) for name in GLOBAL_LOCKS),
        "sim. ns per op": sim_ns_per_op(snap),
    }


def ratio(a: float | None, b: float | None) -> str:
    """a / b as a person reads it: '3.0x', '∞' (b is 0), '-' (both 0, or unknown)."""
    if a is None or b is None or (a == 0 and b == 0):
        return "-"
    if b == 0:
        return "∞"
    r = a / b
    return f"{r:,.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def number(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.0f}"


def rows(pair: PairSnapshot) -> list[tuple[str, str, str, str]]:
    """(figure, first generation, second generation, their ratio), one row per figure."""
    a, b = (counters(s) for s in pair.sides)
    return [(name, number(a[name]), number(b[name]), ratio(a[name], b[name])) for name in a]


def _s(n: int) -> str:
    return "s" * (n != 1)


def did(snap: Snapshot) -> str:
    """One sentence: what the last op did on this generation."""
    evs = snap.last_op
    label = snap.config.variant
    if not evs:
        return ""
    by: dict[str, list] = {}
    for e in evs:
        by.setdefault(e.kind, []).append(e)
    call = by.get("call", [None])[0]
    name = f"{call.name}()" if call is not None else "the op"
    if "refused" in by:
        return f"{label}: {by['refused'][0].line()}; NULL, nothing changed."
    cpus = snap.config.nr_cpus
    parts = []
    for e in by.get("area", []):
        if isinstance(e, AreaRemove):
            parts.append(f"unlinked the area from vmlist after {e.walk} node{_s(e.walk)}")
        elif getattr(e, "pooled", False):
            parts.append(f"took a {e.area_kind} area from node {e.node}'s pool")
        else:
            parts.append(f"placed a {e.area_kind} area after a walk of {e.walk}")
    for e in by.get("block", []):
        if isinstance(e, BlockNew):
            parts.append(f"made vmap block #{e.block}")
        elif isinstance(e, BlockFree):
            parts.append(f"freed block #{e.block} lazily, every page dirty")
        else:
            parts.append(e.line())
    for e in by.get("bits", []):
        what = "took" if isinstance(e, BlockAlloc) else "dirtied"
        parts.append(f"{what} pages {e.bit}-{e.bit + e.nbits - 1} of block #{e.block}")
    for e in by.get("lazy", []):
        parts.append(f"the area went on the lazy list, {e.lazy_nr:,} of "
                     f"{snap.stats.lazy_max_pages:,} pages")
    for e in by.get("purge", []):
        parts.append(f"purged {e.nr_areas} lazy area{_s(e.nr_areas)} ({e.nr_pages:,} pages)")
    for e in by.get("flush", []):
        where = (f"all {cpus} TLB{_s(cpus)}" if e.whole else f"the range on {cpus} CPU{_s(cpus)}")
        parts.append(f"flushed {where} ({e.ipis} IPI{_s(e.ipis)})")
    if call is not None and call.name in FREES and "flush" not in by:
        parts.append("no flush")
    if call is not None and call.name == "touch":
        ret = by.get("return", [None])[-1]
        parts.append(f"{call.args[1]} page{_s(call.args[1])}: {ret.result if ret else '?'}")
    for kind in ("warn", "bug", "corrupt", "fault", "uaf"):
        parts.extend(e.line() for e in by.get(kind, []))
    return f"{label}: {name} " + "; ".join(parts) + "." if parts else f"{label}: {name}."


def contrast(pair: PairSnapshot) -> str:
    """What the last op did on each generation, one sentence each."""
    said = [did(s) for s in pair.sides]
    if not any(said):
        first = pair.sides[0]
        notes = [f"{s.workload} runs translated on {s.generation.title}: {s.translation}."
                 for s in pair.sides if s.translation]
        return " ".join([f"Nothing has run yet: op n runs on both {first.config.variant} and "
                         f"{pair.sides[1].config.variant}. Press space to play, n to step, "
                         "f to run to the next TLB flush on either."] + notes)
    return " ".join(said)
