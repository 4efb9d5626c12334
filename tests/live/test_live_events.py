"""The three vmalloc tracepoints, parsed from lines written from their format files
(events/vmalloc/*/format of this 6.18 machine: alloc_vmap_area prints va_start with
%lu, the others in hex) and from lines a real 6.18 printed; malformed lines name their
file and line and exit with status 2."""

import os

import pytest

from vmapviz.faces.cli import main
from vmapviz.live import recording
from vmapviz.live.events import (AllocVmapArea, FreeVmapAreaNoflush, Malformed, PurgeVmapAreaLazy,
                                 lost_events, parse_line)

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "live")


def test_alloc_vmap_area_from_the_format_file():
    # print fmt: "va_start: %lu size=%lu align=%lu vstart=0x%lx vend=0x%lx failed=%d"
    line = ("            bash-8788    [001] .....   262.524049: alloc_vmap_area: va_start: "
            "18446683600674766848 size=20480 align=16384 vstart=0xffffc90000000000 "
            "vend=0xffffe8ffffffffff failed=0")
    e = parse_line(line, 1)
    assert type(e) is AllocVmapArea
    # 18446683600674766848 = 0xffffc900063e4000 (2**64 - 0x36fff9c1c000), the
    # address the kworker's free of the same stack printed in hex in that trace
    assert e.addr == 0xFFFFC900063E4000
    assert (e.size, e.align, e.vstart, e.vend, e.failed) == (20480, 16384, 0xFFFFC90000000000,
                                                            0xFFFFE8FFFFFFFFFF, 0)
    assert (e.task, e.pid, e.cpu, e.ts, e.op) == ("bash", 8788, 1, 262.524049, 1)


def test_free_vmap_area_noflush_from_the_format_file():
    # print fmt: "va_start=0x%lx nr_lazy=%lu nr_lazy_max=%lu"
    e = parse_line("     kworker/0:1-11      [000] .....   262.547994: free_vmap_area_noflush: "
                   "va_start=0xffffc900063e4000 nr_lazy=13293 nr_lazy_max=16384")
    assert type(e) is FreeVmapAreaNoflush
    assert (e.task, e.pid, e.cpu) == ("kworker/0:1", 11, 0)
    assert (e.addr, e.nr_lazy, e.nr_lazy_max) == (0xFFFFC900063E4000, 13293, 16384)


def test_purge_vmap_area_lazy_from_the_format_file():
    # print fmt: "start=0x%lx end=0x%lx num_purged=%u"
    e = parse_line("  kworker/u8:2-1234    [000] .....   301.000123: purge_vmap_area_lazy: "
                   "start=0xffffc90006000000 end=0xffffc90006470000 num_purged=3314")
    assert type(e) is PurgeVmapAreaLazy
    assert (e.start, e.end, e.npurged, e.task) == (0xFFFFC90006000000, 0xFFFFC90006470000, 3314,
                                                   "kworker/u8:2")


def test_a_task_name_with_spaces_and_dashes_and_other_flags():
    e = parse_line(" Web Content-2001    [000] d..1.   301.500000: alloc_vmap_area: va_start: 4096 "
                   "size=8192 align=4096 vstart=0x1000 vend=0x2fff failed=0")
    assert (e.task, e.pid, e.addr) == ("Web Content", 2001, 4096)


def test_other_events_are_not_vmalloc_ones():
    assert parse_line("          <idle>-0       [001] ..s1.   302.000001: sched_switch: prev_comm=x") is None


@pytest.mark.parametrize("line", [
    "not a trace line",
    # alloc_vmap_area's va_start is %lu: hex is not its format
    "bash-1 [000] ..... 1.0: alloc_vmap_area: va_start: 0x1000 size=1 align=1 vstart=0x0 vend=0x1 failed=0",
    # other scripts' digits (Arabic-Indic one, two)
    "bash-1 [000] ..... 1.0: free_vmap_area_noflush: va_start=0x1000 nr_lazy=\u0661\u0662 nr_lazy_max=1",
    # an unsigned long holds 20 digits at most, and not this one
    "bash-1 [000] ..... 1.0: free_vmap_area_noflush: va_start=0x1000 nr_lazy=99999999999999999999 nr_lazy_max=1",
])
def test_malformed_lines_are_refused(line):
    with pytest.raises(Malformed):
        parse_line(line)


def test_lost_events_line():
    assert lost_events("CPU:1 [LOST 42 EVENTS]") == 42
    assert lost_events("bash-1 [000] ..... 1.0: x: y") == 0


def test_a_text_capture_loads_its_vmalloc_events_in_order():
    rec = recording.load(os.path.join(DATA, "trace-6.18.txt"), cpus=2)
    assert [type(e).__name__ for e in rec.events] == [
        "AllocVmapArea", "FreeVmapAreaNoflush", "AllocVmapArea", "PurgeVmapAreaLazy", "AllocVmapArea"]
    assert [e.op for e in rec.events] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("name, line, problem", [
    ("bad-hex-address.txt", 3, "alloc_vmap_area: fields"),
    ("bad-line.txt", 2, "not a tracefs event line"),
    ("bad-unicode-digits.txt", 1, "free_vmap_area_noflush: fields"),
])
def test_malformed_files_name_file_and_line_and_exit_2(name, line, problem, capsys):
    path = os.path.join(DATA, name)
    assert main(["replay-live", path]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{path}:{line}: {problem}" in err


def test_without_root_one_line_says_so(monkeypatch, capsys):
    import os as _os
    monkeypatch.setattr(_os, "geteuid", lambda: 1000)
    assert main(["record", "--live", "/tmp/never-written.jsonl", "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs root" in err and "sudo" in err
    assert not _os.path.exists("/tmp/never-written.jsonl")


def test_a_kernel_without_the_tracepoints_is_named(tmp_path):
    # GIVEN a tracefs with instances/ but no events/vmalloc (a kernel before 6.3)
    from vmapviz.live.events import LiveError
    from vmapviz.live.tracefs import TraceSource
    (tmp_path / "instances").mkdir()
    src = TraceSource(root=str(tmp_path))
    if os.geteuid() != 0:
        pytest.skip("the root check comes first")
    with pytest.raises(LiveError, match="no vmalloc:alloc_vmap_area tracepoint .* Linux 6.3 or later"):
        src.__enter__()
    assert not (tmp_path / "instances" / "vmapviz").exists()    # nothing made


def test_no_tracefs_and_no_way_to_mount_it_is_named(tmp_path):
    from vmapviz.live.events import LiveError
    from vmapviz.live.tracefs import TraceSource
    if os.geteuid() != 0:
        pytest.skip("the root check comes first")
    # a mount point that does not exist: mount(8) fails, nothing is mounted
    with pytest.raises(LiveError, match="tracefs is not mounted at .* and mounting it failed"):
        TraceSource(root=str(tmp_path / "missing")).__enter__()
