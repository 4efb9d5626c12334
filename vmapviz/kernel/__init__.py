"""vmapviz.kernel: the embedded simulation of the Linux vmap layer, generation by
generation (mm/vmalloc.c before the 2008 rewrite, as posted, as merged).

Pure Python and deterministic; it imports neither textual nor rich.  An optional
build compiles its modules with mypyc (setup.py, VMAPVIZ_COMPILE=1): the same code
and the same events, faster; COMPILED says which one is running.
"""

from . import kernel as _kernel
from .config import Config, ConfigError
from .generations import GENERATIONS, Generation
from .kernel import Kernel
from .machine import KernelBug
from .views import BlockView, QueueView, StatsView, VmapArea
from .vm_struct import VM_ALLOC, VM_IOREMAP, VM_MAP, VM_USERMAP, VM_VPAGES
from .vmap_area import VM_LAZY_FREE, VM_LAZY_FREEING, VM_VM_AREA

# The kernel's modules are C extensions (the mypyc build), not .py files.
COMPILED = not (_kernel.__file__ or "").endswith(".py")
BUILD = "mypyc-compiled" if COMPILED else "pure-Python"

__all__ = ["COMPILED", "BUILD", "Config", "ConfigError", "GENERATIONS", "Generation", "Kernel", "KernelBug",
           "BlockView", "QueueView", "StatsView", "VmapArea", "VM_ALLOC", "VM_IOREMAP", "VM_MAP",
           "VM_USERMAP", "VM_VPAGES", "VM_LAZY_FREE", "VM_LAZY_FREEING", "VM_VM_AREA"]
