"""Speed work must not change behaviour: every built-in workload, on every generation
that runs it (and on a second machine shape), gives the same kernel state digest and
the same event stream as the recorded golden table, made before the hot paths were
optimised (issue 16).  Regenerate only for an intended behaviour change:
`python tests/test_golden_digests.py --write`."""

import hashlib
import json
import sys
from pathlib import Path

import pytest

from vmapviz.run.driver import Run
from vmapviz.kernel import GENERATIONS
from vmapviz.workloads import WORKLOADS, UnsupportedWorkload

GOLDEN = Path(__file__).parent / "data" / "golden_digests.json"
OPS = 3000
SHAPES = {"default": {}, "8cpu-32bit": {"nr_cpus": 8, "bits": 32}, "1cpu": {"nr_cpus": 1}}
# On one CPU, run the vm_map_ram workloads long enough to free blocks lazily and purge.
LONG = {"map-touch-unmap": 9000, "xfs-dir": 9000, "vm-map-ram-test": 9000}


def cases():
    for name in WORKLOADS:
        for variant in GENERATIONS:
            yield f"{name}/{variant}/default"
            yield f"{name}/{variant}/8cpu-32bit"
            if name in LONG:
                yield f"{name}/{variant}/1cpu"


def digests(case: str) -> dict | None:
    """The state digest and a hash of every event's repr after OPS ops (LONG's on one CPU); None when the
    generation cannot run the workload."""
    name, variant, shape = case.split("/")
    try:
        config = WORKLOADS[name].config(variant=variant, seed=7, **SHAPES[shape])
    except UnsupportedWorkload:
        return None
    run = Run(WORKLOADS[name], config)
    events = hashlib.sha256()
    n = 0
    ops = LONG[name] if shape == "1cpu" else OPS
    while n < ops and (batch := run.step()) is not None:
        n += 1
        for e in batch:
            events.update(repr(e).encode())
    return {"ops": n, "state": run.kernel.digest(), "events": events.hexdigest()[:16]}


@pytest.mark.parametrize("case", list(cases()))
def test_same_digests_as_before(case):
    golden = json.loads(GOLDEN.read_text())
    assert case in golden, f"{case} has no golden digest: regenerate the table"
    assert digests(case) == golden[case]


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    GOLDEN.write_text(json.dumps({c: digests(c) for c in cases()}, indent=1, sort_keys=True) + "\n")
