"""What the pictures of a run (`screenshot`, `export`) can be asked for: a slide's
layouts and how far `--until-flush` looks.  Textual-free, so the command line builds
its options without importing the app (tui/headless.py runs the pictures)."""

from __future__ import annotations

LAYOUTS = ("presenter", "full")   # a slide: the presenter layout (key l), or every panel
MAX_UNTIL = 1_000_000    # ops `--until-flush` runs at most looking for a flush
