"""Pilot tests of the TUI across kernel generations, and of the one action table.

The panels follow the generation's features: v2.6.27 ("vanilla") has no vmap blocks
and no lazy flushing, so it gets no block panel and, instead of the lazy gauge, what
each free costs.  The app runs paused on the real driver (seed 1), at 120x40.
"""

from __future__ import annotations

import asyncio

from test_app import notes, press, run
from tui_helpers import paused_app, screen_text, settle

from vmapviz.kernel.generations import GENERATIONS, NAMES
from vmapviz.tui.actions import ACTIONS
from vmapviz.tui.app import VmapvizApp
from vmapviz.tui.commands import palette_entries
from vmapviz.tui.screens.dialogs import keys


async def until_variant(app, pilot, name: str) -> None:
    for _ in range(200):
        await pilot.pause(0.02)
        if app.snap.config.variant == name:
            break
    await settle(app, pilot)
    assert app.snap.config.variant == name


def test_vanilla_has_no_block_panel_and_a_free_costs_what_the_c_pays():
    async def scenario(app, pilot):
        text = screen_text(app)
        assert "vanilla v2.6.27" in text
        assert not app.blocks.display and not app.panels["lazy"].display and app.panels["costs"].display
        assert "per-CPU vmap blocks" not in text and "lazy TLB flushing" not in text
        assert "what a free costs" in text
        # the translation note, at op 0, in the explanation
        assert "runs translated on vanilla v2.6.27" in text
        # WHEN f: run to the first flush, the first vunmap of map-touch-unmap's
        # translation (vmap(4), touch, vunmap on each of 4 CPUs)
        await pilot.press("f")
        for _ in range(200):
            await pilot.pause(0.02)
            if app.snap.stats.tlb_flushes:
                break
        await settle(app, pilot)
        s = app.snap.stats
        # THEN one flush_tlb_all: 4 - 1 = 3 IPIs and all 4 TLBs emptied, one each
        assert (s.tlb_flushes, s.ipis, s.tlb_full_flushes) == (1, 3, 4)
        assert s.full_flushes_per_cpu == (1, 1, 1, 1)
        # every vmap and every vunmap took vmlist_lock for write once, nothing read it
        calls = [e.name for e in app.snap.events if e.kind == "return"]
        assert s.vmlist_lock_write == calls.count("vmap") + calls.count("vunmap") and not s.vmlist_lock_read
        text = screen_text(app)
        assert "vunmap()  1 flush_tlb_all  3 IPIs · 4 TLBs emptied" in text
        assert "TLB flushes 1  IPIs 3  whole-TLB flushes cpu0 1 cpu1 1 cpu2 1 cpu3 1" in text
        assert f"vmlist_lock write {s.vmlist_lock_write}  vmlist_lock read 0" in text
        # the walks: every vmap examined some nodes, drawn as a sparkline
        assert app.panels["costs"].alloc_walks and "alloc walk" in text and "free walk" in text
        # the explanation speaks v2.6.27
        assert "vunmap() unlinked the area" in text and "vmlist_lock" in text
        assert "3 IPIs" in " ".join(app.explain_text.render().plain.split())
    run(scenario, variant="vanilla")


def test_v_cycles_the_registry_and_the_panels_follow():
    # The registry's order: vanilla, posted, merged, modern, modern-6.18, and round again.
    async def scenario(app, pilot):
        assert app.snap.config.variant == "vanilla" and not app.blocks.display
        assert NAMES == ("vanilla", "posted", "merged", "modern", "modern-6.18")
        for name in NAMES[1:] + NAMES[:1]:
            await press(app, pilot, "v")
            await until_variant(app, pilot, name)
            feats = GENERATIONS[name].features
            assert app.blocks.display == feats.vmap_blocks
            assert app.panels["lazy"].display == feats.lazy_flush and app.panels["costs"].display != feats.lazy_flush
            assert GENERATIONS[name].title in screen_text(app)
    run(scenario, variant="vanilla")


def test_v_skips_a_generation_that_cannot_boot_the_machine():
    # 6.18.2's arch/x86/Kconfig 1031-1035: NR_CPUS_RANGE_END is 8 on x86_32 (X86_BIGSMP
    # is gone), so 16 CPUs at 32 bits cannot boot modern-6.18: v goes from modern to
    # vanilla; 6.12 (64 with X86_BIGSMP) runs them at its own i386 range.
    async def scenario(app, pilot):
        assert app.snap.config.variant == "modern" and app.snap.config.vmalloc_start == 0xF77FE000
        await press(app, pilot, "v")
        await until_variant(app, pilot, "vanilla")
        assert app.snap.config.vmalloc_start == 0xF8800000
    run(scenario, variant="modern", bits=32, nr_cpus=16)


def test_a_and_p_on_vanilla_are_refused_calls_explained():
    async def scenario(app, pilot):
        await press(app, pilot, "a", op=1)
        assert "vm_unmap_aliases() does not exist in v2.6.27: refused." in notes(app)
        assert app.snap.stats.refused_calls == 1
        text = screen_text(app)
        assert "NO SUCH CALL" in text and "vm_unmap_aliases() does not exist in v2.6.27" in text
        await press(app, pilot, "p", op=2)
        assert app.snap.stats.refused_calls == 2
        # enter has nothing to select: the binding is disabled on a generation without blocks
        assert app.check_action("select_block", ()) is False
    run(scenario, variant="vanilla")


def test_palette_switches_the_flush_model_and_the_header_says_so():
    async def scenario(app, pilot):
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"flush model: range")
        await pilot.pause(0.5)
        await pilot.press("enter")
        for _ in range(200):
            await pilot.pause(0.02)
            if app.snap.config.flush == "range":
                break
        await settle(app, pilot)
        assert app.snap.config.flush == "range" and app.snap.config.variant == "vanilla"
        assert "range flushes" in screen_text(app)
    run(scenario, variant="vanilla")


# -- the action table ------------------------------------------------------------------------

def test_every_binding_comes_from_the_table_with_help_and_a_palette_entry():
    async def main():
        app = paused_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot, 0)
            palette = {title: help for title, help, _ in palette_entries(app)}
            help_keys = dict(keys())
            bound = [b for b in VmapvizApp.BINDINGS]
            assert len(bound) == sum(1 for a in ACTIONS if a.keys)
            for a in ACTIONS:
                assert a.help and a.title
                assert palette[a.title].endswith(a.help)      # every action in the palette
                if a.keys:
                    assert help_keys[a.key_text] == a.help    # every key in the help
                    assert palette[a.title].startswith(f"key {a.key_text} · ")
            # every generation and flush model, from the registries
            for name in NAMES:
                assert f"variant: {name}" in palette
            assert {"flush model: all", "flush model: range"} <= set(palette)
            # the footer fits 120 columns: the palette key at its right end is not cut
            footer = screen_text(app).rstrip().splitlines()[-1]
            assert footer.rstrip().endswith("^p palette")
            for a in ACTIONS:
                if a.show:
                    assert f"{a.binding().key_display} {a.title}" in footer
        app.stop_driver()
    asyncio.run(main())


def test_the_palette_leaves_out_what_the_generation_lacks():
    async def scenario(app, pilot):
        titles = {t for t, _, _ in palette_entries(app)}
        # nothing is purged without lazy flushing, there are no block events without blocks
        assert "run until flush" not in titles            # f has its own entry: "flush"
        assert "run until purge" not in titles and "run until block" not in titles
        assert "run until warn" in titles and "select block" not in titles
    run(scenario, variant="vanilla")
