"""Traces: a recorded run replays to the same results and state; a malformed trace is
refused before anything runs, with the line and the problem."""

import io
import json

import pytest

from vmapviz.run.driver import Run
from vmapviz.workloads import TraceError, get, load


def record(tmp_path, name="vmalloc-churn", ops=500, **opts):
    w = get(name)
    buf = io.StringIO()
    run = Run(w, w.config(**opts), record=buf)
    for _ in range(ops):
        if run.step() is None:
            break
    path = tmp_path / "t.jsonl"
    path.write_text(buf.getvalue())
    return path, run


def replay(path, **opts):
    w = load(path)
    run = Run(w, w.config(**opts))
    while run.step() is not None:
        pass
    return run


def test_header_and_op_lines(tmp_path):
    path, run = record(tmp_path, "agp-bug")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0] == {"vmapviz": "trace", "version": 1, "workload": "agp-bug",
                        "config": run.config.as_dict()}
    # the first op: vmalloc of one page at the 32-bit VMALLOC_START
    assert lines[1] == {"cpu": 0, "call": "vmalloc", "args": [4096], "result": 0xF8800000}
    # a void call records null, touch its outcome
    assert {"cpu": 0, "call": "purge", "args": [], "result": None} in lines
    assert lines[-1] == {"cpu": 0, "call": "touch", "args": [0xF8803000, 1], "result": "fault"}


def test_replay_reproduces_results_and_state(tmp_path):
    path, run = record(tmp_path, ops=800, nr_cpus=2, seed=5)
    again = replay(path)
    assert again.mismatches == []
    assert again.kernel.op == 800
    assert again.kernel.digest() == run.kernel.digest()


def test_replay_reports_a_changed_result_with_its_line(tmp_path):
    path, _ = record(tmp_path, "agp-bug", variant="merged")
    # replaying the merged run on the posted variant: line 7 (the 6th op, vmalloc of 4
    # pages) returned START + 6 pages when recorded, NULL now
    run = replay(path, variant="posted")
    assert run.mismatches[0] == f"{path}:7: vmalloc returned NULL, the trace recorded 0xf8806000"


@pytest.mark.parametrize("body, problem", [
    ('{"cpu": 0, "call": "vmalloc", "args": [4096]\n', "bad JSON: Expecting ',' delimiter"),
    ('{"cpu": 0, "call": "vmaloc", "args": [4096]}\n', "unknown call 'vmaloc'"),
    ('{"cpu": 0, "call": "vm_unmap_ram", "args": [4096]}\n', "vm_unmap_ram is missing argument 'count'"),
    ('{"cpu": 0, "call": "vmalloc", "args": ["4096"]}\n', "argument 'size' of vmalloc must be a non-negative integer"),
    ('{"cpu": 0, "call": "vfree", "args": [-4096]}\n', "argument 'addr' of vfree must be a non-negative integer"),
    ('{"cpu": -1, "call": "purge", "args": []}\n', "cpu must be a non-negative integer"),
    ('{"cpu": 0, "call": "purge", "args": [], "result": [1]}\n', "result must be an integer"),
])
def test_malformed_op_lines_are_refused_with_line_and_problem(tmp_path, body, problem):
    path = tmp_path / "bad.jsonl"
    header = json.dumps({"vmapviz": "trace", "version": 1, "config": {"nr_cpus": 2}})
    path.write_text(header + "\n" + '{"cpu": 1, "call": "purge", "args": []}\n' + body)
    with pytest.raises(TraceError) as e:
        load(path)
    assert str(e.value).startswith(f"{path}:3: {problem}")


def test_cpu_beyond_the_config_is_refused_before_running(tmp_path):
    path = tmp_path / "cpu.jsonl"
    path.write_text(json.dumps({"vmapviz": "trace", "version": 1, "config": {"nr_cpus": 2}}) + "\n"
                    + '{"cpu": 3, "call": "purge", "args": []}\n')
    w = load(path)
    with pytest.raises(TraceError, match=r"cpu.jsonl:2: cpu 3 is beyond the config's 2 CPUs"):
        w.config()
    assert w.config(nr_cpus=4).nr_cpus == 4


@pytest.mark.parametrize("text, problem", [
    ("", "1: empty file"),
    ('{"hello": 1}\n', '1: not a vmapviz trace'),
    ('{"vmapviz": "trace", "version": 9, "config": {}}\n', "1: unsupported trace version 9"),
    ('{"vmapviz": "trace", "version": 1, "config": {"nr_cpus": 0}}\n', "1: bad config: nr_cpus must be"),
])
def test_bad_headers(tmp_path, text, problem):
    path = tmp_path / "h.jsonl"
    path.write_text(text)
    with pytest.raises(TraceError, match=problem):
        load(path)
