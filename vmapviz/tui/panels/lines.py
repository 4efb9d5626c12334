"""A scrolling list of lines drawn through the Line API: one Strip per line, cached by
the line's key and the width, dropped when the widget's style or the palette changes;
and `text_strip`, one line of Rich Text drawn as Textual draws a widget's Text."""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .. import palette as P


@lru_cache(maxsize=256)
def _offset(x: int) -> Style:
    """The meta Textual's Content gives the segment at cell x of a line drawn alone
    (what text selection reads)."""
    return Style.from_meta({"offset": (x, 0)})


def text_strip(line: Text, base: Style, console: Console) -> Strip:
    """One line of `line` (no newline in it, and no wider than the widget) on the widget's
    style `base`, segment for segment as Textual's Visual.to_strips draws it (each with
    its offset meta, unpadded), without turning it into Content first: a fifth of the
    cost, for lines that change every frame (tests/tui/test_app.py compares the two)."""
    segs, x = [], 0
    for text, style, _ in line.render(console):
        segs.append(Segment(text, (base + style if style else base) + _offset(x)))
        x += cell_len(text)
    return Strip(segs, x)


class CachedLines(ScrollView):
    """Subclasses say what the lines are (`lines()`, hashable keys, top first) and how
    one is drawn (`render_key()`)."""

    CACHE_LIMIT = 4000

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._cache: dict[tuple, Strip] = {}
        self._base = Style()
        self._style_cached: Style | None = None
        self._palette = P.active()

    def lines(self) -> Sequence:  # pragma: no cover - interface
        raise NotImplementedError

    def render_key(self, key, width: int, base: Style) -> Strip:  # pragma: no cover - interface
        raise NotImplementedError

    def _style_now(self) -> Style:
        """The widget's base style, looked up once per style change (not per line)."""
        if self._style_cached is None:
            self._style_cached = self.rich_style
        return self._style_cached

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cached = None

    def render_line(self, y: int) -> Strip:
        idx = y + self.scroll_offset.y
        width = self.scrollable_content_region.width
        base = self._style_now()
        if base != self._base or self._palette is not P.active():
            self._base, self._palette = base, P.active()
            self._cache.clear()
        keys = self.lines()
        if idx >= len(keys):
            return Strip.blank(width, base)
        ck = (keys[idx], width)
        strip = self._cache.get(ck)
        if strip is None:
            if len(self._cache) > self.CACHE_LIMIT:
                self._cache.clear()
            strip = self.render_key(keys[idx], width, base).adjust_cell_length(width, base)
            self._cache[ck] = strip
        return strip
