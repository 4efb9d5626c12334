"""Images for slides: `vmapviz screenshot --out FILE.png` and `vmapviz export --gif`,
opened with Pillow."""

from __future__ import annotations

import re

from PIL import Image

from vmapviz.cli import main
from vmapviz.export import png_from_svg


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
        # 80 x 24 cells of DejaVu Sans Mono at 13 px: 8 x 17 pixels a cell.
        assert gif.size == (80 * 8, 24 * 17)


def test_bad_image_paths_are_refused_before_anything_runs(tmp_path, capsys):
    assert main(["screenshot", "--out", str(tmp_path / "x.jpg")]) == 2
    assert main(["export", "--gif", str(tmp_path / "nodir" / "x.gif"), "--ops", "10", "--every", "5"]) == 2
    assert main(["export", "--gif", str(tmp_path / "x.gif"), "--ops", "10", "--every", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("vmapviz: ") for line in err)
    assert not list(tmp_path.iterdir())
