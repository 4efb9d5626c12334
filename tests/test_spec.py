"""RunSpec: a run's options built once and handed whole to every face (issue 26)."""

import pytest

from vmapviz.faces import cli
from vmapviz.faces.serve import session_args
from vmapviz.kernel import ConfigError
from vmapviz.run.compare import CompareDriver
from vmapviz.run.spec import RunSpec


def test_compare_keeps_nr_cpus():
    # GIVEN a 32-bit run with CONFIG_NR_CPUS 64 (4 online CPUs)
    spec = RunSpec.of("map-touch-unmap", bits=32, nr_cpus=4, config_nr_cpus=64)
    # WHEN compare mode runs it on two generations
    pair = CompareDriver(spec, ("vanilla", "merged")).latest
    # THEN both sides keep NR_CPUS 64; the merged side's blocks are 32-bit VMALLOC_SPACE
    # (128 MiB = 32768 pages) / NR_CPUS 64 / 16 = 32, raised to 2 * VMAP_MAX_ALLOC = 64
    # pages, not the 256 of the default NR_CPUS 8 (32768 / 8 / 16)
    assert [s.config.config_nr_cpus for s in pair.sides] == [64, 64]
    assert pair.sides[1].config.vmap_bbmap_bits == 64


def test_the_compare_command_hands_its_options_on(monkeypatch):
    seen = {}
    monkeypatch.setattr("vmapviz.tui.screens.compare.run_compare",
                        lambda spec, pair, theme, in_process: seen.update(spec=spec, in_process=in_process) or 0)
    assert cli.main(["compare", "--bits", "32", "--config-nr-cpus", "64", "--seed", "5"]) == 0
    cfg = seen["spec"].config
    assert (cfg.bits, cfg.config_nr_cpus, cfg.seed, cfg.vmap_bbmap_bits) == (32, 64, 5, 64)
    assert seen["in_process"] is False     # a child process, unless --in-process
    assert cli.main(["compare", "--in-process"]) == 0
    assert seen["in_process"] is True


def test_the_quiz_seed_it_prints_reproduces_its_questions(capsys):
    # `quiz -c` prints "seed 1" (the workload's default): asking for seed 1 gives the same quiz
    assert cli.main(["quiz", "-c"]) == 0
    default = capsys.readouterr().out
    assert cli.main(["quiz", "-c", "--seed", "1"]) == 0
    assert capsys.readouterr().out == default
    assert ", seed 1\n" in default
    assert cli.main(["quiz", "-c", "--seed", "2"]) == 0
    assert capsys.readouterr().out.split("\n\n", 1)[1] != default.split("\n\n", 1)[1]


def test_serve_hands_its_tabs_the_same_command_line():
    args = cli.build_parser().parse_args(["serve", "agp-bug", "--bits", "64", "--cpus", "2", "--config-nr-cpus",
                                          "16", "--seed", "3", "--flush", "range"])
    tab = cli.build_parser().parse_args(["tui", *session_args(args)])
    a, b = cli.spec_from(args), cli.spec_from(tab)
    assert (a.asked, a.config) == (b.asked, b.config)
    assert (b.config.bits, b.config.config_nr_cpus, b.config.flush, b.config.seed) == (64, 16, "range", 3)


def test_another_workload_keeps_what_was_asked_and_takes_its_own_machine():
    spec = RunSpec.of("map-touch-unmap", seed=7, nr_cpus=2, flush="range")
    agp = spec.replace("agp-bug")
    # agp-bug's own machine: i386, 1 CPU (its defaults); the seed and flush model asked for stay
    assert (agp.config.bits, agp.config.nr_cpus, agp.config.seed, agp.config.flush) == (32, 1, 7, "range")


def test_more_cpus_than_the_nr_cpus_asked_takes_nr_cpus_back_to_its_default():
    spec = RunSpec.of("map-touch-unmap", nr_cpus=4, config_nr_cpus=64)
    assert spec.replace(nr_cpus=8).config.config_nr_cpus == 64
    # 128 online CPUs > NR_CPUS 64: NR_CPUS goes back to its default, the next power of two
    assert spec.replace(nr_cpus=128).config.config_nr_cpus == 128
    with pytest.raises(ConfigError):
        spec.replace(nr_cpus=128, config_nr_cpus=64)      # asked for both: refused


def test_compare_from_the_main_screen_runs_the_main_runs_machine():
    from vmapviz.run.driver import Driver
    main = Driver(RunSpec.of("map-touch-unmap", bits=32, nr_cpus=4, config_nr_cpus=64, seed=3))
    spec = main.running_spec()
    assert spec.config == main.config
    sides = CompareDriver(spec, ("vanilla", "merged")).latest.sides
    assert [(s.config.config_nr_cpus, s.config.seed, s.config.bits) for s in sides] == [(64, 3, 32)] * 2


def test_each_side_keeps_its_own_generations_range():
    # modern's x86_64 VMALLOC_START is 0xffffc90000000000 (6.12's layout), 2.6.28's
    # 0xffffc20000000000: compare mode from a modern run gives each side its own
    from vmapviz.run.driver import Driver
    spec = Driver(RunSpec.of("map-touch-unmap", variant="modern")).running_spec()
    sides = CompareDriver(spec, ("vanilla", "modern")).latest.sides
    assert [s.config.vmalloc_start for s in sides] == [0xFFFFC20000000000, 0xFFFFC90000000000]


def test_the_timeline_travels_in_the_snapshot(driver):
    """Item 4: the marks and span the time strip draws come in the snapshot, copied in
    the driver's thread; an older snapshot keeps its own."""
    from driver_helpers import wait_for

    from vmapviz.run.driver import Run
    d = driver("map-touch-unmap", tiny=True, speed=None)      # lazy_max_pages 16: flushes soon
    d.step(3000)
    wait_for(lambda: d.latest.op == 3000)
    first = d.latest
    # the oracle: the ops whose events include a TLB flush, from a plain run of the same spec
    plain = Run(d.spec.workload, d.spec.config)
    flushed = [n for n in range(1, 3001) if any(e.kind == "flush" for e in plain.step())]
    assert flushed and list(first.timeline.marks["flush"]) == flushed
    assert (first.timeline.start, first.timeline.end) == (0, 3000)
    d.step(3000)
    wait_for(lambda: d.latest.op == 6000)
    assert list(first.timeline.marks["flush"]) == flushed          # unchanged by the run going on
    assert d.latest.timeline.end == 6000
