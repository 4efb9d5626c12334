"""/*** Old vmalloc interfaces ***/ on top of the rewritten allocator: vm_struct,
__get_vm_area_node(), remove_vm_area(), __vunmap(), __vmalloc_node(), vmap().
Each function's docstring names the kernel function it mirrors.

v2.6.28 still keeps `vmlist`, address-sorted, under vmlist_lock: __get_vm_area_node()
links the new vm_struct in with a walk under write_lock, and remove_vm_area() unlinks
it with another; both walks are counted (the rest of vmlist's bookkeeping is the
`vmlist` dict, by address).

Simplification: the pages a caller hands to vmap() are allocated by the simulator
for it, and freed when it vunmaps them (a caller frees its pages after vunmap()).
vunmap() of a vmalloc()ed area frees nothing but the area, as __vunmap(addr, 0) does.
"""

from __future__ import annotations

from ..events import UseAfterFree
from ..vm_struct import (VM_ALLOC, VM_IOREMAP, VM_MAP, VM_VPAGES, VmStruct, area_kind, ioremap_align,
                         uint_pages)
from ..vmap_area import VM_LAZY_FREE, VM_LAZY_FREEING, VM_VM_AREA
from .kva import alloc_vmap_area, free_unmap_vmap_area
from .state import RewriteState


def get_vm_area_node(k: RewriteState, cpu: int, size: int, flags: int, start: int, end: int,
                     kind: str | None = None, align: int = 1, maps: bool = False,
                     checked: bool = False) -> VmStruct | None:
    """__get_vm_area_node(): page-align the size, add one guard page, take an area
    from alloc_vmap_area() (which leaves a further page free after it), and link the
    vm_struct into vmlist.  `align` and `checked` are for the simulator's
    vmalloc_align() extension (the 2008 code only aligns VM_IOREMAP areas); `maps`:
    the caller maps the area."""
    page, ulong_max = k.page_size, k.ulong_max
    if flags & VM_IOREMAP:
        align = ioremap_align(size, k.page_shift)
    size = (size + page - 1) & -page & ulong_max      # page_align(), inline
    if not size:
        return None
    if size + page > ulong_max:
        k.bug(cpu, "__get_vm_area_node", f"size {size:#x} plus the guard page wraps to 0; the "
              "kernel would call alloc_vmap_area(0) and insert an empty area", own=True)
    size += page  # "We always allocate a guard page."
    va = alloc_vmap_area(k, cpu, size, align, start, end, kind or area_kind(flags), page,
                         VM_VM_AREA, maps, checked)
    if va is None:
        return None
    addr = va.start
    vm = k.vmlist[addr] = VmStruct(addr, size, flags, va.kind)
    stats = k.stats
    stats.vmlist_lock_write += 1
    stats.link_walk_total += k.vmlist_order.link(addr)
    return vm


def find_vm_area(k: RewriteState, cpu: int, addr: int) -> VmStruct | None:
    """find_vm_area(): find_vmap_area() under vmap_area_lock, then va->private if the
    area has VM_VM_AREA.  A lazily freed area keeps both until its purge, so for one
    the kernel returns the vm_struct that vfree()/vunmap() already kfree()d: a
    dangling pointer, shown as a use-after-free."""
    k.stats.vmap_area_lock += 1
    va = k.tree.find(addr)
    if va is None or not va.flags & VM_VM_AREA:
        return None
    if va.lazy:
        k.stats.use_after_free += 1
        k.emit(UseAfterFree, k.op, cpu, addr, 0, "find_vm_area(): va->private, the vm_struct "
                            "kfree()d when the area was freed")
        return k.freed_vms[addr]
    return k.vmlist[addr]


def remove_vm_area(k: RewriteState, cpu: int, addr: int) -> VmStruct | None:
    """remove_vm_area(): find_vmap_area() (vmap_area_lock), free the area lazily, then
    unlink its vm_struct from vmlist with a walk under write_lock."""
    k.stats.vmap_area_lock += 1
    tree = k.tree
    va = tree.by_start.get(addr) if not tree.overlaps else tree.find(addr)   # find()'s usual case inline
    if va is None or not va.flags & VM_VM_AREA:
        return None
    if va.flags & (VM_LAZY_FREE | VM_LAZY_FREEING):      # va.lazy, read from the flags
        # Already freed: the vm_struct left vmlist, so the kernel's vmlist walk runs
        # off the end and dereferences NULL.  k.bug() ends the call here.
        k.bug(cpu, "remove_vm_area", f"double free of {addr:#x}: unable to handle kernel NULL "
              "pointer dereference walking vmlist")
    vm = k.freed_vms[addr] = k.vmlist.pop(addr)   # kfree()d by the caller; va->private stays
    free_unmap_vmap_area(k, cpu, va)
    vm.size -= k.page_size
    stats = k.stats
    stats.vmlist_lock_write += 1
    stats.remove_walk_total += k.vmlist_order.unlink(addr)
    return vm


def vunmap_common(k: RewriteState, cpu: int, addr: int, deallocate_pages: bool) -> None:
    """__vunmap(addr, deallocate_pages): WARN on a bad or unknown address; vfree()
    (deallocate_pages) frees the pages and the page array, itself vfree()d when
    VM_VPAGES.  vunmap() leaves a vmalloc'ed area's pages and page array alone: they
    leak, the page array's area stays busy.  The pages the simulator lent to vmap() are
    freed with it (their owner would free them)."""
    if not addr:
        return
    if addr & (k.page_size - 1):
        k.warn(cpu, "__vunmap", f"Trying to vfree() bad address ({addr:#x})")
        return
    vm = remove_vm_area(k, cpu, addr)
    if vm is None:
        k.warn(cpu, "__vunmap", f"Trying to vfree() nonexistent vm area ({addr:#x})")
        return
    if deallocate_pages or vm.flags & VM_MAP:
        k.pages.free_pages(vm.pages)
    if deallocate_pages and vm.pages_area is not None:
        vunmap_common(k, cpu, vm.pages_area, True)


def vmalloc_node(k: RewriteState, cpu: int, size: int, kind: str = "vmalloc", align: int = 1,
                 checked: bool = False) -> int | None:
    """__vmalloc_node() and the __vmalloc_area_node() it calls: an area, its page
    array, its pages, and their mapping; NULL for 0 pages or more pages than the
    machine has (num_physpages).  `align`, `checked`: the vmalloc_align() extension."""
    page = k.page_size
    size = (size + page - 1) & -page & k.ulong_max    # page_align(), inline
    if not size or size >> k.page_shift > k.config.num_physpages:
        return None
    vm = get_vm_area_node(k, cpu, size, VM_ALLOC, k.VMALLOC_START, k.VMALLOC_END,
                          kind, align, True, checked)         # maps: True (positional: cheaper)
    if vm is None:
        return None
    # __vmalloc_area_node() (inline here, its one caller): a page array larger than a
    # page is itself vmalloc'ed (VM_VPAGES: a second area, after this one), then one
    # page per page of the area.
    nr_pages = size >> k.page_shift               # vm->size less its guard page
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
    vmap_page_range() refuses with -ENOMEM.  map_vm_area() is the one line that maps:
    vmap_page_range() over the area less its guard page."""
    pages = vm.pages = k.pages.alloc_pages(count)
    if not (len(pages) < count and vm.flags & VM_ALLOC):
        failed = k.pgtable.vmap_page_range(vm.addr, vm.addr + vm.size - k.page_size, pages)
        if failed is None:
            return vm.addr
        k.vmap_failed(cpu, vm.addr, failed)     # a PTE there, or fewer pages: a NULL one
    vunmap_common(k, cpu, vm.addr, bool(vm.flags & VM_ALLOC))
    return None


def vmap(k: RewriteState, cpu: int, count: int, flags: int) -> int | None:
    """vmap(): map `count` pages (lent by the simulator) into a new area; NULL for more
    pages than the machine has.  The size is count << PAGE_SHIFT in unsigned int
    (uint_pages): past 2^20 pages of 4 KiB it wraps, and only the area's pages are
    mapped (and lent)."""
    if count > k.config.num_physpages:
        return None
    size = uint_pages(count, k.config.page_shift)
    vm = get_vm_area_node(k, cpu, size, flags, k.config.VMALLOC_START, k.config.VMALLOC_END, maps=True)
    if vm is None:
        return None
    return map_new_pages(k, cpu, vm, size >> k.config.page_shift)
