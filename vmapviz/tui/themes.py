"""vmapviz's own themes, and the colours vmapviz derives from whichever theme is active.

A Textual theme names a handful of colours; vmapviz reads its panels on `$surface`, its
header and footer on `$panel` and `$footer-background`.  Some built-in themes pair
colours below WCAG's 4.5:1 (solarized's grey on cream, textual-light's blue footer keys
on grey), so `readable_variables()` moves those foregrounds just far enough, keeping
their hue, and adds the `$vz-*` variables app.tcss uses.  `palette_for()` makes the
palette the panels draw with (palette.py) from the same colours.

Two themes of our own: `vmapviz-light`, dark text on paper for slides and light rooms,
and `vmapviz-projector`, white on black with every text at 7:1 (WCAG AAA) for a
washed-out projector.  The CPU hues stay Okabe-Ito's in both, only darker or lighter.
"""

from __future__ import annotations

from rich.terminal_theme import TerminalTheme
from textual.color import Color
from textual.theme import BUILTIN_THEMES, Theme

from . import palette as P

THEMES = (
    Theme(name="vmapviz-light", dark=False, primary="#0072B2", secondary="#009E73",
          accent="#D55E00", warning="#E69F00", error="#A00000", success="#009E73",
          foreground="#1A1A1A", background="#F4F1EA", surface="#FFFDF8", panel="#E4DFD3",
          variables={"footer-key-foreground": "#005A8C", "vz-ratio": "4.5"}),
    Theme(name="vmapviz-projector", dark=True, primary="#FFD84D", secondary="#56B4E9",
          accent="#FFD84D", warning="#E69F00", error="#FF6B6B", success="#4CD9A5",
          foreground="#FFFFFF", background="#000000", surface="#000000", panel="#1F1F1F",
          variables={"footer-key-foreground": "#FFD84D", "vz-ratio": "7",
                     "block-cursor-background": "#FFD84D", "block-cursor-foreground": "#000000"}),
)
DEFAULT_THEME = "textual-dark"


def names() -> list[str]:
    """Every theme `--theme` accepts: Textual's built-in ones, then ours."""
    return [*BUILTIN_THEMES, *(t.name for t in THEMES)]


def register(app) -> None:
    for theme in THEMES:
        app.register_theme(theme)


def _resolve(value: str | None, fallback: str, ansi: TerminalTheme, background: bool) -> str:
    """A theme colour as #RRGGBB: ANSI colours as the app's ANSI theme draws them,
    transparent ones (and `auto`) as `fallback`, translucent ones over `fallback`."""
    if not value or value.startswith("auto"):
        return fallback
    try:
        color = Color.parse(value)
    except Exception:  # noqa: BLE001 - an unparsable variable: use the fallback
        return fallback
    if color.ansi == -1:
        triplet = ansi.background_color if background else ansi.foreground_color
        return P.hex_of(*triplet)
    if color.ansi is not None:
        return P.hex_of(*ansi.ansi_colors[color.ansi])
    if color.a == 0:
        return fallback
    return P.mix(fallback, P.hex_of(color.r, color.g, color.b), color.a)


def readable_variables(variables: dict[str, str], ansi: TerminalTheme) -> dict[str, str]:
    """The theme's CSS variables with every foreground vmapviz shows made readable on
    its background, plus the `$vz-*` variables."""
    v = dict(variables)
    ratio = float(v.get("vz-ratio", 4.5))
    res = lambda name, fallback, bg=False: _resolve(v.get(name), fallback, ansi, bg)  # noqa: E731
    background = res("background", "#121212", True)
    surface = res("surface", background, True)
    panel = res("panel", background, True)
    fg = P.readable(res("foreground", "#E0E0E0"), (background, surface, panel), ratio)
    footer = res("footer-background", panel, True)
    primary = res("primary", fg)
    graphic = P.graphic_ratio(ratio)
    v.update({
        "foreground": fg,
        "footer-background": footer,
        "footer-item-background": footer,
        "footer-key-background": footer,
        "footer-description-background": footer,
        "footer-foreground": P.readable(res("footer-foreground", fg), (footer,), ratio),
        "footer-key-foreground": P.readable(res("footer-key-foreground", primary), (footer,), ratio),
        "footer-description-foreground": P.readable(res("footer-description-foreground", fg), (footer,), ratio),
        "vz-ratio": str(ratio),
        "vz-surface": surface,
        "vz-muted": P.readable(P.mix(fg, surface, 0.4), (surface,), ratio),
        "vz-border": P.readable(P.mix(fg, surface, 0.55), (surface, background, footer), graphic),
        "vz-focus": P.readable(primary, (surface, background), graphic),
        "vz-flash": P.mix(surface, "#F0E442", 0.15),
    })
    return v


def palette_for(variables: dict[str, str]) -> P.Palette:
    """The panels' palette for variables made by `readable_variables()`."""
    return P.Palette(variables["vz-surface"], variables["foreground"], float(variables["vz-ratio"]))


class Readable:
    """An App mixin: the active theme's variables with its low-contrast foregrounds moved
    (readable_variables) and vmapviz's $vz-* added; `theme_variables` keeps them."""

    theme_variables: dict[str, str]

    def get_css_variables(self) -> dict[str, str]:
        self.theme_variables = readable_variables(super().get_css_variables(), self.ansi_theme)  # type: ignore[misc]
        return self.theme_variables
