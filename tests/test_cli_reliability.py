"""The command line under abuse: exit statuses that mean one thing each, interrupted
runs, closed output, errors that name their path, strict numbers, hostile traces in
every command."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from vmapviz.faces import cli
from vmapviz.faces.cli import main
from vmapviz.workloads import load

HEADER = {"vmapviz": "trace", "version": 1, "workload": "t",
          "config": {"nr_cpus": 1, "bits": 64, "variant": "merged", "seed": 7}}


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_trace(path, *ops, header=HEADER):
    path.write_text("\n".join([json.dumps(header), *map(json.dumps, ops)]) + "\n")
    return str(path)


def vmalloc(size, result):
    return {"cpu": 0, "call": "vmalloc", "args": [size], "result": result}


def test_help_documents_every_exit_status(capsys):
    for argv in (["--help"], ["replay", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        for line in ("0    ok", "1    replay: results differ", "2    bad input", "130  interrupted",
                     "141  the output was closed"):
            assert line in out


@pytest.mark.parametrize("argv, message", [
    (["run", "map-touch-unmap", "--ops", "1,0,0"], "argument --ops: expected a number of ops in digits 0-9, not '1,0,0'"),
    (["run", "map-touch-unmap", "--ops", "١٠٠"], "argument --ops: expected a number of ops in digits 0-9, not '١٠٠'"),
    (["run", "map-touch-unmap", "--ops", "-5"], "argument --ops: expected a number of ops in digits 0-9, not '-5'"),
    (["run", "map-touch-unmap", "--seed", "١"], "argument -s/--seed: expected a seed in digits 0-9, not '١'"),
    (["run", "map-touch-unmap", "--cpus", "٤"], "argument --cpus: expected a number of CPUs in digits 0-9, not '٤'"),
    (["run", "map-touch-unmap", "--bits", "٣٢"], "argument --bits: expected 32 or 64 in digits 0-9, not '٣٢'"),
    (["screenshot", "--out", "x.svg", "--size", "10x5"], "argument --size: 10x5 is smaller than the TUI's minimum 60x20"),
    (["screenshot", "--out", "x.svg", "--size", "120x١٠"], "argument --size: expected ROWS in digits 0-9, not '١٠'"),
])
def test_numbers_are_ascii_digits(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert (code, out, err) == (2, "", f"vmapviz: {message} (see `vmapviz {argv[0]} --help`)\n")


def test_underscore_grouping_is_accepted(capsys):
    code, out, _ = run_cli(capsys, "run", "vmalloc-churn", "--ops", "1_000", "--json")
    assert code == 0 and json.loads(out)["ops"] == 1000


def test_a_header_value_is_overridden_only_by_an_option_given(capsys, tmp_path):
    trace = write_trace(tmp_path / "t.jsonl", vmalloc(4096, 0xFFFFC20000000000))
    code, out, _ = run_cli(capsys, "replay", trace, "--json")
    assert code == 0 and json.loads(out)["seed"] == 7
    code, out, _ = run_cli(capsys, "replay", trace, "--json", "--seed", "3")
    assert json.loads(out)["seed"] == 3


def test_replay_on_another_width_uses_that_widths_range(capsys, tmp_path):
    # the header's 64-bit range is dropped with --bits 32: vmalloc lands at the 32-bit
    # VMALLOC_START 0xf8800000, which differs from the recorded 64-bit address
    header = dict(HEADER, config=dict(HEADER["config"], vmalloc_start=0xFFFFC20000000000,
                                      vmalloc_end=0xFFFFE20000000000))
    trace = write_trace(tmp_path / "t.jsonl", vmalloc(4096, 0xFFFFC20000000000), header=header)
    code, out, _ = run_cli(capsys, "replay", trace, "--json", "--bits", "32")
    r = json.loads(out)
    assert (code, r["bits"], r["mismatch_count"]) == (1, 32, 1)
    assert r["mismatches"] == [f"{trace}:2: vmalloc returned 0xf8800000, the trace recorded 0xffffc20000000000"]


def test_a_complete_replay_says_finished(capsys, tmp_path):
    # a page and its guard page, then the next area past the page the search leaves
    trace = write_trace(tmp_path / "t.jsonl", vmalloc(4096, 0xFFFFC20000000000), vmalloc(4096, 0xFFFFC20000003000))
    code, out, _ = run_cli(capsys, "replay", trace, "--json")
    r = json.loads(out)
    assert (code, r["ops"], r["finished"], r["interrupted"]) == (0, 2, True, False)
    code, out, _ = run_cli(capsys, "replay", trace)
    assert "2 ops in" in out and "op limit" not in out
    # an endless workload cut by --ops is not finished
    code, out, _ = run_cli(capsys, "run", "map-touch-unmap", "--ops", "30")
    assert "30 ops in" in out and "stopped at the op limit" in out


HOSTILE = [
    (b"\x7fELF\x02\x01\x01\x00\x00\x00\xe8\x00\n", "1: not UTF-8 text (byte 11), not a vmapviz trace"),
    (json.dumps(HEADER) + '\n{"cpu": 0, "call": [1], "args": []}\n', "2: unknown call [1]"),
    (json.dumps(HEADER) + '\n{"cpu": 0, "call": "vmalloc", "args": ' + "[" * 100_000 + "\n",
     "2: line longer than 65,536 bytes"),
    (json.dumps(HEADER) + '\n{"cpu": 0, "call": "vmalloc", "args": ' + "[" * 5_000 + "\n", "2: bad JSON: nested too deeply"),
    (json.dumps(HEADER) + '\n{"cpu": 0, "call": "vmalloc", "args": [' + "7" * 5000 + "]}\n", "2: bad JSON: Exceeds the limit"),
    (json.dumps(dict(HEADER, config={"vmalloc_start": 4169138176.0})) + "\n", "1: config vmalloc_start must be"),
    (json.dumps(dict(HEADER, config={"page_size": 1})) + "\n", "1: config page_size must be a power of two of at least 4096"),
    (json.dumps(dict(HEADER, config={"nr_cpus": True})) + "\n", "1: config nr_cpus must be a non-negative integer"),
]


@pytest.mark.parametrize("command", [["replay"], ["run"], ["tui"], ["screenshot", "--out", "x.svg"]])
@pytest.mark.parametrize("body, problem", HOSTILE)
def test_hostile_traces_are_one_line_and_exit_2_in_every_command(capsys, tmp_path, command, body, problem):
    path = tmp_path / "h.jsonl"
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    code, out, err = run_cli(capsys, command[0], str(path), *command[1:])
    assert (code, out) == (2, "")
    assert err.startswith(f"vmapviz: {path}:{problem}") and err.count("\n") == 1


def test_errors_name_the_real_path(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "run", "vmalloc-churn", "--ops", "5", "--record", ".")
    assert (code, err) == (2, f"vmapviz: --record {tmp_path}: Is a directory\n")
    # a full disk shows at the write or the close, where Python knows no file name
    code, _, err = run_cli(capsys, "run", "vmalloc-churn", "--ops", "5", "--record", "/dev/full")
    assert (code, err) == (2, "vmapviz: --record /dev/full: No space left on device\n")
    code, _, err = run_cli(capsys, "replay", ".")
    assert (code, err) == (2, "vmapviz: .: a directory, not a regular file: a trace is read twice "
                              "(checked, then replayed); save it to a file\n")


def test_closed_output_has_its_own_status(tmp_path):
    trace = tmp_path / "t.jsonl"
    assert main(["run", "xen-pat", "--ops", "300", "--record", str(trace), "--json"]) == 0
    read, write = os.pipe()
    os.close(read)   # `| head -1` that has already gone
    p = subprocess.run([sys.executable, "-m", "vmapviz", "replay", str(trace)], stdout=write,
                       stderr=subprocess.PIPE, text=True)
    os.close(write)
    assert (p.returncode, p.stderr) == (141, "")


def test_a_crashed_tui_exits_3(monkeypatch, tmp_path):
    import vmapviz.tui.app as app
    for code, status in ((0, 0), (130, 130), (1, 3)):   # Textual exits 1 after a crash
        monkeypatch.setattr(app, "run_tui", lambda *a, c=code, **kw: c)
        assert main(["tui", "vmalloc-churn"]) == status


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_reports_what_ran_and_records_it(tmp_path, sig):
    trace = tmp_path / "t.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "vmapviz", "run", "map-touch-unmap", "--ops", "100_000_000",
                          "--record", str(trace), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    while not trace.exists() or trace.stat().st_size < 50_000:
        assert p.poll() is None
        time.sleep(0.05)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    r = json.loads(out)
    assert p.returncode == 130 and r["interrupted"] is True and not r["finished"]
    assert err == f"vmapviz: interrupted at op {r['ops']:,}\n"
    # every op that ran is in the trace, and it replays to the same state
    assert load(trace).nr_ops == r["ops"] > 0
    assert cli.main(["replay", str(trace)]) == 0
