"""Helpers for tests that run a Driver thread: wait for a condition, and a fixture that
stops every driver it made."""

import time

import pytest

from vmapviz.run.driver import Driver


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    raise AssertionError("condition not reached")


@pytest.fixture
def driver():
    made = []

    def make(*a, **kw):
        d = Driver(*a, **kw)
        d.start()
        made.append(d)
        return d
    yield make
    for d in made:
        d.stop()
