"""SIGTERM and SIGHUP in a Textual app: quit as `q` does, so that Textual restores the
terminal (main screen, no mouse reporting, cursor shown), with exit status 130."""

from __future__ import annotations

import asyncio
import signal
from typing import Callable

INTERRUPTED = 130
SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def catch_signals(on: bool, handler: Callable[[], None]) -> None:
    """Install (or remove) `handler` for SIGTERM and SIGHUP on the running event loop;
    nothing where the loop cannot take signals (not the main thread)."""
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        try:
            if on:
                loop.add_signal_handler(sig, handler)
            else:
                loop.remove_signal_handler(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
