"""Ports of the kernel's lib/test_vmalloc.c cases, one stream per CPU as the module's
nr_threads (num_online_cpus() by default).

Scaling, so a run takes seconds: test_loop_count 1,000,000 becomes LOOPS (1,000);
full_fit_alloc_test's junk_length (lazy_max_pages() pages' worth of pairs) is divided
by 64; long_busy_list_alloc_test keeps 1,500 areas busy instead of 15,000.  The shape
of each test is kept.  `*ptr = x` writes become touch().  The aligned allocations
(__vmalloc_node(size, align) in the module) use vmalloc_align(), the simulator's
stand-in: the 2008 kernel has no aligned vmalloc.
"""

from __future__ import annotations

from .base import Workload, each_cpu

LOOPS = 1000
THREAD_ALIGN = {64: 16384, 32: 8192}  # THREAD_SIZE on x86_64 / i386


def _ptr_array(cfg, n):
    """The module's pointer arrays: vmalloc(sizeof(void *) * n)."""
    return "vmalloc", (n * cfg.bits // 8,)


def fix_size_alloc(cpu, cfg, rng):
    for _ in range(LOOPS):
        p = yield "vmalloc", (cfg.page_size,)
        if p is None:
            return
        yield "touch", (p, 1)
        yield "vfree", (p,)


def full_fit_alloc(cpu, cfg, rng):
    junk_length = max(1, cfg.lazy_max_pages // 64)
    ptr = yield _ptr_array(cfg, junk_length)
    junk_ptr = yield _ptr_array(cfg, junk_length)
    kept, junk = [], []
    for _ in range(junk_length):
        kept.append((yield "vmalloc", (cfg.page_size,)))
        junk.append((yield "vmalloc", (cfg.page_size,)))
    for p in junk:
        yield "vfree", (p,)
    for _ in range(LOOPS):
        tmp = yield "vmalloc", (cfg.page_size,)
        if tmp is None:
            break
        yield "touch", (tmp, 1)
        yield "vfree", (tmp,)
    for p in kept + [ptr, junk_ptr]:
        yield "vfree", (p,)


def long_busy_list_alloc(cpu, cfg, rng):
    busy = 1500
    ptr = yield _ptr_array(cfg, busy)
    held = []
    for _ in range(busy):
        held.append((yield "vmalloc", (cfg.page_size,)))
    for _ in range(LOOPS):
        p1 = yield "vmalloc", (100 * cfg.page_size,)
        p2 = yield "vmalloc", (cfg.page_size,)
        if p1 is None or p2 is None:
            break
        yield "touch", (p1, 1)
        yield "touch", (p2, 1)
        yield "vfree", (p1,)
        yield "vfree", (p2,)
    for p in held + [ptr]:
        yield "vfree", (p,)


def random_size_alloc(cpu, cfg, rng):
    for _ in range(LOOPS):
        n = rng.getrandbits(32) % 100 + 1
        p = yield "vmalloc", (n * cfg.page_size,)
        if p is None:
            return
        yield "touch", (p, 1)
        yield "vfree", (p,)


def fix_align_alloc(cpu, cfg, rng):
    for _ in range(LOOPS):
        p = yield "vmalloc_align", (5 * cfg.page_size, THREAD_ALIGN[cfg.bits] << 1)
        if p is None:
            return
        yield "touch", (p, 1)
        yield "vfree", (p,)


def random_size_align_alloc(cpu, cfg, rng):
    for _ in range(LOOPS):
        rnd = rng.getrandbits(8)
        align = 1 << (rnd % 23)                # at most 1024 pages
        size = (rnd % 10 + 1) * cfg.page_size  # at most 10 pages
        p = yield "vmalloc_align", (size, align)
        if p is None:
            return
        yield "vfree", (p,)


def align_shift_alloc(cpu, cfg, rng):
    """Expected to fail: one page at every alignment below BITS_PER_LONG; the module
    stops at the first failure."""
    for i in range(cfg.bits):
        p = yield "vmalloc_align", (cfg.page_size, 1 << i)
        if p is None:
            return
        yield "vfree", (p,)


def vm_map_ram_test(cpu, cfg, rng):
    for _ in range(LOOPS):
        v = yield "vm_map_ram", (1,)
        if v is None:
            return
        yield "touch", (v, 1)
        yield "vm_unmap_ram", (v, 1)


_DEFAULTS = dict(nr_cpus=4, bits=64, variant="merged")


def _port(name, fn, summary, watch, expect="", needs=frozenset({"vmalloc", "vfree", "touch"})):
    return Workload(name, summary + " (lib/test_vmalloc.c)", watch, each_cpu(fn), _DEFAULTS,
                    None, expect, needs)


PORTS = [
    _port("fix-size-alloc", fix_size_alloc, "vmalloc/vfree of one page in a loop",
          "Each vfree goes lazy; the same low addresses are not reused until a purge, so the areas "
          "march up the range and fall back to the start after each flush."),
    _port("full-fit-alloc", full_fit_alloc, "one-page areas between junk areas; freed junk leaves holes to fit",
          "Freeing the junk leaves a hole between every pair of kept areas; once purged, each "
          "one-page vmalloc lands in the lowest hole."),
    _port("long-busy-list-alloc", long_busy_list_alloc, "1,500 busy areas, then vmalloc(100 pages) + vmalloc(1 page)",
          "The 2008 walk passes every busy area on each search (see the walk length); later "
          "kernels' augmented tree does not."),
    _port("random-size-alloc", random_size_alloc, "vmalloc of 1 to 100 pages in a loop",
          "Sizes vary, the lazy count climbs by each area's pages plus its guard page."),
    _port("fix-align-alloc", fix_align_alloc, "5 pages aligned to 2 * THREAD_ALIGN",
          "The alignment leaves a gap before each area; lazy areas keep pushing the next one up."),
    _port("random-size-align-alloc", random_size_align_alloc, "1-10 pages at alignment 1 << (rnd % 23)",
          "Large alignments skip far ahead; the map shows the gaps they leave."),
    _port("align-shift-alloc", align_shift_alloc, "one page at every alignment 1 << i below BITS_PER_LONG",
          "Alignments beyond the end of the vmalloc range cannot be met: the module expects the "
          "large ones to fail and stops at the first failure.",
          expect="align_shift_alloc_test expects the large alignments to fail"),
    _port("vm-map-ram-test", vm_map_ram_test, "vm_map_ram / vm_unmap_ram of one page in a loop",
          "One bit per call from the CPU's block; a block is freed after 1024 calls.",
          needs=frozenset({"vm_map_ram", "touch", "vm_unmap_ram"})),
]
