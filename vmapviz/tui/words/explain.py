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
from . import explain_modern as modern
from ...units import human_bytes, pct


def explain(snap: Snapshot) -> list[str]:
    """Sentences describing the last op of `snap` (empty before the first op)."""
    evs = snap.last_op
    if not evs:
        if snap.op == 0:
            out = ["Nothing has run yet. Press space to play, n to step one op, "
                   "f to run to the next TLB flush."]
            if snap.translation:
                out.append(f"{snap.workload} runs translated on {snap.generation.title}: "
                           f"{snap.translation}.")
            return out
        return []
    by_kind: dict[str, list] = {}
    for e in evs:
        by_kind.setdefault(e.kind, []).append(e)
    call = by_kind.get("call", [None])[0]
    ret = by_kind.get("return", [None])[-1]
    name = call.name if call is not None else ""
    out: list[str] = []
    features = snap.generation.features
    handler = handlers_for(features).get(name)
    if "refused" in by_kind:
        out.append(_refused(by_kind["refused"][0]))
    elif handler is not None:
        out.extend(handler(snap, call, ret, by_kind))
    elif call is not None:
        out.append(f"cpu{call.cpu} called {call.line()}.")
    if "error" in by_kind:
        out.append(f"The driver reported an error: {by_kind['error'][-1].message}. "
                   "The run is paused; the app keeps going.")
    purges = modern.purge_sentences if features.kworker_purge else _purge_sentences
    out.extend(purges(snap, by_kind, name))
    out.extend(_trouble_sentences(snap, by_kind))
    return out


def handlers_for(features) -> dict:
    """The explanation of each call, in the terms of a generation with `features`."""
    table = _HANDLERS if features.lazy_flush else _VMLIST_HANDLERS
    for has, more in ((features.free_tree, modern.FREE_TREE_HANDLERS),
                      (features.kworker_purge, modern.KWORKER_HANDLERS),
                      (features.dirty_range, modern.DIRTY_RANGE_HANDLERS)):
        if has:
            table = table | more
    return table


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


def _trouble_sentences(snap: Snapshot, by_kind) -> list[str]:
    out = []
    lazy = snap.generation.features.lazy_flush
    for e in by_kind.get("warn", []):
        if isinstance(e, AllocFail) and snap.generation.features.free_tree:
            out.append(modern.alloc_fail(e))
        elif isinstance(e, AllocFail) and lazy and not e.restarted:
            out.append(f"The kernel printed \"{e.line()}\": no hole of {human_bytes(e.size)} was "
                       "found, and the retry after the purge went on from where the first search "
                       "stopped (the posted code sets addr above retry:), so it could not succeed "
                       "even if the purge opened a hole lower down; the same call succeeds on the "
                       "next try. The caller gets NULL.")
        elif isinstance(e, AllocFail) and lazy:
            out.append(f"The kernel printed \"{e.line()}\": no hole of {human_bytes(e.size)} was left "
                       "even after purging the lazy areas, so the caller gets NULL.")
        elif isinstance(e, AllocFail):
            out.append(f"The kernel printed \"{e.line()}\": no hole of {human_bytes(e.size)} (guard "
                       "page included) was left between the areas of vmlist. Nothing is freed "
                       "lazily before the rewrite, so there is nothing to purge and no retry: the "
                       "caller gets NULL.")
        else:
            out.append(f"The kernel printed \"{e.line()}\". "
                       + _WARN_MEANING.get(e.where, "Something the kernel did not expect happened; "
                                                    "the call failed."))
    for e in by_kind.get("bug", []):
        if getattr(e, "own", False):
            out.append(f"\"{e.line()}\": the kernel has no check here and would carry on, "
                       "corrupting its state as the message says; the simulator refuses the call "
                       "on its own account and keeps its state as it was.")
        else:
            out.append(f"\"{e.line()}\": a real kernel would oops here and stop this task; the "
                       "simulator ends the call and keeps its state as it was.")
    for e in by_kind.get("fault", []):
        out.append(f"\"{e.line()}\": the access hit a page with no mapping, which oopses a real "
                   "kernel.")
    for e in by_kind.get("uaf", []):
        if e.how.startswith("find_vm_area"):
            continue                    # a dangling vm_struct, not an access: _find_vm_area
        out.append(f"Use-after-free at {e.addr:#x} through {e.how}: the page was freed but a "
                   "translation survived, so the access reached memory that may belong to "
                   "someone else now. Lazy flushing is only safe while nobody touches freed "
                   "addresses.")
    return out


_WARN_MEANING = {
    "vmap_page_range": ("vmap_page_range() met a PTE that was already present: the new area overlaps "
                        "a live one. vmap_pte_range() returns -EBUSY, but vmap_pmd_range() turns "
                        "any error into -ENOMEM, so the caller sees -12. On the posted code this "
                        "sequence gives the same WARN and return code as Andrew Morton's "
                        "agp_add_bridge report; the thread itself leaves that report's cause open."),
    "__vunmap": "The address was not one vmalloc handed out, so nothing was freed.",
}


# -- per call ---------------------------------------------------------------------------------

def _vm_map_ram(snap, call, ret, by_kind):
    count = call.args[0]
    cfg = snap.config
    addr = ret.result if ret is not None else None
    out = []
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
        region = (f"a naturally aligned region of {taken} pages"
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


_HANDLERS = {
    "vm_map_ram": _vm_map_ram,
    "vm_unmap_ram": _vm_unmap_ram,
    "vmalloc": _vmalloc,
    "vmalloc_align": _vmalloc,
    "vmap": _vmalloc,
    "get_vm_area": _get_vm_area,
    "vfree": _free_lazy,
    "vunmap": _free_lazy,
    "remove_vm_area": _free_lazy,
    "vm_unmap_aliases": _vm_unmap_aliases,
    "purge": _purge,
    "touch": _touch,
    "vmalloc_to_page": _vmalloc_to_page,
    "find_vm_area": _find_vm_area,
}


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


_VMLIST_HANDLERS = _HANDLERS | {
    "vmalloc": _vmlist_alloc,
    "vmalloc_align": _vmlist_alloc,
    "vmap": _vmlist_alloc,
    "get_vm_area": _vmlist_get_vm_area,
    "vfree": _vmlist_free,
    "vunmap": _vmlist_free,
    "remove_vm_area": _vmlist_free,
    "find_vm_area": _vmlist_find_vm_area,
}


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


def _refused(e) -> str:
    why = WHY_ADDED.get(e.call)
    added = f" The 2008 rewrite (v2.6.28) added it {why}." if why else ""
    return (f"{e.call}() does not exist in {e.version}: the call was refused and changed "
            f"nothing.{added}")
