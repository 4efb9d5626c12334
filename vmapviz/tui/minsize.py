"""The smallest terminal the layout fits.  Below it, the panels would overlap and draw
outside their borders: the app shows one line saying so instead, and `screenshot`
refuses the size."""

from __future__ import annotations

MIN_COLS, MIN_ROWS = 60, 20
MESSAGE = f"terminal too small (need {MIN_COLS}x{MIN_ROWS})"


def fits(cols: int, rows: int) -> bool:
    return cols >= MIN_COLS and rows >= MIN_ROWS
