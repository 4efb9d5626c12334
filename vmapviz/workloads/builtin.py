"""The built-in workloads a class watches: the thread's benchmark and experiments, the
old API under churn and fragmentation, the 32-bit squeeze and the AGP report."""

from __future__ import annotations

from ..kernel import VM_IOREMAP
from .base import Translation, Workload, each_cpu, on_cpu0

KiB, MiB = 1 << 10, 1 << 20


def map_touch_unmap(cpu, cfg, rng):
    """The thread's benchmark: map 4 pages, touch them, unmap, forever."""
    while True:
        addr = yield "vm_map_ram", (4,)
        if addr is not None:
            yield "touch", (addr, 4)
            yield "vm_unmap_ram", (addr, 4)


def vmap_touch_vunmap(cpu, cfg, rng):
    """The thread's benchmark before the rewrite, which had no vm_map_ram: vmap(4),
    touch, vunmap, as the thread's vanilla column ran."""
    while True:
        addr = yield "vmap", (4,)
        if addr is not None:
            yield "touch", (addr, 4)
            yield "vunmap", (addr,)


def _buffer_size(rng):
    return rng.choice((1, 1, 2, 4, 4, 8, 16))


def xfs_dir(cpu, cfg, rng):
    """Directory buffers of 4 to 64 KiB, a few held at a time per CPU, mapped with
    vm_map_ram() as Nick's XFS experiment did."""
    held = []
    while True:
        if len(held) < 4 and (not held or rng.random() < 0.55):
            pages = _buffer_size(rng)
            addr = yield "vm_map_ram", (pages,)
            if addr is not None:
                yield "touch", (addr, pages)
                held.append((addr, pages))
        else:
            addr, pages = held.pop(rng.randrange(len(held)))
            yield "vm_unmap_ram", (addr, pages)


XFS_AS_LIST_MAX = 64  # _xfs_buf_map_pages() purges the deferred list above this


def xfs_dir_vanilla(cfg, rng_for):
    """xfs-dir on v2.6.27: the buffers are vmap()ed, and XFS defers their vunmap()s on
    one global list (free_address() under as_lock); when it holds more than 64 entries,
    the next mapping (_xfs_buf_map_pages()) first purges it with one vunmap() per entry,
    a TLB flush each: the "not-very-good vunmap batching code" of the thread.
    Simplified: xfsbufd's own periodic purge of the list is left out."""
    deferred: list[int] = []   # as_free_head, shared by every CPU

    def stream(cpu, rng):
        held = []
        while True:
            if len(held) < 4 and (not held or rng.random() < 0.55):
                if len(deferred) > XFS_AS_LIST_MAX:
                    batch = deferred[:]
                    deferred.clear()
                    for addr in batch:          # purge_addresses()
                        yield "vunmap", (addr,)
                pages = _buffer_size(rng)
                addr = yield "vmap", (pages,)
                if addr is not None:
                    yield "touch", (addr, pages)
                    held.append(addr)
            else:
                deferred.append(held.pop(rng.randrange(len(held))))   # free_address()

    return {cpu: stream(cpu, rng_for(cpu)) for cpu in range(cfg.nr_cpus)}


def vmalloc_churn(cpu, cfg, rng):
    """vmalloc and vfree of 1 to 100 pages, up to 16 live per CPU."""
    held = []
    while True:
        if len(held) < 16 and (not held or rng.random() < 0.5):
            addr = yield "vmalloc", (rng.randint(1, 100) * cfg.page_size,)
            if addr is not None:
                held.append(addr)
        else:
            yield "vfree", (held.pop(rng.randrange(len(held))),)


def fragmentation(cfg, rng):
    """Long-lived areas between short-lived ones; the short ones go, leaving holes that
    later requests fit into, or do not."""
    page = cfg.page_size
    long_lived, short_lived = [], []
    for i in range(120):
        addr = yield "vmalloc", (rng.randint(1, 8) * page,)
        if addr is not None:
            (long_lived if i % 2 else short_lived).append(addr)
    for addr in short_lived:
        yield "vfree", (addr,)
    if cfg.offers("purge"):             # before the rewrite the holes are free at once
        yield "purge", ()
    held = []
    while True:
        if len(held) < 24 and rng.random() < 0.6:
            addr = yield "vmalloc", (rng.randint(1, 12) * page,)
            if addr is not None:
                held.append(addr)
        elif held:
            yield "vfree", (held.pop(rng.randrange(len(held))),)


def ioremap(cfg, rng):
    """get_vm_area(VM_IOREMAP) of device-sized windows: each aligned to 1 << fls(size),
    at most 512 KiB."""
    sizes = (4 * KiB, 5000, 12 * KiB, 64 * KiB, 100 * KiB, 256 * KiB, 1 * MiB, 2 * MiB)
    held = []
    while True:
        for size in sizes:
            addr = yield "get_vm_area", (size, VM_IOREMAP)
            if addr is not None:
                held.append(addr)
            if len(held) > 6:
                yield "remove_vm_area", (held.pop(rng.randrange(len(held))),)


def xen_pat_vanilla(cpu, cfg, rng):
    """xen-pat on v2.6.27: no vm_map_ram and nothing lazy, so no vm_unmap_aliases():
    every mapping is vmap()ed and unmapped at once, a TLB flush each."""
    while True:
        pages = rng.randint(1, 8)
        addr = yield "vmap", (pages,)
        if addr is not None:
            yield "touch", (addr, pages)
            yield "vunmap", (addr,)


def xen_pat(cpu, cfg, rng):
    """vm_map_ram() churn, and now and then a vm_unmap_aliases() as Xen's pinning and
    PAT's change_page_attr() do before touching page attributes."""
    while True:
        if rng.random() < 0.03:
            yield "vm_unmap_aliases", ()
            continue
        pages = rng.randint(1, 8)
        addr = yield "vm_map_ram", (pages,)
        if addr is not None:
            yield "touch", (addr, pages)
            yield "vm_unmap_ram", (addr, pages)


def exhaust_32bit(cfg, rng):
    """Fill a 32-bit vmalloc space with 4 MiB areas until it is full (the final
    failure warning), free a few lazily, then recover through purge-and-retry, and
    fail again on a request no hole can take."""
    held = []
    while True:
        addr = yield "vmalloc", (4 * MiB,)
        if addr is None:
            break
        held.append(addr)
    for addr in held[1:12:2]:           # lazily freed, under the purge threshold
        yield "vfree", (addr,)
    for _ in range(3):
        yield "vmalloc", (4 * MiB,)     # fails once, purges, retries from vstart
    yield "vmalloc", (16 * MiB,)        # no hole that large: the warning
    for addr in held[0::2]:
        yield "vfree", (addr,)
    yield "vmalloc", (16 * MiB,)


def wrap_32bit(cfg, rng):
    """addr + size wrapping past the top of a 32-bit space, which v2.6.28 does not check:
    a vmalloc() too big for the empty space, then a vmalloc() of 8 MiB once two areas
    reach VMALLOC_END."""
    page = cfg.page_size
    yield "vmalloc", (124 * MiB,)       # START + 124 MiB + guard wraps: vmap_page_range BUG_ON
    a = yield "get_vm_area", (100 * MiB, 0)
    if a is None:
        return
    gap = page if cfg.generation.features.gap_page else 0
    b_start = a + 100 * MiB + page + gap
    yield "get_vm_area", (cfg.VMALLOC_END - b_start - page, 0)   # ends at VMALLOC_END
    yield "vmalloc", (8 * MiB,)         # past both to END + 1 page: + 8 MiB + guard = 0


def agp_bug(cfg, rng):
    """A sequence that gives Andrew Morton's 2.6.27-rc5-mm1 WARN on the posted code (the
    thread leaves that report's cause open): a freed and purged area at VMALLOC_START,
    a live one just above, then a vmalloc of 4 pages, as agp_add_bridge() made."""
    page = cfg.page_size
    a = yield "vmalloc", (page,)        # VMALLOC_START
    b = yield "vmalloc", (page,)        # START + 3 pages
    yield "touch", (b, 1)
    yield "vfree", (a,)
    if cfg.offers("purge"):
        yield "purge", ()
    c = yield "vmalloc", (4 * page,)    # posted: START, over b: WARN, NULL
    yield "touch", (b, 1)
    if c is not None:
        yield "touch", (c, 4)
    if cfg.offers("purge"):
        yield "purge", ()               # posted: the failed area's purge clears b's PTE
    yield "touch", (b, 1)


BUILTINS = [
    Workload("map-touch-unmap", "every CPU loops vm_map_ram(4), touch, vm_unmap_ram: the thread's benchmark",
             "Watch one block per CPU fill its alloc_map, go dirty page run by page run, leave the "
             "free list when full and be freed lazily when every bit is dirty; vmap_lazy_nr climbs "
             "1024 pages at a time and one TLB flush (nr_cpus - 1 IPIs) covers 25 blocks' worth of unmaps.",
             each_cpu(map_touch_unmap), dict(nr_cpus=4, bits=64, variant="merged"), 100_000,
             needs=frozenset({"vm_map_ram", "touch", "vm_unmap_ram"}),
             translations={"vanilla": Translation(
                 each_cpu(vmap_touch_vunmap), frozenset({"vmap", "touch", "vunmap"}),
                 "v2.6.27 has no vm_map_ram: vmap(4), touch, vunmap, as the thread's vanilla column ran")}),
    Workload("xfs-dir", "many CPUs map and unmap directory buffers of 4-64 KiB with vm_map_ram",
             "Mixed sizes take naturally aligned power-of-two regions (3 pages take 4); freed "
             "regions are never reused inside a block, so blocks turn over and flushes stay rare "
             "even with 16 CPUs.",
             each_cpu(xfs_dir), dict(nr_cpus=16, bits=64, variant="merged"), 100_000,
             needs=frozenset({"vm_map_ram", "touch", "vm_unmap_ram"}),
             translations={"vanilla": Translation(
                 xfs_dir_vanilla, frozenset({"vmap", "touch", "vunmap"}),
                 "v2.6.27's XFS: vmap, and vunmap deferred on a list of 64, then one vunmap "
                 "(one flush) per entry")}),
    Workload("vmalloc-churn", "random vmalloc/vfree of 1 to 100 pages",
             "The old API goes through the global rbtree allocator: every area has a guard page, "
             "and the search leaves one more free page after the previous area (it moves to "
             "first->va_end + PAGE_SIZE), while a merged exact fit can sit flush against the next "
             "one; vfree only marks the area lazy, so its addresses stay out of reach until a purge.",
             each_cpu(vmalloc_churn), dict(nr_cpus=4, bits=64, variant="merged"), 50_000),
    Workload("fragmentation", "long-lived and short-lived areas interleaved, leaving holes",
             "After the short-lived areas are freed and purged, first fit drops new requests into "
             "the lowest hole that takes them; compare the variants: the posted code skips a hole "
             "of exactly the right size.",
             on_cpu0(fragmentation), dict(nr_cpus=1, bits=64, variant="merged"), 5_000),
    Workload("ioremap", "get_vm_area(VM_IOREMAP) of device windows, showing the alignment rule",
             "Each ioremap area is aligned to 1 << fls(size), clamped to 512 KiB: a one-page window "
             "is 8 KiB aligned, a 1 MiB one 512 KiB aligned, and the gaps that alignment leaves are "
             "visible on the map.",
             on_cpu0(ioremap), dict(nr_cpus=1, bits=64, variant="merged"), 2_000),
    Workload("xen-pat", "vm_map_ram churn with periodic vm_unmap_aliases, as Xen and PAT call it",
             "Each vm_unmap_aliases() unmaps every dirty run of every free-listed block and forces a "
             "flush even with nothing lazy; full blocks are skipped and keep their stale aliases.",
             each_cpu(xen_pat), dict(nr_cpus=4, bits=64, variant="merged"), 50_000,
             needs=frozenset({"vm_map_ram", "touch", "vm_unmap_ram", "vm_unmap_aliases"}),
             translations={"vanilla": Translation(
                 each_cpu(xen_pat_vanilla), frozenset({"vmap", "touch", "vunmap"}),
                 "v2.6.27 has no vm_map_ram and nothing lazy: vmap, touch, and vunmap at once")}),
    Workload("exhaust-32bit", "a 32-bit vmalloc space fills up; the rewrite recovers through purge-and-retry",
             "111 MiB holds 27 areas of 4 MiB; the 28th fails with the kernel's warning. Freed areas "
             "stay lazy (under the threshold), so the next request fails once, purges, and succeeds "
             "on the retry; a 16 MiB request finds no hole and fails for good.",
             on_cpu0(exhaust_32bit), dict(nr_cpus=1, bits=32, variant="merged"), None,
             expect_failures="the workload fills the 32-bit vmalloc space on purpose",
             watch_also=((("modern", "modern-6.18"),
                          "6.12's i386 range is 120 MiB (VMALLOC_END below the pkmap, the LDT remap, "
                          "the CPU entry area and the fixmap); it holds 29 areas of 4 MiB and a guard "
                          "page, and the 30th fails: vmalloc_node_range() prints 'Address range "
                          "restricted to' the range, warn_alloc() 'vm_struct allocation failed'. Freed "
                          "areas stay lazy (under lazy_max_pages), so the next request fails once, "
                          "reclaim_and_purge_vmap_areas() purges them and the retry succeeds; a 16 MiB "
                          "request finds no hole and fails; once enough is freed, the kworker's purge "
                          "makes room and the last 16 MiB request fits."),)),
    Workload("wrap-32bit", "requests near the top of a 32-bit space wrap addr + size: the BUGs v2.6.28 reaches",
             "v2.6.28 computes addr + size in an unsigned long and never checks it. vmalloc(124 MiB) "
             "on the empty space: 0xf8800000 + 124 MiB + a guard page is 0x100401000, which wraps to "
             "0x401000 and passes `addr + size > vend`; the area goes in, and map_vm_area()'s "
             "vmap_page_range(0xf8800000, 0x400000) hits BUG_ON(addr >= end). Then two areas fill the "
             "space up to VMALLOC_END, 0xff7fe000; vmalloc(8 MiB) walks past both to 0xff7ff000, "
             "where addr + size (8 MiB + a guard page) wraps to 0: __insert_vmap_area() finds the new "
             "area neither left nor right of the one below it and BUG()s. v2.6.29 added "
             "`if (addr + size - 1 < addr) goto overflow`, which fails both cleanly, as v2.6.27's own "
             "`(size + addr) < addr` check does (--variant vanilla).",
             on_cpu0(wrap_32bit), dict(nr_cpus=1, bits=32, variant="merged"), None,
             expect_failures="the workload drives v2.6.28 into the BUGs a wrapped addr + size reaches"),
    Workload("agp-bug", "a sequence that gives the thread's WARNING at vmap_page_range, on the posted variant",
             "The posted descent finds no area below VMALLOC_START and none containing it, so it "
             "hands out START although the live area at START + 3 pages overlaps: vmap_page_range "
             "meets its PTE, WARNs, and vmalloc fails with -ENOMEM (-12); the purge of the failed area "
             "then wipes the live area's PTE. On the posted code this sequence produces the same WARN "
             "and return code as Andrew Morton's agp_add_bridge report; the thread itself never "
             "diagnoses that report. Run it with --variant merged: the merged descent closes the hole.",
             on_cpu0(agp_bug), dict(nr_cpus=1, bits=32, variant="posted"), None,
             expect_failures="the posted variant's overlap makes agp's vmalloc fail, as in the report"),
]
