"""A kernel keeps 30 attributes or fewer.  CPython shares one table of attribute names
among the instances of a class for at most 30 names (SHARED_KEYS_MAX_SIZE in
Objects/dictobject.c, 3.11); an instance with more gets a dict of its own, and every
attribute read and write of the hot paths gets slower: ten more attributes made the
vm_map_ram + touch + vm_unmap_ram triple take 5% more instructions (105.2k -> 110.5k,
benchmarks/bench_instructions.py's loop).  A hot value read from the Config costs one
lookup more; cache it on the kernel only if it stays under the budget."""

import pytest

from vmapviz.kernel import GENERATIONS, Config, Kernel


@pytest.mark.parametrize("variant", list(GENERATIONS))
def test_a_kernel_stays_within_the_shared_attribute_table(variant):
    k = Kernel(Config(nr_cpus=4, bits=64, variant=variant))
    k.vmalloc_to_page(0)                       # one op: nothing is added lazily either
    assert len(vars(k)) <= 30, sorted(vars(k))
