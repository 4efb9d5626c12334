"""Time travel: checkpoints, the op log, re-execution, marks, and the driver's commands.

The oracle is always a separate straight run without a timeline: the state after going
back (or forward) to op n must be exactly the state a straight run has after n ops."""

import io
import pathlib
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from driver_helpers import wait_for

from vmapviz.run.driver import Run
from vmapviz.kernel.pgtable import PageMap
from vmapviz.run.timeline import BLOCK, Checkpoint, OpLog, Shared, Timeline
from vmapviz.workloads import WORKLOADS, Op, get, load





def straight(workload, n, at=None, **opts):
    """Digest, recent events and last op after each of the first n ops of a plain run
    (only after the ops in `at`, when given: a digest costs as much as the state)."""
    w = get(workload) if isinstance(workload, str) else workload
    run = Run(w, w.config(**opts))
    out = [(run.kernel.digest(), (), ())]
    for i in range(1, n + 1):
        if run.step() is None:
            break
        keep = at is None or i in at
        out.append((run.kernel.digest(), tuple(run.recent), tuple(run.last_op)) if keep else None)
    return out


def state(run):
    return run.kernel.digest(), tuple(run.recent), tuple(run.last_op)


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_restore_then_n_ops_equals_a_straight_run(name):
    oracle = straight(name, 400)
    last = len(oracle) - 1
    w = get(name)
    run = Run(w, w.config(), timeline=Timeline(every=37))
    for _ in range(last):
        run.step()
    assert state(run) == oracle[last]
    for target in sorted({0, 1, last // 3, last - 1, last // 2, 5, last} & set(range(last + 1)),
                         key=[0, 1, last // 3, last - 1, last // 2, 5, last].index):
        run.seek(target)
        assert run.kernel.op == target
        assert state(run) == oracle[target], f"seek({target})"
        for n in (1, 20):                       # and then n ops, replayed from the log
            if target + n <= last:
                run.seek(target)
                for _ in range(n):
                    run.step()
                assert state(run) == oracle[target + n], f"seek({target}) + {n} ops"


def test_past_the_log_the_live_source_goes_on():
    oracle = straight("xen-pat", 300)
    w = get("xen-pat")
    run = Run(w, w.config(), timeline=Timeline(every=40))
    for _ in range(150):
        run.step()
    run.seek(60)
    for _ in range(240):                        # 90 replayed, then 150 new ones
        run.step()
    assert run.timeline.end == 300
    assert state(run) == oracle[300]
    run.seek(299)
    assert state(run) == oracle[299]


def test_seek_forward_past_the_end_runs_the_source_until_it_ends():
    oracle = straight("exhaust-32bit", 1000)     # it ends after len(oracle) - 1 ops
    w = get("exhaust-32bit")
    run = Run(w, w.config(), timeline=Timeline(every=10))
    run.seek(10_000)
    assert run.kernel.op == len(oracle) - 1 and run.done
    assert state(run) == oracle[-1]
    run.seek(3)
    assert not run.done and state(run) == oracle[3]


def test_traces_go_back_and_forth_without_mismatches(tmp_path):
    w = get("vmalloc-churn")
    buf = io.StringIO()
    rec = Run(w, w.config(nr_cpus=2), record=buf)
    for _ in range(300):
        rec.step()
    path = tmp_path / "churn.jsonl"
    path.write_text(buf.getvalue())
    trace = load(path)
    oracle = straight(trace, 300)
    run = Run(trace, trace.config(), timeline=Timeline(every=25))
    for _ in range(200):
        run.step()
    for target in (0, 199, 57, 120):
        run.seek(target)
        assert state(run) == oracle[target]
    while run.step() is not None:
        pass
    assert run.done and run.kernel.op == 300 and state(run) == oracle[300]
    assert run.mismatches == []


@pytest.mark.parametrize("workload, ran, at, every", [("map-touch-unmap", 200, 70, 16),
                                                     ("map-touch-unmap", 4000, 2500, 700),
                                                     ("xfs-dir", 3000, 2100, 500)])
def test_an_extra_call_after_stepping_back_changes_the_future(workload, ran, at, every):
    """Purge at op `at` after going back: the logged ops after it are forgotten, and the
    workload goes on from there as a plain run that purged there would (past the op
    log's first block, the workload is brought back to `at` from written blocks)."""
    w = get(workload)
    oracle = Run(w, w.config())
    for _ in range(at):
        oracle.step()
    oracle.call("purge")
    for _ in range(50):
        oracle.step()
    run = Run(w, w.config(), timeline=Timeline(every=every))
    for _ in range(ran):
        run.step()
    run.seek(at)
    run.call("purge")
    assert run.timeline.end == at + 1
    for _ in range(50):
        run.step()
    assert state(run) == state(oracle)
    run.seek(at + 1)                             # the purge is in the log now
    assert run.last_op[0].name == "purge" and run.kernel.op == at + 1


def test_marks_are_the_ops_whose_events_are_of_that_kind():
    w = get("xen-pat")
    plain = Run(w, w.config())
    expected = {"flush": [], "block": [], "purge": [], "warn": []}
    for _ in range(3000):
        kinds = {e.kind for e in plain.step()}
        for name, wanted in (("flush", {"flush"}), ("block", {"block"}), ("purge", {"purge"}),
                             ("warn", {"warn", "bug"})):
            if kinds & wanted:
                expected[name].append(plain.kernel.op)
    run = Run(w, w.config(), timeline=Timeline())
    for _ in range(3000):
        run.step()
    tl = run.timeline
    assert expected["flush"] and expected["block"]
    for name, ops in expected.items():
        assert list(tl.marks[name]) == ops
    f = expected["flush"]
    assert tl.previous("flush", f[3]) == f[2] and tl.previous("flush", f[3] + 1) == f[3]
    assert tl.previous("flush", f[0]) is None
    assert sum(run.flushes.counts()) == len(f)      # one flush in each of those ops


def test_marks_include_the_kworker_events_after_an_ops_return():
    """Linux 6.12's hand-worked tour (tests/data/modern-tour.jsonl): ops 3 and 4 make
    vmap blocks; op 11's vfree wakes the purge kworker, whose Purge and TlbFlush come
    after the op's Return."""
    path = str(pathlib.Path(__file__).parent / "data" / "modern-tour.jsonl")
    w = load(path)
    run = Run(w, w.config(), timeline=Timeline())
    while run.step() is not None:
        pass
    marks = {name: list(ops) for name, ops in run.timeline.marks.items()}
    assert marks == {"purge": [11], "flush": [11], "block": [3, 4], "warn": []}


def test_checkpoint_memory_stays_within_the_budget():
    w = get("map-touch-unmap")
    tl = Timeline(every=100, budget=3 << 20)
    run = Run(w, w.config(), timeline=tl)
    for _ in range(20_000):
        run.step()
    assert tl.bytes <= tl.budget
    assert 0 in tl.points and len(tl.points) < 200
    targets = (19_999, 333, 12_345)
    oracle = straight("map-touch-unmap", 20_000, at=set(targets))
    for target in targets:
        run.seek(target)
        assert state(run) == oracle[target]


def test_the_op_log_reads_back_what_was_written_across_blocks():
    log = OpLog()
    ops = [(Op(i % 3, "vm_unmap_ram", (0xFFFFC20000000000 + i * 4096, 4)), None, True) if i % 5 else
           (Op(1, "touch", (i, 1)), "use-after-free" if i % 2 else "ok", True) if i % 3 else
           (Op(0, "purge", ()), None, False)
           for i in range(3 * BLOCK + 17)]
    ops[7] = (Op(2, "vmalloc", (8192,)), 0xFFFFC20000004000, True)
    for op, result, src in ops:
        log.append(op, result, src)
    assert len(log) == len(ops)
    for start, stop in ((0, len(ops)), (BLOCK - 1, BLOCK + 2), (2 * BLOCK + 5, 2 * BLOCK + 9)):
        assert [tuple(x) for x in log.read(start, stop)] == [tuple(o) for o in ops[start:stop]]
    log.truncate(BLOCK + 3)
    assert len(log) == BLOCK + 3
    log.append(Op(3, "vmap", (9,)), 1234, True)
    assert [tuple(x) for x in log.read(BLOCK, BLOCK + 4)] == \
        [tuple(o) for o in ops[BLOCK:BLOCK + 3]] + [(Op(3, "vmap", (9,)), 1234, True)]


_logged = st.tuples(st.builds(Op, st.integers(0, 4095), st.sampled_from(("vmalloc", "touch", "purge")),
                              st.lists(st.integers(0, 2**64 - 1), max_size=2).map(tuple)),
                    st.one_of(st.none(), st.integers(0, 2**64 - 1), st.sampled_from(("ok", "fault"))),
                    st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("append"), st.sampled_from((1, 2, 3, BLOCK - 1, BLOCK + 2)), _logged),
                          st.tuples(st.just("truncate"), st.floats(0, 1), st.none())),
                max_size=8),
       st.data())
def test_the_op_log_is_a_list_of_what_was_logged(steps, data):
    """Against the obvious oracle, a Python list: appends (a run of copies of one op,
    across block boundaries), truncations anywhere, and reads of any range."""
    log, oracle = OpLog(), []
    for what, n, logged in steps:
        if what == "append":
            for _ in range(n):
                log.append(*logged)
            oracle += [logged] * n
        else:                    # at a share n of the log, inside a run as often as not
            cut = int(n * len(oracle))
            log.truncate(cut)
            del oracle[cut:]
        assert len(log) == len(oracle)
    assert [tuple(x) for x in log.read(0, len(log))] == oracle
    start = data.draw(st.integers(0, len(oracle)))
    stop = data.draw(st.integers(start, len(oracle) + BLOCK + 5))    # past the end: up to it
    assert [tuple(x) for x in log.read(start, stop)] == oracle[start:stop]


# -- through the driver thread ------------------------------------------------------------



def view(snap):
    """What the screen shows of a snapshot (not the pacing: speed, rate)."""
    return (snap.op, snap.areas, snap.blocks, snap.queues, snap.stats, snap.stale, snap.events,
            snap.last_op, snap.flush_per, snap.flush_counts, snap.finished)


def test_driver_step_back_jump_and_back_to_flush_agree_with_fresh_runs(driver):
    d = driver("map-touch-unmap", nr_cpus=1, speed=None)
    d.step(7000)                                 # 1 CPU: the first flush is at op 6912
    wait_for(lambda: d.latest.op == 7000)
    d.step_back()
    wait_for(lambda: d.latest.op == 6999)
    fresh = driver("map-touch-unmap", nr_cpus=1, speed=None)
    fresh.step(6999)
    wait_for(lambda: fresh.latest.op == 6999)
    assert view(d.latest) == view(fresh.latest)
    d.back_to_flush()
    wait_for(lambda: d.latest.op == 6912)
    assert any(e.kind == "flush" for e in d.latest.last_op)
    d.step(87)                                   # forward again: the same ops
    wait_for(lambda: d.latest.op == 6999)
    assert view(d.latest) == view(fresh.latest)
    d.jump(10)
    wait_for(lambda: d.latest.op == 10)
    d.back_to_flush()                            # none before op 10: op 0
    wait_for(lambda: d.latest.op == 0)
    assert d.latest.events == () and d.latest.flush_counts == ()


def test_the_whole_timeline_stays_within_its_budget_and_forgets_the_oldest_history():
    """Issue 28 item 4: the op log counts in the budget (1 MiB here; about 29 bytes an
    op, so 40,000 ops of log alone take more than half of it); past the budget the
    oldest history goes, from the first checkpoint to the next, and what is left still
    travels exactly as a straight run."""
    w = get("map-touch-unmap")
    tl = Timeline(every=500, budget=1 << 20)
    run = Run(w, w.config(nr_cpus=1), timeline=tl)
    peak = 0
    for _ in range(40_000):
        run.step()
        distinct = {id(b): len(b) for blob in tl.blobs.values() for b in blob.buffers}   # shared: once
        held = (sum(len(blob.data) for blob in tl.blobs.values()) + sum(distinct.values())
                + sum(map(len, tl.log.blocks.values()))
                + 120 * len(tl.log.ops) + sum(8 * len(m) for m in tl.marks.values()))
        peak = max(peak, held)
    assert peak <= 1 << 20
    assert tl.start > 0 and tl.start == tl.points[0] and tl.start % 500 == 0
    # every block still kept holds ops at or after the start; every mark is at or after it
    assert all((b + 1) * BLOCK > tl.start for b in tl.log.blocks)
    assert all(m >= tl.start for marks in tl.marks.values() for m in marks)
    assert tl.marks["block"]                  # ... and the newest are still there
    targets = (39_999, tl.start, tl.start + 777)
    oracle = straight("map-touch-unmap", 40_000, at=set(targets), nr_cpus=1)
    for target in targets:
        run.seek(target)
        assert state(run) == oracle[target]
    run.seek(0)                               # before the start: history begins there
    assert run.kernel.op == tl.start and state(run) == oracle[tl.start]
    run.seek(tl.start + 777)
    with pytest.raises(RuntimeError, match=f"before op {tl.start:,} were forgotten"):
        run.call("purge")                     # the source cannot be brought back
    assert tl.end == 40_000
    run.seek(40_000)
    run.call("purge")                         # at the end nothing needs bringing back
    assert tl.end == 40_001


def three_groups():
    """A PageMap ("I" frames, 4 bytes each) of groups 0, 1 and 5: 4,096 bytes of frames
    a group."""
    pm = PageMap("I")
    for g in (0, 1, 5):
        pm.set_run(g, 0, 0b111, array("I", [10 * g + 1, 10 * g + 2, 10 * g + 3]), 0)
    return pm


def test_a_checkpoint_shares_the_groups_unchanged_since_the_last_one():
    """Group 1 written between two checkpoints is copied again; groups 0 and 5 are not:
    the second checkpoint holds the very bytes objects of the first.  Each restores its
    own state, into arrays of its own."""
    pm = three_groups()
    last = Shared()
    first = Checkpoint(pm, last)
    pm.set(1024 + 7, 99)                       # group 1, entry 7
    pm.drop_bits(5, 0b1)                       # group 5's bitmap only: its frames stay
    second = Checkpoint(pm, last)
    assert len(first.buffers) == len(second.buffers) == 3
    shared = [a is b for a, b in zip(first.buffers, second.buffers)]
    assert shared == [True, False, True]       # in group order 0, 1, 5
    assert len(second) == len(second.data) + 3 * 4096   # len() counts every buffer
    old, new = first.load(), second.load()
    assert dict(old.items()) == {0: 1, 1: 2, 2: 3, 1024: 11, 1025: 12, 1026: 13,
                                 5120: 51, 5121: 52, 5122: 53}
    assert dict(new.items()) == {0: 1, 1: 2, 2: 3, 1024: 11, 1025: 12, 1026: 13, 1031: 99,
                                 5121: 52, 5122: 53}
    new.set(1, 7)                              # a restored array is its own
    assert second.load().get(1) == 2 and old.get(1) == 2 and pm.get(1) == 2
    assert Checkpoint(pm).buffers[0] is not second.buffers[0]   # without `last`: all copied


def test_the_timeline_counts_a_shared_buffer_once():
    """Three checkpoints of three_groups(), group 1 written before the second: 3 + 1
    distinct groups of 4,096 bytes while all are kept; dropping the second frees only
    its pickle and its own copy of group 1, dropping the first then frees its group 1."""
    pm = three_groups()
    tl = Timeline(every=10)
    tl.save(0, pm, ())
    pm.set(1024 + 7, 99)
    tl.save(10, pm, ())
    tl.save(20, pm, ())
    data = [len(tl.blobs[op].data) for op in (0, 10, 20)]
    assert tl.bytes == sum(data) + 4 * 4096
    tl._drop(10)
    assert tl.bytes == data[0] + data[2] + 4 * 4096     # 20 holds 10's copy of group 1
    tl._drop(0)
    assert tl.bytes == data[2] + 3 * 4096
    tl.truncate(0)                               # forget every checkpoint after op 0: none left
    assert tl.bytes == 0 and tl.holders == {}
