"""Predict, then reveal: questions about one op, each with the one answer the simulator
computes, in the style of OSTEP's simulators (seeded problems, -c for the answers).

A question is asked of an op before it runs, from what a student can see then
(`Before`: the CPU's vmap blocks and free list, vmap_lazy_nr and lazy_max_pages, the
area being freed) and answered from the events the op emits:

- address: the address vm_map_ram(n) returns;
- bits: the block and the bits vb_alloc() takes for it;
- flush: whether this free (vm_unmap_ram, vfree, vunmap, remove_vm_area) flushes the TLB;
- ipis: how many IPIs the flush of this op sends;
- fails: whether this vmalloc (or vmap, get_vm_area) returns NULL.

`generate()` draws N questions from a seeded run: a first pass finds the ops each kind
fits and what happened there, a seeded choice spreads the questions over the kinds
and their outcomes (a flush and no flush, a new block and an old one), and a second
run asks them.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING, Iterable, NamedTuple

from ..kernel import BlockView, Config, Kernel, QueueView, VmapArea
from ..kernel.events import KWORKER, VOID
from ..sentences import EVERY, MODERN, REWRITE, VANILLA, SentenceTable
from ..workloads import Op, Workload

if TYPE_CHECKING:
    from ..run.spec import RunSpec

FREES = ("vm_unmap_ram", "vfree", "vunmap", "remove_vm_area")
ALLOCS = ("vmalloc", "vmalloc_align", "vmap", "get_vm_area")
KINDS = {
    "address": "the address vm_map_ram(), vmalloc(), vmap() or get_vm_area() returns",
    "bits": "which bits of a vmap block vb_alloc() takes",
    "walk": "how many areas the allocator's walk passes",
    "lazy": "vmap_lazy_nr after a free",
    "flush": "whether a free flushes the TLB",
    "ipis": "how many IPIs a free's flush sends",
    "next": "what the kernel does next after a free (multiple choice)",
    "fails": "whether an allocation fails",
    "lazy_run": "vmap_lazy_nr after a run of ops (level 3: several ops predicted in turn)",
}
# The generations each kind is asked on: its sentences are written for those (the others
# have no such question).  "walk" is a count of areas passed on vanilla and the rewrite,
# descent steps on 6.12 (the tree's shape); a "fails" on 6.12 depends on which vmap blocks
# purge_fragmented_blocks_allcpus() retires, which a question does not show.
FOR: dict[str, tuple[str, ...]] = {kind: EVERY for kind in KINDS}
FOR.update(walk=VANILLA + REWRITE, bits=REWRITE + MODERN, lazy=REWRITE + MODERN,
           fails=VANILLA + REWRITE, lazy_run=REWRITE + MODERN)
# Level 1 asks single-op questions with all the state shown; level 2 adds the walk and
# "what next"; level 3 adds predictions over several ops (lazy_run: RUN_OPS ops in turn).
LEVELS = {1: ("address", "bits", "lazy", "flush", "ipis", "fails"),
          2: tuple(k for k in KINDS if k != "lazy_run"), 3: tuple(KINDS)}
ONE_OP = LEVELS[2]  # the kinds about one op (the TUI's and a lesson's)
RUN_OPS = 4
NEXT = {"a": "it purges the lazy areas and flushes the TLB itself, before returning",
        "b": "it queues the purge work; a kworker purges and flushes after the call returns",
        "c": "it returns; no flush yet (the freed pages wait for a later purge)",
        "d": "it flushes the TLB for this area at once"}
MAX_AREAS = 12      # a question lists at most this many areas, or is not asked
MAX_BLOCKS = 6      # ... and at most this many blocks of a free list
HORIZON = 30_000    # ops a quiz draws its questions from, unless the workload ends first


class Before(NamedTuple):
    """What the student can be shown before the op: the machine, the areas (and 6.12's
    pooled ones), the vmap blocks and queues, vmap_lazy_nr."""

    config: Config
    areas: tuple[VmapArea, ...]
    pools: dict           # 6.12: node -> {pages: [starts, head first]}; {} elsewhere
    blocks: tuple[BlockView, ...]
    queues: tuple[QueueView, ...]
    lazy_pages: int
    ptes: tuple[int, ...] = ()   # posted: the pages with a PTE (its overlaps map over them or not)

    @classmethod
    def of(cls, kernel: Kernel, op: Op | None = None) -> "Before":
        nodes = getattr(kernel, "nodes", None) if getattr(kernel, "nr_nodes", 1) > 1 else None
        pools = {vn.id: {i + 1: list(p) for i, p in vn.pool.items() if p} for vn in nodes} if nodes else {}
        ptes = tuple(sorted(kernel.pgtable.ptes)) if kernel.config.variant == "posted" else ()
        return cls(kernel.config, tuple(kernel.areas()), pools, tuple(kernel.block_views()),
                   tuple(kernel.queue_views()), kernel.lazy_pages(), ptes)


class Question(NamedTuple):
    op: int         # the op asked about (its number: the run is at op - 1 when asked)
    kind: str
    question: str
    answer: object
    why: str
    given: dict = {}

    def as_json(self) -> dict:
        return {"op": self.op, "kind": self.kind, "question": self.question, "answer": self.answer,
                "why": self.why, "given": self.given}


def kinds_for(op: Op, config: Config, events: list) -> list[str]:
    """The kinds of question that could fit this op, given what it did (ask() may still
    find one unanswerable from what it can show)."""
    gen = config.variant
    out: list[str] = []
    if not config.offers(op.call):
        return out
    purged = any(e.kind == "purge" for e in events)
    if op.call in ALLOCS or op.call == "vm_map_ram":
        if _result(events) is not None and not purged:
            out.append("address")
            if op.call == "vm_map_ram" and _block_path(op, config):
                out.append("bits")
            elif any(e.kind == "area" for e in events):
                out.append("walk")
    if op.call in ALLOCS:
        out.append("fails")
    if op.call in FREES:
        out += ["lazy", "flush", "next", "lazy_run"]
        if any(e.kind == "flush" for e in events):
            out.append("ipis")
    return [k for k in out if gen in FOR[k]]


def outcome(kind: str, events: list) -> str:
    """A label of what happened, so a quiz can ask about both sides (yes and no)."""
    kinds = {e.kind for e in events}
    if kind in ("flush", "lazy", "next"):
        return "yes" if "flush" in kinds else "no"
    if kind in ("address", "bits"):
        return "new block" if "block" in kinds else "old block"
    if kind == "fails":
        return "yes" if _result(events) is None else "no"
    return ""


def ask(n: int, op: Op, kind: str, before: Before, events: list, lazy_after: int = 0) -> Question | None:
    """The question of `kind` about op number n, with its answer and why; None when
    its answer depends on state the question cannot show (too many areas, the rbtree's
    shape) — then it is not asked."""
    given = _given(kind, op, before, events)
    if given is None:
        return None
    call = f"cpu{op.cpu} calls {op.call}({', '.join(_arg(a) for a in op.args)})"
    q, answer, why = _ASK[kind](op, before, events, given, lazy_after)
    return Question(n, kind, f"op {n:,}: {call}. {_given_text(given)}{q}", answer, why, given)


def _block_path(op: Op, config: Config) -> bool:
    """vm_map_ram()/vm_unmap_ram() of at most VMAP_MAX_ALLOC pages go through a vmap block."""
    return config.generation.features.vmap_blocks and op.args[-1] <= config.vmap_max_alloc


def _family(config: Config) -> str:
    """The question's words: v2.6.27 (no lazy flush), 6.x (a kworker purges), or 2008."""
    f = config.generation.features
    return "vanilla" if not f.lazy_flush else "modern" if f.kworker_purge else "rewrite"


# -- what a question shows ----------------------------------------------------------------

def _given(kind: str, op: Op, before: Before, events: list) -> dict | None:
    cfg = before.config
    g = {"generation": cfg.variant, "version": cfg.generation.version, "call": op.call,
         "args": list(op.args), "cpu": op.cpu, "nr_cpus": cfg.nr_cpus, "page_size": cfg.page_size}
    if kind in ("address", "bits") and op.call == "vm_map_ram" and _block_path(op, cfg):
        return _given_blocks(g, op, before, events)
    if kind in ("address", "walk", "fails"):
        return _given_areas(g, kind, op, before, events)
    # the frees: lazy, flush, ipis, next
    if _family(cfg) != "vanilla":
        g.update(lazy_nr=before.lazy_pages, lazy_max_pages=cfg.lazy_max_pages)
    if op.call == "vm_unmap_ram" and _block_path(op, cfg):
        block = next((b for b in before.blocks if b.start <= op.args[0] < b.end), None)
        if block is None:
            return None
        g.update(block={"start": hex(block.start), "dirty": block.dirty, "free": block.free},
                 block_pages=cfg.vmap_bbmap_bits, max_alloc=cfg.vmap_max_alloc)
        return g
    area = next((a for a in before.areas if a.start == op.args[0] and a.state == "busy"), None)
    if area is None:
        return None
    g["area"] = [hex(area.start), hex(area.end)]
    return g


def _occupied(before: Before) -> list[tuple[int, int, str, str]]:
    """What the allocator cannot use: every area (busy or lazy), and 6.12's pooled ones."""
    out = [(a.start, a.end, a.state, a.kind) for a in before.areas]
    page = before.config.page_size
    for pools in before.pools.values():
        out += [(s, s + pages * page, "pooled", "") for pages, starts in pools.items() for s in starts]
    return sorted(out)


def _given_areas(g: dict, kind: str, op: Op, before: Before, events: list) -> dict | None:
    """The areas of the range an allocation's answer depends on: all of them for
    `fails`, else those up to the area after the one it lands in."""
    cfg = before.config
    if op.call == "get_vm_area" and (len(op.args) > 1 and any(op.args[1:])):
        return None      # flags (ioremap's alignment) or a range of its own: not asked
    occupied = _occupied(before)
    if any(b[0] < a[1] for a, b in zip(occupied, occupied[1:])):
        return None      # overlapping areas (posted's bug): the tree's shape decides
    if _shape_decides(cfg, occupied, cfg.vmalloc_start, _size_of(op, cfg) + cfg.page_size):
        return None
    result = _result(events)
    if kind == "fails" or result is None:
        shown = occupied
    else:
        end = next((i for i, a in enumerate(occupied) if a[0] >= result), len(occupied))
        while end < len(occupied) and occupied[end][0] < result + 2 * cfg.page_size + _size_of(op, cfg):
            end += 1
        shown = occupied[:end + 1]
    if len(shown) > MAX_AREAS:
        return None
    g.update(vstart=hex(cfg.vmalloc_start), vend=hex(cfg.VMALLOC_END),
             areas=[[hex(s), hex(e), st, kind] for s, e, st, kind in shown],
             all_areas=len(shown) == len(occupied))
    if cfg.variant == "posted":
        # posted may place an area over another (the AGP report): whether mapping it
        # then meets a present PTE (WARN, NULL) depends on which pages have PTEs.
        top = max([e for _, e, _, _ in shown] + [cfg.vmalloc_start + _size_of(op, cfg) + cfg.page_size])
        g["ptes"] = _pte_runs(before.ptes, cfg.vmalloc_start, top, cfg.page_shift)
        if len(g["ptes"]) > MAX_AREAS:
            return None
    if before.pools:
        node = op.cpu % len(before.pools)
        pages = _size_of(op, cfg) // cfg.page_size + 1
        g.update(node=node, pool=[hex(s) for s in before.pools[node].get(pages, [])])
    return g


def _pte_runs(vpns: tuple, lo: int, hi: int, shift: int) -> list[list[str]]:
    """The pages of [lo, hi) that have a PTE, as [start, end) runs."""
    import bisect
    runs: list[list[int]] = []
    for vpn in vpns[bisect.bisect_left(vpns, lo >> shift):bisect.bisect_left(vpns, hi >> shift)]:
        if runs and runs[-1][1] == vpn:
            runs[-1][1] = vpn + 1
        else:
            runs.append([vpn, vpn + 1])
    return [[hex(a << shift), hex(b << shift)] for a, b in runs]


def _shape_decides(cfg: Config, occupied: list, vstart: int, size: int) -> bool:
    """v2.6.28's descent, with no area ending below vstart, starts its walk at the first
    node on its path that starts below vstart + size: with two or more such areas, which
    one depends on the rbtree's shape, which no question shows."""
    if cfg.variant != "merged" or any(a[1] < vstart for a in occupied):
        return False
    return sum(1 for a in occupied if a[0] < vstart + size) >= 2


def _size_of(op: Op, cfg: Config) -> int:
    """The bytes asked for, page aligned (no guard)."""
    page = cfg.page_size
    n = {"vmap": op.args[0] * page, "vm_map_ram": op.args[0] * page}.get(op.call, op.args[0])
    return -(-n // page) * page


def _given_blocks(g: dict, op: Op, before: Before, events: list) -> dict | None:
    """The CPU's free list of vmap blocks, in list order, each with the bits taken."""
    cfg = before.config
    queue = next((q for q in before.queues if q.cpu == op.cpu), None)
    blocks = {b.id: b for b in before.blocks}
    listed = [blocks[i] for i in (queue.free if queue else ()) if i in blocks]
    if len(listed) > MAX_BLOCKS:
        return None
    g.update(block_pages=cfg.vmap_bbmap_bits, max_alloc=cfg.vmap_max_alloc,
             free_list=[{"start": hex(b.start), "free": b.free, "taken": _runs(b.alloc_map, cfg.vmap_bbmap_bits)}
                        for b in listed])
    if any(e.kind == "block" for e in events):       # a new block: where its area goes
        if _family(cfg) == "modern":
            return None    # 6.12 places a block (align > PAGE_SIZE) by the free tree's shape
        occupied = _occupied(before)
        if (len(occupied) > MAX_AREAS or any(b[0] < a[1] for a, b in zip(occupied, occupied[1:]))
                or _shape_decides(cfg, occupied, cfg.vmalloc_start, cfg.vmap_block_size)):
            return None
        g.update(vstart=hex(cfg.vmalloc_start), vend=hex(cfg.VMALLOC_END),
                 areas=[[hex(s), hex(e), st, kind] for s, e, st, kind in occupied], all_areas=True)
    return g


def _given_text(g: dict) -> str:
    """The given as sentences: everything in it, nothing cut."""
    parts = []
    if "free_list" in g:
        fl = g["free_list"]
        parts.append(f"cpu{g['cpu']}'s free list: " + ("empty" if not fl else "; ".join(
            f"block at {b['start']}, {_runs_text(b['taken'])} taken, {_plural(b['free'], 'page')} free"
            for b in fl)) + f" (blocks of {g['block_pages']:,} pages).")
    if "areas" in g:
        shown = "; ".join(f"{s}-{e} {kind} {st}".replace("  ", " ") for s, e, st, kind in g["areas"]) or "none"
        which = "every area" if g["all_areas"] else "the areas from the start of the range"
        parts.append(f"The range is {g['vstart']}-{g['vend']}; {which}: {shown}.")
    if "ptes" in g:
        parts.append("Pages with a PTE: " + ("; ".join(f"{a}-{b}" for a, b in g["ptes"]) or "none") + ".")
    if "pool" in g:
        parts.append(f"cpu{g['cpu']}'s node {g['node']} pool of that size: "
                     + (", ".join(g["pool"]) + " (head first)" if g["pool"] else "empty") + ".")
    if "block" in g:
        b = g["block"]
        parts.append(f"The block at {b['start']} has {b['dirty']:,} of {g['block_pages']:,} pages dirty, "
                     f"{b['free']:,} free.")
    if "area" in g:
        parts.append(f"The area is {g['area'][0]}-{g['area'][1]}.")
    if "lazy_nr" in g:
        parts.append(f"vmap_lazy_nr = {g['lazy_nr']:,}, lazy_max_pages = {g['lazy_max_pages']:,}.")
    return " ".join(parts) + (" " if parts else "")


def _runs(bitmap: int, nbits: int) -> list[list[int]]:
    """The set bits of a bitmap as [first, last] runs."""
    runs, bit = [], 0
    while bit < nbits:
        if bitmap >> bit & 1:
            start = bit
            while bit < nbits and bitmap >> bit & 1:
                bit += 1
            runs.append([start, bit - 1])
        else:
            bit += 1
    return runs


def _runs_text(runs: list) -> str:
    if not runs:
        return "nothing"
    return "bits " + ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


# -- the kinds: the answer from the events, the why in the generation's own words ----------

def _address(op, before, events, g, lazy_after):
    result = _result(events)
    return ("What address does it return?", _hex(result), _why("place", op, before, events))


def _bits(op, before, events, g, lazy_after):
    got = next(e for e in events if type(e).__name__ == "BlockAlloc")
    block = next(e.start for e in events if type(e).__name__ == "BlockNew") if \
        any(type(e).__name__ == "BlockNew" for e in events) else got.addr - got.bit * before.config.page_size
    return ("Which block (its address) and which bits does vb_alloc() take "
            "(answer as 0xBLOCK bits X-Y)?", f"{block:#x} {_bits_text(got.bit, got.nbits)}",
            _why("place", op, before, events))


def _walk(op, before, events, g, lazy_after):
    area = next(e for e in events if e.kind == "area")
    what = ("the vmlist walk examine (the node it stops at included)" if _family(before.config) == "vanilla"
            else "alloc_vmap_area()'s walk move past")
    return (f"How many areas does {what}?", area.walk, _why("walk", op, before, events))


def _lazy(op, before, events, g, lazy_after):
    return ("What is vmap_lazy_nr after the call (and any purge it causes)?", lazy_after,
            _why("free", op, before, events))


def _flush(op, before, events, g, lazy_after):
    flushed = any(e.kind == "flush" for e in events)
    q = ("Is the TLB flushed, by this call or by the purge work it queues (yes or no)?"
         if _family(before.config) == "modern" else "Does it flush the TLB (yes or no)?")
    return (q, "yes" if flushed else "no", _why("free", op, before, events))


def _ipis(op, before, events, g, lazy_after):
    flushes = [e for e in events if e.kind == "flush"]
    n = before.config.nr_cpus
    times = f", {len(flushes)} times" if len(flushes) > 1 else ""
    return (f"The machine has {_plural(n, 'CPU')}. How many IPIs does the TLB flush of this free send?",
            sum(e.ipis for e in flushes),
            ("flush_tlb_kernel_range() runs on_each_cpu(): " +
             ("one IPI, to the other CPU" if n == 2 else f"one IPI to each of the other {n - 1:,} CPUs")
             + f"{times}; " if n > 1 else "a single CPU flushes its own TLB: no IPI; ")
            + _why("free", op, before, events))


def _next(op, before, events, g, lazy_after):
    fam = _family(before.config)
    flushes = any(e.kind == "flush" for e in events)
    if fam == "vanilla":
        answer = "d" if flushes else "c"
    elif not flushes:
        answer = "c"
    else:
        answer = "b" if any(e.kind == "purge" and e.cpu == KWORKER for e in events) else "a"
    options = " ".join(f"({k}) {v};" for k, v in NEXT.items())
    return (f"What happens next? {options[:-1]}. Answer a, b, c or d.", answer,
            _why("free", op, before, events))


def _fails(op, before, events, g, lazy_after):
    result = _result(events)
    if result is None:
        why = _failure(events)
    else:
        why = f"it fits at {result:#x}"
    return ("Does it fail, returning NULL (yes or no)?", "yes" if result is None else "no", why)


_ASK = {"address": _address, "bits": _bits, "walk": _walk, "lazy": _lazy, "flush": _flush,
        "ipis": _ipis, "next": _next, "fails": _fails}


# The whys, each written for the generations it is true of (vmapviz.sentences): "free"
# (why a free flushed or not), "place" (why an allocation got its address), "walk"
# (what the walk counted).  ROLES says which a kind's answer uses.
WHY = SentenceTable("quiz.why", neutral=lambda op, before, events: "; ".join(
    e.line() for e in events if e.kind not in ("call", "return")) or "it returned")
ROLES = {"address": ("place",), "bits": ("place",), "walk": ("walk",), "lazy": ("free",),
         "flush": ("free",), "ipis": ("free",), "next": ("free",), "fails": (), "lazy_run": ()}


def _why(role: str, op, before, events) -> str:
    return WHY.pick(role, before.config.variant).write(op, before, events)


@WHY.owns("free", by=VANILLA)
def _free_2627(op, before, events) -> str:
    flushed = any(e.kind == "flush" for e in events)
    return ("v2.6.27's remove_vm_area() unlinks the area, clears its PTEs and flushes at once, "
            "on every vunmap and vfree" if flushed else "v2.6.27 found nothing to remove")


def _lazy_free(op, before, events, fam: str) -> tuple:
    """What 2008 and 6.12 share: (the lazy event, the purge, how it was freed), or a why."""
    cfg = before.config
    named = {type(e).__name__: e for e in events}
    lazy = next((e for e in events if e.kind == "lazy"), None)
    purge = next((e for e in events if e.kind == "purge"), None)
    if lazy is None and "BlockDirty" in named:
        d = named["BlockDirty"]
        if fam == "modern":
            return None, None, (f"vb_free() widens the block's dirty range to cover these pages ({d.dirty:,} "
                                f"of {cfg.vmap_bbmap_bits:,} dirty): the block is not fully dirty, nothing is "
                                "freed, no flush until vm_unmap_aliases() or a purge")
        return None, None, (f"vb_free() only marks {_bits_text(d.bit, d.nbits)} of the block dirty ({d.dirty:,} "
                            f"of {cfg.vmap_bbmap_bits:,} dirty): the block is not fully dirty, nothing is "
                            "freed, no flush")
    if lazy is None:
        return None, None, "nothing was freed (" + _failure(events) + ")"
    block = ("the block became fully dirty, so free_vmap_block() freed its area lazily: "
             if any(e.kind == "block" for e in events) else "the area is freed lazily: ")
    if not any(e.kind == "flush" for e in events):
        return None, None, (block + f"vmap_lazy_nr = {lazy.lazy_nr:,}, not above lazy_max_pages "
                            f"{cfg.lazy_max_pages:,}, so no flush until a purge")
    return lazy, purge, block + f"vmap_lazy_nr reached {lazy.lazy_nr:,} > lazy_max_pages {cfg.lazy_max_pages:,}: "


@WHY.owns("free", by=REWRITE)
def _free_2008(op, before, events) -> str:
    lazy, purge, why = _lazy_free(op, before, events, "rewrite")
    if lazy is None:
        return why
    return why + (f"try_purge_vmap_area_lazy() purges {_plural(purge.nr_areas, 'area')} "
                  f"({purge.nr_pages:,} pages) and flushes once, before returning")


@WHY.owns("free", by=MODERN)
def _free_612(op, before, events) -> str:
    lazy, purge, why = _lazy_free(op, before, events, "modern")
    if lazy is None:
        return why
    return why + ("free_vmap_area_noflush() calls schedule_work(&drain_vmap_work); after the call "
                  f"returns, the kworker's __purge_vmap_area_lazy() purges {_plural(purge.nr_areas, 'area')} "
                  f"({purge.nr_pages:,} pages) and flushes once")


def _block_place(op, events) -> tuple:
    """(vb_alloc()'s event or None, the why of a new block or None)."""
    new = next((e for e in events if type(e).__name__ == "BlockNew"), None)
    got = next((e for e in events if type(e).__name__ == "BlockAlloc"), None)
    if got is None or new is None:
        return got, None
    return got, (f"no block on cpu{op.cpu}'s free list had {_plural(got.nbits, 'free page')}, so "
                 f"new_vmap_block() made a block at {new.start:#x} and vb_alloc() took its "
                 f"{_bits_text(got.bit, got.nbits)}: {got.addr:#x}")


@WHY.owns("place", by=VANILLA)
def _place_2627(op, before, events) -> str:
    result = _result(events)
    if result is None:
        return _failure(events)
    return f"__get_vm_area_node() walks vmlist for the first hole that fits the size plus a guard page: {result:#x}"


@WHY.owns("place", by=REWRITE)
def _place_2008(op, before, events) -> str:
    result = _result(events)
    if result is None:
        return _failure(events)
    got, new = _block_place(op, events)
    if new:
        return new
    if got is None:
        return (f"alloc_vmap_area() walks the areas from VMALLOC_START, moving past each one in the "
                f"way to ALIGN(va_end + PAGE_SIZE, align), until the size fits: {result:#x}")
    return (f"the first block on cpu{op.cpu}'s free list with {_plural(got.nbits, 'free page')}: "
            f"bitmap_find_free_region() takes its first free run of {got.nbits} aligned to "
            f"{got.nbits}, {_bits_text(got.bit, got.nbits)}: {got.addr:#x}")


@WHY.owns("place", by=MODERN)
def _place_612(op, before, events) -> str:
    result = _result(events)
    if result is None:
        return _failure(events)
    got, new = _block_place(op, events)
    if new:
        return new
    if got is None:
        area = next((e for e in events if e.kind == "area"), None)
        if area is not None and getattr(area, "pooled", False):
            return f"node_alloc() takes the head of node {area.node}'s pool of that size: {result:#x}"
        return (f"alloc_vmap_area() takes the lowest free block of the free tree that fits "
                f"(the size plus a guard page for vmalloc, vmap and get_vm_area): {result:#x}")
    return (f"the first block on cpu{op.cpu}'s free list with {_plural(got.nbits, 'free page')} gives the "
            f"pages at its bump pointer VMAP_BBMAP_BITS - free = bit {got.bit} (no alignment): {got.addr:#x}")


@WHY.owns("walk", by=VANILLA)
def _walk_2627(op, before, events) -> str:
    area = next(e for e in events if e.kind == "area")
    return f"it lands at {area.start:#x} after examining {_plural(area.walk, 'node')} of vmlist"


@WHY.owns("walk", by=REWRITE)
def _walk_2008(op, before, events) -> str:
    area = next(e for e in events if e.kind == "area")
    return (f"the walk moved addr past {_plural(area.walk, 'area')} (addr = ALIGN(va_end + PAGE_SIZE, "
            f"align) each time) and stopped at {area.start:#x}")


def _bits_text(bit: int, n: int) -> str:
    return f"bit {bit}" if n == 1 else f"bits {bit}-{bit + n - 1}"


def _plural(n: int, what: str) -> str:
    return f"{n:,} {what}{'s' * (n != 1)}"


def _result(events):
    ret = next((e for e in reversed(events) if e.kind == "return"), None)
    return None if ret is None or ret.result is VOID else ret.result


def _failure(events) -> str:
    for e in events:
        if e.kind in ("warn", "bug", "refused"):
            return e.line()
    return "it returned NULL"


def _hex(v) -> str:
    return "NULL" if v is None else f"{v:#x}"


def _arg(v: int) -> str:
    return f"{v:#x}" if v > 0xFFFFF else str(v)


def next_question(run, kinds: Iterable[str] | None = None, limit: int = 1_000_000) -> Question | None:
    """A question about the next op that one of `kinds` (all if None) fits and that can
    be answered from what it shows (of the kinds that fit, the op number picks one, so
    they take turns); `run` (with a timeline) is left just before that op, so the
    answer is still to come.  None, and the run where it was, when no op fits."""
    start = run.kernel.op
    wanted = [k for k in (ONE_OP if kinds is None else kinds) if k in ONE_OP]
    for _ in range(limit):
        op = run.peek()
        if op is None:
            break
        before = Before.of(run.kernel, op)
        events = run.step()
        fits = [k for k in wanted if k in kinds_for(op, run.config, events)]
        n = run.kernel.op
        for i in range(len(fits)):
            q = ask(n, op, fits[(n + i) % len(fits)], before, events, run.kernel.lazy_pages())
            if q is not None:
                run.seek(n - 1)
                return q
    run.seek(start)
    return None


def ask_after(run, skip: int = 0, kinds: Iterable[str] | None = None):
    """Driver.apply's function for quiz mode: run `skip` ops, then find the next
    question (next_question); (run, the question or None).  Module-level, so that it
    can be sent to a driver in another process (run/child.py)."""
    for _ in range(skip):
        if run.step() is None:
            break
    return run, next_question(run, kinds)


def answer_text(q: Question) -> str:
    """The answer as a person reads it: numbers grouped (2,210), addresses in hex."""
    return f"{q.answer:,}" if isinstance(q.answer, int) else str(q.answer)


# -- checking a student's answer ---------------------------------------------------------------

def check(question: Question, reply: str) -> bool:
    """Is `reply` the answer?  Yes/no as y/n too; numbers in any base Python reads;
    addresses with or without 0x; NULL as 0; bits as the block's address and two numbers;
    a letter for a multiple choice."""
    text = reply.strip().lower()
    answer = question.answer
    if answer in ("yes", "no"):
        return text in (answer, answer[0], "true" if answer == "yes" else "false")
    if question.kind == "next":
        return text.strip("() .") == answer
    if question.kind == "bits":
        want = re.findall(r"[0-9a-fx]+", str(answer).lower().replace("bits", " ").replace("bit", " "))
        got = re.findall(r"[0-9a-fx]+", text.replace("bits", " ").replace("bit", " "))
        try:
            return ([int(got[0], 16)] + [int(x) for x in got[1:]] ==
                    [int(want[0], 16)] + [int(x) for x in want[1:]] * (2 if len(want) == 2 else 1))
        except (ValueError, IndexError):
            return False
    if question.kind == "address":
        want = 0 if answer == "NULL" else int(answer, 16)
        if text in ("null", "none"):
            return want == 0
        try:
            return int(text, 16) == want
        except ValueError:
            return False
    try:
        return int(text.replace(",", "").replace("_", ""), 0) == answer
    except ValueError:
        return False


# -- a quiz from a seeded run ----------------------------------------------------------------

def generate(spec: RunSpec, n: int = 5, horizon: int = HORIZON,
             kinds: Iterable[str] | None = None) -> list[Question]:
    """N questions (of `kinds`, all if None) about ops of the run `spec`, each
    answerable from what it shows: the same spec (its seed, printed with the machine,
    picks the questions too) gives the same questions.  A first pass finds the ops each
    kind fits and what happened there; a seeded choice spreads candidates over the kinds
    and outcomes; a second run asks them, drops the ones it cannot show enough for, and
    keeps n, spread the same way."""
    from ..run.driver import Run
    workload, config, seed = spec.workload, spec.config, spec.config.seed
    wanted = set(KINDS if kinds is None else kinds)
    found: dict[tuple[str, str], list[int]] = {}
    run = Run(workload, config)
    for _ in range(horizon):
        op = run.peek()
        events = run.step()
        if events is None:
            break
        for kind in kinds_for(op, config, events):
            if kind in wanted:
                found.setdefault((kind, outcome(kind, events)), []).append(run.kernel.op)
    rng = random.Random(f"vmapviz-quiz:{workload.name}:{seed}")
    candidates = _choose(found, 6 * n, rng)
    run, asked = Run(workload, config), dict[tuple[str, str], list[int]]()
    for number, (kind, label) in candidates:
        if _ask_at(run, number, kind) is not None:
            asked.setdefault((kind, label), []).append(number)
    run, out = Run(workload, config), []
    for number, (kind, _label) in _choose(asked, n, rng):
        q = _ask_at(run, number, kind)
        if q is not None:
            out.append(q)
    return out


def _ask_at(run, number: int, kind: str) -> Question | None:
    """Run forward to op `number` and ask; None if the run is already past it (a run of
    ops asked before) or the question cannot show enough."""
    if run.kernel.op >= number:
        return None
    run.run(number - 1 - run.kernel.op)
    if kind == "lazy_run":
        return ask_run(number, run)
    op = run.peek()
    before = Before.of(run.kernel, op)
    return ask(number, op, kind, before, run.step(), run.kernel.lazy_pages())


def ask_run(n: int, run) -> Question | None:
    """Level 3: vmap_lazy_nr after RUN_OPS ops from op n, each free shown with what it
    frees (the area, or the block's counts before it).  Runs those ops.  Not asked when
    one of them purges for another reason than the threshold (an allocation's retry,
    vm_unmap_aliases(), an explicit purge) or frees something not shown."""
    cfg = run.config
    g = {"generation": cfg.variant, "version": cfg.generation.version, "nr_cpus": cfg.nr_cpus,
         "page_size": cfg.page_size, "lazy_nr": run.kernel.lazy_pages(), "lazy_max_pages": cfg.lazy_max_pages,
         "block_pages": cfg.vmap_bbmap_bits, "max_alloc": cfg.vmap_max_alloc, "ops": []}
    ok, lines, why = True, [], []
    for i in range(RUN_OPS):
        op = run.peek()
        if op is None:
            return None
        before = Before.of(run.kernel, op)
        item = {"op": n + i, "cpu": op.cpu, "call": op.call, "args": list(op.args)}
        if op.call in FREES:
            shown = _given("lazy", op, before, [])
            if shown is None:
                ok = False
            else:
                item.update({k: shown[k] for k in ("area", "block") if k in shown})
        events = run.step()
        if events is None:
            return None
        if any(e.kind == "purge" for e in events) and op.call not in FREES:
            ok = False
        g["ops"].append(item)
        what = (f" (the area {item['area'][0]}-{item['area'][1]})" if "area" in item else
                f" (its block at {item['block']['start']}: {item['block']['dirty']:,} of "
                f"{cfg.vmap_bbmap_bits:,} pages dirty)" if "block" in item else "")
        lines.append(f"op {n + i:,}: cpu{op.cpu} {op.call}({', '.join(_arg(a) for a in op.args)}){what}")
        lazy = next((e for e in events if e.kind == "lazy"), None)
        if lazy is not None:
            flushed = any(e.kind == "flush" for e in events)
            why.append(f"op {n + i:,} adds to vmap_lazy_nr: {lazy.lazy_nr:,}"
                       + (f" > {cfg.lazy_max_pages:,}, purged: 0" if flushed else ""))
    if not ok:
        return None
    answer = run.kernel.lazy_pages()
    text = (f"ops {n:,}-{n + RUN_OPS - 1:,}: vmap_lazy_nr = {g['lazy_nr']:,} and lazy_max_pages = "
            f"{cfg.lazy_max_pages:,} before them; then " + "; ".join(lines)
            + f". What is vmap_lazy_nr after op {n + RUN_OPS - 1:,}?")
    return Question(n, "lazy_run", text, answer,
                    ("; ".join(why) or "none of them frees anything lazily") + f": {answer:,}", g)


def _choose(found: dict, n: int, rng: random.Random) -> list[tuple[int, tuple[str, str]]]:
    """n (op, (kind, outcome)) pairs: in turn from each (kind, outcome) group, in a
    seeded order, a seeded op of it; one question per op; sorted by op."""
    groups = sorted(found)
    rng.shuffle(groups)
    pools = {g: list(found[g]) for g in groups}
    chosen: dict[int, tuple[str, str]] = {}
    while len(chosen) < n and any(pools.values()):
        for g in groups:
            pool = pools[g]
            while pool:
                op = pool.pop(rng.randrange(len(pool)))
                if op not in chosen:
                    chosen[op] = g
                    break
            if len(chosen) == n:
                break
    return sorted(chosen.items())


def machine_lines(config: Config, workload: Workload) -> list[str]:
    """The machine's parameters, as a quiz prints them first."""
    g = config.generation
    lines = [f"workload {workload.name}: {workload.summary}",
             f"kernel {g.name} ({g.version}), {_plural(config.nr_cpus, 'CPU')}, {config.bits}-bit, "
             f"PAGE_SIZE {config.page_size}, seed {config.seed}",
             f"vmalloc space {config.vmalloc_start:#x}-{config.vmalloc_end:#x}, "
             f"TLB flush model {config.flush}"]
    if g.features.lazy_flush:
        lines.append(f"lazy_max_pages {_plural(config.lazy_max_pages, 'page')} "
                     + ("(--tiny)" if config.tiny else f"(fls({config.nr_cpus}) x 32 MiB / PAGE_SIZE)"))
    if config.tiny:
        lines.append(config.tiny_text() + "; the rules stay the kernel's")
    if g.features.vmap_blocks:
        lines.append(f"VMAP_BBMAP_BITS {config.vmap_bbmap_bits:,} pages a vmap block, "
                     f"VMAP_MAX_ALLOC {config.vmap_max_alloc:,} pages")
    return lines
