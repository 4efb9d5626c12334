"""The classroom explanations: two or three plain sentences about the last op.

`explain(snapshot)` reads only `snapshot.last_op` (every event of the last op), the
stats and the config, and names the kernel function that ran, what changed, whether a
TLB flush happened and, if not, why skipping it was safe, and where the numbers stand
against their thresholds.  The generation's features pick the words: with lazy
flushing they are the 2008 rewrite's (alloc_vmap_area(), vmap_lazy_nr, purges),
without it v2.6.27's (vmlist under vmlist_lock, a flush at every free); a free tree, a
kworker purge and dirty ranges bring 6.12's (explain_modern).  Pure functions: no
Textual, so they are tested on their own.
"""

from __future__ import annotations

from ...kernel.events import AllocFail, AreaAlloc, AreaRemove, BlockFree
from ...kernel.views import VM_IOREMAP
from ...run.snapshot import Snapshot
from ...sentences import EVERY, MODERN, REWRITE, VANILLA, Capability, Said, SentenceTable, Text
from ...units import human_bytes, pct

# The generations each text below is written for: the owner tuples of vmapviz.sentences,
# or, for a mechanism's text worded without a version, a Capability (every generation
# that declares it).  A new generation owns no named text until one is checked against
# its C and its name added there (or to a text's own owners).
LAZY_PURGE = Capability("lazy_flush&!kworker_purge")   # the caller purges the lazy areas itself


def _neutral_call(snap, call, ret, by_kind):
    """What any generation can say of a call it has no text for: the call and its result."""
    what = ret.line() if ret is not None else call.line()
    return [f"cpu{call.cpu} called {what}. No explanation of {call.name}() is written for "
            f"{snap.generation.title}; the event log shows what it did."]


def _neutral_event(snap, e):
    return [f"The kernel reported: {e.line()}."]


# The texts, by call name / event kind; modules add their texts with `owns`.
CALLS = SentenceTable("explain.calls", _neutral_call)
PURGES = SentenceTable("explain.purges", lambda snap, by_kind, name: [])
TROUBLE = SentenceTable("explain.trouble", _neutral_event)



def explain(snap: Snapshot) -> list[str]:
    """Sentences describing the last op of `snap` (empty before the first op)."""
    return explain_said(snap)


def explain_said(snap: Snapshot) -> Said:
    """explain(), each sentence remembered with the generations its text is written for."""
    said = Said()
    evs = snap.last_op
    gen = snap.generation.name
    if not evs:
        if snap.op == 0:
            said.add(CALLS.neutral, ["Nothing has run yet. Press space to play, n to step one op, "
                                     "f to run to the next TLB flush."])
            if snap.translation:
                said.add(CALLS.neutral, [f"{snap.workload} runs translated on {snap.generation.title}: "
                                         f"{snap.translation}."])
            if snap.watch:   # the workload's notes, owned by the generations they are written for
                owners = frozenset({gen}) if snap.watch_owned else CALLS.neutral.owners
                said.add(Text(owners, CALLS.neutral.write), [f"What to watch: {snap.watch}"])
        return said
    by_kind: dict[str, list] = {}
    for e in evs:
        by_kind.setdefault(e.kind, []).append(e)
    call = by_kind.get("call", [None])[0]
    ret = by_kind.get("return", [None])[-1]
    name = call.name if call is not None else ""
    if "refused" in by_kind:
        text = TROUBLE.pick("refused", gen)
        said.add(text, text.write(snap, by_kind["refused"][0]))
    elif call is not None:
        text = CALLS.pick(name, gen)
        said.add(text, text.write(snap, call, ret, by_kind))
    if "error" in by_kind:
        said.add(TROUBLE.neutral, [f"The driver reported an error: {by_kind['error'][-1].message}. "
                                   "The run is paused; the app keeps going."])
    text = PURGES.pick("purge", gen)
    said.add(text, text.write(snap, by_kind, name))
    _trouble_sentences(snap, by_kind, said)
    return said


# -- helpers ------------------------------------------------------------------------------

def _lazy_numbers(snap: Snapshot) -> str:
    s = snap.stats
    lazy, limit = s.lazy_pages, s.lazy_max_pages
    return (f"vmap_lazy_nr is {lazy:,} of lazy_max_pages {limit:,} pages "
            f"({pct(lazy, limit)}); above it the free purges, and a purge also comes from an "
            "allocation that finds no hole, from vm_unmap_aliases() and from an explicit call")


def _no_flush_reason() -> str:
    return ("No TLB flush: the address cannot be handed out again until a purge has "
            "flushed it, so a stale TLB entry for it is harmless meanwhile")


def _flushed(by_kind) -> bool:
    return "flush" in by_kind


@PURGES.owns("purge", by=LAZY_PURGE)
def _purge_sentences(snap: Snapshot, by_kind, name: str) -> list[str]:
    """What a purge and flush inside the op did (the moment to watch)."""
    if "purge" not in by_kind:
        return []
    p = by_kind["purge"][-1]
    fl = by_kind.get("flush", [None])[-1]
    limit = snap.stats.lazy_max_pages
    over = any(e.lazy_nr > limit for e in by_kind.get("lazy", ()))
    why = {
        "vm_unmap_aliases": "forced by vm_unmap_aliases()",
        "purge": "asked for directly",
    }.get(name, f"because vmap_lazy_nr went over lazy_max_pages ({limit:,})" if over
          else "because alloc_vmap_area() found no hole: it purges once and retries")
    if p.nr_areas:
        what = (f"__purge_vmap_area_lazy() ran {why}: it cleared the PTEs of {p.nr_areas} "
                f"lazily freed area{'s' * (p.nr_areas != 1)} ({p.nr_pages:,} pages) and removed them "
                "from the tree, so their addresses can be reused.")
    else:
        what = (f"__purge_vmap_area_lazy() ran {why} with no lazy areas to free"
                f"{' but force_flush set' if p.force_flush else ''}.")
    out = [what]
    if fl is not None:
        out.append(f"One flush_tlb_kernel_range({fl.start:#x}, {fl.end:#x}) covered all of it, "
                   f"{fl.ipis} IPI{'s' * (fl.ipis != 1)} (every other CPU): {_dropped(fl)} "
                   f"vmap_lazy_nr is now {snap.stats.lazy_pages:,}.")
    return out


def _dropped(fl) -> str:
    """What a flush dropped, and why that much."""
    n = f"{fl.entries} TLB entr{'ies' if fl.entries != 1 else 'y'}, {fl.stale} of them stale"
    if fl.whole:
        return (f"on x86 it is flush_tlb_all(), so every CPU emptied its whole TLB: {n}, the "
                "rest translations of live pages, refilled on their next use.")
    return (f"only that range was dropped ({n}); it runs from the lowest to the highest lazy "
            "area, so live areas between them lost their entries too, and stale entries outside "
            "it survive.")


def _trouble_sentences(snap: Snapshot, by_kind, said: Said) -> None:
    """What each WARN, BUG, oops, use-after-free and self-corruption of the op means,
    in the words of the generation that printed it."""
    gen = snap.generation.name
    for e in by_kind.get("warn", []):
        key = "alloc_fail" if isinstance(e, AllocFail) else f"warn:{e.where}:{e.check}"
        text = TROUBLE.pick(key, gen)
        if text is TROUBLE.neutral and not isinstance(e, AllocFail):
            text = TROUBLE.pick(f"warn:{e.where}", gen)
        said.add(text, text.write(snap, e))
    for kind in ("bug", "fault", "uaf", "corrupt"):
        for e in by_kind.get(kind, []):
            if kind == "uaf" and e.how.startswith("find_vm_area"):
                continue                # a dangling vm_struct, not an access: _find_vm_area
            text = TROUBLE.pick(kind, gen)
            said.add(text, text.write(snap, e))


@TROUBLE.owns("alloc_fail", by=("posted",))
def _fail_posted(snap, e):
    return [f"The kernel printed \"{e.line()}\": no hole of {human_bytes(e.size)} was "
            "found, and the retry after the purge went on from where the first search "
            "stopped (the posted code sets addr above retry:), so it could not succeed "
            "even if the purge opened a hole lower down; the same call succeeds on the "
            "next try. The caller gets NULL."]


@TROUBLE.owns("alloc_fail", by=("merged",))
def _fail_merged(snap, e):
    return [f"The kernel printed \"{e.line()}\": no hole of {human_bytes(e.size)} was left "
            "even after purging the lazy areas, so the caller gets NULL."]


@TROUBLE.owns("alloc_fail", by=VANILLA)
def _fail_vanilla(snap, e):
    return [f"The kernel printed \"{e.line()}\": no hole of {human_bytes(e.size)} (guard "
            "page included) was left between the areas of vmlist. Nothing is freed "
            "lazily before the rewrite, so there is nothing to purge and no retry: the "
            "caller gets NULL."]


@TROUBLE.owns("warn:vmap_page_range:WARN_ON(!pte_none(*pte))", by=("posted",))
def _warn_busy_pte_posted(snap, e):
    return _warn_busy_pte(snap, e) + [
        "On the posted code this sequence gives the same WARN and return code as Andrew "
        "Morton's agp_add_bridge report; the thread itself leaves that report's cause open."]


@TROUBLE.owns("warn:vmap_page_range:WARN_ON(!pte_none(*pte))", by=("merged",) + MODERN)
def _warn_busy_pte(snap, e):
    return [f"The kernel printed \"{e.line()}\". vmap_pte_range() met a PTE that was already "
            "present: the new mapping overlaps pages that are still mapped. It returns -EBUSY, "
            "but vmap_pmd_range() turns any error into -ENOMEM, so the caller sees -12 and "
            "undoes the mapping."]


@TROUBLE.owns("warn:vmap_page_range:WARN_ON(!page)", by=REWRITE + MODERN)
def _warn_no_page(snap, e):
    return [f"The kernel printed \"{e.line()}\". The caller's page array had no page there "
            "(memory ran out before every page was allocated): vmap_pte_range() returns "
            "-ENOMEM (-12) and the caller undoes the mapping. Nothing overlaps."]


@TROUBLE.owns("warn:__vunmap", by=VANILLA + REWRITE)
def _warn_vunmap(snap, e):
    return [f"The kernel printed \"{e.line()}\". The address was not one vmalloc handed out "
            "(__vunmap() looks up the exact start of an area), so nothing was freed."]


@TROUBLE.owns("warn:vfree", "warn:vunmap", by=MODERN)
def _warn_vfree_modern(snap, e):
    return [f"The kernel printed \"{e.line()}\". remove_vm_area() found no busy area with a "
            "vm_struct holding that address, so nothing was freed."]


@TROUBLE.owns("bug", by=EVERY)
def _bug(snap, e):
    if getattr(e, "own", False):
        return [f"\"{e.line()}\": the kernel has no check here and would carry on, "
                "corrupting its state as the message says; the simulator refuses the call "
                "on its own account and keeps its state as it was."]
    return [f"\"{e.line()}\": a real kernel would oops here and stop this task; the "
            "simulator ends the call."]


@TROUBLE.owns("fault", by=EVERY)
def _fault(snap, e):
    return [f"\"{e.line()}\": the access hit a page with no mapping, which oopses a real "
            "kernel."]


@TROUBLE.owns("uaf", by=REWRITE)
def _uaf(snap, e):
    return [f"Use-after-free at {e.addr:#x} through {e.how}: the page was freed but a "
            "translation survived, so the access reached memory that may belong to "
            "someone else now. Lazy flushing is only safe while nobody touches freed "
            "addresses."]


@TROUBLE.owns("corrupt", by=EVERY)
def _corrupt(snap, e):
    return [f"The kernel corrupted its own state in {e.where}() (it has no check here, and the "
            f"simulator follows the C): {e.what}. What the real kernel does next: {e.next}"]


@TROUBLE.owns("refused", by=VANILLA)
def _refused(snap, e) -> list[str]:
    why = WHY_ADDED.get(e.call)
    added = f" The 2008 rewrite (v2.6.28) added it {why}." if why else ""
    return [f"{e.call}() does not exist in {e.version}: the call was refused and changed "
            f"nothing.{added}"]


# -- per call ---------------------------------------------------------------------------------

def _vm_map_ram(snap, call, ret, by_kind):
    count = call.args[0]
    cfg = snap.config
    addr = ret.result if ret is not None else None
    out = []
    if "bug" in by_kind:
        bug = by_kind["bug"][-1]
        return [f"vm_map_ram({count}) on cpu{call.cpu} "
                + ("was refused by the simulator before it reached vb_alloc() or "
                   "alloc_vmap_area(): the kernel has no check here." if bug.own else
                   f"hit a BUG in {bug.where}(); it returned NULL.")]
    if count <= cfg.vmap_max_alloc:
        new = by_kind.get("block", [])
        if addr is None and "bits" in by_kind:
            out.append(f"vm_map_ram({count}) on cpu{call.cpu} failed: vb_alloc() gave it "
                       f"[{ret.detail}], but vmap_page_range() could not map the pages, so "
                       "vm_map_ram() gave the region back with vm_unmap_ram() and returned NULL.")
            return out
        if addr is None:
            out.append(f"vm_map_ram({count}) on cpu{call.cpu} failed: vb_alloc() found no room and "
                       "new_vmap_block() could not get an area.")
            return out
        taken = by_kind["bits"][-1].nbits      # the region vb_alloc() took, as the event says
        region = (f"a naturally aligned region of {taken} page{'s' * (taken != 1)}"
                  + (f" ({count} asked, rounded up to a power of two)" if taken != count else ""))
        if new:
            b = new[0]
            out.append(f"vb_alloc() found no block on cpu{call.cpu}'s free list with {region}, so "
                       f"new_vmap_block() took a {human_bytes(cfg.vmap_block_size)} area aligned to "
                       f"its size from alloc_vmap_area() (block #{b.block}) and put it at the head of "
                       "the free list.")
        else:
            out.append(f"vb_alloc() on cpu{call.cpu} took {region} from the first block on its free "
                       f"list that had one [{ret.detail}], without touching the global tree or its lock.")
        vb = _block_of(snap, by_kind)
        if vb is not None and not vb.on_free_list and vb.free == 0:
            out.append(f"Block #{vb.id} has no free pages left, so it left the free list; its "
                       "alloc_map bits are never cleared, so it stays off until every page is dirty "
                       "and the whole block is freed.")
        elif vb is not None:
            out.append(f"Block #{vb.id} has {vb.free} of {cfg.vmap_bbmap_bits} pages free and "
                       f"{vb.dirty} dirty. Mapping needs no TLB flush: a block hands out each page "
                       "once, and its area was flushed before alloc_vmap_area() could hand it out.")
    else:
        out.append(f"vm_map_ram({count}) is larger than VMAP_MAX_ALLOC ({cfg.vmap_max_alloc} pages), "
                   "so it went to alloc_vmap_area(), the global first-fit allocator, like vmap().")
        out.extend(_area_sentences(snap, by_kind))
    return out


def _block_of(snap, by_kind):
    """The block a vb_alloc() or vb_free() of this op worked on (its BlockAlloc or
    BlockDirty event), as the snapshot has it."""
    bits = by_kind.get("bits")
    return snap.block(bits[-1].block) if bits else None


def _vm_unmap_ram(snap, call, ret, by_kind):
    addr, count = call.args[0], call.args[1]
    cfg = snap.config
    if "bug" in by_kind:
        own = getattr(by_kind["bug"][-1], "own", False)
        return [f"vm_unmap_ram({addr:#x}, {count}) on cpu{call.cpu} "
                + ("was refused by the simulator: the kernel does not check this." if own
                   else "hit a BUG_ON.")]
    if count <= cfg.vmap_max_alloc:
        out = [f"vb_free() marked the pages dirty in the block's dirty_map [{ret.detail}] and left "
               "their PTEs in place."]
        freed = [e for e in by_kind.get("block", []) if isinstance(e, BlockFree)]
        if freed:
            b = freed[0]
            out.append(f"Every page of block #{b.block} is now dirty, so free_vmap_block() took it off "
                       "the lists and freed its whole area lazily: "
                       f"{cfg.vmap_bbmap_bits} pages added to vmap_lazy_nr at once."
                       + ("" if _flushed(by_kind) else f" {_lazy_numbers(snap)}."))
        else:
            vb = _block_of(snap, by_kind)
            extra = (f" Block #{vb.id} is {vb.dirty} of {cfg.vmap_bbmap_bits} pages dirty; freed space "
                     "in a block is never reused, so the address cannot be handed out again "
                     "before the whole block is purged.") if vb is not None else ""
            out.append(_no_flush_reason() + "." + extra)
        return out
    out = [f"vm_unmap_ram() of {count} pages went to free_unmap_vmap_area(): the area is marked "
           "VM_LAZY_FREE and stays in the tree, its PTEs mapped."]
    if not _flushed(by_kind):
        out.append(f"{_no_flush_reason()}. {_lazy_numbers(snap)}.")
    return out


def _area_sentences(snap, by_kind, call=None):
    out = []
    cfg = snap.config
    gap = (" The search leaves a free page after every area it steps past."
           if snap.generation.features.gap_page else "")
    for e in by_kind.get("area", []):
        walk = (f"its walk passed {e.walk} area{'s' * (e.walk != 1)} before the hole fit"
                if e.walk else "the first candidate fit")
        if call is not None and call.name == "get_vm_area":
            start = f"ALIGN(start, align), the caller's start being {call.args[2]:#x}"
        else:
            start = f"VMALLOC_START ({cfg.vmalloc_start:#x})"
        out.append(f"{e.fn}() placed the {e.area_kind} area at {e.start:#x} "
                   f"({human_bytes(e.end - e.start)}): first fit from {start}; {walk}.{gap}")
    return out


def _vmalloc(snap, call, ret, by_kind):
    size = call.args[0] * snap.config.page_size if call.name == "vmap" else call.args[0]
    addr = ret.result if ret is not None else None
    out = []
    if addr is None:
        out.append(f"{call.name}({human_bytes(size)}) on cpu{call.cpu} returned NULL.")
        out.extend(_area_sentences(snap, by_kind))
        return out
    out.append(f"{call.name}() asked __get_vm_area_node() for {human_bytes(size)}: it rounds up to "
               "pages and adds one guard page, then alloc_vmap_area() finds the address.")
    out.extend(_area_sentences(snap, by_kind))
    return out


def _get_vm_area(snap, call, ret, by_kind):
    size, flags = call.args[0], call.args[1]
    out = []
    if flags & VM_IOREMAP:
        align = snap.generation.ioremap_align(size, snap.config)
        out.append(f"get_vm_area(VM_IOREMAP) of {human_bytes(size)}: ioremap areas are aligned to "
                   f"1 << fls(size), here {human_bytes(align)} (at most 512 KiB; x86's fls() takes "
                   "an int, so 4 GiB gets one page), plus a guard page.")
    else:
        out.append(f"get_vm_area() of {human_bytes(size)}: an area with a guard page and no pages "
                   "mapped yet.")
    out.extend(_area_sentences(snap, by_kind, call))
    if ret is not None and ret.result is None:
        out.append("It returned NULL.")
    return out


def vunmap_keeps_pages(snap, call, start: int) -> list[str]:
    """vunmap() of a vmalloc'ed area: true of every generation (v2.6.27 and v2.6.28
    __vunmap(addr, 0); 6.12.33 vunmap() 3398-3414 is remove_vm_area() + kfree(vm))."""
    if call.name != "vunmap":
        return []
    kind = next((a.kind for a in snap.areas if a.start == start), "")
    if kind != "vmalloc":
        return []
    return ["vunmap() frees no pages: a vmalloc'ed area's pages (and a page array it "
            "vmalloc'ed) stay allocated, leaked; only vfree() frees them."]


def _free_lazy(snap, call, ret, by_kind):
    out = []
    lazies = by_kind.get("lazy", [])
    if "warn" in by_kind or "bug" in by_kind:
        return [f"{call.line()} on cpu{call.cpu} went wrong."]
    if lazies:
        e = lazies[0]
        out.append(f"{call.name}() freed {e.start:#x}-{e.end:#x} through free_unmap_vmap_area(): the "
                   "area is only marked VM_LAZY_FREE; it stays in the tree and its PTEs stay "
                   "mapped until a purge.")
        out += vunmap_keeps_pages(snap, call, e.start)
    if not _flushed(by_kind):
        out.append(f"{_no_flush_reason()}. {_lazy_numbers(snap)}.")
    return out


def _vm_unmap_aliases(snap, call, ret, by_kind):
    runs = by_kind.get("alias", [])
    blocks = {e.block for e in runs}
    if runs:
        first = (f"vm_unmap_aliases() cleared the PTEs of {len(runs)} dirty run{'s' * (len(runs) != 1)} "
                 f"in {len(blocks)} free-listed block{'s' * (len(blocks) != 1)} and forced a flush, as "
                 "Xen and PAT need before changing a page's attributes.")
    else:
        first = ("vm_unmap_aliases() found no dirty run in any free-listed block"
                 + (" and nothing lazy, so it flushed nothing." if not _flushed(by_kind) else "."))
    return [first, "The dirty bits stay set, so the next call unmaps and flushes the same runs "
                   "again; full blocks (off the free list) are skipped and keep their stale aliases."]


def _purge(snap, call, ret, by_kind):
    if "purge" not in by_kind:
        return ["purge_vmap_area_lazy() found no lazily freed areas: nothing to purge, no flush."]
    return []


def _touch(snap, call, ret, by_kind):
    addr, n = call.args[0], call.args[1]
    if ret is not None and ret.result == "ok":
        return [f"cpu{call.cpu} touched {n} page{'s' * (n != 1)} at {addr:#x}: the accesses went "
                f"through cpu{call.cpu}'s TLB, which now caches those translations. Each cached "
                "translation is what a TLB flush must drop once the page is freed."]
    return [f"cpu{call.cpu} touched {n} page{'s' * (n != 1)} at {addr:#x}."]


def _vmalloc_to_page(snap, call, ret, by_kind):
    return [f"vmalloc_to_page({call.args[0]:#x}) walked the kernel page table: "
            f"{'page frame ' + str(ret.result) if ret is not None and ret.result is not None else 'no PTE'}."]


def _find_vm_area(snap, call, ret, by_kind):
    if "uaf" in by_kind:
        return [f"find_vm_area({call.args[0]:#x}) found the area lazily freed but still in the tree "
                "with VM_VM_AREA, and returned its va->private: the vm_struct vfree() already "
                "kfree()d, a dangling pointer."]
    return [f"find_vm_area({call.args[0]:#x}) looked the address up in the tree."]


CALLS.add_each(REWRITE, {
    "vm_map_ram": _vm_map_ram, "vm_unmap_ram": _vm_unmap_ram, "vmalloc": _vmalloc,
    "vmalloc_align": _vmalloc, "vmap": _vmalloc, "get_vm_area": _get_vm_area, "vfree": _free_lazy,
    "vunmap": _free_lazy, "remove_vm_area": _free_lazy, "vm_unmap_aliases": _vm_unmap_aliases,
    "purge": _purge, "find_vm_area": _find_vm_area})
CALLS.add_each(EVERY, {"touch": _touch, "vmalloc_to_page": _vmalloc_to_page})


# -- before the rewrite: vmlist under vmlist_lock, a flush at every free ---------------------

def _nodes(n: int) -> str:
    return f"{n} node{'s' * (n != 1)}"


def _vmlist_area_sentences(snap, by_kind) -> list[str]:
    """__get_vm_area_node()'s walk and placement, per area the op linked in."""
    out = []
    for i, e in enumerate(e for e in by_kind.get("area", []) if isinstance(e, AreaAlloc)):
        what = (f"It linked the {e.area_kind} area at {e.start:#x}" if i == 0 else
                f"Its page array, over a page, was vmalloc'ed too (VM_VPAGES): a second walk "
                f"examined {_nodes(e.walk)} and linked it at {e.start:#x}")
        walk = f" after examining {_nodes(e.walk)} from the head of vmlist" if i == 0 else ""
        out.append(f"{what} ({human_bytes(e.end - e.start)} with its guard page){walk}.")
    if out:
        out.append("No gap page: the next area may start right after the guard page, and an "
                   "exact fit is taken.")
    return out


def _vmlist_alloc(snap, call, ret, by_kind):
    cfg = snap.config
    size = call.args[0] * cfg.page_size if call.name == "vmap" else call.args[0]
    addr = ret.result if ret is not None else None
    if addr is None and "area" not in by_kind:
        return [f"{call.name}({human_bytes(size)}) on cpu{call.cpu} returned NULL."]
    out = [f"{call.name}() asked __get_vm_area_node() for {human_bytes(size)}: rounded up to "
           "pages plus one guard page, then, under write_lock(&vmlist_lock), a first-fit walk "
           "of the address-sorted vmlist from its head."]
    out.extend(_vmlist_area_sentences(snap, by_kind))
    if addr is None:
        out.append(f"{call.name}() returned NULL.")
    return out


def _vmlist_get_vm_area(snap, call, ret, by_kind):
    size, flags = call.args[0], call.args[1]
    if flags & VM_IOREMAP:
        align = snap.generation.ioremap_align(size, snap.config)
        out = [f"get_vm_area(VM_IOREMAP) of {human_bytes(size)}: __get_vm_area_node() aligns "
               f"ioremap areas to 1 << fls(size), here {human_bytes(align)} (at most 512 KiB), "
               "and adds a guard page; it walks vmlist under write_lock(&vmlist_lock)."]
    else:
        out = [f"get_vm_area() of {human_bytes(size)}: __get_vm_area_node() adds a guard page "
               "and walks vmlist under write_lock(&vmlist_lock); no pages are mapped yet."]
    out.extend(_vmlist_area_sentences(snap, by_kind))
    if ret is not None and ret.result is None:
        out.append("It returned NULL.")
    return out


def _vmlist_free(snap, call, ret, by_kind):
    """remove_vm_area(): unlink, clear the PTEs, flush at once, the lock still held."""
    if "warn" in by_kind or "bug" in by_kind:
        return [f"{call.line()} on cpu{call.cpu} went wrong."]
    removes = [e for e in by_kind.get("area", []) if isinstance(e, AreaRemove)]
    flushes = by_kind.get("flush", [])
    if not removes:
        return [f"{call.line()} on cpu{call.cpu} removed nothing."]
    out = []
    for i, (rm, fl) in enumerate(zip(removes, flushes)):
        ipis = f"{fl.ipis} IPI{'s' * (fl.ipis != 1)}" + (" (no other CPU)" if not fl.ipis else "")
        if fl.whole:
            flush = f"flushed every CPU's TLB (flush_tlb_all() on x86): {ipis}"
        else:
            flush = f"flushed that range from every CPU's TLB (the range flush model): {ipis}"
        stale = f", {fl.stale} stale TLB entr{'ies' if fl.stale != 1 else 'y'} dropped"
        if i == 0:
            out.append(f"{call.name}() unlinked the area {rm.start:#x}-{rm.end:#x} from vmlist under "
                       f"vmlist_lock (the walk examined {_nodes(rm.walk)}), cleared its PTEs and, "
                       f"still holding the lock, {flush}{stale}.")
        else:
            out.append(f"Its page array was vmalloc'ed (VM_VPAGES), so {call.name}() removed that "
                       f"area too: a second walk of {_nodes(rm.walk)} and a second flush, "
                       f"{ipis}{stale}.")
    out.append("The address can be handed out again at once. The rewrite defers this flush "
               "and batches it: one flush for up to lazy_max_pages freed pages.")
    return out


def _vmlist_find_vm_area(snap, call, ret, by_kind):
    found = ret is not None and ret.result is not None
    return [f"find_vm_area({call.args[0]:#x}) walked vmlist from its head under "
            "read_lock(&vmlist_lock), as remap_vmalloc_range() does, and "
            f"{'found the area' if found else 'found no area starting there'}."]


CALLS.add_each(VANILLA, {
    "vmalloc": _vmlist_alloc, "vmalloc_align": _vmlist_alloc, "vmap": _vmlist_alloc,
    "get_vm_area": _vmlist_get_vm_area, "vfree": _vmlist_free, "vunmap": _vmlist_free,
    "remove_vm_area": _vmlist_free, "find_vm_area": _vmlist_find_vm_area})


# -- calls a generation does not have -----------------------------------------------------------

WHY_ADDED = {
    "vm_map_ram": ("for short-lived mappings such as XFS's buffers: per-CPU vmap blocks hand out "
                   "pages without a global lock, and an unmap waits to be flushed in a batch"),
    "vm_unmap_ram": ("to free what vm_map_ram() mapped: the pages are only marked dirty in their "
                     "block, and the TLB flush waits for a batch"),
    "vm_unmap_aliases": ("for Xen and PAT, which must flush every lazily kept alias of a page "
                         "before changing it; with a flush at every free there are none"),
    "purge": ("as purge_vmap_area_lazy(), which flushes the lazily freed areas in one batch; "
              "nothing is freed lazily before it, so there is nothing to purge"),
}


from . import explain_modern  # noqa: E402,F401  (registers 6.12's texts in the tables)
