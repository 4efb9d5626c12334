"""`vmapviz live` without a kernel: the LiveState built from events worked out by hand,
and the app fed by a source that replays them (the app reads snapshots only, so any
source will do)."""

import asyncio
import sys
import time

import pytest

from vmapviz.live.events import AllocVmapArea, FreeVmapAreaNoflush, PurgeVmapAreaLazy
from vmapviz.live.state import LiveState
from vmapviz.tui import palette as P
from vmapviz.tui.panels.addrmap import classify_row, legend_items
from vmapviz.tui.screens.live import LIVE_DRAWS, LiveApp

sys.path.insert(0, __file__.rsplit("/live/", 1)[0] + "/tui")
from tui_helpers import screen_text  # noqa: E402

V0, V1 = 0xFFFFC90000000000, 0xFFFFE8FFFFFFFFFF
HASHED = ["0x00000000fbf813d8-0x000000001503f18d   12288 irq_init_percpu_irqstack+0xed/0x120 vmap",
          "0x000000001503f18d-0x000000002fb57052    8192 acpi_os_map_iomem+0x1bc/0x1e0 ioremap",
          "0x000000002080acfa-0x000000005480d6bc   20480 unpurged vm_area"]


def _events():
    return [AllocVmapArea((1, 0, 1.0, "bash", 10, V0 + 0x2000, 0x5000, 0x4000, V0, V1, 0)),
            AllocVmapArea((2, 1, 1.1, "bash", 11, V0 + 0x8000, 0x5000, 0x4000, V0, V1, 0)),
            FreeVmapAreaNoflush((3, 0, 1.2, "kworker/0:1", 12, V0 + 0x2000, 105, 16384)),
            PurgeVmapAreaLazy((4, 1, 1.3, "kworker/u8:2", 13, V0 + 0x2000, V0 + 0x7000, 1))]


def test_the_state_from_events_worked_out_by_hand():
    st = LiveState("6.18.44-test", 2, 4096, HASHED, "hashed")
    st.apply(_events()[:3], now=100.0)
    # A lazy after its free, B busy; the gauge is the free's nr_lazy against nr_lazy_max
    assert {va.start: va.state for va in st.areas.values()} == {V0 + 0x2000: "lazy", V0 + 0x8000: "busy"}
    assert (st.nr_lazy, st.nr_lazy_max, st.allocs, st.frees) == (105, 16384, 2, 1)
    assert st.by_size == {(0x5000, 0x4000): 2} and st.by_task == {"bash": 2}
    # the hashed busy areas placed by order and size from V0, around the traced ones:
    # 12 KiB fits neither before A (8 KiB free) nor between A and B (4 KiB), so it goes
    # after B, at V0+0xd000; the 8 KiB follows it, at V0+0x10000
    placed = [(va.start - V0, va.end - V0, va.kind) for va in st.placed()]
    assert placed == [(0xD000, 0x10000, "vmap"), (0x10000, 0x12000, "ioremap")]
    st.apply(_events()[3:], now=100.5)
    # the purge's range covers A: it is gone; B stays
    assert list(st.areas) == [V0 + 0x8000] and st.nr_purges == 1
    snap = st.snapshot()
    assert snap.stats.purges == 1 and snap.op == 4 and snap.stats.lazy_max_pages == 16384
    assert [va.start for va in snap.areas] == sorted(va.start for va in snap.areas)
    # rates: 4 events in the last 5 s, 2 allocs -> 0.4 a second
    assert st.rates()["area"] == pytest.approx(0.4)


class _Source:
    """What LiveApp reads: the hand-made events, once."""

    path = "/sys/kernel/tracing/instances/vmapviz"
    lost = 0

    def __init__(self):
        self.batches = [_events()]

    def read(self, timeout=0.1):
        if self.batches:
            return self.batches.pop()
        time.sleep(timeout)
        return []

    def close(self, quiet=False):
        pass


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_the_live_screen(size):
    async def main():
        app = LiveApp(_Source(), LiveState("6.18.44-test", 2, 4096, HASHED, "hashed"))
        async with app.run_test(size=size) as pilot:
            for _ in range(100):
                await pilot.pause(0.05)
                if app.shown is not None and app.shown[1] == 4:
                    break
            await pilot.pause(0.1)
            text = screen_text(app)
            assert text.startswith(" REAL KERNEL · Linux 6.18.44-test · 2 CPUs")
            assert "2 busy areas from /proc/vmallocinfo" in text
            # the event log (below 100 columns it elides the middle of a long line)
            wide = size[0] >= 100
            assert ("kworker/u8:2-13: purge 1 areas" if wide else "kworker/u8:2-13: purge 1 …") in text
            assert ("bash-11: alloc_vmap_area 0xffffc90000008000" if wide
                    else "bash-11: alloc_vmap_area … (20 KiB, align 16 KiB)") in text
            flat = " ".join(text.split())
            assert "seen 2 allocs · 1 frees · 1 purges" in flat
            # the lazy panel: the purge's line; no simulated TLB or IPI counters
            assert "purges 1 · last #4: 1 areas by kworker/u8:2" in flat[:4000] or size[0] < 100
            assert "TLB flushes" not in text and "IPIs" not in text
            # the map's legend names only what the live source draws
            lazy = "╳ lazy" if size[0] < 100 else "╳ lazily freed"     # compact words below 100
            for drawn in ("▓ vmalloc", "░ ioremap", lazy, "· guard"):
                assert drawn in flat, drawn
            for sim in ("blocks", "▄ dirty", "▄ freed", "▁ not handed out", "▁ unused", "◦ pooled", "gap"):
                assert sim not in flat, sim
            await pilot.press("q")
        assert app.return_code == 0
    asyncio.run(main())


def test_the_live_map_draws_no_gap_page_and_its_legend_no_simulator_glyph():
    """After the four events at once (A purged, B busy at V0+0x8000-0xd000, 20 KiB whose
    last page is its guard page), the hashed busy areas are placed from V0, where they now
    fit: the 12 KiB vmap at V0-0x3000, the 8 KiB ioremap at V0+0x3000-0x5000 (sizes, as
    the tracepoint's, count the guard page, the last one).  Page by page from V0+0x4000:
    the ioremap's guard page, three free pages, B's four pages and its guard page, then
    free.  The real kernel leaves no gap page after an area; the snapshot's
    2008 config alone would draw one at V0+0x5000 and at V0+0xd000."""
    st = LiveState("6.18.44-test", 2, 4096, HASHED, "hashed")
    st.apply(_events(), now=100.0)
    snap = st.snapshot()
    end = snap.config.vmalloc_end
    F, B = P.FREE, P.VMALLOC
    assert classify_row(snap, {}, V0 + 0x4000, 0x1000, 10, end, LIVE_DRAWS) == [
        P.GUARD, F, F, F, B, B, B, B, P.GUARD, F]
    assert classify_row(snap, {}, V0 + 0x4000, 0x1000, 10, end) == [
        P.GUARD, P.GUARD, F, F, B, B, B, B, P.GUARD, P.GUARD]
    assert classify_row(snap, {}, V0 + 0x3000, 0x1000, 1, end, LIVE_DRAWS) == [P.IOREMAP]
    texts = [" ".join(seg.text.strip() for seg in segs) for segs, _ in legend_items(LIVE_DRAWS, 2)]
    assert [t.split(" ", 1)[1] for t in texts] == [
        "vmalloc", "vmap / vm_map_ram", "ioremap", "vm_area (unmapped)",
        "lazily freed, awaiting flush", "guard page"]
