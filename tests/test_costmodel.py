"""The cost model: toy programs worked out by hand, the hand-derived counts, calibration,
determinism and the `vmapviz scaling` command."""

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
    p = m.PARAMS
    expected = (1 + 4 + 4) * p.l2_hit_ns + 2 * p.atomic_ns + m.flush_ns(4) + 2 * m.residual("vanilla") / 3
    assert m.op_ns("vanilla", counts, 4, ops=2) == pytest.approx(expected)


@pytest.mark.parametrize("generation, row", [("vanilla", 14_700.0), ("merged", 2_900.0)])
def test_op_ns_over_a_measured_cycle_is_the_one_thread_row(generation, row):
    its, n = m.measured(generation, 1, 8, 0)
    assert m.op_ns(generation, total(its), 8, ops=3 * n) / n == pytest.approx(row)


def test_op_ns_has_no_calibration_for_modern():
    with pytest.raises(m.ModelError):
        m.op_ns("modern", m.OpCounts(), 4)


# -- calibration, determinism, the command -------------------------------------------------

def test_calibration_reproduces_the_one_thread_row_exactly():
    table = m.scaling([1])
    assert table["ns"]["vanilla"][0] == pytest.approx(14_700.0, abs=0.05)
    assert table["ns"]["merged"][0] == pytest.approx(2_900.0, abs=0.05)
    assert m.simulate("vanilla", 1, 8, m.residual("vanilla")).ns == pytest.approx(14_700.0, abs=1e-6)
    assert m.simulate("merged", 1, 8, m.residual("merged")).ns == pytest.approx(2_900.0, abs=1e-6)


def test_breakdown_adds_up_to_the_total():
    r = m.simulate("vanilla", 4, 8, m.residual("vanilla"))
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
