"""The registry of kernel generations: every version of mm/vmalloc.c the simulator runs.

A generation is a name, a version tag, a one-line description, the calls it offers
and the features it has; its code lives in its own module under `vmapviz.kernel`,
named here and imported only when a kernel of that generation boots.  Adding a
generation is a module and an entry in GENERATIONS.  Views decide what to draw from
`features`, never from the name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


@dataclass(frozen=True)
class Layout:
    """What a generation's x86 kernel brings to the machine: its 64-bit vmalloc range
    (None: 2.6.28's, config.VMALLOC_64), and how it takes CONFIG_NR_CPUS."""

    vmalloc_64: tuple[int, int] | None = None
    nr_cpus_default_64: int = 8      # x86_64 Kconfig's NR_CPUS default for SMP
    nr_cpus_max: int = 4096          # MAXSMP
    nr_cpus_roundup: bool = False    # VMAP_BBMAP_BITS divides by roundup_pow_of_two(NR_CPUS)


# 6.12 x86_64, 4-level paging, no KASLR (arch/x86/include/asm/pgtable_64_types.h
# 124-156): VMALLOC_START 0xffffc90000000000, VMALLOC_SIZE_TB 32, VMALLOC_END
# 0xffffe8ffffffffff (kept exclusive: the next byte).  NR_CPUS: x86_64 defaults to 64
# and MAXSMP allows 8192 (arch/x86/Kconfig); mm/vmalloc.c 6.12.33 2478-2481 divides by
# roundup_pow_of_two(NR_CPUS), so any count gives a power-of-two VMAP_BBMAP_BITS.
MODERN_LAYOUT = Layout(vmalloc_64=(0xFFFFC90000000000, 0xFFFFE90000000000),
                       nr_cpus_default_64=64, nr_cpus_max=8192, nr_cpus_roundup=True)


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
               OLD_API + PER_CPU_API, _MODERN, "modern", "KERNEL_6_18", MODERN_LAYOUT, flush_ceiling=33),
)}

NAMES = tuple(GENERATIONS)


def get(name: str) -> Generation:
    try:
        return GENERATIONS[name]
    except KeyError:
        raise ValueError(f"unknown kernel generation {name!r}; one of {', '.join(NAMES)}") from None
