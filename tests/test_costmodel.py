"""The cost model: toy programs worked out by hand, the hand-derived counts, calibration,
determinism and the `vmapviz scaling` command."""

import io
import json

import pytest

from vmapviz.models import costmodel as m
from vmapviz.faces.cli import main
from vmapviz.kernel import Config, Kernel

FREE = m.with_params(line_socket_ns=0.0, line_remote_ns=0.0, atomic_ns=0.0)


def per_cycle(programs, cpus, params, cycles=6):
    sim = m.Simulation(programs, cpus, params)
    sim.run(cycles)
    return sim.per_iteration(1)[0]


def test_one_thread_without_contention_is_the_sum_of_its_steps():
    prog = [("work", 100.0, "work"), ("lock", "L", True), ("work", 50.0, "walk"), ("unlock", "L")]
    # 100 + 50: the lock word never leaves CPU 0, so no handover is paid.
    assert per_cycle([prog], 8, m.PARAMS) == pytest.approx(150.0)


def test_two_threads_on_one_lock_with_known_hold_time():
    hold, outside = 100.0, 50.0
    prog = [("lock", "L", True), ("work", hold, "work"), ("unlock", "L"), ("work", outside, "work")]
    # Closed loop, deterministic: the lock is busy 2*hold per round > hold + outside, so
    # each thread completes one cycle per 2 * hold.
    assert per_cycle([prog, prog], 8, FREE) == pytest.approx(2 * hold)
    # With real lines: threads 0 and 1 sit on CPUs 0 and 4 (two sockets); every grant moves
    # the lock word (atomic + remote line) and the list head (remote line) across.
    p = m.PARAMS
    handover = p.atomic_ns + 2 * p.line_remote_ns
    assert per_cycle([prog, prog], 8, p) == pytest.approx(2 * (hold + handover))


def test_lock_is_not_the_bottleneck_when_the_outside_work_dominates():
    prog = [("lock", "L", True), ("work", 100.0, "work"), ("unlock", "L"), ("work", 500.0, "work")]
    assert per_cycle([prog, prog], 8, FREE) == pytest.approx(600.0)


def test_a_flush_with_seven_targets_worked_by_hand():
    p = m.PARAMS
    a, L, R, I, F, T = p.atomic_ns, p.line_socket_ns, p.line_remote_ns, p.ipi_ns, p.full_flush_ns, p.tlb_refill_ns
    prog = [("flush",), ("work", 1.0, "work")]
    # CPU 0 of two 4-core sockets, 8 CPUs.  Steady state (the last acknowledger, CPU 7,
    # holds call_function_lock's line):
    #   call_function_lock from CPU 7              a + R
    #   IPI to the handlers                        I
    #   CPUs 1-3 read the queue and data           2L, flush F; CPUs 4-7 are ready later (2R)
    #   acks on data->lock: 0->1->2->3 (a + L each), 3->4 (a + R), 4->5->6->7 (a + L each);
    #     the local acks (3(a+L) after 2L) outlast the remote reads (2R), so no gap
    #   CPU 7 takes call_function_lock from CPU 0  a + R
    #   CPU 0 reads the flag from CPU 7, flushes   R + F
    #   then refills its kernel entries            4 T, and does 1 ns of work
    assert 3 * (a + L) + 2 * L > 2 * R
    expected = (a + R) + I + 2 * L + F + 6 * (a + L) + (a + R) + (a + R) + R + F + 4 * T + 1.0
    assert per_cycle([prog], 8, p) == pytest.approx(expected)


def test_a_flush_with_one_target():
    p = m.PARAMS
    prog = [("flush",), ("work", 1.0, "work")]
    # CPU 1 (same socket) acks from CPU 0's line and unlinks with call_function_lock from CPU 0:
    # call_function_lock stays with CPU 1 between flushes, so the send pays a + L.
    a, L = p.atomic_ns, p.line_socket_ns
    expected = (a + L) + p.ipi_ns + 2 * L + p.full_flush_ns + (a + L) + (a + L) + L + p.full_flush_ns \
        + 4 * p.tlb_refill_ns + 1.0
    assert per_cycle([prog], 2, p) == pytest.approx(expected)


def test_a_flush_inside_the_lock_saturates_it_as_worked_by_hand():
    # One thread's critical section holds a flush of known cost; outside it, W of work.
    # No line or atomic costs, no refills: a flush is the IPI (I), each target's
    # handler (its flush F and handler time H; the acks cost nothing), then the
    # initiator's own flush F:  phi = I + F + H + F.
    I, F, H, W = 1000.0, 100.0, 500.0, 1000.0
    p = m.with_params(line_socket_ns=0.0, line_remote_ns=0.0, atomic_ns=0.0, ipi_ns=I,
                      full_flush_ns=F, tlb_refill_ns=0.0)
    phi = I + F + H + F                                        # 1,700
    prog = [("lock", "L", True), ("flush", True), ("unlock", "L"), ("work", W, "work")]

    def per_thread(n):
        sim = m.Simulation([prog] * n, 8, p, handler_ns=H)
        sim.run(12)
        return sim.per_iteration(1, warmup=4)[0]

    assert per_thread(1) == pytest.approx(phi + W)             # 2,700: the lock idles W a cycle
    # Two threads: the lock is busy 2 phi = 3,400 a round, more than a thread needs
    # outside it (W, plus the other's handler on its CPU while it works: F + H = 600;
    # 1,600 < phi), so it saturates: every thread waits for the other's flush.
    assert per_thread(2) == pytest.approx(2 * phi)             # 3,400: +700 on one thread
    # Four: 4 phi = 6,800 a round (outside: W + 3 (F + H) = 2,800 < 3 phi): +3,400 more.
    assert per_thread(4) == pytest.approx(4 * phi)


def test_an_idle_target_wakes_before_its_handler_a_busy_one_does_not():
    # wake_ns delays only a CPU no thread runs on.  Two CPUs, one thread: the target is
    # idle, so the round trip grows by the wake; with a second thread on CPU 1 it is busy.
    p = m.with_params(line_socket_ns=0.0, line_remote_ns=0.0, atomic_ns=0.0, ipi_ns=1000.0,
                      full_flush_ns=100.0, tlb_refill_ns=0.0)
    flusher = [("flush", True), ("work", 10_000.0, "work")]
    alone = m.Simulation([flusher], 2, p, wake_ns=3000.0)
    alone.run(4)
    assert alone.per_iteration(1)[0] == pytest.approx(1000 + 3000 + 100 + 100 + 10_000)
    busy = m.Simulation([flusher, [("work", 10_000.0, "work")]], 2, p, wake_ns=3000.0)
    busy.run(4)
    assert busy.threads[0].cycle_end[-1] - busy.threads[0].cycle_end[-2] == pytest.approx(1000 + 100 + 100 + 10_000)


def test_a_handler_steals_time_from_the_thread_on_its_cpu():
    p = FREE
    flusher = [("flush",), ("work", 10_000.0, "work")]
    worker = [("work", 10_000.0, "work")]
    sim = m.Simulation([flusher, worker], 2, p)
    sim.run(3)
    # Handler on CPU 1: from arrival (I) through its full flush F to its ack (0 lines): F.
    # The worker also refills 4 kernel entries after each flush.
    stolen = p.full_flush_ns + 4 * p.tlb_refill_ns
    worker_parts = sim.threads[1].cycle_acc
    assert worker_parts[-1]["irq"] - worker_parts[-2]["irq"] == pytest.approx(stolen)


def test_placement_alternates_sockets():
    assert m.placement(8) == [0, 4, 1, 5, 2, 6, 3, 7]
    assert m.placement(6) == [0, 4, 1, 5, 2, 3]


# -- the hand-derived counts (KERNEL-HISTORY A.5/A.6, the patch's vb_alloc/vb_free) -------

def total(iterations):
    out = m.OpCounts()
    for ops in iterations:
        for op in ops:
            out += op
    return out


# -- the kernel's own counts, against counts worked out by hand from the C ----------------
# The model runs the workload on the simulated kernel, its threads taking turns op by op
# (costmodel._measure), and reads each op's counters.

@pytest.mark.parametrize("threads", [1, 2, 4, 8])
def test_vanilla_counts_per_iteration(threads):
    # Thread k maps after threads 0..k-1 have mapped this round and k+1.. have unmapped:
    # vmlist holds k areas, all below it, so vmap examines k nodes and appends; it unmaps
    # after 0..k-1 unmapped, so its area is at the head: one node.  Each op takes
    # vmlist_lock for write; the vunmap flushes: 7 IPIs, 8 whole TLBs; 4 PTEs set and 4
    # cleared (the guard PTE was never set); the touch misses 4 times (every flush emptied
    # the TLB).
    for k in range(threads):
        its, n = m.measured("vanilla", threads, 8, k)
        assert n == 200
        assert total(its) == m.OpCounts(walk=n * (k + 1), vmlist_write=2 * n, tlb_flushes=n, ipis=7 * n,
                                        full_flushes=8 * n, ptes_set=4 * n, ptes_cleared=4 * n,
                                        pages_touched=4 * n)


def test_rewrite_counts_over_a_purge_cycle():
    its, n = m.measured("merged", 1, 8, 0)
    # lazy_max_pages at 8 CPUs: fls(8) * 32 MiB / 4 KiB = 32768 pages = 32 blocks; the 33rd
    # freed block crosses it: the cycle is 33 blocks of 256 order-2 regions.
    assert n == 33 * 256
    c = total(its)
    assert c.ptes_set == c.pages_touched == 4 * n
    # per block: vb_alloc takes vb->lock 256 times, vbq->lock when the block fills and
    # when new_vmap_block() lists it, vmap_block_tree_lock to insert it; vb_free takes
    # vb->lock 256 times, vbq->lock at the first dirty region and in free_vmap_block(),
    # vmap_block_tree_lock to delete it
    assert c.vb_lock == 33 * (256 + 2 + 1 + 256 + 2 + 1)
    assert (c.tlb_flushes, c.ipis, c.full_flushes) == (1, 7, 8)
    assert c.vmap_area_lock == 33 + 1            # a new block each; the purge frees under it
    assert c.ptes_cleared == 33 * 1024           # the purge clears every lazy block's PTEs
    assert c.vmlist_write == c.vmlist_read == 0


# -- simulated time per op (compare mode) ---------------------------------------------------

def test_an_uncontended_flush_on_4_cpus_worked_by_hand():
    p = m.PARAMS
    a, L, I, F, T = p.atomic_ns, p.line_socket_ns, p.ipi_ns, p.full_flush_ns, p.tlb_refill_ns
    # One 4-core socket: every line comes from the same die.  Steady state: CPU 3 acked last.
    #   call_function_lock from CPU 3         a + L
    #   the IPI                               I
    #   CPUs 1-3 read queue and data, flush   2L + F
    #   acks on data->lock 0->1->2->3         3 (a + L)
    #   CPU 3 takes call_function_lock        a + L
    #   CPU 0 reads the flag, flushes         L + F, then refills 4 kernel entries: 4T
    assert m.flush_ns(4) == pytest.approx(5 * (a + L) + I + 3 * L + 2 * F + 4 * T)   # 1,697 ns
    assert m.flush_ns(1) == pytest.approx(a + F + 4 * T)    # no one to interrupt


def test_op_ns_of_vmap_and_vunmap_on_vanilla_worked_by_hand():
    k = Kernel(Config(nr_cpus=4, variant="vanilla"))
    k.vunmap(k.vmap(4, cpu=0), cpu=0)
    # vmap on an empty vmlist walks nothing, takes vmlist_lock for write, sets 4 PTEs;
    # vunmap examines the one node, takes the lock, clears 4 PTEs (the guard page has
    # none) and flushes every CPU: 3 IPIs, 4 whole TLBs.
    counts = m.counts_of(k.stats)
    assert counts == m.OpCounts(walk=1, vmlist_write=2, tlb_flushes=1, ipis=3, full_flushes=4,
                                ptes_set=4, ptes_cleared=4)
    p, cal = m.PARAMS, m.calibrate()
    # The flush: the uncontended round trip worked by hand below, plus the residual round
    # trip (every target idle: each ready time moves by it, so the round trip does), and
    # two thirds of the common work (vmap's and vunmap's).
    expected = ((1 + 4 + 4) * p.l2_hit_ns + 2 * p.atomic_ns + m.flush_ns(4) + cal.roundtrip_ns
                + 2 * cal.common_ns["vanilla"] / 3)
    assert m.op_ns("vanilla", counts, 4, ops=2) == pytest.approx(expected)


@pytest.mark.parametrize("generation, row", [("vanilla", 14_700.0), ("merged", 2_900.0)])
def test_op_ns_over_a_measured_cycle_is_the_one_thread_row(generation, row):
    its, n = m.measured(generation, 1, 8, 0)
    assert m.op_ns(generation, total(its), 8, ops=3 * n) / n == pytest.approx(row)


def test_op_ns_refuses_an_unknown_generation():
    with pytest.raises(m.ModelError):
        m.op_ns("bogus", m.OpCounts(), 4)


# -- calibration, determinism, the command -------------------------------------------------

@pytest.mark.parametrize("generation, row", sorted(m.CALIBRATION.items()))
def test_calibration_reproduces_each_one_thread_row_exactly(generation, row):
    assert m.simulate(generation, 1, 8).ns == pytest.approx(row, abs=1e-6)


@pytest.mark.parametrize("generation, row", sorted(m.CALIBRATION.items()))
def test_the_attribution_table_sums_to_the_row(generation, row):
    table = m.attribution(generation)
    assert table[-1] == {"row": row}
    assert sum(r["ns"] for r in table[:-1]) == pytest.approx(row, abs=0.05)


def test_the_attribution_puts_vanillas_flush_and_unmap_under_vmlist_lock():
    # 2.6.27's remove_vm_area(): write_lock(&vmlist_lock); __remove_vm_area() ->
    # unmap_vm_area() -> unmap_kernel_range(): clear the PTEs, then
    # flush_tlb_kernel_range() -> flush_tlb_all(): the IPI broadcast and the wait
    # (mm/vmalloc.c of the 2.6.27 tree the rewrite patch applies to: __remove_vm_area at
    # line 338, its unmap_vm_area(tmp) at 349, remove_vm_area at 367; the patch's hunks
    # "@@ -321,39" and "@@ -366,11" remove them).
    rows = {r["mechanism"]: r for r in m.attribution("vanilla")[:-1]}
    for mech in ("PTEs cleared", "own TLB flush (CR4.PGE toggle)", "common work, the unmap's third"):
        assert rows[mech]["lock"] == "vmlist_lock"
    assert [r["lock"] for k, r in rows.items() if k.startswith("IPI round trip")] == ["vmlist_lock"] * 2
    for mech in ("PTEs set", "TLB misses touching the pages", "common work, the map's third"):
        assert rows[mech]["lock"] == "none"
    # the residual round trip is what vanilla's row holds beyond the rewrite's iteration
    # and its own counted mechanisms
    cal = m.calibrate()
    counted = sum(r["ns"] for k, r in rows.items() if k != "IPI round trip, residual (7 idle targets)")
    assert rows["IPI round trip, residual (7 idle targets)"]["ns"] == pytest.approx(14_700 - counted, abs=0.05)
    assert cal.common_ns["vanilla"] == pytest.approx(cal.common_ns["merged"])


def test_the_rewrite_holds_no_global_lock_through_its_flush():
    rows = {r["mechanism"]: r for r in m.attribution("merged")[:-1]}
    assert rows["common work, the unmap's third"]["lock"] == "none"
    assert rows["IPI round trip, residual (7 idle targets)"]["lock"].startswith("none")


def test_breakdown_adds_up_to_the_total():
    r = m.simulate("vanilla", 4, 8)
    assert sum(r.parts.values()) == pytest.approx(r.ns, rel=1e-6)


def test_same_inputs_same_table():
    assert m.scaling([1, 2, 4, 8]) == m.scaling([1, 2, 4, 8])


def test_cli_json_shape(capsys):
    assert main(["scaling", "--json", "--threads", "1,2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["threads"] == [1, 2]
    assert set(out["ns"]) == {"vanilla", "merged"}
    assert all(len(v) == 2 for v in out["ns"].values())
    assert len(out["speedup"]) == 2
    assert out["speedup"][0] == pytest.approx(14_700 / 2_900, abs=0.01)
    assert out["params"]["cpus"] == 8 and set(out["params"]["sources"]) >= {"ipi_ns", "line_remote_ns"}


@pytest.mark.parametrize("argv", [["--threads", "0"], ["--threads", "1,x"], ["--threads", "16"],
                                  ["--cpus", "0"], ["--workload", "vmalloc-churn"], ["--bogus"]])
def test_cli_bad_option_exits_2(argv, capsys):
    assert main(["scaling", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vmapviz: ") and err.count("\n") == 1


# -- xfs-dir and the thread's XFS profiles ---------------------------------------------------

def test_the_profile_shares_worked_by_hand():
    before = m.profile_shares("vanilla")
    busy = 1_352_059 - 529_313                      # all ticks less default_idle
    assert before["lock_wait"] == pytest.approx(798_784 / busy)          # 97.09%
    assert before["flush"] == pytest.approx((15_242 + 252 + 136 + 130) / busy)
    assert before["walk"] == pytest.approx((2_472 + 1_762) / busy)
    assert before["idle"] == pytest.approx(529_313 / 1_352_059)         # 39.15%
    after = m.profile_shares("merged")
    assert after["other_locks"] == pytest.approx((33_576 + 1_650 + 281) / (78_406 - 40_053))
    assert "lock_wait" not in after and "flush" not in after             # none listed
    assert after["idle"] == pytest.approx(40_053 / 78_406)              # 51.08%
    for shares in (before, after):
        assert sum(v for k, v in shares.items() if k != "idle") == pytest.approx(1.0)


def test_quick_xfs_dir_counts_hold_one_purge_cycle():
    runs = m._measure("merged", 8, 8, "xfs-dir", True)
    c = m.OpCounts()
    for thread in runs:
        for ops in thread:
            for op in ops:
                c += op
    # from one purge to the next: 33 freed blocks (lazy_max_pages 32,768 at 8 CPUs),
    # every page of each mapped once, cleared by the one purge, flushed once to 7 CPUs
    assert (c.tlb_flushes, c.ipis, c.full_flushes) == (1, 7, 8)
    assert c.ptes_cleared == 33 * 1024
    assert c.vmlist_write == 0
    assert len({len(thread) for thread in runs}) == 1       # every thread as many iterations


def test_cli_profile_json(capsys):
    assert main(["scaling", "--workload", "xfs-dir", "--cpus", "8", "--threads", "8", "--profile", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["workload"], out["cpus"], out["threads"]) == ("xfs-dir", 8, 8)
    for gen in ("vanilla", "merged"):
        assert sum(out["model"][gen]["shares"].values()) == pytest.approx(1.0, abs=1e-4)
    assert out["profile"]["vanilla"]["lock_wait"] == pytest.approx(0.97088, abs=1e-5)
    # the rewrite takes no global lock on its fast path: its time is work
    assert out["model"]["merged"]["shares"]["work"] > 0.99


# -- every generation, the sensitivity, the cost of a table --------------------------------

def test_an_uncalibrated_generation_is_attributed_too():
    # 6.12 has no row of the thread's: its one-thread time is its counts plus the
    # rewrite's common work, and the attribution (worked from counts and constants, not
    # from the simulation) sums to what the simulation plays.
    table = m.attribution("modern")
    assert "row" not in table[-1]
    assert sum(r["ns"] for r in table) == pytest.approx(m.simulate("modern", 1, 8).ns, abs=0.05)
    share = {r["mechanism"]: r["ns"] for r in table}["common work, the map's third"]
    assert share == pytest.approx(m.calibrate().common_ns["merged"] / 3, abs=1e-3)


def test_a_constant_the_calibration_covers_moves_into_the_residual():
    # Halving ipi_ns shortens the counted round trip by exactly 500 ns (every target is
    # idle and its ready time moves by it); calibrated again, the residual round trip
    # takes those 500 ns back and the 1-thread row stays exact.
    low = m.with_params(ipi_ns=500.0)
    assert m.calibrate(low).roundtrip_ns == pytest.approx(m.calibrate().roundtrip_ns + 500.0, abs=1e-6)
    assert m.simulate("vanilla", 1, 8, p=low).ns == pytest.approx(14_700.0, abs=1e-6)


def test_cli_variants_json_keeps_its_schema(capsys):
    assert main(["scaling", "--json", "--threads", "1,2", "--variants", "vanilla,merged,modern"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"threads", "ns", "speedup", "params", "parts"}
    assert set(out["ns"]) == {"vanilla", "merged", "modern"}
    assert out["speedup"] == [round(v / r, 2) for v, r in zip(out["ns"]["vanilla"], out["ns"]["merged"])]
    assert out["ns"]["vanilla"][0] == pytest.approx(14_700.0, abs=0.05)


@pytest.mark.parametrize("argv", [["--variants", "vanilla"], ["--variants", "vanilla,bogus"],
                                  ["--variants", "merged,merged"], ["--threads", "١,٢"]])
def test_cli_bad_variants_or_digits_exit_2(argv, capsys):
    assert main(["scaling", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vmapviz: ") and err.count("\n") == 1


def test_cli_refuses_a_table_out_of_proportion_before_simulating(capsys, monkeypatch):
    # 1,024 threads on 1,024 CPUs: every vanilla flush interrupts 1,023 CPUs, 150
    # iterations a thread: the estimate is far over the cap, and nothing runs.
    monkeypatch.setattr(m, "simulate", lambda *a, **k: pytest.fail("simulated"))
    assert m.cost_estimate([1024], 1024, ("vanilla", "merged")) > m.MAX_WORK
    assert main(["scaling", "--cpus", "1024", "--threads", "1024"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "over the cap" in err and "--cpus 1024" in err and "s of CPU" in err


def test_cli_ctrl_c_stops_a_table_with_130(capsys, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(m, "simulate", interrupted)
    monkeypatch.setattr(m, "calibrate", interrupted)
    assert main(["scaling", "--json"]) == 130
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "vmapviz: interrupted\n"


def test_progress_shows_on_a_terminal_only():
    from vmapviz.faces.scaling_view import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        show = Progress(stream)
        show("vanilla, 8 threads on 8 CPUs (4/8)")
        show.done()
    assert "vanilla, 8 threads on 8 CPUs (4/8)" in tty.getvalue() and tty.getvalue().endswith("\r\x1b[K")
    assert pipe.getvalue() == ""


def test_stacked_bars_worked_by_hand():
    from vmapviz.faces.scaling_view import bars_view
    # two bars on one scale: the longer (100 ns) fills 20 cells, 50 ns of lock wait is
    # 10 of them, 25 of IPI round trip 5, 25 of work 5; the other (50 ns of work) 10 cells
    table = {"threads": [1], "parts": {"a": [{"lock_wait": 50.0, "ipi": 25.0, "work": 25.0}],
                                       "b": [{"work": 50.0}]}}
    lines = bars_view(table, width=20).plain.splitlines()
    assert lines[1] == "a   1 " + "█" * 10 + "▓" * 5 + "■" * 5 + " 100 ns"
    assert lines[2] == "b   1 " + "■" * 10 + " 50 ns"


def test_the_round_trip_constants_cancel_out_once_calibrated_again():
    # 2 threads on 8 CPUs (wake_share 0: an idle target takes the same time as a busy
    # one): a target is ready at IPI + lines + its flush + handler time.  Calibrated
    # again, ipi_ns + d leaves the residual round
    # trip (the handler time) d shorter, so every ready time, every round trip and the
    # table stay exactly as they were; full_flush_ns + d is taken twice from it (the
    # targets' and the initiator's own flush at 1 thread), so a target's flush +
    # handler is d shorter and the initiator's own flush d longer: the same sum.
    out = m.sensitivity(threads=2, constants=("ipi_ns", "full_flush_ns"))
    base = out["base"]
    for name in ("ipi_ns", "full_flush_ns"):
        for side in ("low", "high"):
            assert out["constants"][name][side]["vanilla"] == pytest.approx(base["vanilla"], abs=0.2)
    d = m.PARAMS.ipi_ns / 2
    assert out["constants"]["ipi_ns"]["low"]["roundtrip_ns"] == pytest.approx(base["roundtrip_ns"] + d, abs=0.1)
    assert out["constants"]["full_flush_ns"]["high"]["roundtrip_ns"] == pytest.approx(
        base["roundtrip_ns"] - 2 * m.PARAMS.full_flush_ns, abs=0.1)


def test_two_curves_on_one_point_are_drawn_side_by_side():
    from vmapviz.faces.scaling_view import plot
    # merged and modern both at 10 ns: on the bottom row (0 of 200, rounded), merged's m
    # at each thread column, modern's * beside it (right of the first, left of the last)
    t = {"threads": [1, 2], "ns": {"vanilla": [100.0, 200.0], "merged": [10.0, 10.0], "modern": [10.0, 10.0]}}
    rows = plot(t, height=5).plain.splitlines()
    assert rows[4] == "       0 ns │m*·······*m"
    assert rows[0].endswith("··v") and rows[2].startswith("     100 ns │v")


def test_a_table_stops_when_its_stop_raises_and_keeps_nothing():
    class Stop(Exception):
        pass

    asked = []

    def stop():
        asked.append(1)
        raise Stop

    with pytest.raises(Stop):
        m.scaling([1, 2], stop=stop)
    assert asked and getattr(m._STOP, "fn", None) is None
    from vmapviz.tui.screens import scaling
    scaling._TABLES.pop((scaling.THREADS, 8), None)
    with pytest.raises(Stop):
        scaling.chart_table(stop=stop)               # the screen closed: nothing kept
    assert (scaling.THREADS, 8) not in scaling._TABLES
