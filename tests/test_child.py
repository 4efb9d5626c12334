"""The simulation in a child process (run/child.py) against the same driver in a thread:
the same snapshots and event stream for a seeded workload, each worked out here from a
plain Run with no driver at all; the driver's other commands through the socket; a
child that dies is one clear line; a child never outlives its parent."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from driver_helpers import wait_for
from vmapviz.run.child import FIELDS, ChildDriver, Codec
from vmapviz.run.compare import CompareDriver
from vmapviz.run.driver import Driver, Run
from vmapviz.run.spec import RunSpec
from vmapviz.teaching.quiz import ask_after, next_question
from vmapviz.run.timeline import Timeline

SPEC = RunSpec.of("map-touch-unmap", seed=3, nr_cpus=4)
# Steps of at most 100 ops: map-touch-unmap emits under 4 events an op, so each snapshot's
# 400 recent events overlap the previous one's, and together they hold the whole stream.
STEPS = (1, 1, 1, 2, 5, 40, 100, 100, 100, 37, 100)


def expected(spec: RunSpec, steps=STEPS) -> list[tuple]:
    """What a snapshot must show after each step, from a plain Run (no driver, no
    timeline, no process): (op, recent events, last op's events, stats, areas, blocks)."""
    run = Run(spec.workload, spec.config)
    out = []
    for n in steps:
        for _ in range(n):
            run.step()
        k = run.kernel
        out.append((k.op, tuple(run.recent), tuple(run.last_op), k.stats_view(), tuple(k.areas()),
                    tuple(k.block_views())))
    return out


def shown(snap) -> tuple:
    return snap.op, snap.events, snap.last_op, snap.stats, snap.areas, snap.blocks


def stepped(driver, steps=STEPS) -> list[tuple]:
    """Step the driver through `steps`, the snapshot after each."""
    out = []
    driver.start()
    try:
        op = 0
        for n in steps:
            op += n
            driver.step(n)
            wait_for(lambda: driver.latest is not None and driver.latest.op == op and not driver.latest.running)
            out.append(driver.latest)
    finally:
        driver.stop()
    return out


@pytest.mark.parametrize("make", [ChildDriver, Driver], ids=["child", "thread"])
def test_a_seeded_run_shows_the_same_snapshots_and_events_in_either_mode(make):
    want = expected(SPEC)
    got = stepped(make(SPEC))
    assert [shown(s) for s in got] == want
    # the whole event stream: the windows of recent events, joined where they overlap
    # (a snapshot is taken between two ops, and an op's events carry its number)
    stream: list = []
    for snap in got:
        last = stream[-1].op if stream else -1
        stream += [e for e in snap.events if e.op > last]
    run = Run(SPEC.workload, SPEC.config)
    every = [e for _ in range(sum(STEPS)) for e in run.step()]
    assert stream == every


def test_compare_mode_in_a_child_shows_each_generation_as_its_own_plain_run():
    pair = ("vanilla", "merged")
    got = stepped(ChildDriver(SPEC, pair), (3, 60))[-1]
    for side, variant in zip(got.sides, pair):
        (op, recent, last, stats, areas, blocks), = expected(SPEC.on(variant), (63,))
        assert (side.op, side.events, side.stats, side.areas, side.blocks) == (op, recent, stats, areas, blocks)
        assert side.config.variant == variant


def test_a_workload_either_generation_cannot_run_is_refused_before_a_child_starts():
    with pytest.raises(Exception, match="vm_map_ram"):
        ChildDriver(RunSpec.of("vm-map-ram-test"), ("vanilla", "merged"))


def test_apply_sends_a_function_and_its_result_comes_back():
    d = ChildDriver(SPEC)
    d.start()
    try:
        answer = {}
        d.apply(functools.partial(ask_after, skip=10, kinds=["lazy"]), lambda q: answer.setdefault("q", q))
        wait_for(lambda: "q" in answer)
        run = Run(SPEC.workload, SPEC.config, timeline=Timeline())
        run.run(10)
        assert answer["q"] == next_question(run, ["lazy"])
        with pytest.raises(Exception):
            d.apply(lambda run: (run, None))      # a lambda cannot be sent: refused in the caller
    finally:
        d.stop()


def test_the_run_in_the_child_answers_running_spec():
    d = ChildDriver(RunSpec.of("vmalloc-churn", seed=2, bits=32))
    d.start()
    try:
        d.step(3)
        wait_for(lambda: d.latest is not None and d.latest.op == 3)
        spec = d.running_spec()
        assert (spec.workload.name, spec.config.bits, spec.config.seed) == ("vmalloc-churn", 32, 2)
        assert d.config is spec.config or d.config == spec.config
    finally:
        d.stop()


def test_a_child_that_dies_is_one_line_and_r_starts_a_new_one():
    d = ChildDriver(SPEC)
    d.start()
    try:
        d.step(5)
        wait_for(lambda: d.latest is not None and d.latest.op == 5)
        os.kill(d._proc.pid, signal.SIGKILL)
        wait_for(lambda: d.latest.error is not None)
        assert d.latest.error.startswith("the simulation's process ended (killed by SIGKILL)")
        assert "\n" not in d.latest.error and "Traceback" not in d.latest.error
        assert (d.latest.op, d.latest.running) == (5, False)   # the last state seen, paused
        d.step(1)            # a command to a dead child is dropped, not raised
        d.reset()
        wait_for(lambda: d.latest is not None and d.latest.error is None)
        d.step(2)
        wait_for(lambda: d.latest.op == 2)
        assert shown(d.latest) == expected(SPEC, (2,))[0]
    finally:
        d.stop()


def test_a_child_ends_with_its_parent_however_the_parent_ends(tmp_path):
    for how in ("SIGKILL", "exit"):
        script = textwrap.dedent(f"""
            import os, signal, sys, time
            from vmapviz.run.child import ChildDriver
            from vmapviz.run.spec import RunSpec
            d = ChildDriver(RunSpec.of("map-touch-unmap", speed=None))
            d.start(); d.play()
            while d.latest is None:
                time.sleep(0.01)
            print(d._proc.pid, flush=True)
            {"os.kill(os.getpid(), signal.SIGKILL)" if how == "SIGKILL" else "os._exit(0)"}
        """)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root,
                             env=dict(os.environ, PYTHONPATH=root), timeout=120)
        child = int(out.stdout.split()[0])
        wait_for(lambda: not _alive(child), timeout=30)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_codec_sends_only_what_changed():
    d = Driver(SPEC)
    d._run.run(5)
    first = d._snapshot()
    assert 0 < len(first.events) < 400
    d._run.run(3)
    second = d._snapshot()         # the areas are the same tuple until they change
    enc, dec = Codec(), Codec()
    full = enc.encode(first)[0]
    assert set(full) == set(FIELDS)    # the first one whole
    assert dec.decode((full,)) == first
    delta = enc.encode(second)[0]
    if second.areas is first.areas:
        assert "areas" not in delta
    assert "config" not in delta and delta["events"][0] == len(first.events)   # the old events kept
    kinds, rows = delta["events"][1]      # the new ones, as their classes and plain tuples
    assert rows == [tuple(e) for e in second.events[len(first.events):]]
    assert dec.decode((delta,)) == second


def test_the_in_process_pair_and_the_child_pair_are_of_their_drivers_kind():
    main = Driver(SPEC)
    assert isinstance(main.paired(("vanilla", "merged")), CompareDriver)
    child = ChildDriver(SPEC)
    try:
        paired = child.paired(("vanilla", "merged"))
        assert isinstance(paired, ChildDriver) and paired.variants == ("vanilla", "merged")
        paired.stop()
    finally:
        child.stop()


@pytest.mark.parametrize("make", [ChildDriver, Driver], ids=["child", "thread"])
def test_an_extra_call_goes_through_either_driver(make):
    d = make(SPEC)
    d.start()
    try:
        d.step(9)
        wait_for(lambda: d.latest is not None and d.latest.op == 9)
        d.call("vm_unmap_aliases", cpu=2)
        wait_for(lambda: d.latest.stats.vm_unmap_aliases_calls == 1)
        run = Run(SPEC.workload, SPEC.config)
        run.run(9)
        run.call("vm_unmap_aliases", cpu=2)
        assert (d.latest.events, d.latest.stats) == (tuple(run.recent), run.kernel.stats_view())
    finally:
        d.stop()


def test_the_tuis_take_in_process_and_run_in_a_child_without_it(monkeypatch):
    from vmapviz.faces import cli
    seen = []
    monkeypatch.setattr("vmapviz.tui.app.run_tui", lambda spec, theme, lesson=None, driver=None:
                        seen.append((type(driver).__name__, lesson is not None)) or 0)
    for argv in (["tui"], ["tui", "vmalloc-churn", "--in-process"], ["lesson", "lazy-flush", "--tui"],
                 ["lesson", "lazy-flush", "--tui", "--in-process"]):
        assert cli.main(argv) == 0
    assert seen == [("ChildDriver", False), ("NoneType", False), ("ChildDriver", True), ("NoneType", True)]


def test_a_trace_replays_in_the_child_as_in_a_plain_run(tmp_path, capsys):
    from vmapviz.faces import cli
    trace = str(tmp_path / "t.jsonl")
    assert cli.main(["run", "xfs-dir", "--ops", "300", "--record", trace, "--json"]) == 0
    capsys.readouterr()
    spec = RunSpec.of(trace)        # a trace's workload crosses as its checked fields, not re-read
    want = expected(spec, (120, 180))
    got = stepped(ChildDriver(spec), (120, 180))
    assert [shown(s) for s in got] == want
    assert got[-1].total_ops == 300


def test_a_child_that_cannot_start_says_why_in_one_line(monkeypatch):
    monkeypatch.setattr(ChildDriver, "CODE", "import sys; sys.exit('vmapviz: cannot import the simulation')")
    d = ChildDriver(SPEC)
    d.start()
    try:
        wait_for(lambda: d.latest is not None and d.latest.error is not None)
        assert d.latest.error.startswith("the simulation's process ended (exit status 1: "
                                         "vmapviz: cannot import the simulation)")
        assert d.latest.op == 0 and "\n" not in d.latest.error    # op 0 of the run asked for
    finally:
        d.stop()
