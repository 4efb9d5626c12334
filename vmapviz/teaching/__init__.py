"""Teaching: the quiz (predict the next op) and lessons (TOML files of steps, in lessons/)."""
