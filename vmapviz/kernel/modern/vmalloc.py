"""The vm_struct interfaces in 6.12: __get_vm_area_node(), remove_vm_area(), vfree(),
vunmap(), __vmalloc_node_range() and vmap(), over the modern allocator.  Each
function's docstring names the kernel function it mirrors.

There is no vmlist any more: a vm_struct hangs off its vmap_area (va->vm), and areas
are found by the address they contain, through the busy sets of the vmap nodes.

Simplifications: the pages a caller hands to vmap() are allocated by the simulator for
it, and freed when it vunmaps them; no huge mappings, no KASAN.
"""

from __future__ import annotations

from ..vm_struct import VM_ALLOC, VM_IOREMAP, VM_MAP, VM_NO_GUARD, VmStruct, area_kind, page_align
from ..vmap_area import VmapArea
from .kva import alloc_vmap_area, free_unmap_vmap_area, unlink_busy
from .state import ModernState



def ioremap_align(size: int, page_shift: int, bits: int) -> int:
    """__get_vm_area_node()'s VM_IOREMAP rule in 6.12: 1 << get_count_order_long(size)
    (the order of size rounded up to a power of two) of the page-aligned size, clamped
    to [PAGE_SHIFT, IOREMAP_MAX_ORDER]; x86 sets IOREMAP_MAX_ORDER to PUD_SHIFT (30) on
    64-bit and PMD_SHIFT (22: without PAE, the i386 configuration of i386_areas) on 32-bit
    (arch/x86/include/asm/page_types.h 43-46 of 6.12.19)."""
    order = (size - 1).bit_length()
    return 1 << min(max(order, page_shift), 30 if bits == 64 else 22)


def get_vm_area_node(k: ModernState, cpu: int, size: int, align: int, flags: int, start: int,
                     end: int, kind: str | None = None) -> VmStruct | None:
    """__get_vm_area_node(): page-align the size, align VM_IOREMAP areas, add one guard
    page unless VM_NO_GUARD (mm/vmalloc.c 6.12.33 3126), take an area from
    alloc_vmap_area() and bind the vm_struct to it."""
    page = k.config.page_size
    size = page_align(size, page, k.config.ulong_max)
    if not size:
        return None
    if flags & VM_IOREMAP:
        align = ioremap_align(size, k.config.page_shift, k.config.bits)
    guard = 0 if flags & VM_NO_GUARD else page
    size += guard
    va = alloc_vmap_area(k, cpu, size, align, start, end, kind or area_kind(flags), guard)
    if va is None:
        return None
    vm = VmStruct(va.start, size, flags, va.kind)
    k.vms[vm.addr] = vm
    return vm


def find_vm_area(k: ModernState, addr: int) -> VmStruct | None:
    """find_vm_area(): the vm_struct of the busy area containing addr."""
    va = k.find_busy(addr)
    return None if va is None else k.vms.get(va.start)


def find_unlink_vmap_area(k: ModernState, addr: int) -> VmapArea | None:
    """find_unlink_vmap_area(): the busy area containing addr (its node's busy set
    first, then the others'), taken off that busy set."""
    va = k.find_busy(addr)
    if va is not None:
        unlink_busy(k, va)
    return va


def remove_vm_area(k: ModernState, cpu: int, addr: int) -> VmStruct | None:
    """remove_vm_area(): WARN on an unaligned address; unlink the busy area holding
    addr (any address inside it, not only its start) and free it lazily, PTEs
    cleared."""
    if addr & (k.config.page_size - 1):
        k.warn(cpu, "remove_vm_area", f"Trying to vfree() bad address ({addr:#x})")
        return None
    va = k.find_busy(addr)
    if va is None:
        return None
    if va.start not in k.vms:
        # 6.12 (3232): find_unlink_vmap_area() takes the area off its busy tree, then
        # `if (!va || !va->vm) return NULL`: the area is lost for good and vfree()
        # WARNs "Trying to vfree() nonexistent vm area" (3362).  The simulator refuses.
        k.bug(cpu, "remove_vm_area", f"{addr:#x} lies in a {va.kind} area without a vm_struct: "
              "6.12 would unlink it from its busy tree, find no vm_struct and return NULL (vfree() "
              "then WARNs 'Trying to vfree() nonexistent vm area'), losing its addresses for good",
              own=True)
    find_unlink_vmap_area(k, addr)
    free_unmap_vmap_area(k, cpu, va)
    return k.vms.pop(va.start)


def vunmap(k: ModernState, cpu: int, addr: int) -> None:
    """vunmap() (6.12.33 3398-3414): remove_vm_area() and kfree(vm), WARN when no area
    is found.  Only vfree() frees pages: a vmalloc'ed area's pages and page array stay
    allocated (leaked); the pages the simulator lent to vmap() (VM_MAP) go back."""
    if not addr:
        return
    vm = remove_vm_area(k, cpu, addr)
    if vm is None:
        k.warn(cpu, "vunmap", f"Trying to vunmap() nonexistent vm area ({addr:#x})")
    elif vm.flags & VM_MAP:
        k.pages.free_pages(vm.pages)


def vfree(k: ModernState, cpu: int, addr: int) -> None:
    """vfree(): remove the area, free its pages and a page array that was itself
    vmalloc'ed (3366-3385); WARN when no area is found."""
    if not addr:
        return
    vm = remove_vm_area(k, cpu, addr)
    if vm is None:
        k.warn(cpu, "vfree", f"Trying to vfree() nonexistent vm area ({addr:#x})")
        return
    k.pages.free_pages(vm.pages)
    if vm.pages_area is not None:
        vfree(k, cpu, vm.pages_area)


def vmalloc_node(k: ModernState, cpu: int, size: int, align: int = 1, kind: str = "vmalloc") -> int | None:
    """__vmalloc_node_range() over the whole vmalloc range: warn_alloc() and NULL for
    0 pages, more pages than the machine has, no area, or no pages."""
    cfg = k.config
    if not size:
        k.warn(cpu, "__vmalloc_node_range", "WARN_ON_ONCE(!size)", "WARN_ON_ONCE(!size)")
        return None
    if size >> cfg.page_shift > cfg.num_physpages:
        k.warn(cpu, "__vmalloc_node_range", f"vmalloc error: size {size}, exceeds total pages",
               "warn_alloc")
        return None
    vm = get_vm_area_node(k, cpu, size, align, VM_ALLOC, cfg.VMALLOC_START, cfg.VMALLOC_END, kind)
    if vm is None:
        k.warn(cpu, "__vmalloc_node_range", f"vmalloc error: size {size}, vm_struct allocation failed",
               "warn_alloc")
        return None
    return vmalloc_area_node(k, cpu, vm)


def vmalloc_area_node(k: ModernState, cpu: int, vm: VmStruct) -> int | None:
    """__vmalloc_area_node(): a page array larger than a page is vmalloc'ed itself,
    then the pages, then their mapping; any failure frees the area."""
    page = k.config.page_size
    nr_pages = (vm.size - page) // page
    array_size = nr_pages * (k.config.bits // 8)
    if array_size > page:
        vm.pages_area = vmalloc_node(k, cpu, array_size, 1, "vpages")
        if vm.pages_area is None:
            k.warn(cpu, "__vmalloc_area_node", f"vmalloc error: size {nr_pages * page}, failed "
                   f"to allocated page array size {array_size}", "warn_alloc")
            remove_vm_area(k, cpu, vm.addr)      # free_vm_area()
            return None
    vm.pages = k.pages.alloc_pages(nr_pages)
    if len(vm.pages) < nr_pages:
        # 6.12.33 3694-3695 prints area->nr_pages * PAGE_SIZE: the pages it did get.
        k.warn(cpu, "__vmalloc_area_node", f"vmalloc error: size {len(vm.pages) * page}, failed to "
               f"allocate pages", "warn_alloc")
        vfree(k, cpu, vm.addr)
        return None
    failed = k.pgtable.vmap_page_range(vm.addr, vm.addr + nr_pages * page, vm.pages)
    if failed is not None:
        k.vmap_failed(cpu, vm.addr, failed)
        vfree(k, cpu, vm.addr)
        return None
    return vm.addr


def vmap(k: ModernState, cpu: int, count: int, flags: int) -> int | None:
    """vmap(): map `count` pages (lent by the simulator) into a new area; NULL for more
    pages than the machine has.  A missing page (memory ran out) makes the mapping
    fail, and the area is vunmap()ed."""
    cfg = k.config
    if count > cfg.num_physpages:
        return None
    vm = get_vm_area_node(k, cpu, count * cfg.page_size, 1, flags, cfg.VMALLOC_START, cfg.VMALLOC_END)
    if vm is None:
        return None
    vm.pages = k.pages.alloc_pages(count)
    failed = k.pgtable.vmap_page_range(vm.addr, vm.addr + count * cfg.page_size, vm.pages)
    if failed is not None:                      # fewer pages: a NULL one
        k.vmap_failed(cpu, vm.addr, failed)
        vunmap(k, cpu, vm.addr)
        return None
    return vm.addr
