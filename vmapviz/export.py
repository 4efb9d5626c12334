"""Images for slides: the screen as PNG, and a run as an animated GIF.

PNG: the SVG that Textual exports, drawn by cairosvg.  Rich writes every space as a
non-breaking one (`&#160;`), which cairo advances by zero in a font without that glyph
and never draws; `png_from_svg()` turns them back into spaces kept as they are
(`xml:space="preserve"`), and names a monospace font whose advance matches the SVG's
cell grid, so text sits in its cells.

GIF: every frame is drawn cell by cell from the screen's strips (the same cells the
SVG holds) with a bitmap-sharp monospace font: a small, exact set of colours, so the
frames share one palette, need no dithering, and LZW packs them; Pillow then stores
only the part of each frame that changed.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from rich.segment import Segment
from rich.style import Style
from rich.terminal_theme import TerminalTheme

FONT = "DejaVu Sans Mono"              # Debian's fonts-dejavu-core, on every machine here
FONT_FILES = {False: "DejaVuSansMono.ttf", True: "DejaVuSansMono-Bold.ttf"}
DEJAVU_ADVANCE = 0.602                 # DejaVu Sans Mono's advance, in em
RICH_CELL = 0.61                       # Rich's SVG cell width, in em of its font-size
IMAGE_SUFFIXES = (".svg", ".png")


class ExportError(Exception):
    """An export that cannot be done (a bad path, suffix or option): one line."""


# -- PNG ------------------------------------------------------------------------------

def png_from_svg(svg: str) -> bytes:
    """A PNG of a Rich/Textual SVG screenshot, with its spaces where they belong."""
    import cairosvg

    def font(match: re.Match) -> str:
        size = float(match.group(1)) * RICH_CELL / DEJAVU_ADVANCE
        return f"font-family: {FONT}, monospace;\n        font-size: {size:.2f}px;"

    svg = re.sub(r"font-family: Fira Code, monospace;\s*font-size: ([\d.]+)px;", font, svg)
    svg = svg.replace("&#160;", " ").replace("<text ", '<text xml:space="preserve" ')
    return cairosvg.svg2png(bytestring=svg.encode("utf-8"))


def write_image(path: str | Path, svg: str) -> None:
    """Write a screenshot as SVG or PNG, by the path's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(svg, encoding="utf-8")
    elif suffix == ".png":
        path.write_bytes(png_from_svg(svg))
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

class CellPainter:
    """Draws screens of cells into images: one tile per (character, colours, weight),
    made once and pasted."""

    def __init__(self, theme: TerminalTheme, font_size: int = 13) -> None:
        from PIL import ImageFont
        self.theme = theme
        try:
            self.fonts = {bold: ImageFont.truetype(name, font_size) for bold, name in FONT_FILES.items()}
        except OSError:
            raise ExportError(f"the {FONT} font is missing (Debian: apt-get install fonts-dejavu-core)") from None
        ascent, descent = self.fonts[False].getmetrics()
        self.cell = (round(self.fonts[False].getlength("M")), ascent + descent)
        self._tiles: dict = {}

    def colours(self, style: Style | None) -> tuple[tuple[int, int, int], tuple[int, int, int], bool]:
        style = style or Style()
        fg = tuple(style.color.get_truecolor(self.theme, True)) if style.color else tuple(self.theme.foreground_color)
        bg = tuple(style.bgcolor.get_truecolor(self.theme, False)) if style.bgcolor else tuple(self.theme.background_color)
        if style.reverse:
            fg, bg = bg, fg
        if style.dim:
            fg = tuple((a + b) // 2 for a, b in zip(fg, bg))
        return fg, bg, bool(style.bold)

    def tile(self, char: str, fg, bg, bold: bool):
        key = (char, fg, bg, bold)
        tile = self._tiles.get(key)
        if tile is None:
            from PIL import Image, ImageDraw
            tile = Image.new("RGB", self.cell, bg)
            if not char.isspace():
                draw = ImageDraw.Draw(tile)
                draw.fontmode = "1"   # no anti-aliasing: two colours a tile
                draw.text((0, 0), char, fill=fg, font=self.fonts[bold])
            self._tiles[key] = tile
        return tile

    def paint(self, lines: list[list[Segment]], cols: int):
        """An RGB image of `lines` of segments, `cols` cells wide."""
        from PIL import Image
        cw, ch = self.cell
        image = Image.new("RGB", (cols * cw, len(lines) * ch), tuple(self.theme.background_color))
        for y, segments in enumerate(lines):
            x = 0
            for seg in segments:
                if seg.control:
                    continue
                fg, bg, bold = self.colours(seg.style)
                for char in seg.text:
                    if x >= cols:
                        break
                    image.paste(self.tile(char, fg, bg, bold), (x * cw, y * ch))
                    x += 1
        return image


def screen_lines(app) -> list[list[Segment]]:
    """The app's screen as lines of segments (what Textual puts in its SVG)."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return [[seg for strip in line for seg in strip] for line in update.strips]


TRANSPARENT = 255   # the palette index of "as in the frame before"


def gif_palette(frames):
    """A palette image holding every colour of `frames` (the 255 commonest, if there
    are more), index 255 kept for transparency."""
    from PIL import Image
    counts: dict = {}
    for frame in frames:
        for n, colour in frame.getcolors(1 << 16) or []:
            counts[colour] = counts.get(colour, 0) + n
    colours = sorted(counts, key=counts.get, reverse=True)[:TRANSPARENT]
    pal = Image.new("P", (1, 1))
    flat = [c for colour in colours for c in colour]
    pal.putpalette(flat + [0, 0, 0] * (256 - len(colours)))
    return pal


def save_gif(path: str | Path, frames, fps: float) -> None:
    """Frames after the first keep only their changed pixels; the rest are transparent
    and show the frame before (disposal 1), which LZW packs to almost nothing."""
    from PIL import Image, ImageChops
    pal = gif_palette(frames)
    indexed = [f.quantize(palette=pal, dither=Image.Dither.NONE) for f in frames]
    out = [indexed[0]]
    for before, frame in zip(indexed, indexed[1:]):
        planes = [Image.frombytes("L", frame.size, im.tobytes()) for im in (before, frame)]
        unchanged = ImageChops.difference(*planes).point(lambda v: 255 if v == 0 else 0)
        delta = frame.copy()
        delta.paste(TRANSPARENT, mask=unchanged)
        out.append(delta)
    out[0].save(path, save_all=True, append_images=out[1:], loop=0, duration=round(1000 / fps),
                optimize=False, disposal=1, transparency=TRANSPARENT)


def export_gif(path: str | Path, workload: str, variant: str | None, nr_cpus: int | None,
               bits: int | None, seed: int | None, ops: int, every: int,
               size: tuple[int, int] = (120, 40), fps: float = 10, theme: str | None = None,
               progress: bool = True, flush: str | None = None,
               config_nr_cpus: int | None = None) -> int:
    """`vmapviz export --gif`: run `ops` ops, a frame every `every` ops, write the GIF;
    return the number of frames."""
    from rich.console import Console
    from rich.progress import Progress

    from .tui.app import VmapvizApp
    from .tui.headless import settle
    from .tui.lazy import LazyPanel

    count = ops // every

    async def run() -> list:
        app = VmapvizApp(workload, variant, nr_cpus, bits, seed, flush, autoplay=False, theme=theme,
                         config_nr_cpus=config_nr_cpus)
        frames = []
        async with app.run_test(size=tuple(size)) as pilot:
            for panel in app.query(LazyPanel):
                panel.flash_seconds = 0
            painter = CellPainter(app.ansi_theme)
            with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
                task = bar.add_task("frames", total=count)
                for i in range(1, count + 1):
                    app.user_acted()   # show the answer at once, as after a key
                    app.driver.step(every)
                    await settle(app, pilot, i * every)
                    frames.append(painter.paint(screen_lines(app), app.size.width))
                    bar.advance(task)
                    if app.snap is not None and app.snap.finished:
                        break
            app.stop_driver()
        return frames

    frames = asyncio.run(run())
    if not frames:
        raise ExportError("no frames: --ops must be at least --every")
    save_gif(path, frames, fps)
    return len(frames)
