"""SIGTERM and SIGHUP in a Textual app: quit as `q` does, so that Textual restores the
terminal (main screen, no mouse reporting, cursor shown), with exit status 130.  Should
that exit hang (the terminal gone with SIGHUP: Textual's writer thread dies on the
closed terminal and its queue of writes never empties), the process ends GRACE seconds
later with the same status."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import threading
from typing import Callable

INTERRUPTED = 130
SIGNALS = (signal.SIGTERM, signal.SIGHUP)
GRACE = 5.0      # seconds a signalled app has to exit before the process ends


def catch_signals(on: bool, handler: Callable[[], None]) -> None:
    """Install (or remove) `handler` for SIGTERM and SIGHUP on the running event loop;
    nothing where the loop cannot take signals (not the main thread)."""
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        try:
            if on:
                loop.add_signal_handler(sig, functools.partial(_signalled, handler))
            else:
                loop.remove_signal_handler(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass


def _signalled(handler: Callable[[], None]) -> None:
    """Quit (`handler`), with a watchdog that ends the process should the exit hang."""
    watchdog = threading.Timer(GRACE, os._exit, (INTERRUPTED,))
    watchdog.daemon = True
    watchdog.start()
    handler()
