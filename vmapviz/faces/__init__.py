"""The faces a person or a script sees outside the TUI: the command line, headless reports, image export, the web server, the scaling and vmallocinfo printouts."""
