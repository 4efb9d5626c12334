"""Typed events: what the simulated kernel did, in order, for any view to consume.

Events are NamedTuples: immutable and cheap to make.  Every event carries the op
number (one public API call is one op) and the CPU that ran it; `kind` groups them
for filters; `line()` gives the kernel-style text a log shows.
"""

from __future__ import annotations

from typing import NamedTuple


class Call(NamedTuple):
    """A public call starts: `name(args)`."""
    op: int
    cpu: int
    name: str
    args: tuple
    kind = "call"

    def line(self) -> str:
        return f"{self.name}({', '.join(_fmt(a) for a in self.args)})"


class Return(NamedTuple):
    """A public call returns `result` (an address, None for NULL, or a value)."""
    op: int
    cpu: int
    name: str
    args: tuple
    result: object
    detail: str = ""
    kind = "return"

    def line(self) -> str:
        args = ", ".join(_fmt(a) for a in self.args)
        res = "" if self.result is _VOID else f" = {_fmt(self.result)}"
        det = f" [{self.detail}]" if self.detail else ""
        return f"{self.name}({args}){res}{det}"


_VOID = object()  # the result of a void function


def _fmt(v: object) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, int) and not isinstance(v, bool) and v > 0xFFFFF:
        return f"{v:#x}"
    return str(v)


class AreaAlloc(NamedTuple):
    """alloc_vmap_area() inserted [start, end) after its walk passed `walk` areas."""
    op: int
    cpu: int
    start: int
    end: int
    area_kind: str
    walk: int
    kind = "area"

    def line(self) -> str:
        return (f"alloc_vmap_area: {self.area_kind} {self.start:#x}-{self.end:#x} "
                f"({(self.end - self.start) // 1024} KiB, walk passed {self.walk})")


class AreaLazyFree(NamedTuple):
    """free_unmap_vmap_area(): VM_LAZY_FREE set, pages added to vmap_lazy_nr."""
    op: int
    cpu: int
    start: int
    end: int
    lazy_nr: int
    kind = "lazy"

    def line(self) -> str:
        return f"lazy free {self.start:#x}-{self.end:#x}: vmap_lazy_nr = {self.lazy_nr}"


class Purge(NamedTuple):
    """__purge_vmap_area_lazy(): `nr_areas` areas, `nr_pages` pages, range [start, end)."""
    op: int
    cpu: int
    start: int
    end: int
    nr_areas: int
    nr_pages: int
    sync: bool
    force_flush: bool
    kind = "purge"

    def line(self) -> str:
        rng = f"{self.start:#x}-{self.end:#x}" if self.end else "empty range"
        return (f"__purge_vmap_area_lazy(sync={int(self.sync)}, force_flush={int(self.force_flush)}): "
                f"{self.nr_areas} areas, {self.nr_pages} pages, {rng}")


class TlbFlush(NamedTuple):
    """flush_tlb_kernel_range(start, end): every CPU's TLB, `ipis` IPIs sent."""
    op: int
    cpu: int
    start: int
    end: int
    ipis: int
    entries: int
    kind = "flush"

    def line(self) -> str:
        return (f"flush_tlb_kernel_range({self.start:#x}, {self.end:#x}): "
                f"{self.ipis} IPIs, {self.entries} TLB entries dropped")


class BlockNew(NamedTuple):
    """new_vmap_block(): block `block` of this CPU at [start, end)."""
    op: int
    cpu: int
    block: int
    start: int
    end: int
    kind = "block"

    def line(self) -> str:
        return f"new_vmap_block: #{self.block} {self.start:#x}-{self.end:#x} on cpu{self.cpu}'s free list"


class BlockFree(NamedTuple):
    """free_vmap_block(): every bit dirty, the block's area is freed lazily."""
    op: int
    cpu: int
    block: int
    start: int
    end: int
    kind = "block"

    def line(self) -> str:
        return f"free_vmap_block: #{self.block} {self.start:#x} fully dirty, its area freed lazily"


class AliasUnmap(NamedTuple):
    """vm_unmap_aliases() cleared the PTEs of a dirty run [start, end) of a block."""
    op: int
    cpu: int
    block: int
    start: int
    end: int
    kind = "alias"

    def line(self) -> str:
        return f"vm_unmap_aliases: unmap dirty run {self.start:#x}-{self.end:#x} of #{self.block}"


class Warn(NamedTuple):
    """A WARN_ON() or KERN_WARNING printk the kernel would print."""
    op: int
    cpu: int
    where: str
    message: str
    kind = "warn"

    def line(self) -> str:
        return f"WARNING: at mm/vmalloc.c {self.where}: {self.message}"


class AllocFail(NamedTuple):
    """alloc_vmap_area() gave up after its purge and retry."""
    op: int
    cpu: int
    size: int
    message: str
    kind = "warn"

    def line(self) -> str:
        return self.message


class Bug(NamedTuple):
    """A BUG_ON() or oops: the real kernel would stop here; the simulator refuses the call."""
    op: int
    cpu: int
    where: str
    message: str
    kind = "bug"

    def line(self) -> str:
        return f"kernel BUG at mm/vmalloc.c {self.where}: {self.message}"


class Fault(NamedTuple):
    """A kernel access to an unmapped page: the oops a real kernel would print."""
    op: int
    cpu: int
    addr: int
    pages: int
    kind = "fault"

    def line(self) -> str:
        more = f" (+{self.pages - 1} more pages)" if self.pages > 1 else ""
        return f"BUG: unable to handle kernel paging request at {self.addr:#x}{more}"


class UseAfterFree(NamedTuple):
    """An access that reached a freed page through a stale TLB entry or a lazy PTE."""
    op: int
    cpu: int
    addr: int
    pages: int
    how: str
    kind = "uaf"

    def line(self) -> str:
        more = f" (+{self.pages - 1} more pages)" if self.pages > 1 else ""
        return f"use-after-free at {self.addr:#x}{more} through {self.how}"


VOID = _VOID
KINDS = ("call", "return", "area", "lazy", "purge", "flush", "block", "alias",
         "warn", "bug", "fault", "uaf")
