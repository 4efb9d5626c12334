"""struct vm_struct and its flags (include/linux/vmalloc.h), shared by the generations
that keep them: the area behind vmalloc(), vmap(), ioremap() and get_vm_area()."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import chain
from typing import Iterator, Sequence

from sortedcontainers import SortedList

from .compiled import mypyc_attr

VM_IOREMAP = 0x01
VM_ALLOC = 0x02
VM_MAP = 0x04
VM_USERMAP = 0x08
VM_VPAGES = 0x10
VM_NO_GUARD = 0x40      # include/linux/vmalloc.h in 6.12: no guard page after the area (not in 2.6.28)
IOREMAP_MAX_ORDER_PAGES = 7  # IOREMAP_MAX_ORDER = 7 + PAGE_SHIFT: 128 pages


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@dataclass(slots=True)
class VmStruct:
    """struct vm_struct: `size` includes the guard page while the area is mapped;
    `pages` are the page frames it maps; `pages_area` is the vmalloc'ed page array of a
    VM_VPAGES area."""

    addr: int
    size: int
    flags: int
    kind: str
    pages: Sequence[int] = field(default_factory=list)   # PageAllocator's array once mapped
    pages_area: int | None = None

    @property
    def nr_pages(self) -> int:
        """vm->nr_pages: set by __vmalloc_area_node() only.  vmap() leaves it 0 (in
        every generation; 6.12 sets it only for VM_MAP_PUT_PAGES): a vmap area's
        `pages` here are the simulator's loan, not the kernel's field."""
        return len(self.pages) if self.flags & VM_ALLOC else 0


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class VmlistOrder:
    """The order of vmlist, the kernel's address-sorted singly linked list of vm_structs
    (2.6.27/2.6.28), which __get_vm_area_node() walks from its head to link a vm_struct
    in and remove_vm_area() walks to unlink one: link() and unlink() return how many
    vm_structs that walk passes, and iterating gives the addresses in list order.

    The walk is counted from positions, in O(log n): the addresses are in a SortedList,
    except those above all of it, which are in a plain sorted list, `tail`: first fit
    puts new areas above packed ones, and linking or unlinking there is an append or a
    pop instead of a SortedList update.  Past `limit` addresses the tail moves into the
    SortedList, so a link or unlink inside the tail stays cheap.  `below` is
    len(sorted), kept: a SortedList's len() is a Python call."""

    __slots__ = ("sorted", "tail", "limit", "below")

    def __init__(self, limit: int = 1024) -> None:
        self.sorted = SortedList()
        self.tail: list[int] = []
        self.limit = limit
        self.below = 0

    def __len__(self) -> int:
        return self.below + len(self.tail)

    def __iter__(self) -> Iterator[int]:
        return chain(self.sorted, self.tail)

    def link(self, addr: int) -> int:
        """Link addr in; the walk passes every vm_struct below it and the first above."""
        tail, below = self.tail, self.below
        if tail and addr > tail[0]:
            i = bisect_left(tail, addr)
            walk = below + i + (i < len(tail))
            tail.insert(i, addr)
            if len(tail) > self.limit:
                self.sorted.update(tail)
                self.below += len(tail)
                tail.clear()
            return walk
        i = self.sorted.bisect_left(addr)
        if i == below and not tail:          # above every vm_struct: a new tail
            tail.append(addr)
            return below
        self.sorted.add(addr)
        self.below += 1
        return i + 1

    def unlink(self, addr: int) -> int:
        """Unlink addr (on the list); the walk passes every vm_struct below it and addr's."""
        tail, below = self.tail, self.below
        if tail and addr >= tail[0]:
            if addr == tail[-1]:
                tail.pop()
                return below + len(tail) + 1
            i = bisect_left(tail, addr)
            del tail[i]
            return below + i + 1
        i = self.sorted.bisect_left(addr)
        self.sorted.remove(addr)
        self.below -= 1
        return i + 1


def area_kind(flags: int) -> str:
    """The kind of user a vm_struct's flags tell."""
    if flags & VM_IOREMAP:
        return "ioremap"
    if flags & VM_ALLOC:
        return "vmalloc"
    if flags & VM_MAP:
        return "vmap"
    return "vm_area"


def ioremap_align(size: int, page_shift: int) -> int:
    """__get_vm_area_node()'s VM_IOREMAP rule (2.6.27 and 2.6.28): align to
    1 << fls(size), clamped to [PAGE_SHIFT, IOREMAP_MAX_ORDER]; fls() is taken of the
    size as the caller gave it, before PAGE_ALIGN.  x86's fls() takes an int: it sees
    the low 32 bits only (bit 31 set counts as 32), so 4 GiB is fls(0) = 0, clamped
    to PAGE_SHIFT: a page's alignment."""
    bit = min(max((size & 0xFFFFFFFF).bit_length(), page_shift), IOREMAP_MAX_ORDER_PAGES + page_shift)
    return 1 << bit


def vmallocinfo_line(vm: VmStruct, bits: int, vpages: bool | None = None) -> str:
    """s_show() of v2.6.26-2.6.28 (and 6.12's vmalloc_info_show()): one vm_struct as
    /proc/vmallocinfo prints it: the range (%p: zero-padded to the width), the size with
    its guard page, ` pages=` only `if (v->nr_pages)` (2.6.27 966, 2.6.28 1728, 6.12.33
    5013), the flags, ` vpages`: VM_VPAGES before 6.x, `vpages` (bool) where the
    generation decides otherwise (6.12: is_vmalloc_addr(v->pages), 5037).  The caller
    (%pS of __builtin_return_address) is left out: the simulator's areas have none.
    Non-NUMA: no `N<node>=` fields."""
    width = bits // 4
    line = f"0x{vm.addr:0{width}x}-0x{vm.addr + vm.size:0{width}x} {vm.size:7d}"
    if vm.nr_pages:
        line += f" pages={vm.nr_pages}"
    for flag, name in ((VM_IOREMAP, "ioremap"), (VM_ALLOC, "vmalloc"), (VM_MAP, "vmap"),
                       (VM_USERMAP, "user")):
        if vm.flags & flag:
            line += " " + name
    if vm.flags & VM_VPAGES if vpages is None else vpages:
        line += " vpages"
    return line


def page_align(size: int, page_size: int, ulong_max: int) -> int:
    """PAGE_ALIGN(size) in an unsigned long: within a page of the top it wraps to 0."""
    return (size + page_size - 1) & ~(page_size - 1) & ulong_max


def uint_pages(count: int, page_shift: int) -> int:
    """`count << PAGE_SHIFT` with count an unsigned int, as vmap() (v2.6.27 469, v2.6.28
    1237), vm_map_ram() (v2.6.28 933) and vm_unmap_ram() (905) compute a size: the
    shift is done in 32 bits, on x86_64 too, so 2^20 pages of 4 KiB give 0.  (6.12
    casts count to unsigned long first.)"""
    return (count << page_shift) & 0xFFFFFFFF
