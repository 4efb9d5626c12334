"""Images for slides: `vmapviz screenshot --out FILE.png` and `vmapviz export --gif`,
opened with Pillow."""

from __future__ import annotations

import io
import re
import struct

from PIL import Image
from rich.terminal_theme import DEFAULT_TERMINAL_THEME as THEME

from vmapviz.faces.cli import main
from vmapviz.faces.export import CellPainter, GifWriter, drawn_shape, png_from_svg


def svg_size(svg: str) -> tuple[int, int]:
    w, h = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg).groups()
    return round(float(w)), round(float(h))


def test_a_png_screenshot_has_the_svgs_size(tmp_path, capsys):
    svg_path, png_path = tmp_path / "s.svg", tmp_path / "s.png"
    assert main(["screenshot", "--out", str(svg_path), "--ops", "50", "--size", "100x30"]) == 0
    assert main(["screenshot", "--out", str(png_path), "--ops", "50", "--size", "100x30",
                 "--theme", "vmapviz-light"]) == 0
    with Image.open(png_path) as png:
        assert png.format == "PNG"
        # Rich's SVG: 100 cells of 0.61 x 20 px plus the window's margins.
        assert png.size == svg_size(svg_path.read_text())


def test_spaces_in_a_png_take_a_cell():
    """Rich writes spaces as &#160;; in the PNG, 'a' + 10 of them + 'b' must span 11
    cells of 12.2 px, not 1 (a zero-width non-breaking space)."""
    cell = 12.2
    svg = ('<svg class="rich-terminal" viewBox="0 0 300 40" xmlns="http://www.w3.org/2000/svg">'
           "<style>.terminal-1-matrix {\n        font-family: Fira Code, monospace;\n"
           "        font-size: 20px;\n        line-height: 24.4px;\n    }\n"
           ".terminal-1-r1 { fill: #000000 }</style>"
           '<rect fill="#ffffff" x="0" y="0" width="300" height="40"/>'
           '<g class="terminal-1-matrix"><text class="terminal-1-r1" x="0" y="20" textLength="146.4">'
           "a" + "&#160;" * 10 + "b</text></g></svg>")
    import io
    with Image.open(io.BytesIO(png_from_svg(svg))) as png:
        dark = [x for x in range(png.width) if any(png.convert("L").getpixel((x, y)) < 128
                                                    for y in range(png.height))]
    assert dark[0] < cell                     # 'a' in the first cell
    assert 11 * cell - 2 <= dark[-1] < 12 * cell + 2   # 'b' in the twelfth


def test_a_gif_has_a_frame_every_k_ops(tmp_path):
    path = tmp_path / "run.gif"
    assert main(["export", "--gif", str(path), "--ops", "60", "--every", "20", "--size", "80x24",
                 "--fps", "4"]) == 0
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 3                       # ops 20, 40, 60
        assert gif.info["duration"] == 250             # 4 frames a second
        # 80 x 24 cells of DejaVu Sans Mono at 10 px: an advance of 6.02 px, a line of
        # 1.22 x 10 = 12.2 px, so 6 x 12 pixels a cell.
        assert gif.size == (80 * 6, 24 * 12)


def test_bad_image_paths_are_refused_before_anything_runs(tmp_path, capsys):
    assert main(["screenshot", "--out", str(tmp_path / "x.jpg")]) == 2
    assert main(["export", "--gif", str(tmp_path / "nodir" / "x.gif"), "--ops", "10", "--every", "5"]) == 2
    assert main(["export", "--gif", str(tmp_path / "x.gif"), "--ops", "10", "--every", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("vmapviz: ") for line in err)
    assert not list(tmp_path.iterdir())


# -- the GIF's frames -------------------------------------------------------------------

def gif_images(data: bytes) -> list[dict]:
    """Each image of a GIF89a as the spec lays it out: its rectangle, whether it has a
    local colour table, its LZW minimum code size and the length of its data."""
    assert data[:6] == b"GIF89a" and data[-1:] == b";"

    def sub_blocks(at: int) -> tuple[int, int]:   # (bytes of data, where the next thing is)
        n = 0
        while data[at]:
            n, at = n + data[at], at + data[at] + 1
        return n, at + 1

    at = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    images = []
    while data[at] != 0x3B:
        if data[at] == 0x21:                        # an extension: label, sub-blocks
            _, at = sub_blocks(at + 2)
            continue
        assert data[at] == 0x2C                     # an image descriptor
        x, y, w, h = struct.unpack("<HHHH", data[at + 1:at + 9])
        flags = data[at + 9]
        at += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
        n, next_at = sub_blocks(at + 1)
        images.append({"box": (x, y, x + w, y + h), "local": bool(flags & 0x80), "bits": data[at], "bytes": n})
        at = next_at
    return images


def screens(n: int, rows: int = 6, cols: int = 10) -> list[list[tuple]]:
    """`n` screens of text in two colours: the first blank, then one more cell of the
    second row each screen, a letter in green."""
    fg, bg, green = (224, 224, 224), (30, 30, 30), (0, 158, 115)
    out = []
    for i in range(n):
        grid = [[(" ", fg, bg, False)] * cols for _ in range(rows)]
        grid[0][:5] = [(c, fg, bg, True) for c in "op %2d" % i]
        for x in range(i):
            grid[1][x] = ("abcdefghij"[x], green, bg, False)
        out.append([tuple(r) for r in grid])
    return out


def painted(rows: list[tuple], font_size: int) -> Image.Image:
    """A screen painted whole, cell by cell, as RGB: what each frame must show."""
    painter = CellPainter(THEME, font_size)
    cw, ch = painter.cell
    image = Image.new("P", (len(rows[0]) * cw, len(rows) * ch))
    painter.paint(image, rows, [(x, y) for y in range(len(rows)) for x in range(len(rows[0]))])
    image.putpalette([c for colour in painter.palette for c in colour])
    return image.convert("RGB")


def test_a_frame_stores_only_the_cells_that_changed():
    """Screen i differs from screen i-1 in the counter's last digit (row 0, column 4) and
    one letter (row 1, column i-1): the image of frame i is the rectangle from cell
    (min(4, i-1), 0) to (max(4, i-1) + 1, 2), 6 x 12 pixels a cell at 10 px."""
    painter = CellPainter(THEME, 10)
    gif = GifWriter(painter, fps=5)
    for rows in screens(8):
        gif.add(rows)
    images = gif_images(gif.getvalue())
    assert len(images) == 8
    assert images[0]["box"] == (0, 0, 60, 72)                     # the first: whole
    for i, image in enumerate(images[1:], start=1):
        left, right = min(4, i - 1), max(4, i - 1) + 1
        assert image["box"] == (6 * left, 0, 6 * right, 24)
    assert not any(image["local"] for image in images)            # one global palette
    assert {image["bits"] for image in images} == {8}


def test_unchanged_screens_cost_a_pixel():
    painter = CellPainter(THEME, 10)
    gif = GifWriter(painter, fps=5)
    rows = screens(3)[2]
    for _ in range(3):
        gif.add(rows)
    images = gif_images(gif.getvalue())
    assert [image["box"] for image in images[1:]] == [(0, 0, 1, 1)] * 2
    assert all(image["bytes"] <= 4 for image in images[1:])


def test_every_frame_decodes_to_its_screen_painted_whole():
    """Pillow, reading the GIF (each frame over the one before, transparent pixels left
    as they were), sees exactly each screen as if painted from scratch."""
    painter = CellPainter(THEME, 12)
    gif = GifWriter(painter, fps=5)
    grids = screens(10)
    for rows in grids:
        gif.add(rows)
    with Image.open(io.BytesIO(gif.getvalue())) as decoded:
        assert decoded.n_frames == 10
        assert decoded.info["duration"] == 200
        for i, rows in enumerate(grids):
            decoded.seek(i)
            assert decoded.convert("RGB").tobytes() == painted(rows, 12).tobytes(), f"frame {i}"


def test_a_real_run_decodes_to_the_screens_the_app_showed(tmp_path, monkeypatch):
    """The export of a run, frame by frame, against the screens it was given painted
    whole; and with every panel, what the presenter layout hides is there."""
    shown: dict[str, list] = {"presenter": [], "full": []}
    add = GifWriter.add

    def recording(self, rows):
        shown[layout].append(rows)
        add(self, rows)

    monkeypatch.setattr(GifWriter, "add", recording)
    for layout in shown:
        path = tmp_path / f"{layout}.gif"
        assert main(["export", "--gif", str(path), "--ops", "40", "--every", "10", "--size", "100x30",
                     "--layout", layout]) == 0
        with Image.open(path) as gif:
            assert gif.n_frames == 4 and gif.size == (100 * 6, 30 * 12)
            for i, rows in enumerate(shown[layout]):
                gif.seek(i)
                assert gif.convert("RGB").tobytes() == painted(rows, 10).tobytes(), f"{layout} frame {i}"
    text = ["".join(cell[0] for cell in row) for row in shown["full"][-1]]
    assert any("events" in line for line in text)
    assert not any("events" in line for line in ("".join(c[0] for c in row) for row in shown["presenter"][-1]))
    assert any("what just happened" in "".join(c[0] for c in row) for row in shown["presenter"][-1])


def test_block_and_box_characters_fill_their_cells():
    """Worked by hand for a 6 x 12 cell: eighths of 12 rows round to whole pixels, a
    quadrant is a 3 x 6 quarter, a light line is 1 pixel through the middle
    ((6 - 1) // 2 = 2, (12 - 1) // 2 = 5), a heavy one 2; the font draws the rest."""
    assert drawn_shape("█", 6, 12) == [(0, 0, 6, 12)]
    assert drawn_shape("▄", 6, 12) == [(0, 6, 6, 12)]
    assert drawn_shape("▁", 6, 12) == [(0, 10, 6, 12)]          # 12 / 8 = 1.5 -> 2
    assert drawn_shape("▌", 6, 12) == [(0, 0, 3, 12)]
    assert drawn_shape("▕", 6, 12) == [(5, 0, 6, 12)]           # 6 / 8 = 0.75 -> 1
    assert drawn_shape("▚", 6, 12) == [(0, 0, 3, 6), (3, 6, 6, 12)]
    assert drawn_shape("─", 6, 12) == [(0, 5, 3, 6), (2, 5, 6, 6)]
    assert drawn_shape("│", 6, 12) == [(2, 0, 3, 6), (2, 5, 3, 12)]
    assert drawn_shape("╭", 6, 12) == [(2, 5, 3, 12), (2, 5, 6, 6)]   # square, not round
    assert drawn_shape("┃", 6, 12) == [(2, 0, 4, 7), (2, 5, 4, 12)]
    for char in "╳A ·░":
        assert drawn_shape(char, 6, 12) is None


def test_shades_and_blocks_join_their_neighbours():
    """A row of full blocks is one solid bar, a row of light lines one unbroken line."""
    painter = CellPainter(THEME, 10)
    fg, bg = (255, 255, 255), (0, 0, 0)
    for char, lit_rows in (("█", range(12)), ("─", [5])):
        rows = [tuple((char, fg, bg, False) for _ in range(4))]
        image = Image.new("P", (24, 12))
        painter.paint(image, rows, [(x, 0) for x in range(4)])
        white = painter.palette[fg]
        for y in range(12):
            line = [image.getpixel((x, y)) == white for x in range(24)]
            assert all(line) if y in lit_rows else not any(line), (char, y)
