"""vmapviz.tui: the Textual app (app.py), one module per panel, one stylesheet."""
