"""Compare mode's lockstep runner, its words and numbers, and `vmapviz compare`'s refusals.

The expected counts come from a tiny oracle of the interleaving rule (workloads/base.py:
a `random.Random("vmapviz-schedule:SEED")` picks one of the ready CPUs for every op; every
stream of map-touch-unmap is always ready) and the kernels' rules worked by hand:
vanilla's vunmap flushes every CPU (nr_cpus - 1 IPIs); merged frees a CPU's vmap block
lazily at its 256th vm_unmap_ram(4) and purges, with one flush, when vmap_lazy_nr passes
lazy_max_pages.
"""

from __future__ import annotations

import random
import time

import pytest

from vmapviz.models import costmodel

from vmapviz.faces.cli import main
from vmapviz.run.compare import CompareDriver, Pair, PairSnapshot, parse_variants
from vmapviz.run.driver import Run
from vmapviz.kernel import ConfigError
from vmapviz.tui.words.contrast import contrast, did, ratio, rows
from vmapviz.workloads import UnsupportedWorkload, get
from vmapviz.run.spec import RunSpec


def schedule(ops: int, cpus: int, seed: int = 1) -> list[int]:
    """The CPU of each op when every stream is always ready."""
    rng = random.Random(f"vmapviz-schedule:{seed}")
    return [rng.randrange(cpus) for _ in range(ops)]


def third_ops(ops: int, cpus: int = 4) -> int:
    """map-touch-unmap: how many of the first `ops` ops were an iteration's third op
    (the unmap): a CPU's 3rd, 6th, ... op."""
    done = [0] * cpus
    unmaps = 0
    for cpu in schedule(ops, cpus):
        done[cpu] += 1
        unmaps += done[cpu] % 3 == 0
    return unmaps


def pair_of(workload: str, variants, ops: int, **options) -> Pair:
    wl = get(workload)
    pair = Pair(wl, tuple(wl.config(variant=v, **options) for v in variants))
    for _ in range(ops):
        if pair.step() is None:
            break
    return pair


def single(workload: str, variant: str, ops: int, **options) -> Run:
    wl = get(workload)
    run = Run(wl, wl.config(variant=variant, **options))
    for _ in range(ops):
        if run.step() is None:
            break
    return run


# -- the lockstep runner ------------------------------------------------------------------

@pytest.mark.parametrize("workload, variants, cpus", [
    ("map-touch-unmap", ("vanilla", "merged"), 4),
    ("xfs-dir", ("vanilla", "merged"), 16),          # vanilla runs its translation
    ("vmalloc-churn", ("merged", "modern"), 4),
    ("fragmentation", ("posted", "merged"), 1),
])
def test_each_side_is_the_single_run_of_its_generation(workload, variants, cpus):
    pair = pair_of(workload, variants, 1500, nr_cpus=cpus, seed=3)
    for side, variant in zip(pair.sides, variants):
        alone = single(workload, variant, 1500, nr_cpus=cpus, seed=3)
        assert side.run.kernel.op == alone.kernel.op == 1500
        assert side.run.kernel.digest() == alone.kernel.digest()


def test_the_pair_ends_with_the_shorter_side():
    # agp-bug on vanilla skips its two purge() calls (there is no purge before the rewrite),
    # so it ends two ops before posted's; the pair stops when vanilla's workload ends.
    alone = single("agp-bug", "vanilla", 100)
    pair = pair_of("agp-bug", ("vanilla", "posted"), 100)
    assert pair.done
    assert pair.sides[0].run.kernel.op == alone.kernel.op
    assert pair.sides[1].run.kernel.op == alone.kernel.op
    assert pair.sides[1].run.kernel.op < single("agp-bug", "posted", 100).kernel.op


def test_runs_of_a_side_in_a_row_end_both_sides_at_the_shorter_ones_last_op():
    # Pair.steps runs the first side's ops, then the second's: here the second
    # (vanilla) ends two ops before the first (posted) would, so posted is brought back
    # to vanilla's last op, with the extra call made after op 3 where it was made.
    end = single("agp-bug", "vanilla", 100).kernel.op + 1   # the extra call is one more op
    wl = get("agp-bug")
    pair = Pair(wl, tuple(wl.config(variant=v) for v in ("posted", "vanilla")))
    alone = Run(wl, wl.config(variant="posted"))
    for run in (pair, alone):
        for _ in range(3):
            run.step()
        run.call("purge")
    assert pair.run(1000) == end - 4
    assert pair.done
    posted, vanilla = (side.run for side in pair.sides)
    assert posted.kernel.op == vanilla.kernel.op == end
    for _ in range(end - 4):
        alone.step()
    assert posted.kernel.digest() == alone.kernel.digest()
    assert pair.kernel is posted.kernel
    assert {e.op for e in pair.last_op} == {end}


def test_runs_in_a_row_reach_the_state_of_single_runs():
    wl = get("xfs-dir")
    pair = Pair(wl, tuple(wl.config(variant=v, nr_cpus=16, seed=3) for v in ("vanilla", "merged")))
    assert [pair.run(256) for _ in range(4)] == [256] * 4
    for side, variant in zip(pair.sides, ("vanilla", "merged")):
        assert side.run.kernel.digest() == single("xfs-dir", variant, 1024, nr_cpus=16, seed=3).kernel.digest()


def test_vanilla_flushes_every_unmap_and_merged_not_until_its_purge():
    # 4 CPUs: lazy_max_pages = fls(4) * 32 MiB / 4 KiB = 24,576 pages = 24 blocks of 1,024;
    # the 25th block freed (a CPU's 256 * k-th vm_unmap_ram, its 768 * k-th op) passes it.
    counts, freed, purge_op = [0] * 4, 0, None
    for op, cpu in enumerate(schedule(30_000, 4), 1):
        counts[cpu] += 1
        if counts[cpu] % 768 == 0:
            freed += 1
            if freed == 25:
                purge_op = op
                break
    wl = get("map-touch-unmap")
    pair = Pair(wl, tuple(wl.config(variant=v, nr_cpus=4) for v in ("vanilla", "merged")))
    vanilla, merged = (s.run.kernel.stats for s in pair.sides)
    for op in range(1, purge_op + 1):
        pair.step()
        if op == purge_op - 1:
            assert merged.tlb_flushes == 0
    assert (merged.tlb_flushes, merged.ipis, merged.purges) == (1, 3, 1)
    assert vanilla.tlb_flushes == third_ops(purge_op)
    assert vanilla.ipis == 3 * third_ops(purge_op)
    assert [e.kind for e in pair.sides[1].run.last_op].count("flush") == 1


def stepped(variants, ops: int, **options) -> PairSnapshot:
    """The pair a CompareDriver publishes after `ops` steps, through its thread."""
    d = CompareDriver(RunSpec.of("map-touch-unmap", speed=None, **options), variants)
    d.start()
    try:
        d.step(ops)
        deadline = time.monotonic() + 30
        while d.latest.op < ops and time.monotonic() < deadline:
            time.sleep(0.02)
        return d.latest
    finally:
        d.stop()


def test_the_driver_publishes_both_sides_at_the_same_op():
    pair = stepped(("vanilla", "merged"), 300, nr_cpus=4)
    assert isinstance(pair, PairSnapshot)
    assert [s.op for s in pair.sides] == [300, 300]
    assert [s.config.variant for s in pair.sides] == ["vanilla", "merged"]
    assert pair.sides[0].stats.tlb_flushes == third_ops(300)
    assert pair.sides[1].stats.tlb_flushes == 0
    # each side keeps its own events: the last op is the 300th on both
    assert {e.op for e in pair.sides[0].last_op} == {e.op for e in pair.sides[1].last_op} == {300}


def test_a_workload_either_generation_cannot_run_is_refused():
    with pytest.raises(UnsupportedWorkload, match="vanilla v2.6.27 does not have"):
        CompareDriver(RunSpec.of("vm-map-ram-test"), ("vanilla", "merged"))


@pytest.mark.parametrize("text", ["vanilla", "vanilla,merged,modern", "merged,merged", "vanilla,2.6.27", ""])
def test_bad_variant_lists(text):
    with pytest.raises(ConfigError):
        parse_variants(text)


def test_variant_list():
    assert parse_variants("modern, vanilla") == ("modern", "vanilla")


# -- the words and numbers -------------------------------------------------------------------

def test_ratio_text():
    assert ratio(99, 0) == "∞"
    assert ratio(0, 0) == "-"
    assert ratio(380, 6) == "63.3x"
    assert ratio(200, 216) == "0.93x"
    assert ratio(4755.2, 958.1) == "4.96x"
    assert ratio(1000, 2) == "500x"
    assert ratio(None, 5) == "-"


def test_rows_and_contrast_at_a_vanilla_unmap():
    # op 300 of seed 1 at 4 CPUs is a CPU's 3rd op of an iteration (checked below): vanilla's
    # vunmap flushes all 4 TLBs with 3 IPIs; merged's vm_unmap_ram only dirties 4 pages.
    counts = [0] * 4
    for cpu in schedule(300, 4):
        counts[cpu] += 1
    assert counts[cpu] % 3 == 0
    pair = stepped(("vanilla", "merged"), 300, nr_cpus=4)
    n = third_ops(300)
    table = {r[0]: r[1:] for r in rows(pair)}
    assert table["TLB flushes"] == (f"{n}", "0", "∞")
    assert table["IPIs"] == (f"{3 * n}", "0", "∞")
    # vanilla takes vmlist_lock for write in every vmap and vunmap: 2 per iteration done or begun
    maps = sum((c + 2) // 3 for c in counts)
    assert table["  of global locks"][0] == f"{maps + n}"
    vanilla, merged = did(pair.sides[0]), did(pair.sides[1])
    assert vanilla.startswith("vanilla: vunmap() unlinked the area from vmlist after")
    assert "flushed all 4 TLBs (3 IPIs)." in vanilla
    assert merged.startswith("merged: vm_unmap_ram() dirtied pages") and merged.endswith("; no flush.")
    assert contrast(pair) == f"{vanilla} {merged}"


def test_contrast_before_the_first_op_says_how_vanilla_runs_it():
    d = CompareDriver(RunSpec.of("map-touch-unmap"), ("vanilla", "merged"))
    text = contrast(d.latest)
    assert text.startswith("Nothing has run yet")
    assert "vmap(4), touch, vunmap" in text


def test_simulated_time_for_modern_is_its_counts_on_the_threads_machine():
    # 6.12 has no row of the thread's: its ns per op are its own counts (its extra
    # locks included) priced like the others', plus the rewrite's common work per op.
    pair = stepped(("merged", "modern"), 30, nr_cpus=4)
    table = {r[0]: r[1:] for r in rows(pair)}
    snap = pair.sides[1]
    counts = costmodel.counts_of(snap.stats, dict(snap.extra_counters))
    assert counts.vmap_area_lock + counts.node_locks > 0          # its free tree, nodes, xarray
    p, cal = costmodel.PARAMS, costmodel.calibrate()
    locks = counts.vmap_area_lock + counts.vb_lock + counts.node_locks
    expected = ((counts.walk + counts.ptes_set + counts.ptes_cleared) * p.l2_hit_ns + locks * p.atomic_ns
                + counts.pages_touched * p.tlb_refill_ns
                + counts.tlb_flushes * costmodel.flush_ns(4, p, cal)
                + snap.op * cal.common_ns["merged"] / 3) / snap.op
    assert table["sim. ns per op"][1] == f"{expected:,.0f}"


# -- the command ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["--variants", "vanilla"], ["--variants", "vanilla,bogus"], ["--variants", "merged,merged"],
    ["vm-map-ram-test"], ["no-such-workload"], ["--cpus", "0"],
])
def test_cli_refuses_with_one_line_and_status_2(argv, capsys):
    assert main(["compare", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vmapviz: ") and err.count("\n") == 1
