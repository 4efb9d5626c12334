"""Each generation owns its sentences (issue 22 §1, the structural fix): for every
generation and every event kind, the explanation of an op that produced that kind is
written by a text the generation owns, or by the neutral text; and every address and
block number a sentence names is one of the op's own (its events, its arguments, the
machine's range), never another generation's or a stale one.

The scenarios below produce every event kind each generation can produce; the kinds a
generation cannot produce are declared with the reason, and the test fails if a kind
is neither seen nor declared."""

from __future__ import annotations

import re

import pytest

from vmapviz.kernel import GENERATIONS, Config, Kernel
from vmapviz.kernel.events import KINDS
from vmapviz.kernel.vm_struct import VM_IOREMAP
from vmapviz.sentences import borrowed
from vmapviz.run.snapshot import take
from vmapviz.tui.words.explain import CALLS, PURGES, TROUBLE, explain_said

P = 4096

# Kinds a generation cannot produce, and why.
CANNOT = {
    "vanilla": {"lazy": "nothing is freed lazily before the rewrite",
                "purge": "no purge", "block": "no vmap blocks", "bits": "no vmap blocks",
                "alias": "no vm_unmap_aliases()", "uaf": "every free flushes at once",
                "corrupt": "no unchecked misuse is reachable through its calls"},
    "posted": {"fault": "nothing in the scenario touches an unmapped page on posted",
               "refused": "the rewrite has every call"},
    "merged": {"fault": "nothing in the scenario touches an unmapped page on merged",
               "refused": "the rewrite has every call"},
    "modern": {"refused": "6.12 has every call", "corrupt": "the simulator refuses 6.12's "
               "unchecked misuse (Bug.own) instead of following it",
               "fault": "nothing in the scenario touches an unmapped page on 6.12"},
}
# A later kernel run as a policy of the modern module produces what 6.12 produces.
CANNOT["modern-6.18"] = CANNOT["modern"]
DRIVER_ONLY = {"error": "a driver error, not a kernel event"}


def scenario(k: Kernel):
    """Ops (as thunks) that between them make every kind the generation can make."""
    c = k.config
    yield lambda: k.vmalloc(3 * P)
    yield lambda: k.vmap(2)
    yield lambda: k.get_vm_area(5 * P, VM_IOREMAP)
    a = k.vmalloc(2 * P)
    yield lambda: k.touch(a, 2, cpu=1)
    yield lambda: k.find_vm_area(a)
    yield lambda: k.vmalloc_to_page(a)
    yield lambda: k.vfree(a)
    yield lambda: k.touch(a, 1, cpu=1)
    yield lambda: k.vfree(c.vmalloc_start + 4096 * P)
    yield lambda: k.get_vm_area(c.vmalloc_size, 0)
    yield lambda: k.get_vm_area(P, 0, c.vmalloc_start + 1, c.VMALLOC_END)   # the simulator's refusal
    r = k.vm_map_ram(4)
    b = k.vm_map_ram(4)
    yield lambda: k.vm_map_ram(3)
    yield lambda: k.vm_unmap_ram(b or 0, 4)
    yield lambda: k.vm_unmap_aliases()
    yield lambda: k.purge()
    yield lambda: k.vm_unmap_ram(0, 1)
    blocks = [k.vm_map_ram(64, cpu=1) for _ in range(16)] if k.config.offers("vm_map_ram") else []
    for x in blocks[:-1]:
        k.vm_unmap_ram(x, 64, cpu=1)
    if blocks:
        yield lambda: k.vm_unmap_ram(blocks[-1], 64, cpu=1)
    if r is not None:
        yield lambda: k.vm_unmap_ram(r, 8)          # covers b's freed pages: corrupt on 2008


def small_ram(k: Kernel):
    k.vmalloc(2 * P)
    yield lambda: k.vmap(4)                          # a NULL page: -ENOMEM


def explained(variant: str, ram_size: int = 1 << 30, ops=scenario):
    k = Kernel(Config(variant=variant, nr_cpus=2, ram_size=ram_size))
    out = []
    for thunk in ops(k):
        k.drain_events()
        thunk()
        evs = tuple(k.drain_events())
        snap = take(k, last_op=evs, op=k.op)
        out.append((evs, snap, explain_said(snap)))
    return out


def _ints(value, into: set) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        into.add(value)
    elif isinstance(value, tuple):
        for v in value:
            _ints(v, into)


@pytest.mark.parametrize("variant", list(GENERATIONS))
def test_every_event_kind_is_explained_by_the_generations_own_texts(variant):
    seen: set[str] = set()
    for evs, snap, said in explained(variant) + explained(variant, 4 * P, small_ram):
        kinds = {e.kind for e in evs}
        seen |= kinds
        assert borrowed(said, variant) == [], (variant, [e.line() for e in evs])
        assert said, [e.line() for e in evs]
        # the numbers a sentence names are the op's own
        allowed: set[int] = {snap.config.vmalloc_start, snap.config.vmalloc_end,
                             snap.config.VMALLOC_END}
        blocks = {e.block for e in evs if hasattr(e, "block")}
        for e in evs:
            _ints(tuple(e), allowed)
            # an event's own text (a WARN's or BUG's message) is its numbers too
            allowed |= {int(h, 16) for h in re.findall(r"0x[0-9a-f]+", e.line())}
            blocks |= {int(n) for n in re.findall(r"block #(\d+)", e.line())}
        for sentence in said:
            for h in re.findall(r"0x[0-9a-f]+", sentence):
                assert int(h, 16) in allowed, (variant, h, sentence)
            for n in re.findall(r"block #(\d+)", sentence):
                assert int(n) in blocks, (variant, n, sentence)
    missing = set(KINDS) - seen - set(CANNOT[variant]) - set(DRIVER_ONLY)
    assert missing == set(), f"{variant} never showed {sorted(missing)}"
    assert not seen & set(CANNOT[variant]), f"{variant} showed {seen & set(CANNOT[variant])}"


def test_every_text_names_real_generations_and_each_is_owned_once():
    names = set(GENERATIONS)
    for table in (CALLS, PURGES, TROUBLE):
        for key in table.keys():
            owners = table.owners_of(key)
            for o in owners:
                assert o <= names, (table.name, key, o - names)
            flat = [g for o in owners for g in o]
            assert len(flat) == len(set(flat)), (table.name, key)


def test_a_generation_without_a_text_gets_the_neutral_one():
    # vmalloc_to_page's text is everyone's; a generation name with no texts (a new one,
    # before anyone checks a text against its C) gets the neutral ones, never 2008's.
    k = Kernel(Config(variant="modern", nr_cpus=2))
    a = k.vmalloc(P)
    k.drain_events()
    k.find_vm_area(a)
    snap = take(k, last_op=tuple(k.drain_events()), op=k.op)
    said = explain_said(snap)
    # 6.12's find_vm_area text was checked against 6.18.2's C: the 6.x family owns it
    assert said.owners == [frozenset({"modern", "modern-6.18"})] and "VM_VM_AREA" not in said[0]
    assert CALLS.pick("find_vm_area", "6.18") is CALLS.neutral
    assert CALLS.pick("find_vm_area", "merged").owners == frozenset({"posted", "merged"})
    # the pools' decay differs: 6.12 and 6.18 each own their own purge text
    assert PURGES.pick("purge", "modern").owners == frozenset({"modern"})
    assert PURGES.pick("purge", "modern-6.18").owners == frozenset({"modern-6.18"})
    neutral = CALLS.neutral.write(snap, *[e for e in snap.last_op if e.kind in ("call", "return")],
                                  {})
    assert neutral[0].startswith(f"cpu0 called find_vm_area({a:#x}) = ")


def test_a_vmap_page_range_warn_is_explained_by_what_it_checks():
    # 2.6.28 vmap_pte_range() 104-107: WARN_ON(!pte_none) -> -EBUSY, WARN_ON(!page) ->
    # -ENOMEM; a NULL page is not an overlap, and says nothing of the AGP report.
    (_, _, said), = explained("merged", 4 * P, small_ram)
    text = " ".join(said)
    assert "WARN_ON(!page)" in text and "Nothing overlaps" in text
    assert "agp" not in text.lower() and "overlaps a live one" not in text


def test_the_palette_flush_help_of_6_18_is_the_6x_text():
    # x86's flush_tlb_kernel_range() of 6.18 still uses tlb_single_page_flush_ceiling (33)
    from vmapviz.tui.commands import FLUSH_HELP
    for gen in ("modern", "modern-6.18"):
        text = FLUSH_HELP.pick("all", gen)
        assert gen in text.owners and "INVLPG per page up to 33 pages" in text.write("all", GENERATIONS[gen])
    assert "flush_tlb_all" in FLUSH_HELP.pick("all", "merged").write("all", GENERATIONS["merged"])


def test_features_meet_what_a_panel_key_or_sentence_needs():
    # the registry's declarations (generations.py): vanilla flushes at once, the 2008
    # rewrite purges lazily itself, 6.12 has a free tree, nodes, a kworker, dirty ranges
    f = {name: g.features for name, g in GENERATIONS.items()}
    assert f["vanilla"].have("!lazy_flush") and not f["merged"].have("!lazy_flush")
    assert f["merged"].have("lazy_flush&!kworker_purge") and not f["modern"].have("lazy_flush&!kworker_purge")
    assert f["modern"].have("free_tree|vmap_nodes") and not f["posted"].have("free_tree|vmap_nodes")
    assert all(features.have("") for features in f.values())


def test_a_mechanisms_words_belong_to_every_generation_that_declares_it(monkeypatch):
    """Issue 26: a sentence about a mechanism is keyed by its capability.  A toy fifth
    generation declaring 6.12's features under another name and version shows the
    dirty-range words of vm_unmap_ram() as its own, with no edit to the words, and
    without 6.12's version in them; the 2008 lazy purge's words stay the rewrite's."""
    import dataclasses

    from vmapviz.kernel import generations
    toy = dataclasses.replace(GENERATIONS["modern"], name="toy", version="v9.9", title="toy v9.9")
    monkeypatch.setitem(generations.GENERATIONS, "toy", toy)
    k = Kernel(Config(variant="toy", nr_cpus=2))
    a = k.vm_map_ram(4)
    k.drain_events()
    k.vm_unmap_ram(a, 4)
    said = explain_said(take(k, last_op=tuple(k.drain_events()), op=k.op))
    assert borrowed(said, "toy") == [] and "dirty range" in said[0]
    assert said.owners[0] == {"modern", "modern-6.18", "toy"}
    assert "6.12" not in " ".join(said)
    assert "toy" not in PURGES.pick("purge", "toy").owners      # its purge is each kernel's own
    assert PURGES.pick("purge", "merged").owners == {"posted", "merged"}
