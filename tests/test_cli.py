"""The command line as a user types it: output, exit status, one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from vmapviz import __version__
from vmapviz.faces.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def kernel_build() -> str:
    """What --version says of the kernel: compiled when its modules are extensions."""
    import vmapviz.kernel.machine
    return "pure-Python" if vmapviz.kernel.machine.__file__.endswith(".py") else "mypyc-compiled"


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"vmapviz {__version__} ({kernel_build()} kernel)"
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for option in ("--variant", "--cpus", "--bits", "--ops", "--seed", "--record", "--json"):
        assert option in out


def test_run_names_a_compiled_kernel(capsys):
    code, out, _ = run_cli(capsys, "run", "map-touch-unmap", "--ops", "10")
    said = "the kernel: mypyc-compiled (VMAPVIZ_COMPILE build)" in out
    assert code == 0 and said == (kernel_build() == "mypyc-compiled")


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "vmapviz", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"vmapviz {__version__} ({kernel_build()} kernel)"


def test_workloads_lists_the_builtins(capsys):
    code, out, _ = run_cli(capsys, "workloads", "--json")
    names = [w["name"] for w in json.loads(out)]
    assert code == 0 and "map-touch-unmap" in names and "wrap-32bit" in names and len(names) == 17
    code, out, _ = run_cli(capsys, "workloads")
    assert "xen-pat" in out and "vm_unmap_aliases" in out


def test_variants_names_each_generations_vmalloc_range(capsys):
    # 2.6.28's i386 "vmalloc : 0xf8800000 - 0xff7fe000"; 6.12's with NR_CPUS 8 and 1 GiB:
    # [0xf77fe000, 0xfeffe000) (worked out in tests/kernel/test_i386_layout.py).
    code, out, _ = run_cli(capsys, "variants", "--json")
    ranges = {g["name"]: g["vmalloc"] for g in json.loads(out)}
    assert code == 0
    assert (ranges["merged"]["32"]["start"], ranges["merged"]["32"]["end"]) == (0xF8800000, 0xFF7FE000)
    assert (ranges["modern"]["32"]["start"], ranges["modern"]["32"]["end"]) == (0xF77FE000, 0xFEFFE000)
    assert ranges["modern"]["64"]["start"] == 0xFFFFC90000000000
    assert "HIGHMEM4G, VMSPLIT_3G" in ranges["modern-6.18"]["32"]["text"]
    assert "NR_CPUS 8" in ranges["modern"]["32"]["text"] and "HIGHMEM" not in ranges["merged"]["32"]["text"]
    code, out, _ = run_cli(capsys, "variants")
    assert code == 0 and "0xf77fe000" in out and "0xf8800000" in out


def test_quiz_says_why_it_asked_fewer_questions(capsys):
    # quiz.FOR: the walk's why is written for vanilla and the 2008 rewrite only; level 1
    # asks no walk (quiz.LEVELS); agp-bug has 10 ops, too few for 50 questions.
    code, out, _ = run_cli(capsys, "quiz", "vmalloc-churn", "--variant", "modern", "--kinds", "walk",
                           "--ops", "200", "-n", "2")
    assert code == 0 and "Not asked on modern: walk" in out and "Only 0 of 2 questions" in out
    code, out, _ = run_cli(capsys, "quiz", "vmalloc-churn", "--variant", "merged", "--level", "1",
                           "--kinds", "walk,lazy", "--ops", "2000", "-n", "1")
    assert code == 0 and "Not asked at --level 1: walk (level 2 asks it)." in out and "Only" not in out
    code, out, _ = run_cli(capsys, "quiz", "agp-bug", "-n", "50")
    assert code == 0 and "of 50 questions: the first 30,000 ops of agp-bug on posted 2008-08-18" in out


def test_run_json_has_the_documented_fields(capsys):
    code, out, _ = run_cli(capsys, "run", "map-touch-unmap", "--cpus", "1", "--ops", "6912", "--json")
    r = json.loads(out)
    assert code == 0
    assert {"workload", "variant", "cpus", "bits", "ops", "seed", "wall_s", "ops_per_s", "stats",
            "digest"} <= set(r)
    assert (r["workload"], r["variant"], r["cpus"], r["bits"], r["ops"], r["seed"]) == \
        ("map-touch-unmap", "merged", 1, 64, 6912, 1)
    s = r["stats"]
    for key in ("tlb_flushes", "ipis", "purges", "lazy_pages", "lazy_max_pages", "live_areas",
                "vmap_blocks", "warnings", "bugs", "alloc_failures", "vm_unmap_aliases_calls"):
        assert key in s
    # 6912 ops = 2304 triples = 9 blocks freed: the 9th pushes vmap_lazy_nr to 9216 > 8192
    assert (s["purges"], s["tlb_flushes"], s["ipis"], s["lazy_pages"], s["lazy_max_pages"]) == (1, 1, 0, 0, 8192)
    # the 9th block was the last: its area is purged, the 10th comes with the next map
    assert (s["live_areas"], s["vmap_blocks"]) == (0, 0)


def test_digest_is_stable_and_tells_states_apart(capsys):
    def digest(*extra):
        return json.loads(run_cli(capsys, "run", "vmalloc-churn", "--ops", "2000", "--json", *extra)[1])["digest"]
    assert digest() == digest()
    assert digest() != digest("--seed", "2")
    assert digest("--cpus", "2") != digest()


def test_run_human_report(capsys):
    code, out, _ = run_cli(capsys, "run", "agp-bug")
    assert code == 0
    assert "agp-bug · posted 2008-08-18 · 1 CPU · 32-bit · seed 1" in out
    assert "PTE already present at 0xf8803000" in out
    assert "failures expected" in out


def test_record_then_replay(capsys, tmp_path):
    trace = tmp_path / "run.jsonl"
    code, out, _ = run_cli(capsys, "run", "xen-pat", "--ops", "700", "--record", str(trace), "--json")
    first = json.loads(out)
    assert code == 0 and len(trace.read_text().splitlines()) == 701
    code, out, _ = run_cli(capsys, "replay", str(trace), "--json")
    again = json.loads(out)
    assert code == 0 and again["mismatches"] == [] and again["digest"] == first["digest"]
    # a trace can also stand where a workload name goes
    code, out, _ = run_cli(capsys, "run", str(trace), "--json")
    assert json.loads(out)["digest"] == first["digest"]


@pytest.mark.parametrize("argv, message", [
    (["run", "no-such"], "vmapviz: unknown workload 'no-such'"),
    (["run", "map-touch-unmap", "--cpus", "0"], "vmapviz: argument --cpus: --cpus must be between 1 and"),
    (["run", "map-touch-unmap", "--cpus", "3", "--bits", "32", "--config-nr-cpus", "3"],
     "vmapviz: NR_CPUS 3 on 32-bit gives VMAP_BBMAP_BITS = 682"),   # 32768/3/16
    (["run", "map-touch-unmap", "--cpus", "8", "--config-nr-cpus", "4"],
     "vmapviz: config_nr_cpus (NR_CPUS) must be between the 8 online CPUs and 4096, not 4"),
    (["run", "map-touch-unmap", "--config-nr-cpus", "0"], "vmapviz: argument --config-nr-cpus: --config-nr-cpus must be"),
    (["run", "map-touch-unmap", "--variant", "old"], "vmapviz: argument --variant: invalid choice"),
    (["run", "map-touch-unmap", "--ops", "lots"], "vmapviz: argument --ops: expected a number of ops"),
    (["replay", "/nonexistent/trace.jsonl"], "vmapviz: /nonexistent/trace.jsonl: cannot read"),
    (["frobnicate"], "vmapviz: argument COMMAND: invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_no_traceback_from_a_bad_trace(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"vmapviz": "trace", "version": 1, "config": {}}\n{"cpu": 0, "call": "vmalloc"}\n')
    out = subprocess.run([sys.executable, "-m", "vmapviz", "replay", str(bad)], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == f"vmapviz: {bad}:2: vmalloc is missing argument 'size'"


def test_config_nr_cpus_sizes_the_blocks_and_cpus_the_threshold(capsys):
    # 3 online CPUs on 32-bit boot with NR_CPUS 8: 32768/8/16 = 256-bit (1 MiB) blocks,
    # lazy_max_pages = fls(3) * 8192 = 16384.  One vm_map_ram(4) makes one block.
    code, out, _ = run_cli(capsys, "run", "map-touch-unmap", "--bits", "32", "--cpus", "3",
                           "--ops", "1", "--json")
    got = json.loads(out)
    assert code == 0 and (got["cpus"], got["config_nr_cpus"]) == (3, 8)
    assert got["stats"]["lazy_max_pages"] == 16384 and got["stats"]["vmap_blocks"] == 1
    # NR_CPUS 32: 32768/32/16 = 64 bits, the floor 2 * VMAP_MAX_ALLOC = 64.
    code, out, _ = run_cli(capsys, "run", "map-touch-unmap", "--bits", "32", "--cpus", "3",
                           "--config-nr-cpus", "32", "--ops", "1", "--json")
    assert json.loads(out)["config_nr_cpus"] == 32


def test_piped_run_output_keeps_counter_names_and_values_whole():
    """A pipe gives Rich 80 columns: names and values are never cut, the meaning wraps."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    out = subprocess.run([sys.executable, "-m", "vmapviz", "run", "map-touch-unmap", "--ops", "3000"],
                         capture_output=True, text=True, env=env, timeout=120).stdout
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80
    for name in ("vm_unmap_aliases_calls", "vmlist_lock_write", "use_after_free", "vmap_area_lock"):
        assert any(line.split()[:1] == [name] for line in lines), name
    # lazy_max_pages() for 4 CPUs: 32 MiB / 4 KiB * (fls(4) = 3) = 24,576, on the counter's line
    assert any(line.split()[:1] == ["lazy_pages"] and "/ 24,576" in line for line in lines)
    assert "…" not in out


def test_modern_takes_any_nr_cpus_up_to_maxsmp(capsys):
    # 6.12 divides by roundup_pow_of_two(NR_CPUS) (mm/vmalloc.c 6.12.33 2478-2481):
    # 32-bit, NR_CPUS 6 -> 8: 32,768 / 8 / 16 = 256 pages a block; MAXSMP is 8192.
    code, out, _ = run_cli(capsys, "run", "map-touch-unmap", "--variant", "modern", "--bits", "32",
                           "--config-nr-cpus", "6", "--ops", "1", "--json")
    got = json.loads(out)
    assert code == 0 and got["config_nr_cpus"] == 6
    code, out, _ = run_cli(capsys, "run", "map-touch-unmap", "--variant", "modern", "--cpus", "4",
                           "--config-nr-cpus", "8192", "--ops", "1", "--json")
    assert code == 0 and json.loads(out)["config_nr_cpus"] == 8192
    # the 2008 code: 32,768 // 6 // 16 = 341, not a power of two: refused, exit 2
    code, _, err = run_cli(capsys, "run", "map-touch-unmap", "--variant", "merged", "--bits", "32",
                           "--config-nr-cpus", "6", "--ops", "1")
    assert code == 2 and "VMAP_BBMAP_BITS = 341" in err


def test_a_headless_run_lists_each_trouble_at_its_op_however_its_ops_are_grouped():
    """The report looks at the troubles every LOOK_EVERY (256) ops, yet names each one
    at its own op: here two vfree()s of an address no area starts at, the WARN of
    v2.6.28's __vunmap(), in the third and fourth groups of ops.  Counted by hand:
    each pass is vmalloc + vfree (2 ops); the bad vfree follows the vmalloc of pass
    300 (ops 601, 602) and of pass 388 (ops 777 + 1 and + 2: one extra op before)."""
    from vmapviz.faces.report import LOOK_EVERY, run_headless
    from vmapviz.run.spec import RunSpec
    from vmapviz.workloads.base import Workload, on_cpu0

    def stream(cfg, rng):
        for i in range(400):
            addr = yield "vmalloc", (cfg.page_size,)
            if i in (300, 388):
                yield "vfree", (addr + cfg.page_size,)
            yield "vfree", (addr,)

    r = run_headless(RunSpec.of(Workload("bad-vfree", "", "", on_cpu0(stream), dict(nr_cpus=1)), speed=None))
    assert LOOK_EVERY == 256 and r["ops"] == 802 and r["stats"]["warnings"] == 2
    assert [line.split(": at")[0] for line in r["notable"]] == ["op 602 cpu0 WARNING", "op 779 cpu0 WARNING"]
    assert all("Trying to vfree() nonexistent vm area" in line for line in r["notable"])
