"""Every theme reads: each built-in Textual theme and vmapviz's two, rendered at 120x40,
with every piece of text in the SVG checked against the background under it.

The contrast is computed here from the SVG alone, by WCAG 2's definitions (written out
below, independently of vmapviz's palette): relative luminance
L = 0.2126 R + 0.7152 G + 0.0722 B of the linearised sRGB channels, contrast
(L1 + 0.05) / (L2 + 0.05).  Text needs 4.5:1 (WCAG 1.4.3).  Glyphs that are drawings,
not letters (box drawing, block elements, shades, geometric shapes), need 3:1, WCAG
1.4.11's figure for graphics; the projector theme asks 7:1 and 4.5:1.

Not the two ansi-* themes: they draw in the terminal's own sixteen colours and default
foreground and background, which only the terminal knows (a light or a dark profile,
any palette).  An SVG export paints Rich's stand-in colours for them (a #292929
background even for ansi-light), so a contrast measured here would be a contrast of
colours no terminal shows: a pass would prove nothing and a failure nothing either.
(tests/tui/test_theme_cvd.py does check their CPU tints, against the ANSI palette the
app assumes.)
"""

from __future__ import annotations

import asyncio
import html
import re

import pytest
from textual.theme import BUILTIN_THEMES

from vmapviz.tui.app import VmapvizApp
from vmapviz.tui.headless import settle
from vmapviz.tui.panels.lazy import LazyPanel
from vmapviz.run.spec import RunSpec

OURS = ("vmapviz-light", "vmapviz-projector")
# Not ansi-dark and ansi-light: see the docstring.
THEMES = (*(name for name in BUILTIN_THEMES if not name.startswith("ansi-")), *OURS)
NEEDS = {"vmapviz-projector": (7.0, 4.5)}   # (text, graphics); others (4.5, 3.0)


def channel(c: int) -> float:
    s = c / 255
    return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4


def relative_luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def wcag_contrast(a: str, b: str) -> float:
    hi, lo = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def is_graphic(ch: str) -> bool:
    return 0x2500 <= ord(ch) <= 0x25FF


def test_the_contrast_formula_on_known_pairs():
    # WCAG's own extremes, and a pair worked by hand: #777777 -> 0.4667 sRGB ->
    # ((0.4667 + 0.055) / 1.055) ** 2.4 = 0.1845; (1.05) / (0.2345) = 4.48 on white.
    assert wcag_contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert wcag_contrast("#FFFFFF", "#FFFFFF") == pytest.approx(1.0)
    assert wcag_contrast("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)
    assert relative_luminance("#FF0000") == pytest.approx(0.2126)


def svg_cells(svg: str):
    """(row, x, text, fill, background) of every text in the terminal area of a Rich
    SVG: the background is the rect of the same row that covers the text's x, else
    (a cell in the terminal's default colours) the window's own rect."""
    window = re.search(r'<rect fill="(#[0-9a-fA-F]{6})" stroke=', svg).group(1)
    classes = dict(re.findall(r"\.(terminal-[\w-]+-r\d+) \{ fill: (#[0-9a-fA-F]{6})", svg))
    rects: dict[int, list[tuple[float, float, str]]] = {}
    line_h = float(re.search(r"line-height: ([\d.]+)px", svg).group(1))
    for fill, x, y, w in re.findall(r'<rect fill="(#[0-9a-fA-F]{6})" x="([\d.]+)" y="([\d.]+)" '
                                    r'width="([\d.]+)"', svg):
        rects.setdefault(round((float(y) - 1.5) / line_h), []).append((float(x), float(w), fill))
    pattern = re.compile(r'<text class="(terminal-[\w-]+-r\d+)" x="([\d.]+)" y="[\d.]+" '
                         r'textLength="[\d.]+" clip-path="url\(#terminal-[\w-]+-line-(\d+)\)">([^<]*)</text>')
    for cls, x, row, text in pattern.findall(svg):
        x, row = float(x), int(row)
        bg = next((f for rx, rw, f in rects.get(row, ()) if rx <= x + 0.01 < rx + rw), window)
        yield row, x, html.unescape(text), classes[cls], bg


async def render_all(themes) -> dict[str, str]:
    app = VmapvizApp(RunSpec.of("map-touch-unmap", seed=1), autoplay=False)
    svgs = {}
    async with app.run_test(size=(120, 40)) as pilot:
        for panel in app.query(LazyPanel):
            panel.flash_seconds = 0
        app.driver.step(300)
        await settle(app, pilot, 300)
        for name in themes:
            app.theme = name
            await pilot.pause()
            await pilot.pause()
            svgs[name] = app.export_screenshot()
        app.stop_driver()
    return svgs


@pytest.fixture(scope="module")
def svgs() -> dict[str, str]:
    return asyncio.run(render_all(THEMES))


@pytest.mark.parametrize("theme", THEMES)
def test_every_text_reads_on_its_background(svgs, theme):
    text_need, graphic_need = NEEDS.get(theme, (4.5, 3.0))
    failures = set()
    checked = 0
    for row, x, text, fill, bg in svg_cells(svgs[theme]):
        visible = [ch for ch in text if not ch.isspace()]
        if not visible:
            continue
        assert bg is not None, f"no background under {text!r} at row {row}"
        need = graphic_need if all(is_graphic(ch) for ch in visible) else text_need
        ratio = wcag_contrast(fill, bg)
        checked += 1
        if ratio < need:
            failures.add(f"{text.strip()[:20]!r} {fill} on {bg}: {ratio:.2f} < {need}")
    assert checked > 200   # the whole screen was there
    assert not failures, f"{theme}: " + "; ".join(sorted(failures)[:12])


def test_a_theme_change_recolours_the_panels(svgs):
    """The CPU hues follow the theme: dark themes draw cpu0 lighter than light ones."""
    def cpu0_colour(svg):
        return next(fill for _, _, text, fill, _ in svg_cells(svg) if text.strip() == "cpu0")
    dark, light = cpu0_colour(svgs["textual-dark"]), cpu0_colour(svgs["vmapviz-light"])
    assert relative_luminance(dark) > relative_luminance(light)
