"""vmapviz.kernel: the embedded simulation of the 2008 vmap rewrite (mm/vmalloc.c).

Pure Python and deterministic; it imports neither textual nor rich.
"""

from .config import Config, ConfigError
from .kernel import Kernel
from .vmalloc import VM_ALLOC, VM_IOREMAP, VM_MAP, VM_USERMAP, VM_VPAGES
from .vmap_area import VM_LAZY_FREE, VM_LAZY_FREEING, VM_VM_AREA, VmapArea

__all__ = ["Config", "ConfigError", "Kernel", "VmapArea", "VM_ALLOC", "VM_IOREMAP", "VM_MAP",
           "VM_USERMAP", "VM_VPAGES", "VM_LAZY_FREE", "VM_LAZY_FREEING", "VM_VM_AREA"]
