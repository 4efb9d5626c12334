"""The explanations in a current kernel's terms (Linux 6.12), owned by capabilities
(vmapviz.sentences.Capability: every generation that declares the feature shows them):

- `free_tree`: an allocation is the lowest fit in the free tree, in steps of its
  descent; a vmap node's pool of purged areas of that exact size is tried first
  (`vmap_nodes`: a hit, or a miss); one guard page and no gap page; VM_IOREMAP
  aligns to the size rounded up to a power of two;
- `kworker_purge`: a free clears the PTEs at once and only the TLB flush is lazy;
  past lazy_max_pages() the call queues drain_vmap_work and a kworker purges after
  it; the purge sends areas to their nodes' pools or back to the tree, and its one
  flush is x86's choice between INVLPGs and a full flush at 33 pages;
- `dirty_range`: vm_map_ram() bump-allocates from a block, vm_unmap_ram() clears
  PTEs and widens the block's dirty range, vm_unmap_aliases() flushes each dirty range
  once and resets it.

The handlers take (snapshot, call, return, events by kind) like explain.py's and
return sentences; each is registered in explain.py's tables for the capability it
explains.  The words name no version; where a sentence says which kernel, the
generation's own version says it (`_linux`).  The purge's text is each kernel's own
(MODERN: 6.12.33 and 6.18.2), its pool decay differing (6.12 empties a pool of fewer
than four areas, 6.18 keeps it).
"""

from __future__ import annotations

from ...kernel.events import KWORKER, BlockFree, BlockNew, FragmentedPurge
from ...kernel.views import VM_IOREMAP, VM_NO_GUARD
from ...run.snapshot import Snapshot
from ...units import human_bytes, pct
from ...sentences import Capability
from .explain import CALLS, PURGES, TROUBLE, vunmap_keeps_pages

FREE_TREE = Capability("free_tree")          # the lowest fit in a tree of free blocks
VMAP_NODES = Capability("vmap_nodes")        # busy trees and pools of purged areas per node
KWORKER_PURGE = Capability("kworker_purge")  # PTEs cleared at the free, a kworker purges
DIRTY_RANGE = Capability("dirty_range")      # blocks bump-allocate and keep a dirty range


def _s(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


def _linux(snap: Snapshot) -> str:
    """The kernel a text owned by the 6.x family speaks of: "6.12" or "6.18"."""
    return ".".join(snap.generation.version.lstrip("v").split(".")[:2])


def _pages(bit: int, n: int) -> str:
    return f"page {bit}" if n == 1 else f"pages {bit}-{bit + n - 1}"


def lazy_numbers(snap: Snapshot) -> str:
    s = snap.stats
    return (f"vmap_lazy_nr is {s.lazy_pages:,} of lazy_max_pages {s.lazy_max_pages:,} pages "
            f"({pct(s.lazy_pages, s.lazy_max_pages)})")


# -- the free tree and the pools -------------------------------------------------------------

def area_sentences(snap: Snapshot, by_kind) -> list[str]:
    """Where alloc_vmap_area() found each area of the op: a node's pool, or the lowest
    fit in the free tree after a miss (or without trying a pool)."""
    page = snap.config.page_size
    out = []
    for e in by_kind.get("area", []):
        size = human_bytes(e.end - e.start)
        pages = (e.end - e.start) // page
        if e.pooled:
            out.append(f"alloc_vmap_area() took the {e.area_kind} area at {e.start:#x} ({size}) from "
                       f"node {e.node}'s pool of {pages}-page areas, a purged area of exactly this "
                       "size: a pool hit, handed out without searching the free tree.")
            continue
        miss = (f"node {e.node}'s pool had no {pages}-page area (a miss), so " if e.node >= 0 else "")
        if e.align <= page:
            how = "took the lowest free block that fits"
        else:
            how = (f"looked for a free block of size + align - 1 (aligned to {human_bytes(e.align)}): "
                   "it turns left only into a subtree holding such a block, so it takes the first "
                   "one its descent meets that fits once aligned, not always the lowest (the "
                   "kernel's tree also holds the free space outside the vmalloc range, from 1 to "
                   "ULONG_MAX, so its shape, and this answer, can differ from the simulator's "
                   "balanced tree)")
        out.append(f"alloc_vmap_area(): {miss}find_vmap_lowest_match() {how}, "
                   f"{_s(e.walk, 'step')} down the free tree, and cut the {e.area_kind} "
                   f"area at {e.start:#x} ({size}) out of it.")
    return out


def _vmalloc(snap, call, ret, by_kind):
    cfg = snap.config
    size = call.args[0] * cfg.page_size if call.name == "vmap" else call.args[0]
    if ret is None or ret.result is None:
        return [f"{call.name}({human_bytes(size)}) on cpu{call.cpu} returned NULL.",
                *area_sentences(snap, by_kind)]
    return [f"{call.name}() asked __get_vm_area_node() for {human_bytes(size)}: rounded up to "
            "pages plus one guard page, and no gap page after it.", *area_sentences(snap, by_kind)]


def _get_vm_area(snap, call, ret, by_kind):
    cfg = snap.config
    size, flags = call.args[0], call.args[1]
    if flags & VM_IOREMAP:
        align = snap.generation.ioremap_align(size, cfg)
        out = [f"get_vm_area(VM_IOREMAP) of {human_bytes(size)}: {_linux(snap)} aligns ioremap areas to the "
               f"size rounded up to a power of two (get_count_order_long), here {human_bytes(align)}, "
               "and adds a guard page; with an alignment over a page the lowest-fit search asks "
               "for a block of size + align - 1."]
    else:
        guard = ("no guard page (VM_NO_GUARD)" if flags & VM_NO_GUARD else "a guard page")
        out = [f"get_vm_area() of {human_bytes(size)}: an area with {guard} and no pages "
               "mapped yet."]
    out += area_sentences(snap, by_kind)
    if ret is not None and ret.result is None:
        out.append("It returned NULL.")
    return out


@TROUBLE.owns("alloc_fail", by=FREE_TREE)
def alloc_fail(snap, e) -> list[str]:
    return [f"The kernel printed \"{e.line()}\": even after that reclaim and one retry no free "
            f"block of {human_bytes(e.size)} fits, so the caller gets NULL."]


@TROUBLE.owns("uaf", by=KWORKER_PURGE)
def uaf(snap, e) -> list[str]:
    return [f"Use-after-free at {e.addr:#x} through {e.how}: {_linux(snap)} cleared the PTE at the free, but "
            "this CPU's TLB still held the translation until the purge's flush, so the access "
            "reached a page that may belong to someone else now."]


# -- lazy freeing and the kworker -------------------------------------------------------------

def _free(snap, call, ret, by_kind):
    if "warn" in by_kind or "bug" in by_kind:
        return [f"{call.line()} on cpu{call.cpu} went wrong."]
    out = []
    for e in by_kind.get("lazy", []):
        out.append(f"{call.name}() cleared the PTEs of {e.start:#x}-{e.end:#x} at once "
                   f"(vunmap_range_noflush()) and put the area on node {e.node}'s lazy list: only "
                   "the TLB flush waits, and the address is not handed out again until a purge "
                   "has flushed it.")
        out += vunmap_keeps_pages(snap, call, e.start)
    out += queued_sentences(snap, by_kind)
    if not any(e.queued for e in by_kind.get("lazy", [])):
        out.append(f"No TLB flush now. {lazy_numbers(snap)}; past it a kworker purges.")
    return out


def queued_sentences(snap: Snapshot, by_kind) -> list[str]:
    """The free that took vmap_lazy_nr over lazy_max_pages and queued the drain."""
    return [f"That took vmap_lazy_nr to {e.lazy_nr:,}, over lazy_max_pages "
            f"({snap.stats.lazy_max_pages:,}): the call only queued drain_vmap_work "
            "(schedule_work()) and returned; a kworker ran it after the call."
            for e in by_kind.get("lazy", []) if e.queued]


@PURGES.owns("purge", by=("modern",))
def purge_sentences(snap: Snapshot, by_kind, name: str) -> list[str]:
    """Who ran __purge_vmap_area_lazy(), where the areas went, and its one flush."""
    return _purge_sentences(snap, by_kind, name, [])


@PURGES.owns("purge", by=("modern-6.18",))
def purge_sentences_618(snap: Snapshot, by_kind, name: str) -> list[str]:
    """6.12's purge text, and the pools 6.18's decay_va_pool_node() kept because they
    held fewer than four areas (`if (!n_decay--) break;` with n_decay = len >> 2 = 0)."""
    kept = [f"node {node}'s pool of {pages}-page areas kept its {_s(n, 'area')}"
            for p in by_kind.get("purge", [])[-1:] for node, pages, n in p.kept]
    if kept:
        kept = [f"decay_va_pool_node() took nothing from a pool of fewer than four areas: "
                f"{'; '.join(kept)} (6.18 takes len >> 2 areas of a pool, here 0; 6.12 "
                "empties such a pool)."]
    return _purge_sentences(snap, by_kind, name, kept)


def _purge_sentences(snap: Snapshot, by_kind, name: str, decay: list[str]) -> list[str]:
    if "purge" not in by_kind:
        return []
    p = by_kind["purge"][-1]
    if p.cpu == KWORKER:
        who = "The kworker's drain_vmap_area_work() ran __purge_vmap_area_lazy()"
    elif p.by == "reclaim_and_purge_vmap_areas":
        who = ("alloc_vmap_area() found no fit, so reclaim_and_purge_vmap_areas() retired the "
               "fragmented vmap blocks and ran __purge_vmap_area_lazy() with the pools drained")
    elif name == "vm_unmap_aliases":
        who = "vm_unmap_aliases() then ran __purge_vmap_area_lazy()"
    else:
        who = "purge_vmap_area_lazy() ran, asked for directly"
    decayed = (f"; first {_s(p.decayed, 'pooled area')} went back from the pools to the free tree"
               if p.decayed else "")
    if p.nr_areas:
        out = [f"{who}: it purged {_s(p.nr_areas, 'lazy area')} ({_s(p.nr_pages, 'page')}) of every "
               f"node: {p.pooled:,} to their node's pool of their exact size (up to 256 pages), "
               f"{p.nr_areas - p.pooled:,} back to the free tree, merged with their "
               f"neighbours{decayed}."]
    else:
        out = [f"{who}; there was no lazy area to purge{decayed}."]
    out += decay
    fl = by_kind.get("flush", [None])[-1]
    if fl is not None:
        out.append(flush_sentence(snap, fl))
    return out


def flush_sentence(snap: Snapshot, fl) -> str:
    """x86's flush_tlb_kernel_range(): a full flush over 33 pages, else INVLPGs."""
    pages = (fl.end - fl.start) // snap.config.page_size
    ceiling = snap.generation.flush_ceiling
    if snap.config.flush == "range":
        how = "the range model flushes only that range"
    elif fl.whole:
        how = (f"over x86's tlb_single_page_flush_ceiling of {ceiling} pages, so every CPU flushed "
               "its whole TLB")
    else:
        how = f"at most x86's ceiling of {ceiling} pages, so every CPU ran one INVLPG per page"
    return (f"One flush_tlb_kernel_range({fl.start:#x}, {fl.end:#x}) covered {_s(pages, 'page')}: "
            f"{how}; {_s(fl.ipis, 'IPI')}, {fl.stale} stale TLB entr{'ies' if fl.stale != 1 else 'y'} "
            f"dropped. vmap_lazy_nr is now {snap.stats.lazy_pages:,}.")


# -- vmap blocks with a bump pointer and a dirty range ----------------------------------------

def _vm_map_ram(snap, call, ret, by_kind):
    count = call.args[0]
    cfg = snap.config
    if count > cfg.vmap_max_alloc:
        return [f"vm_map_ram({count}) is larger than VMAP_MAX_ALLOC ({cfg.vmap_max_alloc} pages), "
                "so it went to alloc_vmap_area(), without a guard page.", *area_sentences(snap, by_kind)]
    if not count:
        return [f"vm_map_ram(0) on cpu{call.cpu}: vb_alloc() hit WARN_ON(size == 0) and returned "
                "ERR_PTR(-EINVAL), so vm_map_ram() returned NULL; nothing was mapped."]
    if "bits" in by_kind and (ret is None or ret.result is None):
        b = by_kind["bits"][-1]
        return [f"vm_map_ram({count}) on cpu{call.cpu}: vb_alloc() gave it {_pages(b.bit, b.nbits)} of "
                f"block #{b.block}, but vmap_pages_range() could not map them, so vm_map_ram() "
                "called vm_unmap_ram() on them and returned NULL."]
    if ret is None or ret.result is None:
        return [f"vm_map_ram({count}) on cpu{call.cpu} failed: no block on its free list had room "
                "and new_vmap_block() could not get an area."]
    b = by_kind["bits"][-1]
    rounded = f" ({count} asked, rounded up to a power of two)" if b.nbits != count else ""
    out = []
    if any(isinstance(e, BlockNew) for e in by_kind.get("block", [])):
        out.append(f"No block on cpu{call.cpu}'s free list had {_s(b.nbits, 'free page')}, so "
                   f"new_vmap_block() took a {human_bytes(cfg.vmap_block_size)} area aligned to its "
                   f"size (block #{b.block}), handed out its first {_s(b.nbits, 'page')}{rounded} and "
                   "put it at the tail of the free list.")
        out += area_sentences(snap, by_kind)
    else:
        out.append(f"vb_alloc() on cpu{call.cpu} took {_pages(b.bit, b.nbits)}{rounded} of "
                   f"block #{b.block} at its bump pointer, with no alignment, without the free tree "
                   "or its lock.")
    d = snap.block_detail(b.block)
    if d is not None:
        bump = cfg.vmap_bbmap_bits - d.free
        out.append(f"The bump pointer is now {bump:,} of {cfg.vmap_bbmap_bits:,}; pages below it are "
                   "never handed out twice. The block sits in the xarray of "
                   f"cpu{d.xa_cpu} (a hash of its address), where vb_free() finds it.")
    return out


def _vm_unmap_ram(snap, call, ret, by_kind):
    addr, count = call.args[0], call.args[1]
    cfg = snap.config
    if "bug" in by_kind:
        own = by_kind["bug"][-1].own
        return [f"vm_unmap_ram({addr:#x}, {count}) on cpu{call.cpu} "
                + (f"was refused by the simulator: {_linux(snap)} does not check this." if own
                   else "hit a BUG in the kernel.")]
    if "warn" in by_kind:
        return [f"vm_unmap_ram({addr:#x}, {count}) on cpu{call.cpu} found no busy area there and "
                "returned after its WARN; nothing was freed."]
    if count > cfg.vmap_max_alloc:
        return [f"vm_unmap_ram() of {count} pages went to free_unmap_vmap_area(): the PTEs are "
                "cleared now, the area waits on its node's lazy list for the TLB flush.",
                f"{lazy_numbers(snap)}."]
    b = by_kind["bits"][-1]
    out = [f"vb_free() cleared {_pages(b.bit, b.nbits)} of block #{b.block} in its used_map and "
           "their PTEs at once; a TLB may still hold them, so the block's dirty range grows to "
           "cover them."]
    freed = [e for e in by_kind.get("block", []) if isinstance(e, BlockFree)]
    if freed:
        out.append(f"Every page of block #{b.block} is now freed ({cfg.vmap_bbmap_bits:,}), so "
                   "free_vmap_block() took it out of its xarray and freed its area lazily: "
                   f"{cfg.vmap_bbmap_bits:,} pages added to vmap_lazy_nr at once.")
        return out + queued_sentences(snap, by_kind)
    d = snap.block_detail(b.block)
    if d is not None:
        out.append(f"Its dirty range is now {_pages(d.dirty_min, d.dirty_max - d.dirty_min)}, flushed by "
                   "vm_unmap_aliases() or when the block is purged; freed pages are never handed "
                   "out again, so no flush is needed now.")
    return out


def _vm_unmap_aliases(snap, call, ret, by_kind):
    runs = by_kind.get("alias", [])
    retired = [e for e in by_kind.get("block", []) if isinstance(e, FragmentedPurge)]
    out = []
    if runs:
        ranges = ", ".join(f"#{e.block} {e.start:#x}-{e.end:#x}" for e in runs[:3])
        more = f" and {len(runs) - 3} more" if len(runs) > 3 else ""
        out.append(f"vm_unmap_aliases() took the dirty range of {_s(len(runs), 'block')} ({ranges}{more}) "
                   "into one flush and reset each range, so the next call will not flush them again.")
    elif not retired:
        out.append("vm_unmap_aliases() found no block with a dirty range.")
    if retired:
        out.append(f"vm_unmap_aliases() retired {_s(len(retired), 'fragmented block')} (nothing in "
                   "use, less than a quarter free): " + ", ".join(f"#{e.block}" for e in retired)
                   + "; each block's area went on the lazy list, whole.")
    return out


def _purge(snap, call, ret, by_kind):
    return [f"purge() is the simulator's call ({_linux(snap)} exports none): cpu{call.cpu} ran the drain "
            "work's body at once, __purge_vmap_area_lazy(ULONG_MAX, 0, false) under "
            "vmap_purge_lock."]


def _find_vm_area(snap, call, ret, by_kind):
    found = ret is not None and ret.result is not None
    return [f"find_vm_area({call.args[0]:#x}) looked the address up in the vmap nodes' busy trees "
            "(any address inside an area finds it) and "
            + ("returned its vm_struct." if found else "found no busy area with a vm_struct there.")]


CALLS.add_each(FREE_TREE, {"vmalloc": _vmalloc, "vmalloc_align": _vmalloc, "vmap": _vmalloc,
                           "get_vm_area": _get_vm_area})
CALLS.add_each(VMAP_NODES, {"find_vm_area": _find_vm_area})
CALLS.add_each(KWORKER_PURGE, {"purge": _purge, "vfree": _free, "vunmap": _free, "remove_vm_area": _free})
CALLS.add_each(DIRTY_RANGE, {"vm_map_ram": _vm_map_ram, "vm_unmap_ram": _vm_unmap_ram,
                             "vm_unmap_aliases": _vm_unmap_aliases})
