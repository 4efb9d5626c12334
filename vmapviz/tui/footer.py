"""The footer: Textual's, compact, with only the keys that fit on one line.

Keys drop out from the right until the rest fits beside `^p palette`; help and quit
always stay.  Every key is still listed by `?` and offered by the command palette.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

KEEP = {"help", "quit"}


def key_width(key: FooterKey) -> int:
    """Cells a key takes in a compact footer: the key, a space, its description, and
    the one-cell margin after it."""
    return cell_len(key.key_display) + (1 + cell_len(key.description) if key.description else 0) + 1


class FitFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True)

    def compose(self):
        widgets = list(super().compose())
        width = self.size.width or self.app.size.width
        keys = [w for w in widgets if isinstance(w, FooterKey)]
        room = width - sum(key_width(k) + 1 for k in keys if k.has_class("-command-palette"))
        shown = [k for k in keys if not k.has_class("-command-palette")]
        while shown and sum(map(key_width, shown)) > room:
            drop = next((k for k in reversed(shown) if k.action not in KEEP), shown[-1])
            shown.remove(drop)
            drop.display = False
        yield from widgets

    def on_resize(self) -> None:
        self.refresh(recompose=True)
