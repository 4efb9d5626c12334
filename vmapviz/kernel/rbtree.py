"""lib/rbtree.c as of v2.6.28: a red-black tree with the kernel's insert fix-up, erase and
rotations, node by node, so the tree has the very shape the kernel's has.

The caller adds a new node where its own descent ended: add() is rb_link_node() then
rb_insert_color(), as __insert_vmap_area() calls them; erase() is rb_erase().  Nodes keep
the vmap area's [start, end) as plain ints (the descents compare them); the area's record
is the tree's, by start (VmapAreaTree.by_start), so a state change replaces it there only.
"""

from __future__ import annotations

from typing import Iterator

from .compiled import mypyc_attr

RED, BLACK = True, False


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class RbNode:
    """struct rb_node, with the [va_start, va_end) of the vmap_area it is embedded in."""

    __slots__ = ("start", "end", "left", "right", "parent", "red")

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end
        self.left: RbNode | None = None
        self.right: RbNode | None = None
        self.parent: RbNode | None = None
        self.red = RED


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class RbTree:
    """struct rb_root."""

    __slots__ = ("root",)

    def __init__(self) -> None:
        self.root: RbNode | None = None

    # -- rb_link_node() + rb_insert_color() --------------------------------------------

    def add(self, node: RbNode, parent: RbNode | None, left: bool) -> None:
        """rb_link_node(), which hangs the new node (red, no children) under parent
        (None: the root), then rb_insert_color(): how __insert_vmap_area() ends its
        descent.  (One function: each Python call costs as much as the fix-up's usual
        pass.)"""
        node.parent = parent
        if parent is None:
            self.root = node
        elif left:
            parent.left = node
        else:
            parent.right = node
        # rb_insert_color()
        while (parent := node.parent) is not None and parent.red:
            gparent = parent.parent
            assert gparent is not None       # a red node is never the root
            if parent is gparent.left:
                uncle = gparent.right
                if uncle is not None and uncle.red:
                    uncle.red = parent.red = False
                    gparent.red = True
                    node = gparent
                    continue
                if parent.right is node:
                    self._rotate_left(parent)
                    parent, node = node, parent
                parent.red = False
                gparent.red = True
                self._rotate_right(gparent)
            else:
                uncle = gparent.left
                if uncle is not None and uncle.red:
                    uncle.red = parent.red = False
                    gparent.red = True
                    node = gparent
                    continue
                if parent.left is node:
                    self._rotate_right(parent)
                    parent, node = node, parent
                parent.red = False
                gparent.red = True
                self._rotate_left(gparent)
        root = self.root
        assert root is not None
        root.red = False

    def _rotate_left(self, node: RbNode) -> None:
        right = node.right
        assert right is not None
        parent = node.parent
        node.right = right.left
        if right.left is not None:
            right.left.parent = node
        right.left = node
        right.parent = parent
        if parent is not None:
            if node is parent.left:
                parent.left = right
            else:
                parent.right = right
        else:
            self.root = right
        node.parent = right

    def _rotate_right(self, node: RbNode) -> None:
        left = node.left
        assert left is not None
        parent = node.parent
        node.left = left.right
        if left.right is not None:
            left.right.parent = node
        left.right = node
        left.parent = parent
        if parent is not None:
            if node is parent.right:
                parent.right = left
            else:
                parent.left = left
        else:
            self.root = left
        node.parent = left

    # -- rb_erase() ------------------------------------------------------------------------

    def erase(self, node: RbNode) -> RbNode | None:
        """rb_erase(): a node with two children is replaced by its successor, which
        takes its place and colour; the fix-up runs if a black node left its place.
        Returns rb_next() of the erased node, which the two-children case finds anyway
        (the kernel's rb_erase() returns nothing; a caller erasing a run of areas asks
        for it)."""
        if node.left is None or node.right is None:
            nxt = self.next(node)                # (before the fix-up rotates its ancestors)
            child = node.right if node.left is None else node.left
        else:
            old = node
            node = node.right
            while node.left is not None:
                node = node.left
            child = node.right
            parent = node.parent
            assert parent is not None        # the successor lies below old
            red = node.red
            if child is not None:
                child.parent = parent
            if parent is old:
                parent.right = child
                parent = node
            else:
                parent.left = child
            node.parent, node.red = old.parent, old.red
            node.right, node.left = old.right, old.left
            if old.parent is not None:
                if old.parent.left is old:
                    old.parent.left = node
                else:
                    old.parent.right = node
            else:
                self.root = node
            assert old.left is not None    # old had two children
            old.left.parent = node
            if old.right is not None:
                old.right.parent = node
            if not red:
                self._erase_color(child, parent)
            return node
        parent = node.parent
        red = node.red
        if child is not None:
            child.parent = parent
        if parent is not None:
            if parent.left is node:
                parent.left = child
            else:
                parent.right = child
        else:
            self.root = child
        if not red:
            self._erase_color(child, parent)
        return nxt

    def _erase_color(self, node: RbNode | None, parent: RbNode | None) -> None:
        """__rb_erase_color()."""
        while (node is None or not node.red) and node is not self.root:
            assert parent is not None        # node is not the root
            if parent.left is node:
                other = parent.right
                assert other is not None     # a black node's sibling exists
                if other.red:
                    other.red = False
                    parent.red = True
                    self._rotate_left(parent)
                    other = parent.right
                    assert other is not None
                if (other.left is None or not other.left.red) and \
                        (other.right is None or not other.right.red):
                    other.red = True
                    node = parent
                    parent = node.parent
                else:
                    if other.right is None or not other.right.red:
                        if other.left is not None:
                            other.left.red = False
                        other.red = True
                        self._rotate_right(other)
                        other = parent.right
                        assert other is not None
                    other.red = parent.red
                    parent.red = False
                    if other.right is not None:
                        other.right.red = False
                    self._rotate_left(parent)
                    node = self.root
                    break
            else:
                other = parent.left
                assert other is not None     # a black node's sibling exists
                if other.red:
                    other.red = False
                    parent.red = True
                    self._rotate_right(parent)
                    other = parent.left
                    assert other is not None
                if (other.left is None or not other.left.red) and \
                        (other.right is None or not other.right.red):
                    other.red = True
                    node = parent
                    parent = node.parent
                else:
                    if other.left is None or not other.left.red:
                        if other.right is not None:
                            other.right.red = False
                        other.red = True
                        self._rotate_left(other)
                        other = parent.left
                        assert other is not None
                    other.red = parent.red
                    parent.red = False
                    if other.left is not None:
                        other.left.red = False
                    self._rotate_right(parent)
                    node = self.root
                    break
        if node is not None:
            node.red = False

    # -- rb_first() / rb_next() / rb_prev() ------------------------------------------------

    def first(self) -> RbNode | None:
        n = self.root
        if n is not None:
            while n.left is not None:
                n = n.left
        return n

    @staticmethod
    def next(node: RbNode) -> RbNode | None:
        """rb_next(): the leftmost of the right subtree, else the first ancestor on the
        left.  (rb_prev() below is its mirror, as in lib/rbtree.c.)"""
        if node.right is not None:
            node = node.right
            while node.left is not None:
                node = node.left
            return node
        while (parent := node.parent) is not None and node is parent.right:
            node = parent
        return parent

    @staticmethod
    def prev(node: RbNode) -> RbNode | None:
        """rb_prev()."""
        if node.left is not None:
            node = node.left
            while node.right is not None:
                node = node.right
            return node
        while (parent := node.parent) is not None and node is parent.left:
            node = parent
        return parent

    def inorder(self) -> Iterator[RbNode]:
        """Every node, rb_first() then rb_next() after rb_next()."""
        n = self.first()
        while n is not None:
            yield n
            n = self.next(n)

    def violations(self) -> list[str]:
        """Where the tree breaks the red-black rules or its own links: a black root, no
        red node with a red child, the same number of black nodes on every path."""
        out: list[str] = []
        if self.root is None:
            return out
        if self.root.red:
            out.append("the rbtree's root is red")
        if self.root.parent is not None:
            out.append("the rbtree's root has a parent")
        heights = set()
        stack = [(self.root, 0)]
        while stack:
            n, black = stack.pop()
            black += not n.red
            for child in (n.left, n.right):
                if child is None:
                    heights.add(black)
                    continue
                if child.parent is not n:
                    out.append(f"rbtree node {child.start:#x} does not point back to its parent")
                if n.red and child.red:
                    out.append(f"red rbtree node {n.start:#x} has a red child {child.start:#x}")
                stack.append((child, black))
        if len(heights) > 1:
            out.append(f"rbtree paths hold different numbers of black nodes: {sorted(heights)}")
        return out
