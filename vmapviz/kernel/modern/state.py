"""The state of mm/vmalloc.c in Linux 6.12 (read in 6.12.33), and its public records.

The modern modules (kva, vmap_block, vmalloc, check) work on a ModernState and take
the CPU a call runs on as an argument; none of them makes a public call.
ModernState derives from Kernel so that the classes form one line (Machine, Kernel,
ModernState, the generation's class): a mypyc build compiles single inheritance only.
"""

from __future__ import annotations

from array import array
from collections import Counter, deque
from typing import NamedTuple

from sortedcontainers import SortedDict, SortedList

from ..compiled import mypyc_attr
from ..config import Config
from ..kernel import Kernel
from ..vm_struct import VmStruct
from ..vmap_area import VmapArea
from .free_space import FreeSpace

# struct vmap_area's flags (va->flags): the node id is kept as (id + 1) << 8.
VMAP_RAM = 0x1
VMAP_BLOCK = 0x2
FLAG_NAMES: tuple[tuple[int, str], ...] = ((VMAP_RAM, "VMAP_RAM"), (VMAP_BLOCK, "VMAP_BLOCK"))
MAX_VA_SIZE_PAGES = 256        # pools hold areas of 1 to 256 pages
ZONE_PAGES = 16                # vmap_zone_size: 16 pages per node, round robin


class NodeView(NamedTuple):
    """One vmap node: the starts of its busy and lazy areas, in address order (the
    order /proc/vmallocinfo prints them, node by node), and its pooled areas."""
    id: int
    busy: tuple[int, ...]
    lazy: tuple[int, ...]
    pooled: int


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class VmapNode:
    """struct vmap_node: busy and lazy areas (their starts, in address order), and the
    pools: pool[i] holds purged areas of i + 1 pages, the list head first."""

    __slots__ = ("id", "busy", "lazy", "pool", "skip_populate")

    def __init__(self, id: int) -> None:
        self.id = id
        self.busy = SortedList()
        self.lazy = SortedList()
        self.pool: dict[int, deque[int]] = {}
        self.skip_populate = False

    def pool_len(self) -> int:
        return sum(len(p) for p in self.pool.values())


class ModernState(Kernel):
    """The globals of 6.12's mm/vmalloc.c."""

    __slots__ = ("area_gen", "counts", "drain_pending", "free", "nodes", "nr_nodes", "va", "vb_base", "vbq",
                 "vmap_block_size", "vmap_lazy_nr", "vmap_max_alloc", "vms", "xa", "zone_size", "ram_maps",
                 "block_ids")

    # decay_va_pool_node(): 6.12 tests its unsigned n_decay after `--n_decay`, so a pool
    # of fewer than four areas (n_decay 0) wraps and is emptied; 6.18 keeps it.
    POOL_DECAY_WRAPS = True

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        cfg = config
        self.free = FreeSpace(cfg.VMALLOC_START, cfg.VMALLOC_START + cfg.vmalloc_size)   # free_vmap_area_root
        self.va: SortedDict = SortedDict()    # every busy and lazy vmap_area, by start
        self.vms: dict[int, VmStruct] = {}    # va->vm, by address
        # vmap_init_nodes(): on 64-bit one node per possible CPU (at most 128), each
        # owning 16-page zones in turn; on 32-bit a single node.
        self.nr_nodes = min(cfg.nr_cpus, 128) if cfg.bits == 64 else 1
        self.zone_size = ZONE_PAGES * cfg.page_size if self.nr_nodes > 1 else 1
        self.nodes = [VmapNode(i) for i in range(self.nr_nodes)]
        self.vmap_lazy_nr = 0
        self.drain_pending = False            # drain_vmap_work is queued
        self.xa: list[dict] = [{} for _ in range(cfg.nr_cpus)]   # per-CPU vmap_blocks xarrays
        self.vbq: list[list] = [[] for _ in range(cfg.nr_cpus)]  # per-CPU free lists
        self.block_ids = 0
        self.ram_maps: dict[int, array[int]] = {}   # vm_map_ram address -> lent pages
        # What the shared counters have no name for: locks, pool hits and misses.
        self.counts: Counter = Counter()
        self.area_gen = 0                     # bumped whenever an area changes
        # What the vm_map_ram()/vm_unmap_ram() paths read of the Config on every call.
        self.vmap_max_alloc = cfg.vmap_max_alloc
        self.vmap_block_size = cfg.vmap_block_size
        self.vb_base = cfg.VMALLOC_START & ~(cfg.vmap_block_size - 1)   # addr_to_vb_idx()'s origin

    # -- vmap nodes ---------------------------------------------------------------------

    def addr_to_node(self, addr: int) -> VmapNode:
        return self.nodes[(addr // self.zone_size) % self.nr_nodes]

    def lazy_node(self, va: VmapArea) -> VmapNode:
        """free_vmap_area_noflush(): the node a freed area goes to, its vn_id's if it
        has one, else its address's."""
        vn_id = (va.flags >> 8) - 1
        return self.nodes[vn_id] if 0 <= vn_id < self.nr_nodes else self.addr_to_node(va.start)

    def set_area(self, va: VmapArea) -> None:
        self.va[va.start] = va
        self.area_gen += 1

    def drop_area(self, start: int) -> VmapArea:
        self.area_gen += 1
        return self.va.pop(start)

    def find_busy(self, addr: int) -> VmapArea | None:
        """__find_vmap_area() over the busy trees: the busy area containing addr."""
        i = self.va.bisect_right(addr) - 1
        if i < 0:
            return None
        va = self.va.peekitem(i)[1]
        return va if va.start <= addr < va.end and not va.lazy else None

    # -- vmap blocks -----------------------------------------------------------------------

    def xa_of(self, addr: int) -> tuple[int, int]:
        """addr_to_vb_xa() and addr_to_vb_idx(): the CPU whose xarray stores the block
        holding addr (a hash of the address) and the block's index there."""
        bs = self.vmap_block_size
        return (addr // bs) % self.nr_cpus, (addr - self.vb_base) // bs

    def block_at(self, addr: int):
        cpu, idx = self.xa_of(addr)
        return self.xa[cpu].get(idx)

    def blocks(self) -> list:
        return sorted((vb for xa in self.xa for vb in xa.values()), key=lambda b: b.id)
