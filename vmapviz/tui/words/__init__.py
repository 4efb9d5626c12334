"""Words: the sentences the TUI writes about an op (explanations, compare mode's contrast)."""
