"""alloc_vmap_area() against a naive oracle that transcribes the patch's loops.

The oracle keeps the areas in a plain sorted Python list, and their tree as a red-black
tree of its own written from Cormen, Leiserson, Rivest and Stein (Introduction to
Algorithms, 3rd ed., RB-INSERT-FIXUP, RB-DELETE with TRANSPLANT and RB-DELETE-FIXUP:
the same rules as lib/rbtree.c, written independently, with a NIL sentinel), keyed as
__insert_vmap_area() keys it (left when va_start < tmp->va_end).  It runs the patch's
code literally over that tree:

    n = root; first = NULL
    do {
        if (tmp->va_end >= addr) {
            if (!first && tmp->va_start <= addr)          posted
            if (!first && tmp->va_start < addr + size)    merged
                first = tmp;
            n = n->rb_left;
        } else {
            first = tmp;
            n = n->rb_right;
        }
    } while (n);
    if (!first) goto found;
    if (first->va_end < addr) { first = next, or goto found }
    while (addr + size >= first->va_start && addr + size <= vend)   posted
    while (addr + size >  first->va_start && addr + size <= vend)   merged
        { addr = ALIGN(first->va_end + PAGE_SIZE, align); first = next, or goto found }
  found:
    if (addr + size > vend) { purge once and goto retry (merged: addr = ALIGN(vstart)) }

The walk count is the number of times the `while` body ran: it depends on the tree's
shape (the merged descent may pick a `first` above the lowest candidate).

The oracle also models what decides success besides the tree: vmap_page_range() fails
with -EBUSY on a PTE already present (the posted overlap), and a purge clears the PTEs
of every lazily freed area's whole range.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from vmapviz.kernel import VM_IOREMAP, Config, Kernel

PAGE = 4096


def ALIGN(x, a):
    return (x + a - 1) & ~(a - 1)


class Node:
    def __init__(self, start, end, red):
        self.start, self.end, self.red = start, end, red
        self.left = self.right = self.p = None


class CLRSTree:
    """A red-black tree as CLRS write it, with a black NIL sentinel."""

    def __init__(self):
        self.nil = Node(0, 0, False)
        self.root = self.nil

    def _rotate(self, x, left):
        y = x.right if left else x.left
        inner = y.left if left else y.right
        if left:
            x.right = inner
        else:
            x.left = inner
        if inner is not self.nil:
            inner.p = x
        y.p = x.p
        if x.p is self.nil:
            self.root = y
        elif x is x.p.left:
            x.p.left = y
        else:
            x.p.right = y
        if left:
            y.left = x
        else:
            y.right = x
        x.p = y

    def insert(self, start, end):
        z = Node(start, end, True)
        y, x = self.nil, self.root
        while x is not self.nil:
            y = x
            x = x.left if start < x.end else x.right
        z.p = y
        if y is self.nil:
            self.root = z
        elif start < y.end:
            y.left = z
        else:
            y.right = z
        z.left = z.right = self.nil
        while z.p.red:
            on_left = z.p is z.p.p.left
            y = z.p.p.right if on_left else z.p.p.left
            if y.red:
                z.p.red = y.red = False
                z.p.p.red = True
                z = z.p.p
            else:
                if z is (z.p.right if on_left else z.p.left):
                    z = z.p
                    self._rotate(z, on_left)
                z.p.red = False
                z.p.p.red = True
                self._rotate(z.p.p, not on_left)
        self.root.red = False

    def _transplant(self, u, v):
        if u.p is self.nil:
            self.root = v
        elif u is u.p.left:
            u.p.left = v
        else:
            u.p.right = v
        v.p = u.p

    def delete(self, z):
        y, y_red = z, z.red
        if z.left is self.nil:
            x = z.right
            self._transplant(z, z.right)
        elif z.right is self.nil:
            x = z.left
            self._transplant(z, z.left)
        else:
            y = z.right
            while y.left is not self.nil:
                y = y.left
            y_red, x = y.red, y.right
            if y.p is z:
                x.p = y
            else:
                self._transplant(y, y.right)
                y.right = z.right
                y.right.p = y
            self._transplant(z, y)
            y.left = z.left
            y.left.p = y
            y.red = z.red
        if not y_red:
            while x is not self.root and not x.red:
                on_left = x is x.p.left
                w = x.p.right if on_left else x.p.left
                if w.red:
                    w.red = False
                    x.p.red = True
                    self._rotate(x.p, on_left)
                    w = x.p.right if on_left else x.p.left
                near, far = (w.left, w.right) if on_left else (w.right, w.left)
                if not near.red and not far.red:
                    w.red = True
                    x = x.p
                else:
                    if not far.red:
                        near.red = False
                        w.red = True
                        self._rotate(w, not on_left)
                        w = x.p.right if on_left else x.p.left
                        far = w.right if on_left else w.left
                    w.red = x.p.red
                    x.p.red = False
                    far.red = False
                    self._rotate(x.p, on_left)
                    x = self.root
            x.red = False

    def successor(self, x):
        if x.right is not self.nil:
            x = x.right
            while x.left is not self.nil:
                x = x.left
            return x
        y = x.p
        while y is not self.nil and x is y.right:
            x, y = y, y.p
        return y

    def find(self, start, end):
        return next(n for n in self.nodes() if (n.start, n.end) == (start, end))

    def nodes(self):
        out, stack = [], [self.root]
        while stack:
            n = stack.pop()
            if n is not self.nil:
                out.append(n)
                stack += [n.left, n.right]
        return out


class Oracle:
    def __init__(self, variant, bits, vstart, vend, lazy_max):
        self.posted = variant == "posted"
        self.bits = bits
        self.vstart, self.vend = vstart, vend
        self.lazy_max = lazy_max
        self.areas = []          # [va_start, va_end, lazy] sorted by va_start
        self.tree = CLRSTree()   # the same areas as vmap_area_root
        self.ptes = set()        # virtual page numbers with a PTE
        self.lazy_nr = 0
        self.purges = 0
        self.warnings = 0
        self.walks = []          # walk count of every search of the last allocation

    # -- alloc_vmap_area ------------------------------------------------------------
    def _search(self, addr, size, align, vend):
        T = self.tree
        walk = 0
        n, first = T.root, None
        while n is not T.nil:
            if n.end >= addr:
                if first is None and (n.start <= addr if self.posted else n.start < addr + size):
                    first = n
                n = n.left
            else:
                first = n
                n = n.right
        if first is None:
            return addr, walk
        if first.end < addr:
            first = T.successor(first)
            if first is T.nil:
                return addr, walk
        while True:
            blocked = (addr + size >= first.start) if self.posted else (addr + size > first.start)
            if not (blocked and addr + size <= vend):
                break
            addr = ALIGN(first.end + PAGE, align)
            walk += 1
            first = T.successor(first)
            if first is T.nil:
                break
        return addr, walk

    def alloc_vmap_area(self, size, align, vstart=None, vend=None):
        vstart = self.vstart if vstart is None else vstart
        vend = self.vend if vend is None else vend
        addr = ALIGN(vstart, align)
        purged = False
        self.walks = []
        while True:                                   # retry:
            if not self.posted:
                addr = ALIGN(vstart, align)
            addr, walk = self._search(addr, size, align, vend)
            self.walks.append(walk)
            if addr + size <= vend:
                break
            if purged:
                self.warnings += 1                    # "vmap allocation ... failed"
                return None
            self.purge()
            purged = True
        self.areas.append([addr, addr + size, False])
        self.areas.sort(key=lambda a: (a[0], a[1]))
        self.tree.insert(addr, addr + size)
        return addr

    # -- lazy freeing -----------------------------------------------------------------
    def free_unmap(self, area):
        area[2] = True
        self.lazy_nr += (area[1] - area[0]) // PAGE
        if self.lazy_nr > self.lazy_max:
            self.purge()

    def purge(self):
        lazy = [a for a in self.areas if a[2]]
        if not lazy:
            return
        for a in lazy:
            self.ptes.difference_update(range(a[0] // PAGE, a[1] // PAGE))
        self.lazy_nr -= sum((a[1] - a[0]) // PAGE for a in lazy)
        for a in lazy:
            self.tree.delete(self.tree.find(a[0], a[1]))
        self.areas = [a for a in self.areas if not a[2]]
        self.purges += 1

    def find(self, addr):
        return next((a for a in self.areas if a[0] == addr), None)

    # -- callers ----------------------------------------------------------------------
    def _map(self, addr, npages):
        """vmap_page_range(): True if mapped; on a present PTE, WARN and stop (the
        PTEs set before it stay)."""
        for v in range(addr // PAGE, addr // PAGE + npages):
            if v in self.ptes:
                self.warnings += 1
                return False
            self.ptes.add(v)
        return True

    def vmalloc(self, npages):
        addr = self.alloc_vmap_area((npages + 1) * PAGE, 1)
        if addr is None:
            return None
        if not self._map(addr, npages):
            self.free_unmap(self.find(addr))          # vfree(area->addr)
            return None
        return addr

    def get_vm_area(self, nbytes, ioremap):
        align = 1 << min(max(nbytes.bit_length(), 12), 19) if ioremap else 1
        return self.alloc_vmap_area(ALIGN(nbytes, PAGE) + PAGE, align)

    def vm_map_ram_global(self, count):
        addr = self.alloc_vmap_area(count * PAGE, PAGE)
        if addr is None:
            return None
        if not self._map(addr, count):
            self.free_unmap(self.find(addr))          # vm_unmap_ram(mem, count)
            return None
        return addr

    def free(self, addr):
        self.free_unmap(self.find(addr))


def _compare(variant, bits, npages, ops):
    """Run ops on the kernel and the oracle and compare after every op."""
    S = 0xC0000000 if bits == 32 else 0xFFFFC20000000000
    E = S + npages * PAGE
    cfg = Config(nr_cpus=1, bits=bits, variant=variant, vmalloc_start=S, vmalloc_end=E)
    k = Kernel(cfg)
    # vend is the kernel's VMALLOC_END: x86_64's is the range's last byte
    # (0xffffe1ffffffffff), i386's the first byte past it (PKMAP_BASE - 2 pages).
    o = Oracle(variant, bits, S, E - 1 if bits == 64 else E, cfg.lazy_max_pages)
    big = cfg.vmap_max_alloc
    live = []
    for step, op in enumerate(ops):
        walk_before = k.stats.walk_total
        what = op[0]
        if what == "vmalloc":
            got, want = k.vmalloc(op[1] * PAGE), o.vmalloc(op[1])
        elif what == "get_vm_area":
            _, nbytes, io = op
            got, want = k.get_vm_area(nbytes, VM_IOREMAP if io else 0), o.get_vm_area(nbytes, io)
        elif what == "get_vm_area_at":
            _, pages, at = op
            start = S + (at % npages) * PAGE
            got = k.get_vm_area(pages * PAGE, 0, start=start)
            want = o.alloc_vmap_area((pages + 1) * PAGE, 1, vstart=start)
            what = "get_vm_area"
        elif what == "vm_map_ram":
            count = big + op[1]
            got, want = k.vm_map_ram(count), o.vm_map_ram_global(count)
        elif what == "free":
            if not live:
                continue
            kind, addr = live.pop(op[1] % len(live))
            if kind == "vmalloc":
                k.vfree(addr)
            elif kind == "get_vm_area":
                k.remove_vm_area(addr)
            else:
                k.vm_unmap_ram(addr, kind)
            o.free(addr)
            got = want = None
        else:
            k.purge()
            o.purge()
            got = want = None
        ctx = (step, op)
        assert got == want, ctx
        if what in ("vmalloc", "get_vm_area", "vm_map_ram"):
            assert k.stats.last_walk == o.walks[-1], ctx
            assert k.stats.walk_total - walk_before == sum(o.walks), ctx
            if got is not None:
                live.append((big + op[1] if what == "vm_map_ram" else what, got))
        assert [(a.start, a.end, a.state == "lazy") for a in k.areas()] == \
            [tuple(a) for a in o.areas], ctx
        assert set(k.pgtable.ptes) == o.ptes, ctx
        assert k.stats_view().lazy_pages == o.lazy_nr, ctx
        assert k.stats.purges == o.purges, ctx
        assert k.stats.warnings == o.warnings, ctx


_small_op = st.one_of(
    st.tuples(st.just("vmalloc"), st.integers(1, 12)),
    st.tuples(st.just("get_vm_area"), st.integers(1, 12 * PAGE), st.booleans()),
    st.tuples(st.just("get_vm_area_at"), st.integers(1, 6), st.integers(0, 1 << 16)),
    st.tuples(st.just("vm_map_ram"), st.integers(1, 6)),
    st.tuples(st.just("free"), st.integers(0, 1000)),
    st.tuples(st.just("free"), st.just(0)),            # the lowest-placed live area
    st.tuples(st.just("purge")),
)
# Often start by freeing and purging the head, which is where the posted descent's
# NULL `first` places areas over others (its overlap, and vmap_page_range()'s -EBUSY).
_head = st.lists(st.tuples(st.just("vmalloc"), st.integers(1, 3)), min_size=2, max_size=4).map(
    lambda allocs: allocs + [("free", 0), ("purge",)])
small_ops = st.tuples(st.one_of(st.just([]), _head), st.lists(_small_op, max_size=40)).map(
    lambda t: t[0] + t[1])

# Big areas in a big range, so the lazy threshold (8192 pages on 1 CPU) is crossed.
big_ops = st.lists(st.one_of(
    st.tuples(st.just("vmalloc"), st.integers(1, 12)),
    st.tuples(st.just("get_vm_area"), st.integers(1500 * PAGE, 4000 * PAGE), st.booleans()),
    st.tuples(st.just("get_vm_area"), st.integers(1500 * PAGE, 4000 * PAGE), st.booleans()),
    st.tuples(st.just("free"), st.integers(0, 1000)),
    st.tuples(st.just("free"), st.integers(0, 1000)),
), min_size=10, max_size=40)

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("variant", ["merged", "posted"])
@SETTINGS
@given(npages=st.integers(8, 96), ops=small_ops)
def test_small_range_matches_the_oracle(variant, bits, npages, ops):
    _compare(variant, bits, npages, ops)


@pytest.mark.parametrize("variant", ["merged", "posted"])
@SETTINGS
@given(npages=st.integers(20000, 40000), ops=big_ops)
def test_big_range_with_threshold_purges_matches_the_oracle(variant, npages, ops):
    _compare(variant, 32, npages, ops)


def test_oracle_crosses_the_lazy_threshold():
    """What the big-range strategy is for: 9 areas of 1000 + 1 pages freed is
    9009 > 8192 lazy pages on one CPU, a threshold purge."""
    ops = [("get_vm_area", 1000 * PAGE, False)] * 9 + [("free", 0)] * 9
    _compare("merged", 32, 10000, ops)
    o = Oracle("merged", 32, 0, 10000 * PAGE, 8192)
    for _ in range(9):
        o.get_vm_area(1000 * PAGE, False)
    for a in list(o.areas):
        o.free(a[0])
    assert o.purges == 1 and o.areas == []


# -- the oracle on its own: hand-checked cases, so it is not just trusted -------------

def test_oracle_hand_cases():
    o = Oracle("posted", 32, 0, 1 << 30, 8192)
    assert o.vmalloc(1) == 0 and o.vmalloc(1) == 3 * PAGE
    o.free(0)
    o.purge()
    assert o.vmalloc(4) is None                       # the AGP overlap: PTE at page 3
    assert o.warnings == 1
    m = Oracle("merged", 32, 0, 1 << 30, 8192)
    assert m.vmalloc(1) == 0 and m.vmalloc(1) == 3 * PAGE
    m.free(0)
    m.purge()
    assert m.vmalloc(4) == 6 * PAGE and m.walks == [1]


# -- cases where the simulator and the patch's loop disagreed (fixed in 7d38cd2) -----

def test_posted_overlap_walk_stops_at_vend():
    S = 0xC0000000
    k = Kernel(Config(nr_cpus=1, bits=32, variant="posted", vmalloc_start=S, vmalloc_end=S + 23 * PAGE))
    a = k.vmalloc(PAGE)                       # [0, 2)
    k.vmalloc(PAGE)                           # [3, 5)
    k.vmalloc(PAGE)                           # [6, 8)
    k.vfree(a)
    k.purge()
    # posted descent from S: no area ends below S, none starts at or below it:
    # first = NULL, so X = [0, 21) is placed over [3,5) and [6,8).
    assert k.get_vm_area(20 * PAGE) == S
    # get_vm_area(1 page) = 2 pages from S: first = X (va_start <= S); the walk sets
    # addr = X.va_end + P = page 22; next area [3,5): 22 + 2 = 24 > vend 23, the loop
    # ends; found: 24 > 23: purge (nothing lazy), retry from page 22: the descent's
    # first is an area ending below 22 with no successor -> found: fail again.
    assert k.get_vm_area(PAGE) is None        # the simulator used to return S + 9 pages


@pytest.mark.parametrize("variant", ["merged", "posted"])
def test_walk_count_when_an_area_ends_where_the_search_starts(variant):
    S = 0xC0000000
    k = Kernel(Config(nr_cpus=1, bits=32, variant=variant, vmalloc_start=S, vmalloc_end=S + 64 * PAGE))
    if variant == "merged":
        assert k.get_vm_area(PAGE, 0, start=S + 5 * PAGE) == S + 5 * PAGE   # B = [5, 7)
        assert k.vmalloc(PAGE) == S                                          # A = [0, 2)
        assert k.vmalloc(PAGE) == S + 3 * PAGE                               # M = [3, 5): exact fit, ends at B
        # Search from page 5: A ends below it (the descent's P), so first = next(A) = M
        # (va_end 5 >= 5).  Walk: M -> addr 6; B: 6 + 2 > 5 -> addr 8; end.  Walk = 2.
        assert k.get_vm_area(PAGE, 0, start=S + 5 * PAGE) == S + 8 * PAGE
    else:
        # posted: exact fits are skipped; its NULL `first` makes the adjacency instead.
        assert k.get_vm_area(PAGE, 0, start=S + 5 * PAGE) == S + 5 * PAGE   # B = [5, 7)
        # From page 3 nothing ends below and nothing starts at or below: first = NULL.
        assert k.get_vm_area(PAGE, 0, start=S + 3 * PAGE) == S + 3 * PAGE   # M = [3, 5)
        assert k.vmalloc(PAGE) == S                                          # A = [0, 2)
        # Same walk as merged: first = M, then B: 6 + 2 >= 5 -> addr 8.  Walk = 2.
        assert k.get_vm_area(PAGE, 0, start=S + 5 * PAGE) == S + 8 * PAGE
    assert k.stats.last_walk == 2


def test_oracle_answers_for_the_reported_cases():
    """The oracle's own answers for the two regression cases above, so the expected
    values there are not only hand-worked."""
    S = 0xC0000000
    o = Oracle("posted", 32, S, S + 23 * PAGE, 8192)
    a = o.vmalloc(1)
    o.vmalloc(1)
    o.vmalloc(1)
    o.free(a)
    o.purge()
    assert o.get_vm_area(20 * PAGE, False) == S
    assert o.get_vm_area(PAGE, False) is None
    assert o.walks == [1, 0]                  # X passed, then the retry from page 22
    m = Oracle("merged", 32, S, S + 64 * PAGE, 8192)
    assert m.alloc_vmap_area(2 * PAGE, 1, vstart=S + 5 * PAGE) == S + 5 * PAGE
    assert m.vmalloc(1) == S and m.vmalloc(1) == S + 3 * PAGE
    assert m.alloc_vmap_area(2 * PAGE, 1, vstart=S + 5 * PAGE) == S + 8 * PAGE
    assert m.walks == [2]
    p = Oracle("posted", 32, S, S + 64 * PAGE, 8192)
    assert p.alloc_vmap_area(2 * PAGE, 1, vstart=S + 5 * PAGE) == S + 5 * PAGE
    assert p.alloc_vmap_area(2 * PAGE, 1, vstart=S + 3 * PAGE) == S + 3 * PAGE
    assert p.vmalloc(1) == S
    assert p.alloc_vmap_area(2 * PAGE, 1, vstart=S + 5 * PAGE) == S + 8 * PAGE
    assert p.walks == [2]
