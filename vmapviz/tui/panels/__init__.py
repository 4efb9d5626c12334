"""Panels: the widgets of the main screen, each drawing one part of a snapshot."""
