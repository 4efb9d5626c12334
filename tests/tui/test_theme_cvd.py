"""The CPU tints, and allocated / dirty / free pages, stay tellable apart in every theme,
for normal colour vision and the three dichromacies.

Method (written out here, independently of vmapviz's palette code):
- Colour-vision deficiency: Machado, Oliveira & Fernandes, "A Physiologically-based
  Model for Simulation of Color Vision Deficiency", IEEE TVCG 15(6), 2009, their
  matrices for protanopia, deuteranopia and tritanopia at severity 1.0 (Table 1),
  applied to linear sRGB and clipped to [0, 1].
- Colour difference: CIEDE2000 (CIE 142-2001, as set out by Sharma, Wu & Dalal, "The
  CIEDE2000 Color-Difference Formula", Color Res. Appl. 30(1), 2005), in CIELAB with
  the D65 white of sRGB.
- Distinct: a CIEDE2000 difference of at least 10 between two CPUs' tints (categories
  told apart at a glance, not two shades that need a side-by-side look; a just
  noticeable difference is about 1 to 2), and of at least 20 between a tint and the
  grounds it is drawn on (the panel, a bitmap's empty slot, the highlighted line).
- Allocated, dirty and free pages of one CPU share its tint by design: they differ in
  shape (a full block, a lower half, a low bar; in the bitmaps full-height halves,
  lower quadrants and the empty slot), which no colour vision changes.

Which CPUs: the first four (the built-in workloads run one or four CPUs; the default is
four).  Beyond them the 15 hues cannot all stay apart under every dichromacy, and the CPU
is told by the number printed beside it (the block list, the event log, the inspector).
"""

from __future__ import annotations

import math

import pytest
from textual.app import App

from vmapviz.tui import palette as P
from vmapviz.tui import themes

MACHADO = {   # severity 1.0, rows give linear R', G', B' from linear R, G, B
    "protanopia": ((0.152286, 1.052583, -0.204868),
                   (0.114503, 0.786281, 0.099216),
                   (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968),
                     (0.280085, 0.672501, 0.047413),
                     (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779),
                   (-0.078411, 0.930809, 0.147602),
                   (0.004733, 0.691367, 0.304000)),
}
VISIONS = ("normal", *MACHADO)
CPUS = 4
BETWEEN_CPUS = 10.0
ON_GROUND = 20.0


def linear(hex_colour: str) -> tuple[float, float, float]:
    h = hex_colour.lstrip("#")
    s = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    return tuple(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in s)


def seen(hex_colour: str, vision: str) -> tuple[float, float, float]:
    """The linear RGB a person with `vision` sees for `hex_colour`."""
    rgb = linear(hex_colour)
    if vision == "normal":
        return rgb
    return tuple(min(1.0, max(0.0, sum(m * c for m, c in zip(row, rgb)))) for row in MACHADO[vision])


def lab(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    """CIELAB of linear sRGB (IEC 61966-2-1 matrix, D65 white)."""
    r, g, b = rgb
    xyz = (0.4124 * r + 0.3576 * g + 0.1805 * b,
           0.2126 * r + 0.7152 * g + 0.0722 * b,
           0.0193 * r + 0.1192 * g + 0.9505 * b)
    d = 6 / 29
    fx, fy, fz = (t ** (1 / 3) if t > d ** 3 else t / (3 * d * d) + 4 / 29
                  for t in (v / w for v, w in zip(xyz, (0.95047, 1.0, 1.08883))))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def ciede2000(lab1, lab2) -> float:
    """CIEDE2000 with kL = kC = kH = 1, step by step as in Sharma et al. (2005)."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_bar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_bar ** 7 / (c_bar ** 7 + 25 ** 7)))
    a1, a2 = a1 * (1 + g), a2 * (1 + g)
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    h1 = math.degrees(math.atan2(b1, a1)) % 360 if c1 else 0.0
    h2 = math.degrees(math.atan2(b2, a2)) % 360 if c2 else 0.0
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    d_l, d_c = l2 - l1, c2 - c1
    d_h = 2 * math.sqrt(c1 * c2) * math.sin(math.radians(dh / 2))
    l_bar, c_bar = (l1 + l2) / 2, (c1 + c2) / 2
    if c1 * c2 == 0:
        h_bar = h1 + h2
    elif abs(h1 - h2) <= 180:
        h_bar = (h1 + h2) / 2
    else:
        h_bar = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(h_bar - 30)) + 0.24 * math.cos(math.radians(2 * h_bar))
         + 0.32 * math.cos(math.radians(3 * h_bar + 6)) - 0.20 * math.cos(math.radians(4 * h_bar - 63)))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / math.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar
    s_h = 1 + 0.015 * c_bar * t
    r_t = (-2 * math.sqrt(c_bar ** 7 / (c_bar ** 7 + 25 ** 7))
           * math.sin(math.radians(60 * math.exp(-(((h_bar - 275) / 25) ** 2)))))
    return math.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2
                     + r_t * (d_c / s_c) * (d_h / s_h))


def difference(a: str, b: str, vision: str) -> float:
    return ciede2000(lab(seen(a, vision)), lab(seen(b, vision)))


# -- the method, on known values -----------------------------------------------------

@pytest.mark.parametrize("lab1, lab2, expected", [
    # Sharma, Wu & Dalal (2005), Table 1: pairs 1, 7, 17 and 25.
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
])
def test_ciede2000_on_the_published_pairs(lab1, lab2, expected):
    assert ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert ciede2000(lab2, lab1) == pytest.approx(expected, abs=1e-4)


def test_the_simulations_keep_greys_and_confuse_what_they_should():
    """Each Machado matrix's rows sum to 1 (to the 6 places published): white is seen
    as white.  Red and green, far apart for normal vision and for tritanopes, are one
    colour to deuteranopes, and to protanopes differ mostly by red being darker; blue
    and bluish green stay apart for deuteranopes, not for tritanopes."""
    for matrix in MACHADO.values():
        for row in matrix:
            assert sum(row) == pytest.approx(1.0, abs=2e-4)   # published to 6 places
        assert difference("#777777", "#777777", "normal") == 0
    for vision in VISIONS:
        assert lab(seen("#FFFFFF", vision))[0] == pytest.approx(100.0, abs=0.01)
    red, green = "#D00000", "#00A000"
    assert difference(red, green, "normal") > 70 and difference(red, green, "tritanopia") > 60
    assert difference(red, green, "deuteranopia") < 10        # one colour
    assert difference(red, green, "protanopia") < 30          # red only darker
    blue, teal = "#0072B2", "#009E73"
    assert difference(blue, teal, "deuteranopia") > 30
    assert difference(blue, teal, "tritanopia") < 15


# -- the themes ------------------------------------------------------------------------

def palettes() -> dict[str, P.Palette]:
    """The palette the app draws with in each theme, made as the app makes it."""
    app = App()
    themes.register(app)
    out = {}
    for name in themes.names():
        app.theme = name
        out[name] = themes.palette_for(themes.readable_variables(app.get_css_variables(), app.ansi_theme))
    return out


PALETTES = palettes()


@pytest.mark.parametrize("vision", VISIONS)
@pytest.mark.parametrize("theme", sorted(PALETTES))
def test_the_cpu_tints_stay_apart(theme, vision):
    tints = PALETTES[theme].tints[:CPUS]
    close = [f"cpu{i} {tints[i]} / cpu{j} {tints[j]}: {difference(tints[i], tints[j], vision):.1f}"
             for i in range(CPUS) for j in range(i + 1, CPUS)
             if difference(tints[i], tints[j], vision) < BETWEEN_CPUS]
    assert not close, f"{theme}, {vision}: " + "; ".join(close)


@pytest.mark.parametrize("vision", VISIONS)
@pytest.mark.parametrize("theme", sorted(PALETTES))
def test_every_tint_stands_out_from_its_grounds(theme, vision):
    palette = PALETTES[theme]
    grounds = {"panel": palette.background, "slot": palette.slot, "highlight": palette.hilite}
    faint = [f"cpu{i} {tint} on the {where} {ground}: {difference(tint, ground, vision):.1f}"
             for i, tint in enumerate(palette.tints[:CPUS]) for where, ground in grounds.items()
             if difference(tint, ground, vision) < ON_GROUND]
    assert not faint, f"{theme}, {vision}: " + "; ".join(faint)


def test_allocated_dirty_and_free_differ_in_shape():
    """In the map and block list: a full block, a lower half, a low bar; in the bitmaps
    every pair of page states its own glyph, free pages the empty slot."""
    glyphs = P.BLOCK_GLYPHS
    assert sorted(glyphs) == [P.BLOCK_ALLOC, P.BLOCK_DIRTY, P.BLOCK_FREE]
    assert len(set(glyphs.values())) == 3
    assert (glyphs[P.BLOCK_ALLOC], glyphs[P.BLOCK_DIRTY], glyphs[P.BLOCK_FREE]) == ("█", "▄", "▁")
    pairs = P.PAIR_GLYPHS
    assert len(pairs) == 9 and len(set(pairs.values())) == 9
    assert pairs[("F", "F")] == " " and pairs[("A", "A")] == "█" and pairs[("D", "D")] == "▄"


@pytest.mark.parametrize("theme", sorted(t for t in PALETTES if P.luminance(PALETTES[t].background) >= 0.18))
def test_no_cpu_tint_looks_black_on_a_light_panel(theme):
    """A thin map line in a CPU's tint must read as a colour, not as black: CIELAB
    lightness of at least 22 (vmapviz-light's cpu1 #152B38 and cpu3 #2B290C were 16;
    lighter still, two CPUs' tints come closer than 10 for some dichromat in textual-light)."""
    for cpu, tint in enumerate(PALETTES[theme].tints[:CPUS]):
        assert lab(linear(tint))[0] >= 22, f"cpu{cpu} {tint}"
