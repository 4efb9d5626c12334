"""Images for slides: the screen as PNG, and a run as an animated GIF.

PNG: the SVG that Textual exports, drawn by cairosvg.  Rich writes every space as a
non-breaking one (`&#160;`), which cairo advances by zero in a font without that glyph
and never draws; `png_from_svg()` turns them back into spaces kept as they are
(`xml:space="preserve"`), and names a monospace font whose advance matches the SVG's
cell grid, so text sits in its cells.

GIF: a frame is a screen of cells (the same cells the SVG holds), drawn with a
bitmap-sharp monospace font, two colours a cell, and block elements and box-drawing
lines drawn as rectangles edge to edge, as a terminal does.  The bytes go to text: in a
run, the explanation (and, with every panel, the event log) is new every frame, while
the map changes a few cells.  So the export keeps text small (10 px type: 6 x 12
cells), stores each frame after the first as only its changed cells (whole cells, the
rest of their rectangle transparent), and defaults to the presenter layout, which has
no event log.  `vmapviz export --gif FILE --ops 1000 --every 10`, 100 frames at 120x40:
about 290 KiB (the presenter layout) or 700 KiB (every panel), from 1,270 KiB when
Pillow's writer stored RGB frames quantised to one palette at 13 px.
"""

from __future__ import annotations

import io
import re
import struct
import unicodedata
from pathlib import Path
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.terminal_theme import TerminalTheme

from ..run.spec import RunSpec

FONT = "DejaVu Sans Mono"              # Debian's fonts-dejavu-core, on every machine here
FONT_FILES = {False: "DejaVuSansMono.ttf", True: "DejaVuSansMono-Bold.ttf"}
DEJAVU_ADVANCE = 0.602                 # DejaVu Sans Mono's advance, in em
RICH_CELL = 0.61                       # Rich's SVG cell width, in em of its font-size
IMAGE_SUFFIXES = (".svg", ".png")
SVG_FONT_SIZE = 20                     # px: the terminal type of Textual's SVG (Rich's default)


class ExportError(Exception):
    """An export that cannot be done (a bad path, suffix or option): one line."""


# -- PNG ------------------------------------------------------------------------------

def png_from_svg(svg: str, scale: float = 1.0) -> bytes:
    """A PNG of a Rich/Textual SVG screenshot, with its spaces where they belong,
    `scale` times the SVG's size."""
    import cairosvg

    def font(match: re.Match) -> str:
        size = float(match.group(1)) * RICH_CELL / DEJAVU_ADVANCE
        return f"font-family: {FONT}, monospace;\n        font-size: {size:.2f}px;"

    svg = re.sub(r"font-family: Fira Code, monospace;\s*font-size: ([\d.]+)px;", font, svg)
    svg = svg.replace("&#160;", " ").replace("<text ", '<text xml:space="preserve" ')
    return cairosvg.svg2png(bytestring=svg.encode("utf-8"), scale=scale)


def sized_svg(svg: str, scale: float) -> str:
    """The SVG with a width and height `scale` times its view box (its type scaled)."""
    match = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    if not match or scale == 1.0:
        return svg
    w, h = (float(v) * scale for v in match.groups())
    return svg.replace(match.group(0), f'{match.group(0)} width="{w:.0f}" height="{h:.0f}"', 1)


def write_image(path: str | Path, svg: str, font_size: int | None = None) -> None:
    """Write a screenshot as SVG or PNG, by the path's suffix, its terminal type
    `font_size` pixels (default: the SVG's own, 20)."""
    path = Path(path)
    suffix = path.suffix.lower()
    scale = 1.0 if font_size is None else font_size / SVG_FONT_SIZE
    if suffix == ".svg":
        path.write_text(sized_svg(svg, scale), encoding="utf-8")
    elif suffix == ".png":
        path.write_bytes(png_from_svg(svg, scale))
    else:
        raise ExportError(f"{path}: a screenshot is .svg or .png, not {suffix or 'no suffix'!r}")


def check_image_path(path: str, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> None:
    """Refuse a path we could not write before anything runs."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise ExportError(f"{path}: the file name must end in {' or '.join(suffixes)}")
    if not p.parent.is_dir():
        raise ExportError(f"{path}: no such directory {str(p.parent)!r}")


# -- GIF frames -------------------------------------------------------------------------

FONT_SIZE = 10          # px: 6 x 12 cells, 720 x 480 pixels at 120x40
LINE_HEIGHT = 1.22      # of the font size, as in Rich's SVG
EIGHTHS = {"ONE EIGHTH": 1, "ONE QUARTER": 2, "THREE EIGHTHS": 3, "HALF": 4,
           "FIVE EIGHTHS": 5, "THREE QUARTERS": 6, "SEVEN EIGHTHS": 7}
QUADRANTS = {"UPPER LEFT": (0, 0), "UPPER RIGHT": (1, 0), "LOWER LEFT": (0, 1), "LOWER RIGHT": (1, 1)}
ARMS = {"LEFT": "l", "RIGHT": "r", "UP": "u", "DOWN": "d", "HORIZONTAL": "lr", "VERTICAL": "ud"}
SHADES = {"LIGHT SHADE": (0,), "MEDIUM SHADE": (0, 3), "DARK SHADE": (0, 1, 2)}   # lit of each 2x2


def drawn_shape(char: str, w: int, h: int) -> list[tuple[int, int, int, int]] | None:
    """A block element or a box-drawing line as rectangles (x0, y0, x1, y1) of a w x h
    cell, edge to edge as terminals draw them, so that bars and borders join up (a
    font's glyphs stop short of the cell); None for a character the font draws.
    Simplified: rounded corners come out square."""
    name = unicodedata.name(char, "")
    if name == "FULL BLOCK":
        return [(0, 0, w, h)]
    side, _, amount = name.removesuffix(" BLOCK").partition(" ")
    if name.endswith(" BLOCK") and amount in EIGHTHS:
        dx, dy = round(w * EIGHTHS[amount] / 8), round(h * EIGHTHS[amount] / 8)
        return [{"LOWER": (0, h - dy, w, h), "UPPER": (0, 0, w, dy),
                 "LEFT": (0, 0, dx, h), "RIGHT": (w - dx, 0, w, h)}[side]]
    if name.startswith("QUADRANT "):
        xs, ys = (0, round(w / 2), w), (0, round(h / 2), h)
        quads = [QUADRANTS[q] for q in name.removeprefix("QUADRANT ").split(" AND ")]
        return [(xs[c], ys[r], xs[c + 1], ys[r + 1]) for c, r in quads]
    weight, _, rest = name.removeprefix("BOX DRAWINGS ").partition(" ")
    parts = rest.removeprefix("ARC ").split(" AND ")
    if not name.startswith("BOX DRAWINGS ") or weight not in ("LIGHT", "HEAVY") \
            or not all(p in ARMS for p in parts):
        return None
    t = max(1, round(w / 8)) * (2 if weight == "HEAVY" else 1)
    x, y = (w - t) // 2, (h - t) // 2
    arm = {"l": (0, y, x + t, y + t), "r": (x, y, w, y + t), "u": (x, 0, x + t, y + t), "d": (x, y, x + t, h)}
    return [arm[a] for p in parts for a in ARMS[p]]


RGB = tuple[int, int, int]


def rgb(colour) -> RGB:
    """A colour (Rich's ColorTriplet, or any three numbers) as an (r, g, b) tuple."""
    r, g, b = colour
    return (r, g, b)


class CellPainter:
    """Draws screens of cells into palette images: each (character, colours, weight) a
    tile, made once and pasted; each colour a palette index, given as it first appears."""

    def __init__(self, theme: TerminalTheme, font_size: int = FONT_SIZE) -> None:
        from PIL import ImageFont
        self.theme = theme
        try:
            self.fonts = {bold: ImageFont.truetype(name, font_size) for bold, name in FONT_FILES.items()}
        except OSError:
            raise ExportError(f"the {FONT} font is missing (Debian: apt-get install fonts-dejavu-core)") from None
        self.cell = (round(self.fonts[False].getlength("M")), round(font_size * LINE_HEIGHT))
        self.baseline = self.cell[1] - self.fonts[False].getmetrics()[1]
        self.palette: dict[tuple[int, int, int], int] = {}
        self._tiles: dict = {}
        self._styles: dict = {}

    def colours(self, style: Style | None) -> tuple[RGB, RGB, bool]:
        style = style or Style()
        fg = rgb(style.color.get_truecolor(self.theme, True)) if style.color else rgb(self.theme.foreground_color)
        bg = rgb(style.bgcolor.get_truecolor(self.theme, False)) if style.bgcolor else rgb(self.theme.background_color)
        if style.reverse:
            fg, bg = bg, fg
        if style.dim:
            fg = rgb((a + b) // 2 for a, b in zip(fg, bg))
        return fg, bg, bool(style.bold)

    def cells(self, lines: list[list[Segment]], cols: int) -> list[tuple]:
        """The screen as rows of cells, (character, fg, bg, bold), `cols` a row."""
        rows = []
        for segments in lines:
            row: list[tuple] = []
            for seg in segments:
                if not seg.control:
                    if seg.style not in self._styles:
                        self._styles[seg.style] = self.colours(seg.style)
                    colours = self._styles[seg.style]
                    row.extend((char, *colours) for char in seg.text)
            rows.append(tuple(row[:cols]))
        return rows

    def index(self, colour: tuple[int, int, int]) -> int:
        if colour not in self.palette:
            if len(self.palette) == TRANSPARENT:
                raise ExportError(f"the screen has more than {TRANSPARENT} colours: a GIF holds {TRANSPARENT}")
            self.palette[colour] = len(self.palette)
        return self.palette[colour]

    def mask(self, char: str, bold: bool):
        """The cell's lit pixels, as a 1-bit image."""
        from PIL import Image, ImageDraw
        w, h = self.cell
        mask = Image.new("1", self.cell, 0)
        shape = drawn_shape(char, w, h)
        name = unicodedata.name(char, "")
        if name in SHADES:
            mask.putdata([255 * ((x % 2 + 2 * (y % 2)) in SHADES[name]) for y in range(h) for x in range(w)])
        elif shape is not None:
            draw = ImageDraw.Draw(mask)
            for x0, y0, x1, y1 in shape:
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=1)
        elif not char.isspace():
            draw = ImageDraw.Draw(mask)
            draw.fontmode = "1"   # no anti-aliasing: two colours a tile
            draw.text((0, self.baseline), char, fill=1, font=self.fonts[bold], anchor="ls")
        return mask

    def tile(self, key: tuple):
        tile = self._tiles.get(key)
        if tile is None:
            from PIL import Image
            char, fg, bg, bold = key
            tile = Image.new("P", self.cell, self.index(bg))
            tile.paste(self.index(fg), mask=self.mask(char, bold))
            self._tiles[key] = tile
        return tile

    def paint(self, image, rows: list[tuple], where) -> None:
        """Draw the cells (x, y) `where` of `rows` into the palette image `image`."""
        cw, ch = self.cell
        for x, y in where:
            image.paste(self.tile(rows[y][x]), (x * cw, y * ch))


# -- GIF file ---------------------------------------------------------------------------

TRANSPARENT = 255   # the palette index of "as in the frame before"


class GifWriter:
    """An animated GIF89a (https://www.w3.org/Graphics/GIF/spec-gif89a.txt), a screen of
    cells at a time.  The first frame is whole; each later one holds only the cells that
    changed, in the one rectangle around them, every other cell in it transparent, drawn
    over the frame before (disposal 1: left in place).  One global colour table of 256
    entries, filled as the painter meets colours and written at the end; no local tables.
    The LZW is Pillow's GIF encoder (`Image.tobytes("gif", rawmode, bits, interlace)`)."""

    def __init__(self, painter: CellPainter, fps: float) -> None:
        self.painter = painter
        self.delay = max(1, round(100 / fps))   # centiseconds
        self.out = io.BytesIO()
        self.rows: list[tuple] = []
        self.screen: Any = None                 # the picture the GIF shows so far (a PIL image)
        self.frames = 0

    def add_frame(self, op: int, rows: list[tuple]) -> None:
        self.add(rows)

    def add(self, rows: list[tuple]) -> None:
        from PIL import Image
        before = self.rows or [()] * len(rows)
        changed = [(x, y) for y, (was, row) in enumerate(zip(before, rows)) if was != row
                   for x, cell in enumerate(row) if x >= len(was) or was[x] != cell]
        cw, ch = self.painter.cell
        if self.screen is None:
            size = (max(map(len, rows)) * cw, len(rows) * ch)
            self.screen = Image.new("P", size)
            self.out.write(b"GIF89a" + struct.pack("<HHBBB", *size, 0xF7, 0, 0))
            self.table = self.out.tell()
            self.out.write(bytes(3 * 256))
            self.out.write(b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")   # loop for ever
        self.painter.paint(self.screen, rows, changed)
        box, image = self.delta(changed) if self.frames else ((0, 0, *self.screen.size), self.screen)
        self.rows = rows
        x0, y0, x1, y1 = box
        self.out.write(b"!\xf9\x04" + struct.pack("<BHBx", 1 << 2 | 1, self.delay, TRANSPARENT))
        self.out.write(b"," + struct.pack("<HHHHB", x0, y0, x1 - x0, y1 - y0, 0))
        self.out.write(b"\x08" + image.tobytes("gif", "P", 8, 0) + b"\x00")
        self.frames += 1

    def delta(self, changed: list[tuple[int, int]]):
        """(the box around the `changed` cells, the screen in that box with every other
        cell transparent); a 1x1 transparent pixel if no cell changed."""
        from PIL import Image
        if not changed:
            return (0, 0, 1, 1), Image.new("P", (1, 1), TRANSPARENT)
        cw, ch = self.painter.cell
        left, right = min(x for x, _ in changed), max(x for x, _ in changed) + 1
        top, bottom = changed[0][1], changed[-1][1] + 1
        keep = Image.new("1", (right - left, bottom - top), 1)
        for x, y in changed:
            keep.putpixel((x - left, y - top), 0)
        box = (left * cw, top * ch, right * cw, bottom * ch)
        image = self.screen.crop(box)
        image.paste(TRANSPARENT, mask=keep.resize(image.size, Image.Resampling.NEAREST))
        return box, image

    def getvalue(self) -> bytes:
        data = bytearray(self.out.getvalue())
        for (r, g, b), i in self.painter.palette.items():
            data[self.table + 3 * i:self.table + 3 * i + 3] = bytes((r, g, b))
        return bytes(data) + b";"


class FilmWriter:
    """A film's frames as a GIF and/or an HTML player, each frame the screen's cells."""

    def __init__(self, spec: RunSpec, gif: bool, html: bool, fps: float, layout: str, font_size: int) -> None:
        self.spec, self.want_gif, self.want_html = spec, gif, html
        self.fps, self.layout, self.font_size = fps, layout, font_size
        self.painter: CellPainter | None = None
        self.gif: Any = None     # a GifWriter, when asked for, from the first frame on
        self.html: Any = None    # an HtmlFilm, likewise
        self.frames = 0

    def __call__(self, app, op: int) -> None:
        """The frame of op `op`, on `app`'s screen."""
        from ..tui.headless import screen_lines
        from .html_film import HtmlFilm
        if self.painter is None:
            self.painter = CellPainter(app.ansi_theme, self.font_size)
            self.gif = GifWriter(self.painter, self.fps) if self.want_gif else None
            self.html = HtmlFilm(app, self.fps, self.spec, self.layout) if self.want_html else None
        rows = self.painter.cells(screen_lines(app), app.size.width)
        for out in (self.gif, self.html):
            if out is not None:
                out.add_frame(op, rows)
        self.frames += 1


def export(spec: RunSpec, span, gif: str | Path | None = None, html: str | Path | None = None,
           size: tuple[int, int] = (120, 40), fps: float = 10, progress: bool = True,
           layout: str = "presenter", font_size: int = FONT_SIZE, theme: str | None = None) -> int:
    """`vmapviz export`: the frames of `span` (tui/headless.py's Span), in the presenter
    layout (key l) or with every panel, written as a GIF and/or an HTML player; return
    the number of frames."""
    from ..tui.headless import film
    out = FilmWriter(spec, bool(gif), bool(html), fps, layout, font_size)
    film(spec, span, out, size, layout, theme, progress)
    if not out.frames:
        raise ExportError("no frames: --ops must be at least --every")
    if gif:
        Path(gif).write_bytes(out.gif.getvalue())
    if html:
        Path(html).write_text(out.html.page(), encoding="utf-8")
    return out.frames


def save_screenshot(path: str | Path, spec: RunSpec, until: int | None = None, start: int | None = None,
                    until_flush: bool = False, size: tuple[int, int] = (120, 40), layout: str = "full",
                    font_size: int | None = None, progress: bool = False, theme: str | None = None) -> str:
    """`vmapviz screenshot --out FILE.svg|FILE.png`: the screen at op `until` (default
    200) or `start`, or with `until_flush` at the first op after `start` that flushes the
    TLB, headless and paused (reproducible), dressed as a slide (tui/headless.py's
    `screen`); write it, return the path.  A long run shows a progress bar on stderr."""
    from ..tui.headless import screen
    from ..tui.slides import MAX_UNTIL
    from .report import op_progress
    first = start if start is not None else 0
    last = (until if until is not None else first + MAX_UNTIL) if until_flush else \
        (until if until is not None else start if start is not None else 200)
    svg = screen(spec, last, first, until_flush, size, layout, theme, op_progress if progress else None)
    write_image(path, svg, font_size)
    return str(path)
