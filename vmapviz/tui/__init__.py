"""vmapviz.tui: the Textual app (app.py, its key table actions.py, one stylesheet), its panels (panels/), screens (screens/) and words (words/)."""
