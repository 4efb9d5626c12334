"""/*** Old vmalloc interfaces ***/ on top of the rewritten allocator: vm_struct,
__get_vm_area_node(), remove_vm_area(), __vunmap(), __vmalloc_node(), vmap().
Each function's docstring names the kernel function it mirrors.

v2.6.28 still keeps `vmlist`, address-sorted, under vmlist_lock: __get_vm_area_node()
links the new vm_struct in with a walk under write_lock, and remove_vm_area() unlinks
it with another; both walks are counted (the rest of vmlist's bookkeeping is the
`vmlist` dict, by address).

Simplification: the pages a caller hands to vmap() are allocated by the simulator
for it, and freed when it vunmaps them (a caller frees its pages after vunmap()).
"""

from __future__ import annotations

from ..vm_struct import VM_ALLOC, VM_IOREMAP, VM_VPAGES, VmStruct, area_kind, ioremap_align, page_align
from ..vmap_area import VM_VM_AREA
from .kva import alloc_vmap_area, free_unmap_vmap_area
from .state import RewriteState


def get_vm_area_node(k: RewriteState, cpu: int, size: int, flags: int, start: int, end: int,
                     kind: str | None = None, align: int = 1) -> VmStruct | None:
    """__get_vm_area_node(): page-align the size, add one guard page, take an area
    from alloc_vmap_area() (which leaves a further page free after it), and link the
    vm_struct into vmlist.  `align` is the simulator's extension for vmalloc_align();
    the 2008 code only aligns VM_IOREMAP areas."""
    page = k.config.page_size
    if flags & VM_IOREMAP:
        align = ioremap_align(size, k.config.page_shift)
    size = page_align(size, page)
    if not size:
        return None
    size += page  # "We always allocate a guard page."
    va = alloc_vmap_area(k, cpu, size, align, start, end, kind or area_kind(flags), page, VM_VM_AREA)
    if va is None:
        return None
    vm = VmStruct(va.start, size, flags, va.kind)
    k.vmlist[vm.addr] = vm
    order = k.vmlist_order
    i = order.bisect_left(vm.addr)
    k.stats.vmlist_lock_write += 1
    k.stats.link_walk_total += i + (i < len(order))   # up to the first vm_struct above it
    order.add(vm.addr)
    return vm


def find_vm_area(k: RewriteState, addr: int) -> VmStruct | None:
    """find_vm_area(): find_vmap_area() under vmap_area_lock, then its vm_struct.  (For
    an area already lazily freed the kernel would return a freed vm_struct; here,
    None.)"""
    k.stats.vmap_area_lock += 1
    va = k.tree.find(addr)
    if va is not None and va.flags & VM_VM_AREA:
        return k.vmlist.get(addr)
    return None


def remove_vm_area(k: RewriteState, cpu: int, addr: int) -> VmStruct | None:
    """remove_vm_area(): find_vmap_area() (vmap_area_lock), free the area lazily, then
    unlink its vm_struct from vmlist with a walk under write_lock."""
    k.stats.vmap_area_lock += 1
    va = k.tree.find(addr)
    if va is None or not va.flags & VM_VM_AREA:
        return None
    if va.lazy:
        # Already freed: the vm_struct left vmlist, so the kernel's vmlist walk runs
        # off the end and dereferences NULL.  k.bug() ends the call here.
        k.bug(cpu, "remove_vm_area", f"double free of {addr:#x}: unable to handle kernel NULL "
              "pointer dereference walking vmlist")
    vm = k.vmlist.pop(addr)
    free_unmap_vmap_area(k, cpu, va)
    vm.size -= k.config.page_size
    order = k.vmlist_order
    k.stats.vmlist_lock_write += 1
    k.stats.remove_walk_total += order.index(addr) + 1
    order.remove(addr)
    return vm


def vunmap_common(k: RewriteState, cpu: int, addr: int) -> None:
    """__vunmap(): the body of vfree() and vunmap(); WARNs on a bad or unknown address.
    Both free the pages here: vfree()'s own, or those the simulator lent to vmap()."""
    if not addr:
        return
    if addr & (k.config.page_size - 1):
        k.warn(cpu, "__vunmap", f"Trying to vfree() bad address ({addr:#x})")
        return
    vm = remove_vm_area(k, cpu, addr)
    if vm is None:
        k.warn(cpu, "__vunmap", f"Trying to vfree() nonexistent vm area ({addr:#x})")
        return
    for pfn in vm.pages:
        k.pages.free(pfn)
    if vm.pages_area is not None:
        vunmap_common(k, cpu, vm.pages_area)


def map_vm_area(k: RewriteState, cpu: int, vm: VmStruct, frames: list) -> int:
    """map_vm_area(): vmap_page_range() over the area less its guard page."""
    return k.vmap_page_range(cpu, vm.addr, vm.addr + vm.size - k.config.page_size, frames)


def vmalloc_node(k: RewriteState, cpu: int, size: int, kind: str = "vmalloc", align: int = 1) -> int | None:
    """__vmalloc_node(): an area, its page array, its pages, and their mapping; NULL for
    0 pages or more pages than the machine has (num_physpages)."""
    size = page_align(size, k.config.page_size)
    if not size or size >> k.config.page_shift > k.config.num_physpages:
        return None
    vm = get_vm_area_node(k, cpu, size, VM_ALLOC, k.config.vmalloc_start, k.config.VMALLOC_END,
                          kind, align)
    if vm is None:
        return None
    return vmalloc_area_node(k, cpu, vm)


def vmalloc_area_node(k: RewriteState, cpu: int, vm: VmStruct) -> int | None:
    """__vmalloc_area_node(): a page array larger than a page is itself vmalloc'ed
    (VM_VPAGES: a second area, after this one), then one page per page of the area."""
    page = k.config.page_size
    nr_pages = (vm.size - page) // page
    array_size = nr_pages * (k.config.bits // 8)
    if array_size > page:
        vm.pages_area = vmalloc_node(k, cpu, array_size, "vpages")
        vm.flags |= VM_VPAGES
        if vm.pages_area is None:
            remove_vm_area(k, cpu, vm.addr)
            return None
    return map_new_pages(k, cpu, vm, nr_pages)


def map_new_pages(k: RewriteState, cpu: int, vm: VmStruct, count: int) -> int | None:
    """Give the area `count` fresh pages and map_vm_area() them; on failure free it,
    as __vmalloc_area_node() (vfree) and vmap() (vunmap) do.  When memory runs out,
    vmalloc() fails before mapping; vmap()'s caller has a NULL page, which
    vmap_page_range() refuses with -ENOMEM."""
    vm.pages = k.pages.alloc_pages(count)
    short = len(vm.pages) < count
    if (short and vm.flags & VM_ALLOC) or map_vm_area(k, cpu, vm, vm.pages + [None] * short):
        vunmap_common(k, cpu, vm.addr)
        return None
    return vm.addr


def vmap(k: RewriteState, cpu: int, count: int, flags: int) -> int | None:
    """vmap(): map `count` pages (lent by the simulator) into a new area; NULL for more
    pages than the machine has."""
    if count > k.config.num_physpages:
        return None
    vm = get_vm_area_node(k, cpu, count * k.config.page_size, flags,
                          k.config.vmalloc_start, k.config.VMALLOC_END)
    if vm is None:
        return None
    return map_new_pages(k, cpu, vm, count)
