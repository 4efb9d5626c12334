"""Fixtures shared by the test modules."""

import pytest

from vmapviz.run.driver import Driver
from vmapviz.run.spec import RunSpec


@pytest.fixture
def driver():
    """make(workload, **options): a started Driver; every one made is stopped after the test."""
    made = []

    def make(workload, **kw):
        """A started Driver on RunSpec.of(workload, speed and Config options in kw)."""
        driving = {k: kw.pop(k) for k in ("on_snapshot", "snapshot_hz", "max_ops") if k in kw}
        d = Driver(RunSpec.of(workload, **kw), **driving)
        d.start()
        made.append(d)
        return d
    yield make
    for d in made:
        d.stop()
