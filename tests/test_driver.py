"""The driver thread: commands from another thread, snapshots, errors, stopping."""

import threading
import time

import pytest
from driver_helpers import wait_for

from vmapviz.run.driver import Driver
from vmapviz.workloads import Workload
from vmapviz.workloads.base import on_cpu0
from vmapviz.run.spec import RunSpec






def test_starts_paused_and_steps_one_op_at_a_time(driver):
    d = driver("map-touch-unmap")
    assert d.latest.op == 0 and not d.latest.running
    d.step()
    wait_for(lambda: d.latest.op == 1)
    # map-touch-unmap's first op on whichever CPU: vm_map_ram(4) = the CPU's first block
    assert [e.kind for e in d.latest.last_op] == ["call", "area", "block", "bits", "return"]
    d.step(5)
    wait_for(lambda: d.latest.op == 6)


def test_play_pause_and_speed(driver):
    d = driver("map-touch-unmap", speed=None)
    d.play()
    wait_for(lambda: d.latest.op > 1000 and d.latest.running)
    d.pause()
    wait_for(lambda: not d.latest.running)
    op = d.latest.op
    time.sleep(0.1)
    assert d.latest.op == op
    d.set_speed(50.0)
    wait_for(lambda: d.latest.speed == 50.0)


def test_step_until_a_flush_stops_on_the_flushing_op(driver):
    # 1 CPU: lazy_max_pages 8192; the 9th freed block (9216 lazy pages) purges, which is
    # triple 9 * 256 = 2304, its vm_unmap_ram being op 3 * 2304 = 6912.
    d = driver("map-touch-unmap", nr_cpus=1)
    d.step_until("flush")
    wait_for(lambda: d.latest.op == 6912)
    kinds = [e.kind for e in d.latest.last_op]
    assert "purge" in kinds and "flush" in kinds and not d.latest.running
    # counted in buckets of 16 ops (6912 // 16 = 432 of at most 512 buckets)
    assert (d.latest.flush_per, len(d.latest.flush_counts), d.latest.flush_counts[432]) == (16, 433, 1)
    assert sum(d.latest.flush_counts) == 1


def test_step_until_a_warning(driver):
    d = driver("agp-bug")
    d.step_until("warn")
    wait_for(lambda: d.latest.op == 6)      # the 6th op is agp's vmalloc of 4 pages
    assert any(e.kind == "warn" for e in d.latest.last_op)


def test_reset_restart_and_extra_calls(driver):
    d = driver("map-touch-unmap", nr_cpus=2)
    d.step(10)
    wait_for(lambda: d.latest.op == 10)
    d.reset()
    wait_for(lambda: d.latest.op == 0)
    d.restart(d.requested.replace(variant="posted", nr_cpus=8, seed=3))
    wait_for(lambda: d.latest.config.nr_cpus == 8)
    assert d.latest.config.variant == "posted" and d.latest.config.seed == 3
    d.restart(d.requested.replace("agp-bug"))  # another workload: its own defaults
    wait_for(lambda: d.latest.workload == "agp-bug")
    assert (d.latest.config.bits, d.latest.config.nr_cpus) == (32, 1)
    d.call("purge")
    wait_for(lambda: d.latest.op == 1)
    assert d.latest.last_op[0].name == "purge"
    with pytest.raises(ValueError):         # NR_CPUS 3: 32768/3/16 = 682 bits, not a power
        d.requested.replace(nr_cpus=3, bits=32, config_nr_cpus=3)   # of two: refused in the caller
    d.restart(d.requested.replace(nr_cpus=3, bits=32))  # NR_CPUS 8: 256 bits
    wait_for(lambda: d.latest.config.nr_cpus == 3)
    assert d.latest.config.vmap_bbmap_bits == 256
    assert d.latest.workload == "agp-bug"


def test_a_failing_workload_becomes_an_error_event_and_the_driver_keeps_going(driver):
    def broken(cfg, rng):
        yield "vmalloc", (4096,)
        raise RuntimeError("workload bug")
    w = Workload("broken", "raises", "", on_cpu0(broken), dict(nr_cpus=1))
    d = driver(w)
    d.play()
    wait_for(lambda: d.latest.error is not None)
    assert d.latest.error == "RuntimeError: workload bug"
    assert d.latest.events[-1].kind == "error" and not d.latest.running
    d.call("purge")                         # still answering commands
    wait_for(lambda: d.latest.last_op and d.latest.last_op[0].kind == "call")


def test_a_lagging_consumer_gets_only_the_newest_snapshot():
    seen = []

    def slow(snap):
        seen.append(snap.op)
        time.sleep(0.2)
    d = Driver(RunSpec.of("map-touch-unmap", speed=None), on_snapshot=slow)
    d.start()
    d.play()
    time.sleep(1.0)
    d.pause()
    wait_for(lambda: not d.latest.running)
    time.sleep(0.5)
    final = d.latest.op
    d.stop()
    assert seen == sorted(seen)             # never an older one after a newer one
    assert len(seen) <= 8                   # 0.2 s each: most snapshots were skipped
    assert seen[-1] == final                # the newest always arrives


def test_stop_joins_the_threads():
    d = Driver(RunSpec.of("map-touch-unmap", speed=None))
    d.start()
    d.play()
    time.sleep(0.2)
    d.stop(timeout=1.0)
    assert not any(t.name.startswith("vmapviz-") and t.is_alive() for t in threading.enumerate())


def test_an_error_without_a_message_says_what_its_type_means(driver):
    def starved(cfg, rng):
        yield "vmalloc", (4096,)
        raise MemoryError
    d = driver(Workload("starved", "raises", "", on_cpu0(starved), dict(nr_cpus=1)))
    d.play()
    wait_for(lambda: d.latest.error is not None)
    assert d.latest.error == "MemoryError: Out of memory."


def test_a_restart_toggles_from_the_requested_state(driver):
    # two restarts sent before the driver thread has run either: the second one reads
    # what the first asked for, not the config still running
    d = driver("map-touch-unmap")
    d.restart(d.requested.replace(variant="posted" if d.requested.config.variant == "merged" else "merged"))
    d.restart(d.requested.replace(variant="posted" if d.requested.config.variant == "merged" else "merged"))
    assert d.requested.config.variant == "merged"
    wait_for(lambda: d._commands.empty() and d.config.variant == "merged")


def test_a_header_seed_stands_unless_a_seed_is_given(driver, tmp_path):
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"vmapviz": "trace", "version": 1, "config": {"nr_cpus": 1, "seed": 9}}\n')
    assert driver(str(trace)).config.seed == 9
    assert driver(str(trace), seed=2).config.seed == 2


@pytest.mark.parametrize("every", [1, 5, 1000])
def test_a_runs_recent_events_are_the_newest_of_every_op_it_ran(every):
    """The Run keeps records and makes `recent` from them when read: read after every
    op (only the new records made each time), every 5th, or once at the end, it is the
    newest `keep` of the events step() gave op by op (here 7, so that the
    window starts inside an op; xfs-dir's first 300 ops emit 2, 3 or 5 events); a driver error
    comes last; the last op's events are step()'s."""
    from vmapviz.run.driver import DriverError, Run
    from vmapviz.workloads import get

    w = get("xfs-dir")
    run = Run(w, w.config(nr_cpus=2), keep=7)
    stream = []
    for i in range(1, 301):
        events = run.step()
        stream += events
        assert run.last_op == events and events[0].kind == "call" and events[0].op == i
        if i % every == 0:
            assert run.recent == tuple(stream[-7:]), f"op {i}"
    assert run.recent == tuple(stream[-7:])
    run.note(DriverError(run.kernel.op, 0, "boom"))
    assert run.recent[-1] == DriverError(run.kernel.op, 0, "boom") and run.recent[-1].kind == "error"
    assert run.last_op == [DriverError(run.kernel.op, 0, "boom")]
