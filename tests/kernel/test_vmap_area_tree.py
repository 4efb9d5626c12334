"""VmapAreaTree's bookkeeping, worked out by hand: the hole index after inserts above
every area and between two, and after one erase() of several areas in address order
(a run of neighbours, then one alone); positions; the rbtree's in-order walk."""

import pickle

from sortedcontainers import SortedList

from vmapviz.kernel.vmap_area import VmapArea, VmapAreaTree, rank

P = 0x1000


def area(start_page: int, pages: int) -> VmapArea:
    return VmapArea(start_page * P, (start_page + pages) * P, "vmalloc", "busy", P, 0, 0)


A, B, C, D, E = area(1, 2), area(4, 2), area(7, 2), area(10, 2), area(16, 2)


def tree_of(*areas) -> VmapAreaTree:
    t = VmapAreaTree(gap=P, rbtree=True)
    for va in areas:
        assert t.insert(va) is False
    return t


def test_holes_after_inserts_above_every_area():
    # A ends at page 3; the walk's next addr is page 4 (the gap page): B starts there,
    # so no hole; likewise C after B and D after C.  D ends at 12: the walk would put
    # addr at page 13, below E's 16: the one hole, keyed by E, from page 13.
    t = tree_of(A, B, C, D, E)
    assert dict(t.holes) == {16 * P: 13 * P}
    assert [n.start for n in t.rbtree.inorder()] == [a.start for a in (A, B, C, D, E)]
    assert t.rbtree.violations() == []


def test_erase_of_a_run_and_a_lone_area_leaves_one_hole_each_side():
    # Erase B and C (side by side) and E: A (ends 3, walk to 4) now faces D at 10:
    # a hole keyed by D from page 4.  E's hole goes with E; nothing lies above D.
    t = tree_of(A, B, C, D, E)
    t.erase([B, C, E])
    assert dict(t.holes) == {10 * P: 4 * P}
    assert list(t.area_list) == [A, D] and t.index(D.start) == 1 and len(t) == 2
    assert [n.start for n in t.rbtree.inorder()] == [A.start, D.start]
    assert t.rbtree.violations() == []


def test_insert_between_two_areas_splits_their_hole():
    # After the erase, F = pages 6-8 between A and D: A's walk reaches page 4 < 6 (hole
    # keyed by F from 4); F's reaches page 9 < 10 (hole keyed by D from 9).
    t = tree_of(A, B, C, D, E)
    t.erase([B, C, E])
    F = area(6, 2)
    assert t.insert(F) is False
    assert dict(t.holes) == {6 * P: 4 * P, 10 * P: 9 * P}
    assert [n.start for n in t.rbtree.inorder()] == [A.start, F.start, D.start]


def test_mark_replaces_the_record_and_keeps_the_order_and_the_node():
    t = tree_of(A, B)
    node = t.nodes[B.start]
    lazy = t.mark(B, "lazy", 1)
    assert lazy == VmapArea(B.start, B.end, B.kind, "lazy", B.guard, B.cpu, B.op, 1)
    assert list(t.area_list) == [A, lazy] and t.nodes[B.start] is node and t.find(B.start) is lazy


def test_rank_counts_the_keys_below():
    keys = SortedList([10, 20, 30, 40])
    assert [rank(keys, k) for k in (5, 10, 15, 30, 40, 45)] == [0, 0, 1, 2, 3, 4]
    assert rank(SortedList(), 7) == 0


def shape(n):
    """(start page, red, left, right) of the subtree at n."""
    return None if n is None else (n.start // P, n.red, shape(n.left), shape(n.right))


def test_a_tree_pickles_flat_and_comes_back_node_for_node():
    # A..E inserted in address order (rb_insert_color() by hand): B gets a red right
    # child C after the rotation at A; D recolours A and C black and B (the root) stays
    # black; E under D rotates left at C, so D takes C's place, black, with C and E red.
    t = tree_of(A, B, C, D, E)
    t.mark(C, "lazy", 1)
    want = (4, False, (1, False, None, None), (10, False, (7, True, None, None), (16, True, None, None)))
    assert shape(t.rbtree.root) == want
    data = pickle.dumps(t, 5)
    # flat: columns of ints and strings, and no class but the tree's own
    assert b"RbNode" not in data and data.count(b"VmapArea") == 1 and b"VmapAreaTree" in data
    u = pickle.loads(data)
    assert shape(u.rbtree.root) == want and u.rbtree.violations() == []
    assert list(u.area_list) == [A, B, C._replace(state="lazy", flags=1), D, E] and dict(u.holes) == {16 * P: 13 * P}
    assert all(u.nodes[n.start] is n and n.end == u.by_start[n.start].end for n in u.rbtree.inorder())
    assert u.rbtree.root.parent is None and u.nodes[7 * P].parent is u.nodes[10 * P]
    assert (u.generation, u.overlaps, u.gap, u.mask) == (6, set(), P, (1 << 64) - 1)
    F = area(13, 2)                  # the restored tree goes on as the original would
    assert u.insert(F) is False and t.insert(F) is False
    assert shape(u.rbtree.root) == shape(t.rbtree.root) and dict(u.holes) == dict(t.holes) == {}
    empty = pickle.loads(pickle.dumps(VmapAreaTree(gap=P, rbtree=True), 5))
    assert empty.rbtree.root is None and len(empty) == 0 and empty.insert(A) is False


def test_a_tree_whose_nodes_are_not_in_its_records_order_pickles_their_starts():
    # The nodes pickle in the records' order, without their starts, when they are in it
    # (as insert() and erase() keep them); in another order, with them.  The tree of
    # the test above, its node dict reversed: the same shape comes back, in that order.
    t = tree_of(A, B, C, D, E)
    t.nodes = {s: t.nodes[s] for s in reversed(list(t.nodes))}
    u = pickle.loads(pickle.dumps(t, 5))
    assert list(u.nodes) == [16 * P, 10 * P, 7 * P, 4 * P, 1 * P] == list(t.nodes)
    assert shape(u.rbtree.root) == (4, False, (1, False, None, None),
                                    (10, False, (7, True, None, None), (16, True, None, None)))
    assert all(u.nodes[n.start] is n and n.end == u.by_start[n.start].end for n in u.rbtree.inorder())
