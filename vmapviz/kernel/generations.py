"""The registry of kernel generations: every version of mm/vmalloc.c the simulator runs.

A generation is a name, a version tag, a one-line description, the calls it offers
and the features it has; its code lives in its own module under `vmapviz.kernel`,
named here and imported only when a kernel of that generation boots.  Adding a
generation is a module and an entry in GENERATIONS.  Views decide what to draw from
`features`, never from the name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from . import i386_areas

if TYPE_CHECKING:
    from .config import Config
    from .kernel import Kernel

# The old API every generation has (vmalloc_align is the simulator's one extension:
# see Kernel.vmalloc_align).
OLD_API = ("vmalloc", "vmalloc_align", "vfree", "vmap", "vunmap", "get_vm_area",
           "remove_vm_area", "find_vm_area", "vmalloc_to_page", "touch")
# flush_tlb_kernel_range(): x86 (2.6.27 and 2.6.28) flushes every CPU's whole TLB,
# whatever the range; architectures such as ARM drop only the range.
FLUSH_MODELS = ("all", "range")
# What the 2008 rewrite added.
PER_CPU_API = ("vm_map_ram", "vm_unmap_ram", "vm_unmap_aliases", "purge")


@dataclass(frozen=True)
class Features:
    """What a generation has, for views and workloads to adapt to."""

    lazy_flush: bool         # vunmap defers the TLB flush (vmap_lazy_nr, purges)
    vmap_blocks: bool        # per-CPU vmap blocks behind vm_map_ram
    gap_page: bool           # the search leaves a free page after every area
    locks: tuple[str, ...]   # the locks its fast paths take
    # What a snapshot can take beyond the shared views (snapshot.take):
    free_tree: bool = False      # free space kept as free blocks: free_blocks(), largest_free_block()
    vmap_nodes: bool = False     # per-node pools of purged areas: node_pools(), extra_counters()
    kworker_purge: bool = False  # a kworker purges (drain_pending; its events have cpu KWORKER)
    dirty_range: bool = False    # blocks bump-allocate and keep a dirty range: block_details()

    def have(self, needs: str) -> bool:
        """Whether these features meet `needs`: a feature ("dirty_range"), one without
        ("!lazy_flush"), all of several ("lazy_flush&!kworker_purge"), or any of
        several ("free_tree|vmap_nodes"); "" is always met.  A panel, a key and a
        sentence name what they need this way, never a generation."""
        def met(term: str) -> bool:
            return not getattr(self, term[1:]) if term.startswith("!") else bool(getattr(self, term))
        return not needs or any(all(map(met, part.split("&"))) for part in needs.split("|"))


# 2.6.28's x86 ranges, which the 2008 generations (and v2.6.27) keep.  x86_64,
# include/asm-x86/pgtable_64.h: VMALLOC_START 0xffffc20000000000, VMALLOC_END
# 0xffffe1ffffffffff (inclusive).  Ends are kept exclusive and page aligned, so the end
# is the next byte: 32 TiB of vmalloc space.
VMALLOC_64 = (0xFFFFC20000000000, 0xFFFFE20000000000)
# i386 with 896 MiB of lowmem, as mem_init() prints it on 2.6.28:
# "vmalloc : 0xf8800000 - 0xff7fe000 ( 111 MB)"; VMALLOC_START is high_memory
# plus the 8 MiB VMALLOC_OFFSET hole, VMALLOC_END is PKMAP_BASE - 2 pages.
VMALLOC_32 = (0xF8800000, 0xFF7FE000)


@dataclass(frozen=True)
class Layout:
    """What a generation's x86 kernel brings to the machine: its vmalloc range on each
    width, and how it takes CONFIG_NR_CPUS.  The one home of the width -> range rule
    (Config asks it)."""

    vmalloc_64: tuple[int, int] = VMALLOC_64
    # i386: None keeps 2.6.28's fixed VMALLOC_32; else the range from NR_CPUS and RAM
    # (i386_areas.vmalloc_range: 6.12's pgtable_32_areas.h).
    vmalloc_32: Callable[[int, int], tuple[int, int]] | None = None
    nr_cpus_default_64: int = 8      # x86_64 Kconfig's NR_CPUS default for SMP
    nr_cpus_max: int = 4096          # MAXSMP
    nr_cpus_max_32: int | None = None    # x86_32's NR_CPUS_RANGE_END, where modelled
    nr_cpus_roundup: bool = False    # VMAP_BBMAP_BITS divides by roundup_pow_of_two(NR_CPUS)
    config_32: str = ""              # the fixed i386 configuration vmalloc_32 assumes

    def vmalloc_range(self, bits: int, nr_cpus: int, ram_size: int) -> tuple[int, int]:
        """[VMALLOC_START, VMALLOC_END) on a `bits`-wide machine with CONFIG_NR_CPUS
        `nr_cpus` and `ram_size` bytes of RAM."""
        if bits == 64:
            return self.vmalloc_64
        return VMALLOC_32 if self.vmalloc_32 is None else self.vmalloc_32(nr_cpus, ram_size)

    def nr_cpus_most(self, bits: int) -> int:
        """The largest CONFIG_NR_CPUS the generation's Kconfig allows on `bits`."""
        return self.nr_cpus_max_32 if bits == 32 and self.nr_cpus_max_32 else self.nr_cpus_max

    def summary(self, bits: int, nr_cpus: int, ram_size: int) -> str:
        """The vmalloc range in a line, with the configuration it assumes."""
        start, end = self.vmalloc_range(bits, nr_cpus, ram_size)
        where = (f"{start:#x}-{end:#x} ({(end - start) >> 20} MiB)" if bits == 32
                 else f"{start:#x}-{end - 1:#x} ({(end - start) >> 40} TiB)")
        if bits == 32 and self.vmalloc_32 is not None:
            where += (f" with NR_CPUS {nr_cpus}: below the pkmap, LDT remap, CPU entry area and "
                      f"fixmap ({self.config_32})")
        return f"{bits}-bit vmalloc {where}"


# 6.12 x86_64, 4-level paging, no KASLR (arch/x86/include/asm/pgtable_64_types.h
# 124-156): VMALLOC_START 0xffffc90000000000, VMALLOC_SIZE_TB 32, VMALLOC_END
# 0xffffe8ffffffffff (kept exclusive: the next byte).  NR_CPUS: x86_64 defaults to 64
# and MAXSMP allows 8192 (arch/x86/Kconfig); mm/vmalloc.c 6.12.33 2478-2481 divides by
# roundup_pow_of_two(NR_CPUS), so any count gives a power-of-two VMAP_BBMAP_BITS.
# i386: i386_areas (pgtable_32_areas.h); NR_CPUS_RANGE_END is 64 with X86_BIGSMP
# (arch/x86/Kconfig 1004-1009 of 6.12.19); 6.18 removed X86_BIGSMP and allows 8
# (1031-1035 of 6.18.2).
MODERN_LAYOUT = Layout(vmalloc_64=(0xFFFFC90000000000, 0xFFFFE90000000000),
                       vmalloc_32=i386_areas.vmalloc_range, config_32=i386_areas.CONFIG_TEXT,
                       nr_cpus_default_64=64, nr_cpus_max=8192, nr_cpus_max_32=64, nr_cpus_roundup=True)
MODERN_6_18_LAYOUT = replace(MODERN_LAYOUT, nr_cpus_max_32=8)


@dataclass(frozen=True)
class Generation:
    name: str
    version: str             # the kernel version tag it follows
    title: str               # how a header names it
    description: str
    calls: tuple[str, ...]
    features: Features
    module: str              # the module under vmapviz.kernel with its Kernel class
    kernel: str = "KERNEL_CLASS"   # that class's name there: a later kernel's policy of
                                   # the same module is a subclass beside it
    layout: Layout = Layout()
    flush_ceiling: int = 0   # x86's tlb_single_page_flush_ceiling: pages up to which a range
                             # is flushed page by page, not whole (0: always whole)

    def __reduce_ex__(self, protocol: Any) -> Any:
        """One of the registry's pickles as its name (a checkpoint pickles the kernel's
        generation each time), another (a test's) as its fields."""
        if GENERATIONS.get(self.name) is self:
            return get, (self.name,)
        return super().__reduce_ex__(protocol)

    def kernel_class(self) -> type[Kernel]:
        cls: type[Kernel] = getattr(importlib.import_module(f"vmapviz.kernel.{self.module}"), self.kernel)
        return cls

    def offers(self, call: str) -> bool:
        return call in self.calls

    def ioremap_align(self, size: int, config: Config) -> int:
        """The alignment this generation gives a VM_IOREMAP area of `size` bytes."""
        return self.kernel_class().ioremap_align(size, config)


_REWRITE = Features(lazy_flush=True, vmap_blocks=True, gap_page=True,
                    locks=("vmap_area_lock", "vmlist_lock", "vbq->lock", "vb->lock",
                           "vmap_block_tree_lock", "purge_lock"),
                    free_tree=False, vmap_nodes=False, kworker_purge=False, dirty_range=False)

_MODERN = Features(lazy_flush=True, vmap_blocks=True, gap_page=False,
                   locks=("free_vmap_area_lock", "vn->busy.lock", "vn->lazy.lock",
                          "vn->pool_lock", "vbq->lock", "vb->lock", "xa_lock",
                          "vmap_purge_lock"),
                   free_tree=True, vmap_nodes=True, kworker_purge=True, dirty_range=True)

GENERATIONS: dict[str, Generation] = {g.name: g for g in (
    Generation("vanilla", "v2.6.27", "vanilla v2.6.27",
               "before the rewrite: vmlist, a sorted list under vmlist_lock; every vunmap "
               "flushes every CPU's TLB at once",
               OLD_API, Features(lazy_flush=False, vmap_blocks=False, gap_page=False,
                                 locks=("vmlist_lock",), free_tree=False, vmap_nodes=False,
                                 kworker_purge=False, dirty_range=False), "vanilla"),
    Generation("posted", "2008-08-18", "posted 2008-08-18",
               "the rewrite as posted to linux-mm, with its early bugs (a descent that can "
               "place an area over a live one, bug 11903's exact-fit skip and dead retry)",
               OLD_API + PER_CPU_API, _REWRITE, "rewrite"),
    Generation("merged", "v2.6.28", "merged v2.6.28",
               "the rewrite as merged: rbtree of vmap areas, lazy TLB flushing, "
               "per-CPU vmap blocks",
               OLD_API + PER_CPU_API, _REWRITE, "rewrite"),
    Generation("modern", "v6.12.33", "modern v6.12.33",
               "today's kernel, Linux 6.12 LTS (read in 6.12.33): free blocks in an augmented "
               "tree with lowest fit, one guard page, PTEs cleared at free and a kworker purge, "
               "vmap nodes with per-size pools, bump-allocated vmap blocks with dirty ranges",
               OLD_API + PER_CPU_API,
               _MODERN, "modern", layout=MODERN_LAYOUT, flush_ceiling=33),   # arch/x86/mm/tlb.c
    Generation("modern-6.18", "v6.18", "modern v6.18",
               "Linux 6.18 (read in 6.18.2) as a policy of modern: the same vmap layer, but a "
               "purge's pool decay takes a quarter of each pool, so pools of fewer than four "
               "areas are kept (6.12 empties them); replay-live's default on a 6.18 kernel",
               OLD_API + PER_CPU_API, _MODERN, "modern", "KERNEL_6_18", MODERN_6_18_LAYOUT, flush_ceiling=33),
)}

NAMES = tuple(GENERATIONS)


def get(name: str) -> Generation:
    try:
        return GENERATIONS[name]
    except KeyError:
        raise ValueError(f"unknown kernel generation {name!r}; one of {', '.join(NAMES)}") from None
