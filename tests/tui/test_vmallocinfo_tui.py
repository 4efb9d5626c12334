"""`vmapviz tui --vmallocinfo FILE`: the map of a dump with real addresses, the table of a
hashed one, the raw line under the cursor, and --watch highlighting born and freed areas.
Driven with Textual's Pilot at 80x24 and 120x40; expected values come from the dumps in
tests/data/vmallocinfo/ by hand."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tui_helpers import screen_text

from vmapviz.models import vmallocinfo as vi
from vmapviz.tui.screens.vmallocinfo import MAX_ROWS, Row, SpanMap, VmallocinfoApp, choose_cell, count_rows, map_rows
from vmapviz.tui.screens.vmallocinfo import born as born_tint
from vmapviz.tui.screens.vmallocinfo import freed as freed_tint

DATA = Path(__file__).parent.parent / "data" / "vmallocinfo"


def run(path: Path, scenario, size=(120, 40), watch=None):
    async def main():
        app = VmallocinfoApp(str(path), vi.read(str(path)), watch=watch, cpus=2)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await scenario(app, pilot)
    asyncio.run(main())


def map_line(m: SpanMap, y: int) -> str:
    return m.render_line(y).text


def inspector(app) -> str:
    return str(app.query_one("#inspector").render())


def test_rows_fold_long_free_stretches():
    areas = [vi.parse_line("0x0-0x2000 8192 vm_map_ram"), vi.parse_line("0x100000-0x101000 4096 vm_map_ram")]
    # 16 cells of 4 KiB = 64 KiB a row; 1 MiB - 8 KiB of free space is more than 2 rows
    assert map_rows(areas, 4096, 16) == [Row(0), Row(0x2000, 0x100000, folded=True), Row(0x100000)]
    # at 64 KiB cells a row is 1 MiB: the hole is within 2 rows, nothing folds
    assert map_rows(areas, 0x10000, 16) == [Row(0), Row(0x100000)]
    assert count_rows(areas, 4096, 16) == 3 and count_rows(areas, 0x10000, 16) == 2


def test_an_empty_area_still_gets_its_row(tmp_path):
    # a zero-size area (start == end, size 0) far from the others: its stretch is one row,
    # where the map used to have none and the cursor's row was out of range at start
    areas = [vi.parse_line("0x0-0x2000 8192 vm_map_ram"), vi.parse_line("0x100000-0x100000 0 vm_map_ram")]
    assert map_rows(areas, 4096, 16) == [Row(0), Row(0x2000, 0x100000, folded=True), Row(0x100000)]
    dump = tmp_path / "zero"
    dump.write_text("0xffffc90000000000-0xffffc90000000000 0 f+0x0/0x1 pages=0 vmalloc\n")

    async def scenario(app, pilot):
        m = app.query_one(SpanMap)
        assert m.rows == [Row(0xffffc90000000000)] and m.cursor_range()[0] == 0xffffc90000000000
        await pilot.press("right", "down", "left", "up", "r")
        await pilot.pause()
        assert app._exception is None
    run(dump, scenario)


def test_a_huge_area_gets_a_coarse_cell_not_millions_of_rows():
    areas = [vi.parse_line(f"0xffff800000000000-0xffffa00000000000 {32 << 40} f+0x1/0x2 vmalloc")]
    cell = choose_cell(areas, 96, 4096)
    # 32 TiB in at most MAX_ROWS rows of 96 cells: the first power of two >= 32 TiB / 192,000
    assert cell == 1 << 28 and len(map_rows(areas, cell, 96)) == -(-(32 << 40) // (cell * 96)) <= MAX_ROWS


@pytest.mark.parametrize("size, cols", [((80, 24), 48), ((120, 40), 96)])
def test_real_addresses_draw_the_span(size, cols):
    async def scenario(app, pilot):
        m = app.query_one(SpanMap)
        assert m.cols == cols and m.cell == 4096 and m.size.height >= 8
        assert not app.query("DataTable")
        # row 0 starts at the first area: alloc_large_system_hash's 513 pages, all vmalloc
        assert map_line(m, 0).startswith("ffffc20000000000 " + "▓")
        lines = [map_line(m, y) for y in range(len(m.rows))]
        folded = [line for line in lines if "free" in line]
        assert folded == [f"{'':16} ··· 62.0 TiB free ···".ljust(m.size.width)]
        assert lines[-1].startswith("ffffffffa0000000 ▓▓▓▓·")   # 4 pages and the guard page
        assert inspector(app).startswith("     1: 0xffffc20000000000-0xffffc20000201000 2101248")
        text = screen_text(app)
        assert "span 62.0 TiB, 0% in areas; largest free gap 62.0 TiB" in text
        assert "one cell = 4 KiB" in text

    run(DATA / "v2.6.28-real.txt", scenario, size)


def test_the_cursor_walks_cells_and_jumps_over_folded_rows():
    async def scenario(app, pilot):
        m = app.query_one(SpanMap)
        await pilot.press("end")           # the last area: module_alloc, far above the rest
        assert m.cursor_range() == (0xFFFFFFFFA0000000, 0xFFFFFFFFA0001000)
        assert "module_alloc+0x5e/0x70" in inspector(app)
        await pilot.press("up")            # over the folded 62 TiB, onto the last cells row
        start, _ = m.cursor_range()
        assert not m.rows[m.row].folded and start < 0xFFFFC20000300000
        await pilot.press("home")
        for _ in range(0x206):             # 0x206 cells on: 0xffffc20000206000, the first ioremap
            m.action_move(1, 0)
        await pilot.pause()
        assert m.cursor_range()[0] == 0xFFFFC20000206000
        assert "acpi_os_map_memory+0x13/0x1c phys=cff68000 ioremap" in inspector(app)
        m.action_move(1, 0)                # the ioremap's guard page, then a free cell
        m.action_move(1, 0)
        await pilot.pause()
        assert "free: no area here" in inspector(app)
        # Z doubles the cell, z halves it, never below a page; the cursor stays put
        await pilot.press("Z")
        assert m.cell == 8192 and m.cursor_range() == (0xFFFFC20000208000, 0xFFFFC2000020A000)
        assert "one cell = 8 KiB" in screen_text(app)
        await pilot.press("z", "z")
        assert m.cell == 4096 and m.cursor_range()[0] == 0xFFFFC20000208000

    run(DATA / "v2.6.28-real.txt", scenario)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_hashed_addresses_get_a_table_not_a_map(size):
    async def scenario(app, pilot):
        assert not app.query(SpanMap)
        text = screen_text(app)
        assert "No layout to draw: the addresses are hashed" in text
        table = app.query_one("DataTable")
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        # kernel_clone: 8 pages; the others have none, so by address space
        assert [r[:4] for r in rows] == [["kernel_clone", "vmalloc", "2", "8"],
                                         ["(unpurged vm_area)", "unpurged", "2", "0"],
                                         ["irq_init_percpu_irqstack", "vmap", "1", "0"],
                                         ["acpi_os_map_iomem", "ioremap", "1", "0"]]
        assert inspector(app).startswith("     3: 0x000000007028b6b8-0x0000000007994ed5")
        await pilot.press("down")
        assert "unpurged vm_area" in inspector(app) and "     5: " in inspector(app)

    run(DATA / "hashed.txt", scenario, size)


def test_watch_highlights_born_and_freed_areas(tmp_path):
    f = tmp_path / "vmallocinfo"
    lines = (DATA / "v4.13-real.txt").read_text().splitlines()
    f.write_text("\n".join(lines) + "\n")

    async def scenario(app, pilot):
        m = app.query_one(SpanMap)
        # _do_fork's area (line 4) is freed lazily; a new area is born in the 8 KiB hole after it
        fork = lines[3]
        born = "0xffffb3a8c0409000-0xffffb3a8c040b000    8192 n_tty_open+0x19/0xa0 pages=1 vmalloc N0=1"
        lazy = "0xffffb3a8c0404000-0xffffb3a8c0409000   20480 unpurged vm_area"
        f.write_text("\n".join([*lines[:3], lazy, born, *lines[4:]]) + "\n")
        app.action_reread()
        await pilot.pause()
        assert "+1 born -1 freed" in str(app.query_one("#change").render())
        assert "unpurged 3 areas, 12/16,384 pages" in screen_text(app)
        # the cells of the freed area are red, the born one's green
        _, freed_style = m._cell(0xFFFFB3A8C0404000)
        glyph, born_style = m._cell(0xFFFFB3A8C0409000)
        assert freed_style.bgcolor == freed_tint().bgcolor and born_style.bgcolor == born_tint().bgcolor
        assert glyph == "▓"
        m._place(0xFFFFB3A8C0404000)
        await pilot.pause()
        assert "freed: " + fork in inspector(app)
        # a read with no change keeps the highlights
        app.action_reread()
        await pilot.pause()
        assert m._cell(0xFFFFB3A8C0409000)[1].bgcolor == born_tint().bgcolor
        # a purge of the three unpurged areas turns them over
        f.write_text("\n".join([*lines[:2], born, *lines[5:]]) + "\n")
        app.action_reread()
        await pilot.pause()
        assert "read 4: +0 born -0 freed | busy 7  unpurged 0 areas" in str(app.query_one("#change").render())
        assert "lazy +0 -3 (purge)" in str(app.query_one("#change").render())
        assert m._cell(0xFFFFB3A8C0409000)[1].bgcolor is None
        glyph, style = m._cell(0xFFFFB3A8C0404000)     # the purged area, shown once more in red
        assert glyph == "╳" and style.bgcolor == freed_tint().bgcolor

    run(f, scenario, watch=3600)


def test_watch_on_a_hashed_file_counts_changes_per_row(tmp_path):
    f = tmp_path / "vmallocinfo"
    lines = (DATA / "hashed.txt").read_text().splitlines()
    f.write_text("\n".join(lines) + "\n")

    async def scenario(app, pilot):
        extra = "0x00000000deadbeef-0x00000000cafe1234   20480 kernel_clone+0x94/0x3e0 pages=4 vmalloc N0=4"
        f.write_text("\n".join([*lines[1:], extra]) + "\n")     # irq stack gone, a clone born
        app.action_reread()
        await pilot.pause()
        table = app.query_one("DataTable")
        rows = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[5]) for i in range(table.row_count)}
        assert rows["kernel_clone"] == "+1" and "irq_init_percpu_irqstack" not in rows
        assert rows["acpi_os_map_iomem"] == ""

    run(f, scenario, watch=3600)
