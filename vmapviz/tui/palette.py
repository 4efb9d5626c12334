"""Colours and glyphs, one place for every panel, derived from the active Textual theme.

Rules the palette follows:
- One hue per CPU (Okabe-Ito, then Paul Tol's muted set; colour-blind safe), used the
  same way in the map, the block list and the event log; the CPU number is always
  printed next to it in text, so the hue is a help, never the only cue.  In glyphs (the
  tints) odd CPUs are also lighter on dark panels, darker on light ones, so the first
  four stay apart for protanopes, deuteranopes and tritanopes (tests/tui/test_theme_cvd.py).
- States are told apart by glyph first (a shape survives a monochrome projector) and
  by colour second: busy kinds use different shade/quadrant glyphs, lazily freed
  areas a cross-hatch, guard/gap pages a dot; in the bitmaps an allocated page is a
  full-height half cell and a dirty page a half-height one.
- No colour is fixed: `Palette.derive()` takes the theme's panel background and
  foreground and moves every hue and grey, keeping its hue, towards black or white
  until it reads on that background (WCAG contrast `ratio`, 4.5:1 unless the theme
  asks for more; glyphs, being graphics, 3:1, WCAG 1.4.11).  Only the alert badges (flush, WARN, BUG) bring their own
  background, so they look the same in every theme.

The app activates the palette of its theme (`activate()`); the panels read it through
the functions below whenever they draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.style import Style

from ..kernel.events import KINDS

# Okabe & Ito (2008), then Paul Tol's "muted" scheme: 15 hues before repeating.
CPU_HUES = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
    "#88CCEE", "#44AA99", "#DDCC77", "#AA4499", "#117733", "#999933", "#CC6677", "#882255",
)


# An odd CPU's tint is this much further from the panel (towards white on dark panels,
# black on light ones) than its hue needs: neighbours differ in lightness, which every
# colour-vision deficiency keeps (orange and yellow, darkened for a light panel, are one
# colour to a protanope; sky blue and bluish green nearly one to a tritanope).
# On a light panel darker is also nearer black, so the step is smaller: at 0.6 cpu1 and
# cpu3 of vmapviz-light came out #152B38 and #2B290C (CIELAB L* 16), both black as a thin
# map line; at 0.35 they are L* 28, blue and olive, and every pair still differs by 10.
ODD_CPU_STEP = 0.6
ODD_CPU_STEP_LIGHT = 0.35


def graphic_ratio(text_ratio: float) -> float:
    """The contrast glyphs (graphics, not text) get: WCAG 1.4.11's 3:1 beside text at
    4.5:1, and 4.5:1 beside text at more."""
    return 3.0 if text_ratio <= 4.5 else 4.5


# -- contrast ----------------------------------------------------------------------------

def rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def hex_of(r: float, g: float, b: float) -> str:
    return "#{:02X}{:02X}{:02X}".format(*(max(0, min(255, round(v))) for v in (r, g, b)))


def luminance(color: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    def lin(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = rgb(color)
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def mix(a: str, b: str, t: float) -> str:
    """`a` moved a fraction `t` of the way to `b`."""
    return hex_of(*(x + (y - x) * t for x, y in zip(rgb(a), rgb(b))))


def readable(color: str, backgrounds: tuple[str, ...], ratio: float) -> str:
    """`color`, moved towards white (on dark backgrounds) or black (on light ones) just
    far enough to reach `ratio` against every one of `backgrounds`."""
    def worst(c: str) -> float:
        return min(contrast(c, bg) for bg in backgrounds)
    if worst(color) >= ratio:
        return color
    darkest = min(luminance(bg) for bg in backgrounds)
    target = "#FFFFFF" if darkest < 0.18 else "#000000"
    for step in range(1, 21):
        c = mix(color, target, step / 20)
        if worst(c) >= ratio:
            return c
    return target


# -- map cell classes ---------------------------------------------------------------
# A cell of the address map shows one class: the dominant (or most important) state
# of the pages it spans.  Classes are small ints so a row is a list of ints; vmap
# blocks get three classes per CPU (pages handed out, dirty, not yet handed out).

FREE, GUARD, VMALLOC, VMAP, IOREMAP, VM_AREA, LAZY, POOLED = range(8)
BLOCK_BASE = 16
BLOCK_ALLOC, BLOCK_DIRTY, BLOCK_FREE = 0, 1, 2

KIND_CLASS = {
    "vmalloc": VMALLOC, "vpages": VMALLOC,
    "vmap": VMAP, "vm_map_ram": VMAP, "user": VMAP,
    "ioremap": IOREMAP,
    "vm_area": VM_AREA,
}

#   class: (glyph, legend text)
CLASS_GLYPHS = {
    FREE: (" ", "free"),
    GUARD: ("·", "guard/gap page"),
    VMALLOC: ("▓", "vmalloc"),
    VMAP: ("▚", "vmap / vm_map_ram"),
    IOREMAP: ("░", "ioremap"),
    VM_AREA: ("▞", "vm_area (unmapped)"),
    LAZY: ("╳", "lazily freed, awaiting flush"),
    POOLED: ("◦", "purged, in a node's pool"),
}
BLOCK_GLYPHS = {BLOCK_ALLOC: "█", BLOCK_DIRTY: "▄", BLOCK_FREE: "▁"}

# Alert badges: their own background, the same in every theme (all above 7:1).
BADGES = {
    "flush": Style(color="#000000", bgcolor="#F0E442", bold=True),
    "warn": Style(color="#000000", bgcolor="#E69F00", bold=True),
    "bug": Style(color="#FFFFFF", bgcolor="#A00000", bold=True),
    "error": Style(color="#FFFFFF", bgcolor="#5F005F", bold=True),
    "refused": Style(color="#000000", bgcolor="#8FB8DE", bold=True),
    "lazy": Style(color="#FFFFFF", bgcolor="#7A1F1F", bold=True),
    "running": Style(color="#000000", bgcolor="#56B4E9", bold=True),
    "paused": Style(color="#000000", bgcolor="#E69F00", bold=True),
}


def block_class(cpu: int, state: int) -> int:
    return BLOCK_BASE + cpu * 3 + state


@dataclass(frozen=True, eq=False)
class Palette:
    """Every colour the panels draw with, for one background."""

    background: str
    foreground: str
    ratio: float = 4.5
    muted: Style = field(init=False)
    faint: Style = field(init=False)       # graphics that may recede (empty gauge, sparkline gaps)
    slot: str = field(init=False)          # a free page inside a bitmap: an empty slot
    hilite: str = field(init=False)        # the highlighted block line
    hues: tuple[str, ...] = field(init=False)     # CPU hues for text
    tints: tuple[str, ...] = field(init=False)    # the same hues for glyphs (graphics)
    gauge: Style = field(init=False)
    gauge_over: Style = field(init=False)
    cursor: Style = field(init=False)
    classes: dict = field(init=False)      # class -> (glyph, style, legend text)
    log: dict = field(init=False)          # event kind -> style

    def __post_init__(self) -> None:
        bg, fg, ratio = self.background, self.foreground, self.ratio
        dark = luminance(bg) < 0.18
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        slot = mix(bg, fg, 0.14)
        hilite = mix(bg, "#6A6AC8" if dark else "#3A3AA0", 0.3)
        grounds = (bg, slot, hilite)
        text = lambda c: readable(c, grounds, ratio)  # noqa: E731
        graphic = graphic_ratio(ratio)
        fg = text(fg)
        muted = text(mix(fg, bg, 0.4))
        put("slot", slot)
        put("hilite", hilite)
        put("hues", tuple(text(h) for h in CPU_HUES))
        far, step = ("#FFFFFF", ODD_CPU_STEP) if dark else ("#000000", ODD_CPU_STEP_LIGHT)
        put("tints", tuple(mix(readable(h, grounds, graphic), far, step * (cpu % 2))
                           for cpu, h in enumerate(CPU_HUES)))
        put("muted", Style(color=muted))
        put("faint", Style(color=readable(mix(fg, bg, 0.7), (bg,), graphic)))
        put("gauge", Style(color=text("#F0E442")))
        put("gauge_over", Style(color=text("#FF5F5F")))
        put("cursor", Style(color=bg, bgcolor=fg, bold=True))
        tint = {GUARD: muted, VMALLOC: mix(fg, bg, 0.15), VMAP: mix(fg, "#56B4E9", 0.4),
                IOREMAP: mix(fg, "#CC79A7", 0.4), VM_AREA: muted, POOLED: mix(fg, "#009E73", 0.5)}
        classes = {cls: (glyph, Style(color=text(tint[cls])) if cls in tint else Style(), legend)
                   for cls, (glyph, legend) in CLASS_GLYPHS.items()}
        classes[LAZY] = (CLASS_GLYPHS[LAZY][0], BADGES["lazy"], CLASS_GLYPHS[LAZY][1])
        put("classes", classes)
        quiet = Style(color=text(mix(fg, bg, 0.2)))
        put("log", {
            "return": Style(), "call": Style(color=muted), "area": Style(color=muted),
            "lazy": quiet + Style(italic=True), "block": quiet, "alias": quiet,
            "bits": Style(color=muted), "purge": Style(bold=True),
            "gap": Style(color=muted, italic=True),
            "flush": BADGES["flush"], "warn": BADGES["warn"], "bug": BADGES["bug"],
            "fault": BADGES["bug"], "uaf": BADGES["bug"], "corrupt": BADGES["bug"],
            "error": BADGES["error"], "refused": BADGES["refused"],
        })
        put("_cpu", (tuple(Style(color=h) for h in self.hues),
                     tuple(Style(color=h, bold=True) for h in self.hues)))
        put("_bitmap", tuple(Style(color=h, bgcolor=slot) for h in self.tints))
        blocks = {}
        for cpu, hue in enumerate(self.tints):
            for state, glyph in BLOCK_GLYPHS.items():
                blocks[state + 3 * cpu] = (glyph, Style(color=hue))
        put("_blocks", blocks)

    def class_glyph(self, cls: int) -> tuple[str, Style]:
        if cls < BLOCK_BASE:
            glyph, style, _ = self.classes[cls]
            return glyph, style
        cpu, state = divmod(cls - BLOCK_BASE, 3)
        return self._blocks[state + 3 * (cpu % len(CPU_HUES))]


DEFAULT = Palette("#1E1E1E", "#E0E0E0")   # textual-dark's surface and foreground
_active = DEFAULT


def active() -> Palette:
    return _active


def activate(palette: Palette) -> None:
    """Draw with `palette` from now on (the app calls this when its theme changes)."""
    global _active
    _active = palette


def cpu_hue(cpu: int) -> str:
    return _active.hues[cpu % len(CPU_HUES)]


def cpu_style(cpu: int, bold: bool = False) -> Style:
    """The CPU's hue for text."""
    return _active._cpu[bold][cpu % len(CPU_HUES)]


def cpu_tint(cpu: int) -> Style:
    """The CPU's hue for glyphs: a graphic needs less contrast than text, so on light
    themes the tint keeps more of the hue."""
    return _active._blocks[3 * (cpu % len(CPU_HUES))][1]


def class_glyph(cls: int) -> tuple[str, Style]:
    """The glyph and style of a map class."""
    return _active.class_glyph(cls)


def bitmap_style(cpu: int) -> Style:
    return _active._bitmap[cpu % len(CPU_HUES)]


# -- bitmap cells ---------------------------------------------------------------------
# Two pages per cell, left page in the left half.  Per page: F free, A allocated (in
# alloc_map, not dirty), D dirty (vb_free'd; the PTE and maybe TLB entries remain).
# A is a full-height half, D a lower quadrant, F empty (the slot background shows).
PAIR_GLYPHS = {
    ("F", "F"): " ", ("A", "F"): "▌", ("F", "A"): "▐", ("A", "A"): "█",
    ("D", "F"): "▖", ("F", "D"): "▗", ("D", "D"): "▄",
    ("A", "D"): "▙", ("D", "A"): "▟",
}


def page_state(alloc_map: int, dirty_map: int, bit: int) -> str:
    if dirty_map >> bit & 1:
        return "D"
    if alloc_map >> bit & 1:
        return "A"
    return "F"


# The word in front of the lines that must stand out even in monochrome.
LOG_TAGS = {k: f" {kind.tag} " for k, kind in KINDS.items() if kind.tag}
