"""Every quiz question is answerable from what it shows (issue 23 §1): a small solver,
one rule per question kind and generation written here from the kernel's C (not from
vmapviz.teaching.quiz or the simulator), computes each answer from the question's "given" alone
and must agree with the quiz over many seeds, workloads and every generation.

The rules, with the C they come from:
- vanilla, v2.6.27 mm/vmalloc.c __get_vm_area_node() (lines 219-262): size += PAGE_SIZE
  (the guard); addr = ALIGN(start, align); for each vm_struct on vmlist in address
  order: one below addr that reaches addr moves addr to ALIGN(its end, align); else
  stop if size + addr <= tmp->addr, else addr = ALIGN(tmp end) and fail past end - size.
  Every vunmap/vfree/remove_vm_area flushes (unmap_vm_area(), 150-154).
- posted/merged, v2.6.28 alloc_vmap_area() (322-395): addr = ALIGN(vstart, align); the
  descent finds `first` (merged: the first node on its path starting below addr + size,
  or the area after the last one ending below addr; posted: only an area containing addr,
  else NULL and addr is taken); then `while (addr + size > first->va_start` (posted >=)
  `&& addr + size <= vend) addr = ALIGN(first->va_end + PAGE_SIZE, align)`; on failure a
  purge and a retry (merged from vstart; posted goes on, past vend: it fails). Posted's
  NULL `first` can place an area over another: vmap_page_range() (2.6.28 101-110) then
  meets a present PTE, WARNs and the vmalloc returns NULL (the AGP report), or maps
  over pages whose PTEs a purge already cleared and succeeds.
  vb_alloc() (2.6.28 730-780): the CPU's free list in order, a block with free >= 2^order,
  bitmap_find_free_region(alloc_map, order): the first free run aligned to 2^order; none:
  new_vmap_block() allocates VMAP_BLOCK_SIZE aligned to VMAP_BLOCK_SIZE and takes bit 0.
  Frees: free_unmap_vmap_area() adds the area's pages (its guard included) to
  vmap_lazy_nr and purges past lazy_max_pages() (try_purge_vmap_area_lazy(), 476-490),
  which frees every lazy area (vmap_lazy_nr back to 0) and flushes once; vb_free()
  (800-830) dirties 2^order bits and frees the block's area lazily once all are dirty.
- modern, v6.12 mm/vmalloc.c: node_alloc() (1910-1936) takes the head of the CPU's node's
  pool of that size; else the lowest free block that fits (align <= PAGE_SIZE: no
  adjust_search_size, 1777). vb_alloc() (2787-2790) takes the bump pointer
  VMAP_BBMAP_BITS - free of the first block with free >= 2^order. A free past
  lazy_max_pages schedules drain_vmap_work (2375-2376): the kworker purges and flushes.
- modern-6.18, 6.18.2 mm/vmalloc.c: the same rules. Its one difference from 6.12 that
  the simulator models, decay_va_pool_node() keeping a pool of fewer than four areas,
  runs inside the kworker's purge: it changes which pools a later question shows, never
  the rule that answers one (the pool's head is in the given).
- IPIs: flush_tlb_kernel_range() on x86 runs on_each_cpu(): nr_cpus - 1 per flush.
- Level 3 (lazy_run): the free rule applied op after op.
"""

import pytest

from vmapviz.teaching import quiz
from vmapviz.run.spec import RunSpec
from vmapviz.workloads import get

SIX = ("modern", "modern-6.18")     # the 6.x generations, by name (the registry is not asked)
GENERATIONS = ("vanilla", "posted", "merged") + SIX


def h(x):
    return int(x, 16)


def order_pages(n):
    return 1 << (n - 1).bit_length()


def align_up(x, a):
    return -(-x // a) * a


def request(g):
    """(size, align) as the allocator sees them: the C's size rules."""
    page, call, args = g["page_size"], g["call"], g["args"]
    if call in ("vmalloc", "get_vm_area"):
        return align_up(args[0], page) + page, page
    if call == "vmalloc_align":
        return align_up(args[0], page) + page, max(args[1], page)
    if call == "vmap":
        return args[0] * page + page, page
    if call == "vm_map_ram":
        return args[0] * page, page
    raise AssertionError(call)


def areas(g):
    return [(h(s), h(e), st, kind) for s, e, st, kind in g["areas"]]


def vanilla_fit(g, occupied, size, align):
    """(address or None, nodes examined)."""
    addr, end, examined = align_up(h(g["vstart"]), align), h(g["vend"]), 0
    for s, e, *_ in occupied:
        examined += 1
        if s < addr:
            if e >= addr:
                addr = align_up(e, align)
            continue
        if addr + size <= s:
            return addr, examined
        addr = align_up(e, align)
        if addr > end - size:
            return None, examined
    return (None if addr > end - size else addr), examined


def rewrite_fit(g, occupied, size, align, posted):
    """(address or None, areas passed); None for the whole answer when it depends on the
    rbtree's shape (several possible `first`s giving different answers)."""
    page, vend = g["page_size"], h(g["vend"])
    addr0 = align_up(h(g["vstart"]), align)

    def walk_from(i, addr):
        passed = 0
        while i < len(occupied):
            s, e, *_ = occupied[i]
            over = addr + size >= s if posted else addr + size > s
            if not (over and addr + size <= vend):
                break
            addr = align_up(e + page, align)
            passed += 1
            i += 1
        return (addr if addr + size <= vend else None), passed

    below = [i for i, (s, e, *_) in enumerate(occupied) if e < addr0]
    low = next((i for i, (s, e, *_) in enumerate(occupied) if e >= addr0), len(occupied))
    if posted:
        if not below and (low == len(occupied) or occupied[low][0] > addr0):
            return (addr0 if addr0 + size <= vend else None), 0
        return walk_from(low, addr0)
    if below:
        return walk_from(low, addr0)
    candidates = [i for i, (s, e, *_) in enumerate(occupied) if s < addr0 + size] or [None]
    answers = {walk_from(i, addr0) if i is not None else ((addr0 if addr0 + size <= vend else None), 0)
               for i in candidates}
    return answers.pop() if len(answers) == 1 else "shape"


def modern_fit(g, occupied, size, align):
    if g.get("pool"):
        return h(g["pool"][0])
    vstart, vend = h(g["vstart"]), h(g["vend"])
    holes, at = [], vstart
    for s, e, *_ in occupied:
        if s > at:
            holes.append((at, s))
        at = max(at, e)
    holes.append((at, vend + 1))
    for s, e in holes:
        a = align_up(s, align)
        if a + size <= e:
            return a if a + size <= vend + 1 else None
    return None


def place(g, size, align, occupied=None):
    occupied = areas(g) if occupied is None else occupied
    gen = g["generation"]
    if gen == "vanilla":
        return vanilla_fit(g, occupied, size, align)
    if gen in SIX:
        return modern_fit(g, occupied, size, align), None
    return rewrite_fit(g, occupied, size, align, gen == "posted")


def block_alloc(g):
    """(block start, first bit, address) vb_alloc() gives."""
    page, bbits = g["page_size"], g["block_pages"]
    n = order_pages(g["args"][0])
    for b in g["free_list"]:
        start = h(b["start"])
        if b["free"] < n:
            continue
        if g["generation"] in SIX:
            bit = bbits - b["free"]
            return start, bit, start + bit * page
        taken = set()
        for a, z in b["taken"]:
            taken.update(range(a, z + 1))
        for bit in range(0, bbits - n + 1, n):
            if not taken.intersection(range(bit, bit + n)):
                return start, bit, start + bit * page
    size = bbits * page
    start, _ = place(g, size, size)
    return start, 0, start


def freed_pages(g):
    """Pages this free adds to vmap_lazy_nr."""
    if "block" in g:
        b = g["block"]
        return g["block_pages"] if b["dirty"] + order_pages(g["args"][1]) == g["block_pages"] else 0
    s, e = g["area"]
    return (h(e) - h(s)) // g["page_size"]


def purges(g):
    added = freed_pages(g)
    return added > 0 and g["lazy_nr"] + added > g["lazy_max_pages"]


def solve_run(g):
    """Level 3: each free of the run in turn, the same rule as one free."""
    lazy = g["lazy_nr"]
    for item in g["ops"]:
        if item["call"] not in ("vfree", "vunmap", "remove_vm_area", "vm_unmap_ram"):
            continue
        one = dict(g, args=item["args"], lazy_nr=lazy, **{k: item[k] for k in ("area", "block") if k in item})
        one.pop("area" if "block" in item else "block", None)
        added = freed_pages(one)
        lazy = 0 if added and lazy + added > g["lazy_max_pages"] else lazy + added
    return lazy


def solve(q):
    g, kind, gen = q.given, q.kind, q.given["generation"]
    if kind == "lazy_run":
        return solve_run(g)
    if kind in ("address", "bits") and "free_list" in g:
        start, bit, addr = block_alloc(g)
        n = order_pages(g["args"][0])
        return hex(addr) if kind == "address" else (f"{start:#x} bits {bit}-{bit + n - 1}" if n > 1 else f"{start:#x} bit {bit}")
    if kind in ("address", "walk"):
        size, align = request(g)
        addr, walk = place(g, size, align)
        return (hex(addr) if addr is not None else "NULL") if kind == "address" else walk
    if kind == "fails":
        size, align = request(g)
        addr = place(g, size, align)[0]
        if gen == "posted" and addr is not None and any(
                h(s) < addr + size - g["page_size"] and addr < h(e) for s, e in g["ptes"]):
            return "yes"    # the AGP report: vmap_page_range() meets a present PTE, WARN, NULL
        if addr is None and gen == "merged":          # purge, then the retry from vstart
            addr = place(g, size, align, [a for a in areas(g) if a[2] == "busy"])[0]
        return "yes" if addr is None else "no"
    if gen == "vanilla":
        flush = True
    else:
        flush = purges(g)
    if kind == "flush":
        return "yes" if flush else "no"
    if kind == "ipis":
        return (g["nr_cpus"] - 1) if flush else 0
    if kind == "lazy":
        return 0 if flush else g["lazy_nr"] + freed_pages(g)
    if kind == "next":
        if gen == "vanilla":
            return "d"
        return "c" if not flush else ("b" if gen in SIX else "a")
    raise AssertionError(kind)


RUNS = [(w, v, seed, cpus) for w in ("map-touch-unmap", "vmalloc-churn", "xen-pat", "agp-bug",
                                     "exhaust-32bit", "xfs-dir")
        for v in GENERATIONS for seed, cpus in ((1, 2), (3, 4))]


@pytest.mark.parametrize("name,variant,seed,cpus", RUNS)
def test_the_solver_agrees_with_every_question(name, variant, seed, cpus):
    w = get(name)
    try:
        cfg = w.config(variant=variant, seed=seed, nr_cpus=cpus)
    except Exception:
        pytest.skip(f"{name} does not run on {variant}")
    questions = quiz.generate(RunSpec(w, cfg), 14, horizon=4_000, kinds=quiz.LEVELS[3])
    for q in questions:
        assert q.given["generation"] == variant
        assert variant in quiz.FOR[q.kind]
        assert solve(q) == q.answer, (q.question, q.given)
    COVERAGE.update((q.kind, variant) for q in questions)


COVERAGE: set = set()

TINY_RUNS = [(w, v, seed) for w in ("map-touch-unmap", "fix-size-alloc", "fragmentation")
             for v in GENERATIONS for seed in range(1, 11)]


@pytest.mark.parametrize("name,variant,seed", TINY_RUNS)
def test_the_solver_agrees_on_the_tiny_machine_over_ten_seeds(name, variant, seed):
    """--tiny: few areas and small blocks, so nearly every op has a question to ask."""
    w = get(name)
    try:
        cfg = w.config(variant=variant, seed=seed, tiny=True)
    except Exception:
        pytest.skip(f"{name} does not run on {variant}")
    for q in quiz.generate(RunSpec(w, cfg), 10, horizon=600, kinds=quiz.LEVELS[3]):
        assert solve(q) == q.answer, (q.question, q.given)
        COVERAGE.add((q.kind, variant))


def test_every_kind_on_every_generation_it_is_written_for():
    """The kinds x generations the runs above asked (run after them, in file order)."""
    if not COVERAGE:
        pytest.skip("run with the solver tests")
    want = {(k, g) for k, gens in quiz.FOR.items() for g in gens}
    assert want - COVERAGE == set(), sorted(want - COVERAGE)



