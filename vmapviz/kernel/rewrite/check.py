"""check(): the invariants the vmap layer keeps, as code.  Each returns a sentence per
violation; an empty list means the simulated kernel is consistent."""

from __future__ import annotations

from ..vmap_area import VM_LAZY_FREE, VM_LAZY_FREEING, VM_VM_AREA
from .state import RewriteState, addr_to_vb_idx


def check(k: RewriteState) -> list[str]:
    return _areas(k) + _rbtree(k) + _lazy(k) + _pages(k) + _blocks(k)


def _rbtree(k: RewriteState) -> list[str]:
    """vmap_area_root is a valid red-black tree holding exactly the listed areas, in
    address order: an in-order walk gives the sorted list, except that after a posted
    overlap an area that starts inside another sits left of it (__insert_vmap_area()
    goes left when va_start < tmp->va_end)."""
    tree = k.tree
    assert tree.rbtree is not None       # the rewrite keeps its rbtree
    out = tree.rbtree.violations()
    nodes = list(tree.rbtree.inorder())
    if any(tree.nodes.get(n.start) is not n or (va := tree.by_start.get(n.start)) is None
           or (n.start, n.end) != (va.start, va.end) for n in nodes) or len(nodes) != len(tree):
        out.append("the rbtree's nodes and the listed areas disagree")
    elif [n.start for n in nodes] != list(tree.starts) and not tree.overlaps:
        out.append("an in-order walk of the rbtree is not in address order")
    return out


def _areas(k: RewriteState) -> list[str]:
    out = []
    cfg, tree = k.config, k.tree
    starts = list(tree.starts)
    if starts != sorted(tree.by_start) or any(tree.by_start[s].start != s for s in starts):
        return ["the start index and the address-ordered list disagree"]
    areas = list(tree.area_list)
    prev = None
    holes = {}
    for a in areas:
        if (type(a.start) is not int or type(a.end) is not int or a.start % cfg.page_size
                or a.end % cfg.page_size or not 0 < a.start < a.end):
            out.append(f"area {a.start!r}-{a.end!r} is empty, negative or not page aligned")
        elif a.state != ("busy" if not a.flags & (VM_LAZY_FREE | VM_LAZY_FREEING) else
                       "lazy" if a.flags & VM_LAZY_FREE else "freeing"):
            out.append(f"area {a.start:#x}-{a.end:#x} is {a.state} but its flags say otherwise")
        if a.end > 1 << cfg.bits:
            out.append(f"area {a.start:#x}-{a.end:#x} is outside the address space")
        if prev is not None:
            overlap = prev.end > a.start
            if overlap and not {prev.start, a.start} & k.overlaps:
                out.append(f"areas {prev.start:#x}-{prev.end:#x} and "
                           f"{a.start:#x}-{a.end:#x} overlap")
            if a.start > prev.end + cfg.page_size:
                holes[a.start] = prev.end + cfg.page_size
        prev = a
    if k.overlaps and not k.policy.first_contains_addr:
        out.append("an overlapping area was handed out by the merged allocator")
    if holes != dict(tree.holes):
        out.append("the hole index does not match the gaps between areas")
    for vm_addr, vm in k.vmlist.items():
        va = tree.find(vm_addr)
        if va is None or not va.flags & VM_VM_AREA or va.lazy:
            out.append(f"vm_struct {vm_addr:#x} on vmlist has no busy VM_VM_AREA area")
        elif vm.size != va.end - va.start:
            out.append(f"vm_struct {vm_addr:#x} size {vm.size} != its area's")
    busy_vm = {a.start for a in areas if a.flags & VM_VM_AREA and not a.lazy}
    if busy_vm != set(k.vmlist) or list(k.vmlist_order) != sorted(k.vmlist):
        out.append("busy VM_VM_AREA areas and vmlist disagree")
    return out


def _lazy(k: RewriteState) -> list[str]:
    out = []
    lazy = [a for a in k.tree.area_list if a.flags & VM_LAZY_FREE]
    if any(a.flags & VM_LAZY_FREEING for a in k.tree.area_list):
        out.append("a VM_LAZY_FREEING area is still in the tree after its purge")
    if {a.start for a in lazy} != set(k.lazy):
        out.append("the lazy list and the VM_LAZY_FREE areas disagree")
    pages = sum(a.end - a.start for a in lazy) // k.config.page_size
    if pages != k.vmap_lazy_nr:
        out.append(f"vmap_lazy_nr is {k.vmap_lazy_nr} but lazily freed areas hold {pages} pages")
    if k.vmap_lazy_nr > k.config.lazy_max_pages:
        out.append(f"vmap_lazy_nr {k.vmap_lazy_nr} is over lazy_max_pages without a purge")
    return out


def _owners(areas: list, vpns, shift: int):
    """(vpn, the area holding it or None) for sorted vpns: a merge of two address-ordered
    walks (areas sorted by start, as the tree keeps them)."""
    i = 0
    for vpn in vpns:
        addr = vpn << shift
        while i < len(areas) and areas[i].end <= addr:
            i += 1
        yield vpn, (areas[i] if i < len(areas) and areas[i].start <= addr else None)


def _pages(k: RewriteState) -> list[str]:
    out = []
    shift = k.config.page_shift
    ptes, dead = k.pgtable.ptes, k.pgtable.dead
    areas = list(k.tree.area_list)
    for vpn, va in _owners(areas, sorted(ptes), shift):
        if va is None:
            out.append(f"PTE at {vpn << shift:#x} lies outside every area")
            break
    for vpn, va in _owners(areas, sorted(dead), shift):
        addr = vpn << shift
        # Under a posted overlap a page may lie in two areas: any freed one will do.
        owners = k.tree.overlapping(addr, addr + 1) if k.tree.overlaps else [va]
        if vpn not in ptes or not any(_freed(k, o, addr) for o in owners):
            out.append(f"page {addr:#x} is counted dead but is unmapped or in use")
            break
    for cpu, tlb in enumerate(k.pgtable.tlbs):
        for vpn, pfn in tlb.items():
            if ptes.get(vpn) != pfn:
                out.append(f"cpu{cpu}'s TLB maps {vpn << shift:#x} to a page the page table "
                           "no longer maps there, and no flush is pending")
                break
    # After a posted overlap, the purge of the area placed over a live mapping clears
    # the live one's PTEs: the bug's second act, not an inconsistency of the simulator.
    for addr, frames in ({} if k.overlaps else k.ram_maps).items():
        for i, pfn in enumerate(frames):
            if ptes.get((addr >> shift) + i) != pfn:
                out.append(f"vm_map_ram mapping {addr:#x} lost its PTE for page {i}")
                break
    return out


def _freed(k: RewriteState, va, addr: int) -> bool:
    """Is addr in a lazily freed area, or a dirty page of a live vmap block?"""
    if va is None or va.lazy:
        return va is not None
    if va.kind != "vmap_block":
        return False
    vb = k.block_at(addr)
    return bool(vb.dirty_map >> ((addr - vb.start) >> k.config.page_shift) & 1)


def _blocks(k: RewriteState) -> list[str]:
    out = []
    cfg = k.config
    bits = cfg.vmap_bbmap_bits
    full = (1 << bits) - 1
    seen: set[int] = set()
    for vbq in k.vbq:
        for name, lst in (("free", vbq.free), ("dirty", vbq.dirty)):
            for vb in lst:
                flag = vb.on_free_list if name == "free" else vb.on_dirty_list
                if vb.cpu != vbq.cpu or not flag:
                    out.append(f"block #{vb.id} is on cpu{vbq.cpu}'s {name} list by mistake")
                if k.vmap_block_tree.get(addr_to_vb_idx(cfg, vb.start)) is not vb:
                    out.append(f"block #{vb.id} on a list is not in the radix tree")
            seen.update(id(vb) for vb in lst)
    for idx, vb in k.vmap_block_tree.items():
        tag = f"block #{vb.id}"
        if addr_to_vb_idx(cfg, vb.start) != idx:
            out.append(f"{tag} is indexed at {idx}, not addr_to_vb_idx({vb.start:#x})")
        va = k.tree.find(vb.start)
        if va is None or va.lazy or va.kind != "vmap_block" or va.end != vb.end:
            out.append(f"{tag}'s area is not a busy vmap_block area of the tree")
        if vb.start % cfg.vmap_block_size:
            out.append(f"{tag} at {vb.start:#x} is not VMAP_BLOCK_SIZE aligned")
        if vb.alloc_map & ~full or vb.dirty_map & ~full:
            out.append(f"{tag} has bits beyond VMAP_BBMAP_BITS")
        if vb.free != bits - vb.alloc_map.bit_count():
            out.append(f"{tag}: free {vb.free} != clear bits of alloc_map")
        if vb.dirty != vb.dirty_map.bit_count():
            out.append(f"{tag}: dirty {vb.dirty} != set bits of dirty_map")
        if vb.dirty_map & ~vb.alloc_map:
            out.append(f"{tag} has dirty bits that were never allocated")
        if vb.dirty >= bits:
            out.append(f"{tag} is fully dirty but was not freed")
        if vb.on_free_list != (vb.free > 0) or vb.on_free_list != (vb in k.vbq[vb.cpu].free):
            out.append(f"{tag}: free {vb.free} but on_free_list is {vb.on_free_list}")
        if vb.on_dirty_list != (vb.dirty > 0) or vb.on_dirty_list != (vb in k.vbq[vb.cpu].dirty):
            out.append(f"{tag}: dirty {vb.dirty} but on_dirty_list is {vb.on_dirty_list}")
    for a in k.tree.area_list:
        if a.kind == "vmap_block" and not a.lazy and k.vmap_block_tree.get(addr_to_vb_idx(cfg, a.start)) is None:
            out.append(f"vmap_block area {a.start:#x} has no block")
    if not k.corruption and not k.overlaps:     # vb_free() counts on this while sound
        for addr, frames in k.ram_maps.items():
            vb = k.block_at(addr)
            if vb is None:
                continue
            n = 1 << (len(frames) - 1).bit_length()
            pos = (addr - vb.start) >> cfg.page_shift
            region = ((1 << n) - 1) << pos
            if pos + n > bits or vb.alloc_map & region != region or vb.dirty_map & region:
                out.append(f"vm_map_ram mapping {addr:#x} in block #{vb.id}: bits {pos}-{pos + n - 1} "
                           "are not all handed out and clean")
    return out
