"""Issue 9: where the simulator used to depart from the v2.6.28 and posted C.  Every
expected value is worked out by hand from the C named in the test.

Addresses on 64-bit start at S = 0xffffc20000000000 (4 MiB aligned); on 32-bit at
S32 = 0xf8800000 (1 MiB aligned), VMALLOC_END 0xff7fe000.  A vmalloc(n pages) area is
n + 1 pages (the guard), and alloc_vmap_area()'s walk leaves one more page after each
area it passes.
"""

import pytest

from vmapviz.kernel import VM_IOREMAP, Config, Kernel
from vmapviz.kernel.rbtree import RbNode, RbTree
from vmapviz.kernel.vm_struct import ioremap_align

P = 4096
MiB = 1 << 20
GiB = 1 << 30
S = 0xFFFFC20000000000
S32, END32 = 0xF8800000, 0xFF7FE000


def kernel(variant="merged", bits=64, **kw):
    return Kernel(Config(nr_cpus=kw.pop("nr_cpus", 2), bits=bits, variant=variant, **kw))


def events(k, kind):
    return [e for e in k.drain_events() if e.kind == kind]


# -- 1. the range flush model (flush_tlb_kernel_range() as on ARM) ------------------------

@pytest.mark.parametrize("flush", ["all", "range"])
def test_a_purge_flush_drops_the_span_of_the_lazy_areas_or_everything(flush):
    # __purge_vmap_area_lazy() flushes [lowest start, highest end) of the lazy areas.
    k = kernel(flush=flush)
    x = k.vm_map_ram(1)                       # block [S, S + 4 MiB), bit 0: x = S
    k.touch(x, 1)
    k.vm_unmap_ram(x, 1)                      # dirty: its PTE and cpu0's entry stay
    a, b, c, d = (k.vmalloc(P) for _ in range(4))
    B = S + 4 * MiB                           # past the block, one page left: B + 1 page
    assert (a, b, c, d) == (B + P, B + 4 * P, B + 7 * P, B + 10 * P)
    for addr in (a, b, c, d):
        k.touch(addr, 1)
    k.vfree(a)
    k.vfree(c)
    k.drain_events()
    k.purge()
    (fl,) = events(k, "flush")
    assert (fl.start, fl.end) == (a, c + 2 * P)
    if flush == "all":
        # x86: flush_tlb_all() on every CPU: all 5 of cpu0's entries, 3 of them stale
        # (x's dirty page, a's and c's freed pages).
        assert (fl.entries, fl.stale, fl.whole) == (5, 2 + 1, True)
        assert k.pgtable.tlbs[0] == {}
    else:
        # Only [a, c + 2 pages): a and c (stale) and b (live, between them) are dropped;
        # x (stale, a dirty block page outside the span) and d (live, above) survive.
        assert (fl.entries, fl.stale, fl.whole) == (3, 2, False)
        assert set(k.pgtable.tlbs[0]) == {x // P, d // P}
        assert k.stale_pages(0) == {x // P}
        assert k.touch(x, 1) == "use-after-free"
    assert k.check() == []


# -- 2. unsigned long arithmetic -----------------------------------------------------------

def test_a_wrapped_end_reaches_insert_vmap_areas_bug_and_changes_nothing():
    # alloc_vmap_area(): two areas reach VMALLOC_END; vmalloc(8 MiB) (size 0x801000)
    # walks past both to 0xff7ff000, and 0xff7ff000 + 0x801000 = 2^32 wraps to 0, which
    # passes `addr + size <= vend`.  __insert_vmap_area(): at the root [S32, ..),
    # va_start 0xff7ff000 >= its end and va_end 0 <= its start: BUG().
    k = kernel(bits=32, nr_cpus=1)
    a = k.get_vm_area(100 * MiB, 0)           # [S32, S32 + 100 MiB + 1 page)
    b = k.get_vm_area(END32 - (a + 100 * MiB + 2 * P) - P, 0)
    assert (a, b) == (S32, 0xFEC02000)
    before = (k.areas(), k.pgtable.ptes.copy())
    k.drain_events()
    assert k.vmalloc(8 * MiB) is None
    (bug,) = events(k, "bug")
    assert (bug.where, bug.own) == ("__insert_vmap_area", False)
    assert "va_start 0xff7ff000, va_end 0x0" in bug.line()
    assert "addr + size - 1 < addr" in bug.line()          # the v2.6.29 fix
    assert (k.areas(), k.pgtable.ptes) == before
    assert k.stats.alloc_failures == 0 and k.stats.purges == 0 and k.check() == []


def test_a_wrapped_end_on_an_empty_tree_reaches_vmap_page_ranges_bug_on():
    # Empty tree: 0xf8800000 + 124 MiB + 1 page = 0x100401000 -> 0x401000 <= vend, no
    # descent to BUG() in.  map_vm_area(): end = addr + size - PAGE = 0x400000 <= addr:
    # vmap_page_range()'s BUG_ON(addr >= end).
    k = kernel(bits=32, nr_cpus=1)
    assert k.vmalloc(124 * MiB) is None
    (bug,) = events(k, "bug")
    assert bug.where == "vmap_page_range" and "addr 0xf8800000, end 0x400000" in bug.message
    assert k.areas() == [] and k.pages.allocated == set() and k.check() == []


def test_a_wrapped_area_the_kernel_would_keep_is_the_simulators_own_refusal():
    # get_vm_area() maps nothing: the C would insert [0xf8800000, 0x401000) and return
    # it.  The simulator refuses instead, and says so.
    k = kernel(bits=32, nr_cpus=1)
    assert k.get_vm_area(124 * MiB, 0) is None
    (bug,) = events(k, "bug")
    assert bug.own and bug.line().startswith("vmapviz refuses alloc_vmap_area (no check in the kernel)")
    assert "[0xf8800000, 0x401000)" in bug.message


def test_vanilla_fails_the_same_requests_cleanly():
    # __get_vm_area_node() of v2.6.27: `if (addr + size < addr) goto out`.
    k = kernel("vanilla", bits=32, nr_cpus=1)
    assert k.vmalloc(124 * MiB) is None
    assert [e.kind for e in k.drain_events() if e.kind in ("warn", "bug")] == ["warn"]
    assert k.stats.alloc_failures == 1 and k.stats.bugs == 0


def test_page_align_wraps_to_zero_and_get_vm_area_returns_null():
    # PAGE_ALIGN(0xfffff001) in 32 bits is 0: __get_vm_area_node() returns NULL.
    k = kernel(bits=32, nr_cpus=1)
    assert k.get_vm_area(0xFFFFF001, 0) is None
    assert k.stats.bugs == k.stats.warnings == k.stats.alloc_failures == 0


# -- 5. vunmap() of a vmalloc()ed area ---------------------------------------------------------

@pytest.mark.parametrize("variant", ["merged", "posted", "vanilla"])
def test_vunmap_of_a_vmalloc_area_leaks_its_pages_and_page_array(variant):
    # 64-bit: 600 pages need a 4800-byte page array > PAGE_SIZE: vmalloc()ed, VM_VPAGES.
    # __vunmap(addr, 0) frees neither the 600 pages nor the array (2 pages).
    k = kernel(variant)
    addr = k.vmalloc(600 * P)
    assert [a.kind for a in k.areas()] == ["vmalloc", "vpages"]
    assert len(k.pages.allocated) == 602
    k.vunmap(addr)
    busy = [a.kind for a in k.areas() if a.state == "busy"]
    assert busy == ["vpages"] and len(k.pages.allocated) == 602
    assert k.check() == []


# -- 6. VM_IOREMAP alignment of 2 GiB and more -------------------------------------------------

@pytest.mark.parametrize("size,align", [
    (4096, 8192),                # fls(0x1000) = 13
    (1 * MiB, 512 * 1024),       # fls = 21, clamped to IOREMAP_MAX_ORDER 19
    (2 * GiB, 512 * 1024),       # (int)0x80000000 < 0: bsrl gives 31, fls = 32 -> 19
    (4 * GiB, 4096),             # (int)0x100000000 = 0: fls(0) = 0 -> PAGE_SHIFT 12
    (4 * GiB + 4096, 8192),      # (int) is 0x1000: fls = 13
])
def test_ioremap_alignment_takes_fls_of_an_int(size, align):
    assert ioremap_align(size, 12) == align


def test_a_4gib_ioremap_on_64bit_is_page_aligned():
    k = kernel()
    k.vmalloc(P)                                   # [S, S + 2 pages)
    assert k.get_vm_area(4 * GiB, VM_IOREMAP) == S + 3 * P   # page aligned, not 512 KiB


# -- 7. find_vm_area() on a lazily freed area -------------------------------------------------

def test_find_vm_area_of_a_lazily_freed_area_returns_the_freed_vm_struct():
    # find_vm_area(): va keeps VM_VM_AREA and va->private until the purge.
    k = kernel()
    addr = k.vmalloc(2 * P)
    vm = k.find_vm_area(addr)
    assert (vm.addr, vm.size) == (addr, 3 * P)
    k.vfree(addr)
    k.drain_events()
    stale = k.find_vm_area(addr)
    assert stale is vm and stale.size == 2 * P          # remove_vm_area() took the guard off
    (uaf,) = events(k, "uaf")
    assert uaf.addr == addr and "find_vm_area()" in uaf.line()
    assert k.stats.use_after_free == 1
    k.purge()
    assert k.find_vm_area(addr) is None                 # the area left the tree


# -- 8. the rbtree's shape ----------------------------------------------------------------------

def test_three_ascending_inserts_rotate_and_the_merged_walk_passes_two():
    # A = [S, S+2p), B = [S+3p, S+5p), C = [S+6p, S+8p), inserted in that order:
    # rb_insert_color() rotates left at A: B black at the root, A and C red.
    k = kernel()
    for _ in range(3):
        k.vmalloc(P)
    root = k.tree.rbtree.root
    assert (root.start, root.red) == (S + 3 * P, False)
    assert (root.left.start, root.left.red, root.right.start, root.right.red) == (S, True, S + 6 * P, True)
    # vmalloc(3 pages): size 4 pages, addr + size = S + 4p.  The descent meets B first:
    # B.end >= S and B.start < S + 4p, so first = B.  The walk passes B (addr = S+6p)
    # and C (addr = S+9p), then rb_next() is NULL: 2 areas, not 3.
    assert k.vmalloc(3 * P) == S + 9 * P
    assert k.stats.last_walk == 2
    # vmalloc(1 page): size 2 pages, addr + size = S + 2p: B.start is not below it, so
    # the descent goes left to A: first = A, and the walk passes A, B, C and D.
    assert k.vmalloc(P) == S + 14 * P
    assert k.stats.last_walk == 4


def test_erase_takes_the_successor_and_recolours():
    # Hand-drawn: insert 10, 20, 30, 40 (keys as [k, k+1) pages); 40 recolours:
    # 20 black root, 10 and 30 black, 40 red.  Erase 20: two children, so its successor
    # 30 takes its place and colour; 30 was black with a red right child 40, which
    # takes 30's old place: __rb_erase_color() sees the red child and paints it black.
    t = RbTree()
    nodes = {}
    for key in (10, 20, 30, 40):
        n = nodes[key] = RbNode(key, key + 1)
        parent, left, p = None, False, t.root
        while p is not None:
            parent, left = p, key < p.end
            p = p.left if left else p.right
        t.add(n, parent, left)
    shape = lambda n: None if n is None else (n.start, "R" if n.red else "B", shape(n.left), shape(n.right))
    assert shape(t.root) == (20, "B", (10, "B", None, None), (30, "B", None, (40, "R", None, None)))
    t.erase(nodes[20])
    assert shape(t.root) == (30, "B", (10, "B", None, None), (40, "B", None, None))
    t.erase(nodes[10])
    # 10 black, no child: the fix-up at 30 with sibling 40 black and no red nephew
    # paints 40 red and moves up to the root.
    assert shape(t.root) == (30, "B", None, (40, "R", None, None))
    assert t.violations() == []


def test_posted_after_an_overlap_follows_the_tree():
    # agp-bug's first act: b = [S+3p, S+5p) live, a freed and purged; the posted
    # descent hands out [S, S+5p) over b (vmalloc(4 pages): the WARN, and vmalloc
    # frees the area lazily).  __insert_vmap_area() put it left of b (S < b's end).
    k = kernel("posted", bits=32, nr_cpus=1)
    a = k.vmalloc(P)
    b = k.vmalloc(P)
    k.vfree(a)
    k.purge()
    assert k.vmalloc(4 * P) is None                    # WARN -EBUSY at b's page
    over = k.tree.find(S32)
    assert (over.start, over.end, over.state) == (S32, S32 + 5 * P, "lazy")
    root = k.tree.rbtree.root
    assert (root.start, root.left.start) == (b, S32)
    # Now vmalloc(1 page) from S32: the posted descent at b (end >= addr, start > addr)
    # goes left to the lazy area, which contains addr: first = it.  The walk passes it
    # (addr = S+6p), then rb_next() = b: S+6p + 2p >= b's start, so addr = b's end + 1p
    # = S+6p again, and rb_next() is NULL: [S+6p, S+8p), walk 2.  A list walk from the
    # lowest area ending after addr would have taken the same two steps here; the tree
    # is what the simulator follows while the overlap lasts.
    assert k.vmalloc(P) == S32 + 6 * P
    assert k.stats.last_walk == 2
    assert k.check() == []


def test_posted_finds_miss_an_area_that_starts_inside_an_overlapping_one():
    # __find_vmap_area() descends by va_start.  Hand-built posted state: X = [S, S+10p)
    # at the root and Z = [S+6p, S+7p) inserted left of it (S+6p < X's end), although
    # Z starts above X: the descent for S+6p goes right at X and misses Z.
    k = kernel("posted")
    from vmapviz.kernel.vmap_area import VmapArea
    X = VmapArea(S, S + 10 * P, "vm_area", "busy", P, 0, 0)
    Z = VmapArea(S + 6 * P, S + 7 * P, "vm_area", "busy", P, 0, 0)
    assert k.tree.insert(X) is False
    assert k.tree.insert(Z) is True                    # overlaps X
    assert k.tree.rbtree.root.left is k.tree.nodes[Z.start]
    assert k.tree.find(S + 6 * P) is None and k.tree.find(S) is X
