"""check(): the invariants 6.12's vmap layer keeps, as code.  Each returns a sentence
per violation; an empty list means the simulated kernel is consistent."""

from __future__ import annotations

from .state import VMAP_BLOCK, VMAP_RAM, ModernState


def check(k: ModernState) -> list[str]:
    return _tiling(k) + _nodes(k) + _lazy(k) + _pages(k) + _tlbs(k) + _blocks(k)


def _tiling(k: ModernState) -> list[str]:
    """Free blocks, busy and lazy areas and pooled areas tile [VMALLOC_START,
    VMALLOC_END) exactly, and no two free blocks touch (they would have merged)."""
    out = []
    cfg, free = k.config, k.free
    page = cfg.page_size
    pieces = [(s, e, "free") for s, e in free.blocks()]
    pieces += [(va.start, va.end, va.state) for va in k.va.values()]
    pieces += [(s, s + (idx + 1) * page, "pooled") for vn in k.nodes
               for idx, pool in vn.pool.items() for s in pool]
    pieces.sort()
    at, last = cfg.VMALLOC_START, None
    for s, e, what in pieces:
        if s != at:
            out.append(f"{what} {s:#x}-{e:#x} does not start where the space before it ends "
                       f"({at:#x}): {'an overlap' if s < at else 'a hole nobody owns'}")
            break
        if e <= s or s % page or e % page:
            out.append(f"{what} {s:#x}-{e:#x} is empty or not page aligned")
        if what == last == "free":
            out.append(f"free blocks touch at {s:#x}: they should have merged")
        at, last = e, what
    else:
        if at != cfg.vmalloc_end:
            out.append(f"the pieces end at {at:#x}, not at VMALLOC_END {cfg.vmalloc_end:#x}")
    classes = {c: list(lst) for c, lst in free.classes.items() if lst}
    expected: dict[int, list[int]] = {}
    for s, e in free.blocks():
        expected.setdefault((e - s).bit_length(), []).append(s)
    if classes != expected or set(free.end_of) != set(free.starts):
        out.append("the free blocks' size classes or ends disagree with their list")
    return out


def _nodes(k: ModernState) -> list[str]:
    out = []
    busy = {n.id: set(n.busy) for n in k.nodes}
    lazy = {n.id: set(n.lazy) for n in k.nodes}
    want_busy: dict[int, set[int]] = {n.id: set() for n in k.nodes}
    want_lazy: dict[int, set[int]] = {n.id: set() for n in k.nodes}
    for va in k.va.values():
        if va.lazy:
            want_lazy[k.lazy_node(va).id].add(va.start)
        else:
            want_busy[k.addr_to_node(va.start).id].add(va.start)
        if va.flags >> 8 > k.nr_nodes:
            out.append(f"area {va.start:#x} is tagged with node {(va.flags >> 8) - 1}, which does not exist")
    if busy != want_busy:
        out.append("a busy area is not on the busy list of the node its address belongs to")
    if lazy != want_lazy:
        out.append("a lazy area is not on the lazy list of its vn_id's node (or its address's)")
    if k.nr_nodes == 1 and any(vn.pool_len() for vn in k.nodes):
        out.append("a single node has pooled areas: node_alloc() is off with one node")
    return out


def _lazy(k: ModernState) -> list[str]:
    out = []
    page = k.config.page_size
    pages = sum(va.end - va.start for va in k.va.values() if va.lazy) // page
    if pages != k.vmap_lazy_nr:
        out.append(f"vmap_lazy_nr is {k.vmap_lazy_nr} but the lazy areas hold {pages} pages")
    if k.vmap_lazy_nr > k.config.lazy_max_pages and not k.drain_pending:
        out.append(f"vmap_lazy_nr {k.vmap_lazy_nr} is over lazy_max_pages and no drain is queued")
    vm_areas = {s for s, va in k.va.items() if not va.lazy and va.kind not in ("vm_map_ram", "vmap_block")}
    if vm_areas != set(k.vms):
        out.append("the busy areas with a vm_struct and the vm_structs disagree")
    for s, vm in k.vms.items():
        va = k.va.get(s)
        if va is not None and vm.size != va.end - va.start:
            out.append(f"vm_struct {s:#x}'s size {vm.size} is not its area's")
    return out


def _pages(k: ModernState) -> list[str]:
    """A PTE only where a user holds a page: in a busy area, below its guard page, in
    a block only under a used_map bit.  Freed space has none: PTEs go at free time."""
    out = []
    shift = k.config.page_shift
    if k.pgtable.dead:
        out.append("pages are counted dead: 6.12 clears PTEs when an area is freed")
    for vpn in sorted(k.pgtable.ptes):
        addr = vpn << shift
        va = k.find_busy(addr)
        if va is None or addr >= va.end - va.guard:
            out.append(f"PTE at {addr:#x} lies outside every busy area's pages (freed space "
                       "keeps no PTE)")
            break
        if va.kind == "vmap_block":
            vb = k.block_at(addr)
            if not vb.used_map >> ((addr - vb.start) >> shift) & 1:
                out.append(f"PTE at {addr:#x} in block #{vb.id} is not under a used_map bit")
                break
    for addr, frames in k.ram_maps.items():
        if any(k.pgtable.ptes.get((addr >> shift) + i) != pfn for i, pfn in enumerate(frames)):
            out.append(f"vm_map_ram mapping {addr:#x} lost a PTE")
            break
    return out


def _tlbs(k: ModernState) -> list[str]:
    """A TLB entry that no longer matches the page table lies where a flush is still
    owed: in a lazy area, or in a live block's dirty range."""
    out = []
    shift = k.config.page_shift
    owed = [(va.start, va.end) for va in k.va.values() if va.lazy]
    owed += [(vb.start + (vb.dirty_min << shift), vb.start + (vb.dirty_max << shift))
             for vb in k.blocks() if vb.dirty_max]
    ptes = k.pgtable.ptes
    for cpu, tlb in enumerate(k.pgtable.tlbs):
        for vpn, pfn in tlb.items():
            addr = vpn << shift
            if ptes.get(vpn) != pfn and not any(s <= addr < e for s, e in owed):
                out.append(f"cpu{cpu}'s TLB maps {addr:#x}, which the page table no longer maps "
                           "so, and no flush is owed there")
                break
    return out


def _blocks(k: ModernState) -> list[str]:
    out = []
    cfg = k.config
    bits = cfg.vmap_bbmap_bits
    listed = {id(vb) for q in k.vbq for vb in q}
    for xa_cpu, xa in enumerate(k.xa):
        for idx, vb in xa.items():
            tag = f"block #{vb.id}"
            if k.xa_of(vb.start) != (xa_cpu, idx):
                out.append(f"{tag} is stored at xarray {xa_cpu}[{idx}], not where its address hashes")
            va = k.va.get(vb.start)
            if (va is None or va.lazy or va.kind != "vmap_block" or va.end != vb.end
                    or va.flags & 0xff != VMAP_RAM | VMAP_BLOCK):
                out.append(f"{tag}'s area is not a busy VMAP_RAM|VMAP_BLOCK area")
            if vb.start % cfg.vmap_block_size:
                out.append(f"{tag} at {vb.start:#x} is not VMAP_BLOCK_SIZE aligned")
            handed = bits - vb.free
            if vb.used_map >> handed:
                out.append(f"{tag} has used_map bits above its bump pointer {handed}")
            if vb.used_map.bit_count() + vb.dirty != handed:
                out.append(f"{tag}: pages in use {vb.used_map.bit_count()} + dirty {vb.dirty} "
                           f"!= pages handed out {handed}")
            if vb.dirty >= bits:
                out.append(f"{tag} is fully dirty but was not freed")
            if vb.dirty_max and not 0 <= vb.dirty_min < vb.dirty_max <= handed:
                out.append(f"{tag}'s dirty range {vb.dirty_min}-{vb.dirty_max} is not within "
                           "what it handed out")
            if not vb.dirty_max and vb.dirty_min != bits:
                out.append(f"{tag}'s empty dirty range is not [BITS, 0)")
            if vb.on_free_list != (vb.free > 0) or vb.on_free_list != (id(vb) in listed):
                out.append(f"{tag}: free {vb.free} but on_free_list is {vb.on_free_list}")
            if vb.on_free_list and vb not in k.vbq[vb.cpu]:
                out.append(f"{tag} is on another CPU's free list than its own")
    in_xa = {id(vb) for xa in k.xa for vb in xa.values()}
    if listed - in_xa:
        out.append("a block on a free list is not in any xarray")
    for va in k.va.values():
        if va.kind == "vmap_block" and not va.lazy and k.block_at(va.start) is None:
            out.append(f"vmap_block area {va.start:#x} has no block")
    return out
