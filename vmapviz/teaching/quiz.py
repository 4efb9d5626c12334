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
from typing import Iterable, NamedTuple

from ..kernel import BlockView, Config, Kernel, QueueView, VmapArea
from ..kernel.events import VOID
from ..workloads import Op, Workload

FREES = ("vm_unmap_ram", "vfree", "vunmap", "remove_vm_area")
ALLOCS = ("vmalloc", "vmalloc_align", "vmap", "get_vm_area")
KINDS = {
    "address": "the address vm_map_ram() returns",
    "bits": "the block and bits vb_alloc() takes",
    "flush": "whether a free flushes the TLB",
    "ipis": "how many IPIs a flush sends",
    "fails": "whether an allocation fails",
}
HORIZON = 30_000   # ops a quiz draws its questions from, unless the workload ends first


class Before(NamedTuple):
    """What the student sees before the op: the machine, the vmap blocks and queues,
    vmap_lazy_nr, and the area the op frees (if it frees one)."""

    config: Config
    blocks: tuple[BlockView, ...]
    queues: tuple[QueueView, ...]
    lazy_pages: int
    area: VmapArea | None

    @classmethod
    def of(cls, kernel: Kernel, op: Op) -> "Before":
        return cls(kernel.config, tuple(kernel.block_views()), tuple(kernel.queue_views()),
                   kernel.lazy_pages(), _area(kernel.areas(), op) if op.call in FREES[1:] else None)

    @classmethod
    def from_snapshot(cls, snap, op: Op) -> "Before":
        return cls(snap.config, snap.blocks, snap.queues, snap.stats.lazy_pages,
                   _area(snap.areas, op) if op.call in FREES[1:] else None)


def _area(areas: Iterable[VmapArea], op: Op) -> VmapArea | None:
    return next((a for a in areas if a.start == op.args[0] and a.state == "busy"), None)


class Question(NamedTuple):
    op: int         # the op asked about (its number: the run is at op - 1 when asked)
    kind: str
    question: str
    answer: object
    why: str

    def as_json(self) -> dict:
        return {"op": self.op, "question": self.question, "answer": self.answer, "why": self.why}


def kinds_for(op: Op, config: Config, events: list) -> list[str]:
    """The kinds of question that fit this op, given what it did."""
    features = config.generation.features
    out = []
    if op.call == "vm_map_ram" and config.offers("vm_map_ram"):
        out.append("address")
        if features.vmap_blocks and op.args[0] <= config.vmap_max_alloc:
            out.append("bits")
    if op.call in FREES and config.offers(op.call):
        out.append("flush")
    if any(e.kind == "flush" for e in events):
        out.append("ipis")
    if op.call in ALLOCS and config.offers(op.call):
        out.append("fails")
    return out


def outcome(kind: str, events: list) -> str:
    """A label of what happened, so a quiz can ask about both sides (yes and no)."""
    kinds = {e.kind for e in events}
    if kind == "flush":
        return "yes" if "flush" in kinds else "no"
    if kind in ("address", "bits"):
        return "new block" if "block" in kinds else "old block"
    if kind == "fails":
        return "yes" if _result(events) is None else "no"
    return ""


def ask(n: int, op: Op, kind: str, before: Before, events: list) -> Question:
    """The question of `kind` about op number n, with its answer and why."""
    call = f"cpu{op.cpu} calls {op.call}({', '.join(_arg(a) for a in op.args)})"
    given = _given(kind, op, before)
    q, answer, why = _ASK[kind](op, before, events)
    return Question(n, kind, f"op {n:,}: {call}. {given}{q}", answer, why)


# -- the kinds --------------------------------------------------------------------------------

def _address(op, before, events):
    result = _result(events)
    return ("What address does it return?", _hex(result), _placement(op, before, events))


def _bits(op, before, events):
    got = [e for e in events if type(e).__name__ == "BlockAlloc"]
    answer = f"#{got[0].block} {_bits_text(got[0].bit, got[0].nbits)}" if got else "none"
    return ("Which block and which bits does vb_alloc() take (answer as #B bits X-Y)?", answer,
            _placement(op, before, events))


def _flush(op, before, events):
    cfg = before.config
    flushed = [e for e in events if e.kind == "flush"]
    named = {type(e).__name__: e for e in events}
    if "AreaRemove" in named:
        why = ("v2.6.27's remove_vm_area() clears the PTEs and flushes at once, on every "
               "vunmap and vfree" if flushed else "v2.6.27 found nothing to remove")
    elif flushed:
        lazy = named.get("AreaLazyFree")
        purge = named.get("Purge")
        why = (f"vmap_lazy_nr reached {lazy.lazy_nr:,} > lazy_max_pages {cfg.lazy_max_pages:,}: "
               if lazy else "") + (f"__purge_vmap_area_lazy() freed {purge.nr_areas} areas "
                                    f"({purge.nr_pages:,} pages) and flushed once" if purge else "it flushed")
    elif "AreaLazyFree" in named:
        lazy = named["AreaLazyFree"]
        freed = "the block became fully dirty, so free_vmap_block() freed its area lazily: " \
            if "BlockFree" in named else "the area is freed lazily: "
        why = (freed + f"vmap_lazy_nr = {lazy.lazy_nr:,}, not above lazy_max_pages "
               f"{cfg.lazy_max_pages:,}, so no flush until a purge")
    elif "BlockDirty" in named:
        d = named["BlockDirty"]
        why = (f"vb_free() only marks {_bits_text(d.bit, d.nbits)} of #{d.block} dirty "
               f"({d.dirty} of {cfg.vmap_bbmap_bits} dirty): the block is not fully dirty, "
               "nothing is freed, no flush")
    else:
        why = "nothing was freed (" + _failure(events) + ")"
    return ("Does it flush the TLB (yes or no)?", "yes" if flushed else "no", why)


def _ipis(op, before, events):
    flushes = [e for e in events if e.kind == "flush"]
    ipis = sum(e.ipis for e in flushes)
    n = before.config.nr_cpus
    times = f" It flushes {len(flushes)} times." if len(flushes) > 1 else ""
    return (f"It flushes the TLB.{times} How many IPIs does that cost?", ipis,
            f"flush_tlb_kernel_range() runs on_each_cpu(): one IPI to each of the other "
            f"{_plural(n - 1, 'CPU')}" + (f", {len(flushes)} times" if len(flushes) > 1 else ""))


def _fails(op, before, events):
    result = _result(events)
    if result is None:
        why = _failure(events)
    else:
        area = next((e for e in events if e.kind == "area"), None)
        why = (f"it fits at {result:#x}" + (f", after a walk past {area.walk} areas" if area else ""))
    return ("Does it fail, returning NULL (yes or no)?", "yes" if result is None else "no", why)


_ASK = {"address": _address, "bits": _bits, "flush": _flush, "ipis": _ipis, "fails": _fails}


def _placement(op, before, events):
    """Why vm_map_ram() got that address: which block, which bits."""
    new = next((e for e in events if type(e).__name__ == "BlockNew"), None)
    got = next((e for e in events if type(e).__name__ == "BlockAlloc"), None)
    result = _result(events)
    if got is None:
        if result is None:
            return _failure(events)
        return (f"{op.args[0]} pages are more than VMAP_MAX_ALLOC ({before.config.vmap_max_alloc}): "
                f"vm_map_ram() maps them with its own vmap area, at {result:#x}")
    region = _bits_text(got.bit, got.nbits)
    if new is not None:
        return (f"no block on cpu{op.cpu}'s free list had {got.nbits} free pages, so "
                f"new_vmap_block() made #{new.block} at {new.start:#x} and vb_alloc() took its "
                f"{region}: {got.addr:#x}")
    block = next((b for b in before.blocks if b.id == got.block), None)
    start = f" = {block.start:#x} + {got.bit} pages" if block else ""
    return (f"#{got.block} is the first block on cpu{op.cpu}'s free list with {got.nbits} free "
            f"pages, and {region} its first free run of {got.nbits} aligned to {got.nbits}: "
            f"{got.addr:#x}{start}")


def _given(kind: str, op: Op, before: Before) -> str:
    """What the student needs to know before the op, as a sentence or two."""
    cfg = before.config
    if kind in ("address", "bits"):
        queue = next((q for q in before.queues if q.cpu == op.cpu), None)
        blocks = {b.id: b for b in before.blocks}
        listed = [blocks[i] for i in (queue.free if queue else ()) if i in blocks]
        if not listed:
            return f"cpu{op.cpu}'s free list is empty. "
        parts = [f"#{b.id} at {b.start:#x}, {_runs(b.alloc_map, cfg.vmap_bbmap_bits)} taken, "
                 f"{b.free} free" for b in listed[:4]]
        more = f" and {len(listed) - 4} more" if len(listed) > 4 else ""
        return (f"cpu{op.cpu}'s free list: {'; '.join(parts)}{more} "
                f"(blocks of {cfg.vmap_bbmap_bits} pages). ")
    if kind == "flush" and op.call == "vm_unmap_ram":
        block = next((b for b in before.blocks if b.start <= op.args[0] < b.end), None)
        where = (f"{_hex(op.args[0])} is in #{block.id} (cpu{block.cpu}): {block.dirty} of "
                 f"{cfg.vmap_bbmap_bits} pages dirty, {block.free} free. ") if block else ""
        return where + _lazy(before)
    if kind == "flush":
        a = before.area
        pages = (a.end - a.start - a.guard) // cfg.page_size if a else 0
        size = (f"The area is {_plural(pages, 'page')} (+{_plural(a.guard // cfg.page_size, 'guard page')}). "
                if a else "")
        return size + _lazy(before)
    if kind == "ipis":
        return f"The machine has {_plural(cfg.nr_cpus, 'CPU')}. "
    return ""


def _lazy(before: Before) -> str:
    if not before.config.generation.features.lazy_flush:
        return f"{before.config.generation.version} frees nothing lazily. "
    return (f"vmap_lazy_nr = {before.lazy_pages:,}, lazy_max_pages = "
            f"{before.config.lazy_max_pages:,}. ")


def _runs(bitmap: int, nbits: int) -> str:
    """The set bits of a bitmap as runs: "bits 0-11, 16-19", or "nothing"."""
    runs, bit = [], 0
    while bit < nbits:
        if bitmap >> bit & 1:
            start = bit
            while bit < nbits and bitmap >> bit & 1:
                bit += 1
            runs.append(f"{start}-{bit - 1}" if bit - 1 > start else str(start))
        else:
            bit += 1
    return "bits " + ", ".join(runs) if runs else "nothing"


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
    """A question about the next op that one of `kinds` (all if None) fits (of the
    kinds that fit, the op number picks one, so they take turns); `run` (with a
    timeline) is left just before that op, so the answer is still to come.  None, and
    the run where it was, when no op fits."""
    start = run.kernel.op
    wanted = list(KINDS if kinds is None else kinds)
    for _ in range(limit):
        op = run.peek()
        if op is None:
            break
        before = Before.of(run.kernel, op)
        events = run.step()
        fits = [k for k in wanted if k in kinds_for(op, run.config, events)]
        if fits:
            n = run.kernel.op
            run.seek(n - 1)
            return ask(n, op, fits[n % len(fits)], before, events)
    run.seek(start)
    return None


# -- checking a student's answer ---------------------------------------------------------------

def check(question: Question, reply: str) -> bool:
    """Is `reply` the answer?  Yes/no as y/n too; numbers in any base Python reads;
    addresses with or without 0x; NULL as 0; bits as the three numbers."""
    text = reply.strip().lower()
    answer = question.answer
    if answer in ("yes", "no"):
        return text in (answer, answer[0], "true" if answer == "yes" else "false")
    if question.kind == "bits":
        return re.findall(r"\d+", text) == re.findall(r"\d+", str(answer))
    if question.kind == "address":
        want = 0 if answer == "NULL" else int(answer, 16)
        if text in ("null", "none"):
            return want == 0
        try:
            return int(text, 16) == want
        except ValueError:
            return False
    try:
        return int(text, 0) == answer
    except ValueError:
        return False


# -- a quiz from a seeded run ----------------------------------------------------------------

def generate(workload: Workload, config: Config, n: int = 5, seed: int = 1,
             horizon: int = HORIZON) -> list[Question]:
    """N questions about ops of a run of `workload` on `config`: the same arguments
    give the same questions."""
    from ..run.driver import Run
    found: dict[tuple[str, str], list[int]] = {}
    run = Run(workload, config)
    for _ in range(horizon):
        op = run.peek()
        events = run.step()
        if events is None:
            break
        for kind in kinds_for(op, config, events):
            found.setdefault((kind, outcome(kind, events)), []).append(run.kernel.op)
    chosen = _choose(found, n, random.Random(f"vmapviz-quiz:{workload.name}:{seed}"))
    run, out = Run(workload, config), []
    for number, kind in chosen:
        while run.kernel.op < number - 1:
            run.step()
        op = run.peek()
        before = Before.of(run.kernel, op)
        out.append(ask(number, op, kind, before, run.step()))
    return out


def _choose(found: dict, n: int, rng: random.Random) -> list[tuple[int, str]]:
    """n (op, kind) pairs: in turn from each (kind, outcome) group, in a seeded order,
    a seeded op of it; one question per op; sorted by op."""
    groups = sorted(found)
    rng.shuffle(groups)
    pools = {g: list(found[g]) for g in groups}
    chosen: dict[int, str] = {}
    while len(chosen) < n and any(pools.values()):
        for g in groups:
            pool = pools[g]
            while pool:
                op = pool.pop(rng.randrange(len(pool)))
                if op not in chosen:
                    chosen[op] = g[0]
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
        lines.append(f"lazy_max_pages {config.lazy_max_pages:,} (fls({config.nr_cpus}) x 32 MiB)")
    if g.features.vmap_blocks:
        lines.append(f"VMAP_BBMAP_BITS {config.vmap_bbmap_bits} pages a vmap block, "
                     f"VMAP_MAX_ALLOC {config.vmap_max_alloc} pages")
    return lines
