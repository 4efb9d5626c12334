"""The triple's floor (benchmarks/floor_triple.py) does the simulator's work: over
thousands of triples its records and its final state equal the simulator's, and its
first purge is the one worked out by hand from mm/vmalloc.c v2.6.28."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from vmapviz.kernel import Config
from vmapviz.kernel.events import AreaAlloc, Purge, TlbFlush

PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "floor_triple.py"


@pytest.fixture(scope="module")
def floor_triple():
    spec = importlib.util.spec_from_file_location("floor_triple", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# 1 CPU: 2,600 triples hold the first purge (triple 2,303) and blocks made after it;
# 8 CPUs: 12,000 hold the first purge (triple 10,232, 33 blocks) and new blocks placed
# in the holes it leaves below the 8 live ones, where the area's walk is not 0.
@pytest.mark.parametrize("nr_cpus, n", [(1, 2600), (8, 12_000)])
def test_floor_equals_the_simulator(floor_triple, nr_cpus, n):
    assert floor_triple.check(n, nr_cpus) == []


def test_check_sees_a_difference(floor_triple, monkeypatch):
    """A floor that purges one block later is caught at the simulator's purge."""
    init = floor_triple.Floor.__init__

    def late(self, nr_cpus=1):
        init(self, nr_cpus)
        self.lazy_max_pages += 1024

    monkeypatch.setattr(floor_triple.Floor, "__init__", late)
    found = floor_triple.check(2600, 1)
    assert len(found) == 1 and found[0].startswith("triple 2303 on cpu 0:")


def test_first_purge_by_hand(floor_triple):
    """1 CPU: lazy_max_pages() = fls(1) * 32 MiB / 4 KiB = 8,192 pages.  A block of 1,024
    pages takes 256 triples of 4 pages, so the 9th block freed (triple 9 * 256 - 1 =
    2,303, op 3 * 2,304 = 6,912) takes vmap_lazy_nr to 9,216 > 8,192: one purge of 9
    areas.  alloc_vmap_area() moves past an area to ALIGN(va_end + PAGE_SIZE, 4 MiB), so
    the blocks lie in every other 4 MiB slot: the 9th in slot 16, the purge's range 17
    slots.  The TLB has every page touched since boot, 9 * 1,024, all now unmapped:
    stale; no other CPU to interrupt."""
    start = Config(nr_cpus=1, bits=64).VMALLOC_START
    floor = floor_triple.Floor(1)
    for _ in range(2304):
        addr = floor.vm_map_ram(4, cpu=0)
        floor.touch(addr, 4, cpu=0)
        floor.vm_unmap_ram(addr, 4, cpu=0)
        records = floor.drain_records()
    end = start + 17 * (4 << 20)
    assert (Purge, 6912, 0, start, end, 9, 9216, False, False) in records
    assert (TlbFlush, 6912, 0, start, end, 0, 9216, 9216, True) in records
    assert floor.pte_bits == {} and floor.dead == {} and floor.tlb_bits == [{}]


def test_blocks_after_the_purge_on_8_cpus_by_hand(floor_triple):
    """8 CPUs, triple i on CPU i % 8: lazy_max_pages() = fls(8) * 8,192 = 32,768.  Each
    CPU's block fills in 256 of its triples, so generation r of blocks lies in slots
    16r + 2c (a guard page after each area) and is freed lazily at triples 2,048r + 2,040
    + c.  The 33rd block freed, CPU 0's of generation 4 (triple 10,232), passes 32,768:
    the purge frees slots 0-64 and leaves CPUs 1-7's blocks in slots 66-78.  Then CPU 0's
    next block (triple 10,240) goes to slot 0, no area passed; CPU 1's (10,241) to slot 2,
    past the one in slot 0; CPU 2's (10,242) to slot 4, past two."""
    start, size = Config(nr_cpus=8, bits=64).VMALLOC_START, 4 << 20
    floor = floor_triple.Floor(8)
    made = []
    for i in range(10_243):
        addr = floor.vm_map_ram(4, cpu=i % 8)
        floor.touch(addr, 4, cpu=i % 8)
        floor.vm_unmap_ram(addr, 4, cpu=i % 8)
        made += [r[1:] for r in floor.drain_records() if r[0] is AreaAlloc and i >= 10_232]
    assert made == [(3 * i + 1, i % 8, start + s * size, start + (s + 1) * size, "vmap_block", walk, "alloc_vmap_area")
                    for i, s, walk in ((10_240, 0, 0), (10_241, 2, 1), (10_242, 4, 2))]
