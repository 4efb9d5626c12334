"""/*** Old vmalloc interfaces ***/ on top of the rewritten allocator: vm_struct,
__get_vm_area_node(), remove_vm_area(), __vunmap(), __vmalloc_node(), vmap().
Each function's docstring names the kernel function it mirrors.

Simplification: the pages a caller hands to vmap() are allocated by the simulator
for it, and freed when it vunmaps them (a caller frees its pages after vunmap()).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .kva import alloc_vmap_area, free_unmap_vmap_area
from .vmap_area import VM_VM_AREA

if TYPE_CHECKING:
    from .kernel import Kernel

# include/linux/vmalloc.h, 2.6.28
VM_IOREMAP = 0x01
VM_ALLOC = 0x02
VM_MAP = 0x04
VM_USERMAP = 0x08
VM_VPAGES = 0x10
IOREMAP_MAX_ORDER_PAGES = 7  # IOREMAP_MAX_ORDER = 7 + PAGE_SHIFT: 128 pages


@dataclass
class VmStruct:
    """struct vm_struct: `size` includes the guard page while the area is mapped."""

    addr: int
    size: int
    flags: int
    kind: str
    pages: list[int] = field(default_factory=list)
    pages_area: int | None = None  # the vmalloc'ed page array (VM_VPAGES)

    @property
    def nr_pages(self) -> int:
        return len(self.pages)


def area_kind(flags: int) -> str:
    if flags & VM_IOREMAP:
        return "ioremap"
    if flags & VM_ALLOC:
        return "vmalloc"
    if flags & VM_MAP:
        return "vmap"
    return "vm_area"


def ioremap_align(size: int, page_shift: int) -> int:
    """__get_vm_area_node()'s VM_IOREMAP rule: align to 1 << fls(size), clamped to
    [PAGE_SHIFT, IOREMAP_MAX_ORDER]; fls() is taken of the size as the caller gave it."""
    bit = min(max(size.bit_length(), page_shift), IOREMAP_MAX_ORDER_PAGES + page_shift)
    return 1 << bit


def get_vm_area_node(k: "Kernel", size: int, flags: int, start: int, end: int,
                     kind: str | None = None, align: int = 1) -> VmStruct | None:
    """__get_vm_area_node(): page-align the size, add one guard page, and take an
    area from alloc_vmap_area() (which leaves a further page free after it).
    `align` is the simulator's extension for vmalloc_align(); the 2008 code only
    aligns VM_IOREMAP areas."""
    page = k.config.page_size
    if flags & VM_IOREMAP:
        align = ioremap_align(size, k.config.page_shift)
    size = -(-size // page) * page
    if not size:
        return None
    size += page  # "We always allocate a guard page."
    va = alloc_vmap_area(k, size, align, start, end, kind or area_kind(flags), VM_VM_AREA)
    if va is None:
        return None
    vm = VmStruct(va.va_start, size, flags, va.kind)
    k.vmlist[vm.addr] = vm
    return vm


def find_vm_area(k: "Kernel", addr: int) -> VmStruct | None:
    """find_vm_area(): the vm_struct of the area starting at addr.  (For an area
    already lazily freed the kernel would return a freed vm_struct; here, None.)"""
    va = k.tree.find(addr)
    if va is not None and va.flags & VM_VM_AREA:
        return k.vmlist.get(addr)
    return None


def remove_vm_area(k: "Kernel", addr: int) -> VmStruct | None:
    """remove_vm_area(): free the area lazily and take its vm_struct off vmlist."""
    va = k.tree.find(addr)
    if va is None or not va.flags & VM_VM_AREA:
        return None
    if va.lazy:
        # Already freed: the vm_struct left vmlist, so the kernel's vmlist walk runs
        # off the end and dereferences NULL.  k.bug() ends the call here.
        k.bug("remove_vm_area", f"double free of {addr:#x}: unable to handle kernel NULL "
              "pointer dereference walking vmlist")
    vm = k.vmlist.pop(addr)
    free_unmap_vmap_area(k, va)
    vm.size -= k.config.page_size
    return vm


def vunmap_common(k: "Kernel", addr: int) -> None:
    """__vunmap(): the body of vfree() and vunmap(); WARNs on a bad or unknown address.
    Both free the pages here: vfree()'s own, or those the simulator lent to vmap()."""
    if not addr:
        return
    if addr & (k.config.page_size - 1):
        k.warn("__vunmap", f"Trying to vfree() bad address ({addr:#x})")
        return
    vm = remove_vm_area(k, addr)
    if vm is None:
        k.warn("__vunmap", f"Trying to vfree() nonexistent vm area ({addr:#x})")
        return
    for pfn in vm.pages:
        k.pages.free(pfn)
    if vm.pages_area is not None:
        vunmap_common(k, vm.pages_area)


def map_vm_area(k: "Kernel", vm: VmStruct) -> int:
    """map_vm_area(): vmap_page_range() over the area less its guard page."""
    err, _ = k.vmap_page_range(vm.addr, vm.addr + vm.size - k.config.page_size, vm.pages)
    return err


def vmalloc_node(k: "Kernel", size: int, kind: str = "vmalloc", align: int = 1) -> int | None:
    """__vmalloc_node(): an area, its page array, its pages, and their mapping."""
    page = k.config.page_size
    size = -(-size // page) * page
    if not size:
        return None
    vm = get_vm_area_node(k, size, VM_ALLOC, k.config.vmalloc_start, k.config.VMALLOC_END,
                          kind, align)
    if vm is None:
        return None
    return vmalloc_area_node(k, vm)


def vmalloc_area_node(k: "Kernel", vm: VmStruct) -> int | None:
    """__vmalloc_area_node(): a page array larger than a page is itself vmalloc'ed
    (VM_VPAGES: a second area, after this one), then one page per page of the area."""
    page = k.config.page_size
    nr_pages = (vm.size - page) // page
    array_size = nr_pages * (k.config.bits // 8)
    if array_size > page:
        vm.pages_area = vmalloc_node(k, array_size, "vpages")
        vm.flags |= VM_VPAGES
        if vm.pages_area is None:
            remove_vm_area(k, vm.addr)
            return None
    return map_new_pages(k, vm, nr_pages)


def map_new_pages(k: "Kernel", vm: VmStruct, count: int) -> int | None:
    """Give the area `count` fresh pages and map_vm_area() them; on failure free it,
    as __vmalloc_area_node() (vfree) and vmap() (vunmap) do."""
    vm.pages = [k.pages.alloc() for _ in range(count)]
    if map_vm_area(k, vm):
        vunmap_common(k, vm.addr)
        return None
    return vm.addr


def vmap(k: "Kernel", count: int, flags: int) -> int | None:
    """vmap(): map `count` pages (lent by the simulator) into a new area."""
    vm = get_vm_area_node(k, count * k.config.page_size, flags,
                            k.config.vmalloc_start, k.config.VMALLOC_END)
    if vm is None:
        return None
    return map_new_pages(k, vm, count)

