"""A hypothesis state machine over the whole public API, for every generation (calls a
generation lacks are refused and change nothing), 32/64-bit and 1, 2, 3, 4 and 64 CPUs,
some on a vmalloc range of three block sizes so that
purge-and-retry and allocation failures happen.  After every step: no exception
escaped, check() == [], and what the model knows (the live allocations) agrees with the
kernel's views.

The posted variant's NULL `first` places areas over others (the AGP report), and the
purge of such an area clears the PTEs of the areas under it (the bug's second act).
That is the kernel's behaviour, so once Kernel.overlaps is non-empty the model no
longer expects a live mapping to keep its PTEs; check() must still be [].
"""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, invariant, precondition,
                                 rule, run_state_machine_as_test)

from vmapviz.kernel import VM_IOREMAP, Config, Kernel

P = 4096
MiB = 1 << 20

KIND_OF = {"vmalloc": {"vmalloc"}, "vmap": {"vmap"}, "gva": {"vm_area", "ioremap"},
           "ram": {"vm_map_ram", "vmap_block"}}


def machine(variant, bits, cpus, small):
    class VmapMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            cfg = Config(nr_cpus=cpus, bits=bits, variant=variant)
            if small:
                # Room for two vmap blocks (they land two block sizes apart) and small
                # areas between them: a third block, or a big area, must purge and retry.
                cfg = Config(nr_cpus=cpus, bits=bits, variant=variant,
                             vmalloc_start=cfg.vmalloc_start,
                             vmalloc_end=cfg.vmalloc_start + 3 * cfg.vmap_block_size)
            self.k = Kernel(cfg)
            self.cfg = cfg
            self.live = []          # (kind, addr, count)
            self.freed = []         # every freed (kind, addr, count), for touches
            self.recent = []        # freed since the last purge: their addresses are not reused
            self.purges = 0

        # -- bookkeeping -----------------------------------------------------------
        def call(self, name, *args, **kw):
            result = getattr(self.k, name)(*args, **kw)
            if self.k.stats.purges != self.purges:
                self.purges = self.k.stats.purges
                self.recent = []
            return result

        def keep(self, kind, addr, count):
            if addr is not None:
                self.live.append((kind, addr, count))

        cpu = st.integers(0, cpus - 1)

        # -- the old API -------------------------------------------------------------
        @rule(pages=st.integers(1, 24), cpu=cpu)
        def vmalloc(self, pages, cpu):
            self.keep("vmalloc", self.call("vmalloc", pages * P, cpu=cpu), pages)

        @precondition(lambda self: not small)
        @rule(pages=st.sampled_from([513, 600] if bits == 64 else [1025, 1100]))
        def vmalloc_big(self, pages):
            # Over 512 (64-bit) / 1024 (32-bit) pages the page array is vmalloc'ed too.
            self.keep("vmalloc", self.call("vmalloc", pages * P), pages)

        @rule(pages=st.integers(1, 8), cpu=cpu)
        def vmap(self, pages, cpu):
            self.keep("vmap", self.call("vmap", pages, cpu=cpu), pages)

        @rule(size=st.integers(1, 24 * P), ioremap=st.booleans(), cpu=cpu)
        def get_vm_area(self, size, ioremap, cpu):
            self.keep("gva", self.call("get_vm_area", size, VM_IOREMAP if ioremap else 0, cpu=cpu), 0)

        # -- the per-CPU API ---------------------------------------------------------
        @rule(count=st.integers(1, 2 * bits), cpu=cpu)
        def vm_map_ram(self, count, cpu):
            self.keep("ram", self.call("vm_map_ram", count, cpu=cpu), count)

        @rule(count=st.integers(1, bits), cpu=st.integers(0, min(cpus, 2) - 1))
        def vm_map_ram_small(self, count, cpu):
            self.keep("ram", self.call("vm_map_ram", count, cpu=cpu), count)

        @rule(count=st.integers(1, 8), times=st.integers(1, 64),
              cpu=st.integers(0, min(cpus, 2) - 1), other=cpu)
        def map_touch_unmap(self, count, times, cpu, other):
            """The seed's loop: fills blocks quickly, so they get freed lazily."""
            for _ in range(times):
                addr = self.call("vm_map_ram", count, cpu=cpu)
                if addr is None:
                    return
                self.call("touch", addr, count, cpu=cpu)
                self.freed.append(("ram", addr, count))
                self.recent.append(("ram", addr, count))     # before: the call may purge
                self.call("vm_unmap_ram", addr, count, cpu=other)

        @rule(cpu=cpu)
        def vm_unmap_aliases(self, cpu):
            self.call("vm_unmap_aliases", cpu=cpu)

        # -- frees -------------------------------------------------------------------
        @precondition(lambda self: self.live)
        @rule(i=st.integers(0, 1 << 16), cpu=cpu)
        def free(self, i, cpu):
            kind, addr, count = entry = self.live.pop(i % len(self.live))
            self.freed.append(entry)
            self.recent.append(entry)       # before the call: a purge in it clears `recent`
            if kind == "vmalloc":
                self.call("vfree", addr, cpu=cpu)
            elif kind == "vmap":
                self.call("vunmap", addr, cpu=cpu)
            elif kind == "gva":
                assert self.call("remove_vm_area", addr, cpu=cpu) == addr
            else:
                self.call("vm_unmap_ram", addr, count, cpu=cpu)

        @rule(cpu=cpu)
        def purge(self, cpu):
            self.call("purge", cpu=cpu)

        @precondition(lambda self: self.live or self.freed)
        @rule(i=st.integers(0, 1 << 16), offset=st.integers(0, 4), pages=st.integers(1, 4), cpu=cpu)
        def touch(self, i, offset, pages, cpu):
            pool = self.live + self.freed
            _, addr, _ = pool[i % len(pool)]
            assert self.call("touch", addr + offset * P, pages, cpu=cpu) in ("ok", "fault", "use-after-free")

        # -- misuse (WARN / BUG, no exception): one rule, so it stays occasional -------
        @rule(what=st.sampled_from(["double_free", "vfree_random", "vfree_unaligned",
                                    "null", "below", "above", "unaligned", "no_block"]),
              i=st.integers(0, 1 << 16), addr=st.integers(0, (1 << bits) - 1),
              count=st.integers(1, 2 * bits))
        def misuse(self, what, i, addr, count):
            k, c = self.k, self.cfg
            warnings, bugs = k.stats.warnings, k.stats.bugs
            lazy = k.generation.features.lazy_flush
            modern = variant == "modern"
            if what == "double_free":
                # Before the rewrite a freed address is reused at once: a second free
                # could hit someone else's area, which the model cannot follow.
                if not self.recent or not lazy:
                    return
                kind, addr, count = self.recent[i % len(self.recent)]
                if not c.generation.features.lazy_flush and addr in {a.start for a in k.areas()}:
                    return              # freed at once, and the address already reused
                if kind == "ram":
                    self.call("vm_unmap_ram", addr, count)
                elif kind == "gva":
                    self.call("remove_vm_area", addr)
                else:
                    self.call("vfree", addr)
                if k.stats.purges == self.purges and not modern:
                    assert k.stats.bugs == bugs + 1       # freed, not yet purged: a BUG
                elif k.stats.purges == self.purges and kind != "gva":
                    # 6.12: the area left the busy set at once: a "nonexistent" WARN, or
                    # a BUG for pages of a vmap block (remove_vm_area() just says NULL)
                    assert k.stats.bugs + k.stats.warnings == bugs + warnings + 1
            elif what == "vfree_random":
                if addr == 0 or any(addr == a.start or modern and a.start <= addr < a.end
                                    for a in k.areas()):
                    return              # NULL, or a real area (6.12 frees from any address in it)
                self.call("vfree", addr)
                assert k.stats.warnings == warnings + 1 + (modern and addr % P > 0)
            elif what == "vfree_unaligned":
                if not self.live:
                    return
                _, base, _ = self.live[i % len(self.live)]
                self.call("vfree", base + 1 + i % (P - 1))
                # 6.12: remove_vm_area() WARNs on the unaligned address, vfree() on its NULL
                assert k.stats.warnings == warnings + 1 + modern
            elif not k.generation.offers("vm_map_ram"):
                return
            elif what == "no_block":
                used = {b.start for b in k.block_views()}
                slots = (c.vmalloc_start + j * c.vmap_block_size for j in range(2 * len(used) + 2))
                free = [a for a in slots if a < c.vmalloc_end and a not in used]
                if not free:
                    return
                self.call("vm_unmap_ram", free[i % len(free)], min(count, c.vmap_max_alloc))
                assert k.stats.bugs == bugs + 1
            else:
                bad = {"null": 0, "below": c.vmalloc_start - P, "above": c.vmalloc_end + P,
                       "unaligned": c.vmalloc_start + 8}[what]
                self.call("vm_unmap_ram", bad, count)
                assert k.stats.bugs == bugs + 1

        # -- invariants --------------------------------------------------------------------
        @invariant()
        def consistent(self):
            assert self.k.check() == []

        @invariant()
        def model_agrees(self):
            k = self.k
            assert k.stats_view().lazy_pages <= k.stats_view().lazy_max_pages
            areas = k.areas()
            by_start = {a.start: a for a in areas}
            blocks = k.block_views()
            tainted = variant == "posted" and bool(k.overlaps)
            for kind, addr, count in self.live:
                if kind == "ram" and count <= self.cfg.vmap_max_alloc:
                    (b,) = [b for b in blocks if b.start <= addr < b.end]
                    bit = (addr - b.start) // P
                    assert b.alloc_map >> bit & 1 and not b.dirty_map >> bit & 1
                else:
                    va = by_start[addr]
                    assert va.state == "busy" and va.kind in KIND_OF[kind]
                if kind in ("vmalloc", "vmap", "ram") and not tainted:
                    # Mapped pages stay mapped while their user holds them (the first
                    # and the last page: cheap enough for every step).
                    for i in {0, count - 1}:
                        assert k.vmalloc_to_page(addr + i * P) is not None
            k.drain_events()

    VmapMachine.__name__ = f"VmapMachine_{variant}_{bits}_{cpus}{'_small' if small else ''}"
    return VmapMachine


CONFIGS = [(variant, bits, cpus, small)
           for variant in ("merged", "posted", "vanilla", "modern")
           for bits in (32, 64)
           for cpus in (1, 2, 4, 64)
           for small in (False, True)
           if small == (cpus in (1, 64))] + [
    # 3 CPUs on 32-bit: NR_CPUS stays 8, so the blocks are the stock kernel's 1 MiB.
    ("merged", 32, 3, False), ("posted", 32, 3, True),
    ("vanilla", 32, 1, True), ("vanilla", 32, 4, False), ("vanilla", 64, 2, False),
    ("vanilla", 64, 64, True)]


@pytest.mark.parametrize("variant,bits,cpus,small", CONFIGS,
                         ids=[f"{v}-{b}bit-{c}cpu{'-small' if s else ''}" for v, b, c, s in CONFIGS])
def test_state_machine(variant, bits, cpus, small):
    run_state_machine_as_test(
        machine(variant, bits, cpus, small),
        settings=settings(max_examples=50, stateful_step_count=50, deadline=None,
                          derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
