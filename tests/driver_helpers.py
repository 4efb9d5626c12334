"""Helpers for tests that run a Driver thread: wait for a condition (the `driver`
fixture is in conftest.py)."""

import time


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    raise AssertionError("condition not reached")
