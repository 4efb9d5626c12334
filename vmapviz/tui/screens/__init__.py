"""Screens: modal dialogs and the apps/screens that take the whole terminal (quiz, compare, scaling chart, vmallocinfo viewer)."""
