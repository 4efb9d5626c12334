"""A kernel's state has no instance `__dict__` (machine.Machine's docstring says why:
pickling a checkpoint would turn each one into a slow real dict for good)."""

from __future__ import annotations

import gc
import pickle
import types

import pytest

from vmapviz.kernel import Config, Kernel
from vmapviz.kernel.generations import GENERATIONS

# Not state: what the walk does not enter (a function leads to its module's globals).
CODE = (type, types.ModuleType, types.FunctionType, types.MethodType, types.BuiltinFunctionType,
        types.CodeType)
# What may keep a __dict__: the configuration and the generation registry's records,
# which a run never writes to (Config caches derived values in its dict).
ALLOWED = {"Config", "Generation", "Features", "Layout"}


def kernel_classes_with_dict(root: object) -> set[str]:
    """Names of the vmapviz classes reachable from `root` whose instances have a __dict__."""
    seen: set[int] = set()
    todo, found = [root], set()
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, CODE):
            continue
        seen.add(id(obj))
        cls = type(obj)
        if cls.__module__.startswith("vmapviz.") and hasattr(obj, "__dict__"):
            found.add(cls.__qualname__)
        todo.extend(gc.get_referents(obj))
    return found - ALLOWED


@pytest.mark.parametrize("variant", sorted(GENERATIONS))
def test_no_object_of_a_used_kernel_has_a_dict_before_or_after_a_checkpoint(variant):
    k = Kernel(Config(variant=variant, nr_cpus=2))
    # Every kind of object a generation makes: areas, vmap blocks (where it has them),
    # a lazy free and a purge.
    for cpu in (0, 1):
        addr = k.vmalloc(3 * 4096, cpu=cpu)
        k.vfree(addr, cpu=cpu)
        if k.config.offers("vm_map_ram"):
            k.vm_unmap_ram(k.vm_map_ram(2, cpu=cpu), 2, cpu=cpu)
    k.vmalloc(4096)
    if k.config.offers("purge"):
        k.purge()
    assert kernel_classes_with_dict(k) == set()
    restored = pickle.loads(pickle.dumps(k))
    assert kernel_classes_with_dict(restored) == set()
    assert restored.digest() == k.digest()
