"""vmapviz.kernel: the embedded simulation of the Linux vmap layer, generation by
generation (mm/vmalloc.c before the 2008 rewrite, as posted, as merged).

Pure Python and deterministic; it imports neither textual nor rich.
"""

from .config import Config, ConfigError
from .generations import GENERATIONS, Generation
from .kernel import Kernel
from .machine import KernelBug
from .views import BlockView, QueueView, StatsView, VmapArea
from .vm_struct import VM_ALLOC, VM_IOREMAP, VM_MAP, VM_USERMAP, VM_VPAGES
from .vmap_area import VM_LAZY_FREE, VM_LAZY_FREEING, VM_VM_AREA

__all__ = ["Config", "ConfigError", "GENERATIONS", "Generation", "Kernel", "KernelBug",
           "BlockView", "QueueView", "StatsView", "VmapArea", "VM_ALLOC", "VM_IOREMAP", "VM_MAP",
           "VM_USERMAP", "VM_VPAGES", "VM_LAZY_FREE", "VM_LAZY_FREEING", "VM_VM_AREA"]
