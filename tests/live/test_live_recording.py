"""The live-trace JSON Lines format: a recording written and read back whole, and bad
recordings refused with their file, line and problem (exit status 2)."""

import json
import os

import pytest

from vmapviz.faces.cli import main
from vmapviz.live import recording
from vmapviz.live.events import AllocVmapArea, FreeVmapAreaNoflush, PurgeVmapAreaLazy

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "live")
HEADER = {"vmapviz": "live-trace", "version": 1, "kernel": "6.18.0", "arch": "x86_64", "cpus": 2,
          "page_size": 4096, "vmallocinfo": {"addresses": "hashed", "lines": []}}
ALLOC = {"t": 1.5, "cpu": 1, "task": "bash", "pid": 3, "event": "alloc_vmap_area", "addr": 4096,
         "size": 20480, "align": 16384, "vstart": 4096, "vend": 1 << 40, "failed": 0}


def test_write_then_load_gives_the_same_events(tmp_path):
    rec = recording.Recording("", "6.18.0", "x86_64", 2, 4096, vmallocinfo=["0x1-0x2 4096 unpurged vm_area"],
                              addresses="hashed", lost=3, seconds=1.25, stir=10)
    rec.events = [AllocVmapArea((1, 0, 1.0, "a b", 5, 1 << 63, 20480, 16384, 1, 2, 0)),
                  FreeVmapAreaNoflush((2, 1, 2.0, "kworker/1:2", 633, 1 << 63, 5, 16384)),
                  PurgeVmapAreaLazy((3, 1, 3.0, "kworker/u8:2", 9, 1 << 63, (1 << 63) + 20480, 1))]
    path = tmp_path / "r.jsonl"
    recording.write(rec, str(path))
    back = recording.load(str(path))
    assert back.events == rec.events
    assert (back.kernel, back.cpus, back.page_size, back.lost, back.stir) == ("6.18.0", 2, 4096, 3, 10)
    assert back.vmallocinfo == rec.vmallocinfo and back.addresses == "hashed"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".vmapviz-")]


@pytest.mark.parametrize("lines, where, problem", [
    ([{"vmapviz": "trace", "version": 1}], 1, "not a live-trace header"),
    ([{**HEADER, "cpus": 0}], 1, "header: cpus must be between 1 and 4096"),
    ([{**HEADER, "cpus": True}], 1, "header: cpus must be an integer"),
    ([HEADER, {**ALLOC, "event": "vmalloc"}], 2, "event must be one of"),
    ([HEADER, ALLOC, {**ALLOC, "size": -1}], 3, "alloc_vmap_area: size must be an unsigned integer"),
    ([HEADER, ALLOC, {**ALLOC, "addr": 1 << 64}], 3, "alloc_vmap_area: addr must be an unsigned integer"),
    ([HEADER, "{not json"], 2, "bad JSON"),
])
def test_bad_recordings_name_file_line_and_exit_2(tmp_path, capsys, lines, where, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    assert main(["replay-live", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:{where}: {problem}" in err


def test_record_needs_a_writable_place(capsys):
    assert main(["record", "--live", "/proc/nope/r.jsonl", "--seconds", "1"]) == 2
    assert "--live" in capsys.readouterr().err


def test_the_recorded_fixture_is_a_real_6_18_recording():
    # GIVEN the recording of this machine kept in tests/data (record --live --stir 3000)
    rec = recording.load(os.path.join(DATA, "recording-6.18.jsonl"))
    counts = rec.counts()
    # THEN it holds one kworker purge and thousands of thread stacks: 20 KiB with the
    # guard page, aligned to THREAD_ALIGN 16 KiB
    assert counts["purge_vmap_area_lazy"] == 1 and counts["alloc_vmap_area"] > 2000
    assert {(e.size, e.align) for e in rec.events if type(e) is AllocVmapArea} == {(20480, 16384)}
