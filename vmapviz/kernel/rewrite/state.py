"""The state of the 2008 rewrite's mm/vmalloc.c, and where its two versions differ.

The rewrite's modules (kva, vmap_block, vmalloc, check) work on a RewriteState and
take the CPU a call runs on as an argument; none of them makes a public call.
RewriteState derives from Kernel so that the classes form one line (Machine, Kernel,
RewriteState, the generation's class): a mypyc build compiles single inheritance only.
"""

from __future__ import annotations

from array import array
from typing import NamedTuple

from ..config import Config, get_order
from ..kernel import Kernel
from ..vm_struct import VmlistOrder, VmStruct, uint_pages
from ..vmap_area import VmapAreaTree


class Policy(NamedTuple):
    """What the patch as posted (2008-08-18) does differently from v2.6.28, as data
    (KERNEL-NOTES: "The posted version against the merged one").  A NamedTuple: a
    mypyc-compiled frozen dataclass could not be unpickled from a checkpoint."""

    # alloc_vmap_area()'s descent picks `first` only from an area containing addr
    # (posted `tmp->va_start <= addr`) rather than one starting below addr + size.
    first_contains_addr: bool
    # The walk takes a hole of exactly `size` (merged `>`; posted `>=` skips it).
    exact_fit: bool
    # After the purge, the search restarts from ALIGN(vstart, align) (merged), rather
    # than going on from where the first search stopped (posted: the dead retry).
    retry_restarts: bool
    # purge_vmap_area_lazy() waits for a running purge (merged sync=1; posted sync=0).
    sync_purge: bool
    # vm_unmap_ram() checks its address with one BUG_ON of four conditions (posted)
    # or four BUG_ON()s (merged).
    one_bug_on: bool


POLICIES = {
    "posted": Policy(first_contains_addr=True, exact_fit=False, retry_restarts=False,
                     sync_purge=False, one_bug_on=True),
    "merged": Policy(first_contains_addr=False, exact_fit=True, retry_restarts=True,
                     sync_purge=True, one_bug_on=False),
}


class RewriteState(Kernel):
    """The globals of the rewrite's mm/vmalloc.c."""

    __slots__ = ("policy", "tree", "lazy", "vmap_lazy_nr", "vmlist", "vmlist_order", "freed_vms",
                 "vmap_block_tree", "vbq", "block_ids", "ram_maps", "overlaps", "stolen", "VMALLOC_START",
                 "VMALLOC_END", "vmap_max_alloc", "vb_size_order", "vb_shift", "vb_base")

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.policy = POLICIES[config.variant]
        # vmap_area_root (the rbtree itself) + vmap_area_list
        self.tree = VmapAreaTree(gap=config.page_size, bits=config.bits, rbtree=True)
        self.lazy: set[int] = set()                      # starts of the VM_LAZY_FREE areas
        self.vmap_lazy_nr = 0
        self.vmlist: dict[int, VmStruct] = {}            # va->private, by address
        self.vmlist_order = VmlistOrder()                # vmlist's order, for its walks
        self.freed_vms: dict[int, VmStruct] = {}         # va->private of lazily freed areas
        self.vmap_block_tree: dict = {}                  # the radix tree: index -> VmapBlock
        self.vbq: list = []                              # per-CPU vmap_block_queue
        self.block_ids = 0
        self.ram_maps: dict[int, array[int]] = {}         # vm_map_ram address -> lent pages
        self.overlaps: set[int] = set()  # posted only: starts of areas placed over a live one
        # Blocks whose area vm_unmap_ram() freed under them: start -> the op (corrupt).
        self.stolen: dict[int, int] = {}
        # What the vm_map_ram()/vm_unmap_ram() paths read of the Config on every call;
        # for each count the vmap blocks take (0 to VMAP_MAX_ALLOC): its size, count <<
        # PAGE_SHIFT in unsigned int (uint_pages), and get_order() of that size.
        self.VMALLOC_START, self.VMALLOC_END = config.VMALLOC_START, config.VMALLOC_END
        self.vmap_max_alloc = config.vmap_max_alloc
        self.vb_size_order = [(s, get_order(s, config.page_size, config.bits)) for s in
                              (uint_pages(c, config.page_shift) for c in range(config.vmap_max_alloc + 1))]
        # addr_to_vb_idx() in shifts: VMAP_BLOCK_SIZE is a power of two (Config); the
        # index is (addr >> vb_shift) - vb_base.
        self.vb_shift = config.vmap_block_size.bit_length() - 1
        self.vb_base = config.VMALLOC_START >> self.vb_shift

    def block_at(self, addr: int):
        """radix_tree_lookup(&vmap_block_tree, addr_to_vb_idx(addr)): the block holding
        addr, or None."""
        return self.vmap_block_tree.get((addr >> self.vb_shift) - self.vb_base)


def addr_to_vb_idx(config: Config, addr: int) -> int:
    """addr_to_vb_idx(): the radix tree index of the block holding addr, counted from
    VMALLOC_START rounded down to a block boundary."""
    bs = config.vmap_block_size
    return (addr - (config.VMALLOC_START & ~(bs - 1))) // bs
