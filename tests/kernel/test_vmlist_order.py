"""vmlist's order (vm_struct.VmlistOrder): the walks __get_vm_area_node() and
remove_vm_area() make along the address-sorted list, by hand and against a plain
sorted list, across the SortedList and its tail (a tail of 2 here, so that it moves)."""

from bisect import bisect_left

from hypothesis import given
from hypothesis import strategies as st

from vmapviz.kernel.vm_struct import VmlistOrder


def test_walks_by_hand():
    v = VmlistOrder(2)
    assert v.link(10) == 0        # an empty list: nothing to pass
    assert v.link(30) == 1        # passes 10; nothing above (the tail: [10, 30])
    assert v.link(20) == 2        # passes 10, stops at 30; the tail [10, 20, 30] moves
    assert (list(v.sorted), v.tail) == ([10, 20, 30], [])
    assert v.link(40) == 3        # above all three: a new tail
    assert v.link(5) == 1         # stops at 10, the head
    assert list(v) == [5, 10, 20, 30, 40] and len(v) == 5
    assert v.unlink(40) == 5      # passes the four below it, then 40 itself
    assert v.unlink(5) == 1       # the head
    assert v.unlink(20) == 2
    assert list(v) == [10, 30] and v.tail == []


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=60))
def test_walks_match_a_sorted_list(steps):
    v, oracle = VmlistOrder(2), []
    for link, addr in steps:
        if link and addr not in oracle:
            i = bisect_left(oracle, addr)
            assert v.link(addr) == i + (i < len(oracle))
            oracle.insert(i, addr)
        elif not link and oracle:
            addr = oracle[addr % len(oracle)]
            assert v.unlink(addr) == oracle.index(addr) + 1
            oracle.remove(addr)
        assert list(v) == oracle and len(v) == len(oracle)
        assert not v.tail or not v.sorted or v.sorted[-1] < v.tail[0]
