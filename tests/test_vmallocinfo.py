"""/proc/vmallocinfo: each generation's format, address kinds, the summary, --watch and
the CLI.  Expected values are worked out by hand from the dumps in
tests/data/vmallocinfo/ (see its README); no test reads this machine's /proc."""

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vmapviz.models import vmallocinfo as vi
from vmapviz.faces.cli import main

DATA = Path(__file__).parent / "data" / "vmallocinfo"
ROOT = Path(__file__).parent.parent
KIB = 1024


def dump(name: str) -> vi.Dump:
    return vi.read(str(DATA / name))


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- lines ------------------------------------------------------------------------------

def test_a_2_6_26_line_with_everything():
    a = vi.parse_line("0xffffc20000000000-0xffffc20000201000 2101248 alloc_large_system_hash"
                      "+0x127/0x246 pages=512 vmalloc vpages N0=256 N1=256", 7)
    assert (a.line, a.start, a.end, a.size) == (7, 0xFFFFC20000000000, 0xFFFFC20000201000, 2101248)
    assert (a.kind, a.caller, a.module, a.pages, a.phys) == \
        ("vmalloc", "alloc_large_system_hash+0x127/0x246", None, 512, None)
    assert a.flags == ("vmalloc", "vpages") and a.nodes == ((0, 256), (1, 256)) and a.extra == ()
    assert a.who == "alloc_large_system_hash"


def test_phys_with_and_without_0x_and_a_32_bit_line():
    old = vi.parse_line("0xf8800000-0xf8802000    8192 acpi_os_map_memory+0x13/0x1c phys=cff68000 ioremap")
    new = vi.parse_line("0xffffb3a8c0400000-0xffffb3a8c0402000    8192 acpi_os_map_iomem+0x179/0x1c0 "
                        "phys=0x00000000fed00000 ioremap")
    assert (old.start, old.end, old.phys, old.kind) == (0xF8800000, 0xF8802000, 0xCFF68000, "ioremap")
    assert (new.phys, new.kind, new.pages) == (0xFED00000, "ioremap", None)


def test_modules_with_and_without_a_build_id():
    a = vi.parse_line("0x1000-0x4000 12288 xfs_buf_get_noaddr+0x10a/0x1e0 [xfs] vmap")
    b = vi.parse_line("0x1000-0x4000 12288 xfs_buf_alloc_backing_mem+0x1d3/0x2a0 [xfs 8c2e1f0d5b6a7e9f] "
                      "pages=2 vmalloc N1=2")
    assert (a.module, a.kind, a.who) == ("xfs", "vmap", "xfs_buf_get_noaddr [xfs]")
    assert (b.module, b.pages, b.kind, b.nodes) == ("xfs", 2, "vmalloc", ((1, 2),))


def test_vm_map_ram_unpurged_and_an_unresolved_caller():
    assert vi.parse_line("0x0-0x400000 4194304 vm_map_ram").kind == "vm_map_ram"
    u = vi.parse_line("0x2000-0x4000    8192 unpurged vm_area")
    assert (u.kind, u.caller, u.who) == ("unpurged", None, "(unpurged vm_area)")
    raw = vi.parse_line("0x2000-0x4000 8192 0xffffffffc0a01234 pages=1 vmalloc")
    assert (raw.caller, raw.kind, raw.pages) == ("0xffffffffc0a01234", "vmalloc", 1)


def test_kind_follows_the_flags_whatever_their_order():
    kinds = {line: vi.parse_line("0x0-0x2000 8192 f+0x1/0x2 " + line).kind
             for line in ("vmap dma-coherent", "sparse user", "vmalloc user", "user", "", "vmalloc ioremap")}
    assert kinds == {"vmap dma-coherent": "vmap", "sparse user": "sparse", "vmalloc user": "vmalloc",
                     "user": "vm_area", "": "vm_area", "vmalloc ioremap": "ioremap"}


def test_unknown_trailing_tokens_are_kept():
    a = vi.parse_line("0x0-0x3000 12288 f+0x1/0x2 pages=2 vmalloc N0=2 huge order=9")
    assert (a.kind, a.pages, a.nodes, a.extra) == ("vmalloc", 2, ((0, 2),), ("huge", "order=9"))
    d = vi.parse(["0x0-0x3000 12288 f+0x1/0x2 pages=2 vmalloc huge", "0x3000-0x5000 8192 g+0x1/0x2 huge"])
    assert vi.summarize(d, cpus=1)["unknown_tokens"] == {"huge": 2}


@pytest.mark.parametrize("line, problem", [
    ("garbage", "expected `0x<start>-0x<end> <size> ...`"),
    ("0x1000-0x2000", "expected `0x<start>-0x<end> <size> ...`"),
    ("1000-2000 4096 vmalloc", "'1000-2000' is not an address range 0x<start>-0x<end>"),
    ("0x1000-0xzz 4096 vmalloc", "'0x1000-0xzz' is not an address range 0x<start>-0x<end>"),
    ("0x1000-0x2000 -4096 vmalloc", "size '-4096' is not a number of bytes"),
    ("0x1000-0x2000 4096 f+0x1/0x2 pages=two vmalloc", "'pages=two': pages= takes a number"),
    ("0x1000-0x2000 4096 f+0x1/0x2 phys=0xgg ioremap", "'phys=0xgg': phys= takes a hexadecimal address"),
    ("0x1000-0x2000 4096 f+0x1/0x2 pages=1 vmalloc N0=x", "'N0=x': expected N<node>=<pages>"),
    ("0x1000-0x2000 4096 f+0x1/0x2 [mod vmap", "unclosed module name '[mod'"),
])
def test_malformed_lines_say_what_is_wrong(line, problem):
    with pytest.raises(vi.Malformed) as e:
        vi.parse_line(line)
    assert str(e.value) == problem


# -- whole dumps, one per generation ---------------------------------------------------------

def test_2_6_28_real_addresses_sorted_and_one_huge_gap():
    d = dump("v2.6.28-real.txt")
    s = vi.summarize(d, cpus=4)
    assert (d.addresses, s["lines"], s["areas"], d.skipped) == ("real", 8, 8, [])
    assert s["kinds"] == {"vmalloc": 5, "vmap": 1, "ioremap": 2}
    assert s["pages"] == 512 + 4 + 2 + 1 + 4
    assert s["unpurged"] == {"areas": 0, "pages": 0}
    # 4 CPUs: fls(4) = 3, 3 * 32 MiB / 4 KiB
    assert s["lazy_max_pages"] == 3 * 8192
    assert s["callers"][0] == {"caller": "alloc_large_system_hash", "areas": 2, "pages": 516,
                               "bytes": 2101248 + 20480}
    lay = s["layout"]
    top_low = 0xFFFFC20000225000
    gaps = [0x8000, 0x4000, 0xFFFFFFFFA0000000 - top_low]
    assert lay["span"] == [0xFFFFC20000000000, 0xFFFFFFFFA0005000]
    assert (lay["gaps"], lay["free_bytes"]) == (3, sum(gaps))
    assert lay["largest_gap"] == [top_low, 0xFFFFFFFFA0000000]
    assert lay["used_bytes"] == 0x225000 - 0x8000 - 0x4000 + 0x5000
    assert lay["fragmentation"] == round(1 - gaps[2] / sum(gaps), 4)
    assert s["order"] == {"sorted": True, "busy_runs": 1, "unpurged_tail": False}


def test_4_13_vm_map_ram_and_unpurged_lines_in_address_order():
    s = vi.summarize(dump("v4.13-real.txt"), cpus=2)
    assert s["kinds"] == {"vmalloc": 3, "vmap": 1, "ioremap": 1, "vm_map_ram": 2, "unpurged": 2}
    assert s["pages"] == 4 + 2 + 2
    assert s["unpurged"] == {"areas": 2, "pages": (8192 + 20480) // 4096}
    assert s["lazy_max_pages"] == 2 * 8192
    lay = s["layout"]
    assert lay["span_bytes"] == 0x45F000 and lay["free_bytes"] == 8 * KIB + 8 * KIB + 16 * KIB
    assert lay["largest_gap"] == [0xFFFFB3A8C0418000, 0xFFFFB3A8C041C000]
    assert lay["fragmentation"] == 0.5     # the largest hole is half the free space
    assert s["order"] == {"sorted": True, "busy_runs": 1, "unpurged_tail": False}


def test_6_9_two_nodes_and_an_unpurged_tail():
    d = dump("v6.9-nodes.txt")
    s = vi.summarize(d, cpus=8)
    assert d.addresses == "real"
    assert s["kinds"] == {"vmalloc": 4, "vmap": 1, "ioremap": 1, "sparse": 1, "vm_map_ram": 1,
                          "unpurged": 3}
    assert s["pages"] == 4 + 2 + 513 + 2
    assert s["unpurged"] == {"areas": 3, "pages": 2 + 5 + 5}
    assert s["lazy_max_pages"] == 4 * 8192        # fls(8) = 4
    assert s["order"] == {"sorted": False, "busy_runs": 2, "unpurged_tail": True}
    assert [c["caller"] for c in s["callers"]] == [
        "alloc_large_system_hash", "kernel_clone", "bpf_prog_alloc_no_stats",
        "xfs_buf_alloc_backing_mem [xfs]",           # 2 pages each, 12 KiB each: by name
        "(vm_map_ram)", "dma_common_contiguous_remap", "(unpurged vm_area)",
        "acpi_os_map_iomem", "arena_map_alloc"]      # no pages: by address space
    gaps = [0x1000, 0x6000, 0x1000, 0x5000, 0xA000, 0x1BB000]
    lay = s["layout"]
    assert lay["span"] == [0xFFFFC90000000000, 0xFFFFC90000800000]
    assert (lay["gaps"], lay["free_bytes"], lay["largest_gap_bytes"]) == (6, sum(gaps), 0x1BB000)
    assert lay["used_bytes"] == 0x800000 - sum(gaps)
    assert lay["fragmentation"] == round(1 - 0x1BB000 / sum(gaps), 4)
    node0 = d.areas[:4]
    assert [a.kind for a in node0] == ["vmalloc", "ioremap", "vmap", "vm_map_ram"]
    assert d.areas[2].flags == ("vmap", "dma-coherent") and d.areas[5].flags == ("sparse", "user")


def test_hashed_addresses_have_no_layout():
    d = dump("hashed.txt")
    s = vi.summarize(d, cpus=2)
    assert d.addresses == "hashed"
    assert d.evidence == "line 1: start 0xe1bf226e is above end 0x499ae568"
    assert s["layout"] is None and s["order"] is None
    assert s["kinds"] == {"vmalloc": 2, "vmap": 1, "ioremap": 1, "unpurged": 2}
    assert s["unpurged"] == {"areas": 2, "pages": 10} and s["pages"] == 8


@pytest.mark.parametrize("lines, evidence", [
    (["0x1000-0x3000 8192 vm_map_ram", "0x3001-0x5001 8192 vm_map_ram"],
     "line 2: start 0x3001 is not page-aligned"),
    (["0x1000-0x3000 8192 vm_map_ram", "0x5000-0x6000 8192 vm_map_ram"],
     "line 2: end - start = 4096 but size = 8192"),
])
def test_each_sign_of_hashing(lines, evidence):
    d = vi.parse(lines)
    assert (d.addresses, d.evidence) == ("hashed", evidence)


def test_zeroed_addresses():
    d = dump("zeroed.txt")
    s = vi.summarize(d, cpus=2)
    assert (d.addresses, s["layout"]) == ("zeroed", None)
    assert s["callers"][0] == {"caller": "kernel_clone", "areas": 2, "pages": 8, "bytes": 40960}
    assert s["unpurged"] == {"areas": 1, "pages": 5}


def test_the_captured_dump_of_a_6_18_machine():
    d = dump("real-6.18-hashed.txt")
    s = vi.summarize(d, cpus=2)
    raw = (DATA / "real-6.18-hashed.txt").read_text().splitlines()
    # an independent count: the last token of each line
    unpurged = sum(1 for line in raw if line.endswith(" unpurged vm_area"))
    assert (d.addresses, s["areas"], d.skipped) == ("hashed", len(raw), [])
    assert s["unpurged"]["areas"] == unpurged == 2556
    assert s["kinds"]["vmalloc"] == sum(1 for line in raw if " vmalloc" in line) == 205
    assert s["pages"] == sum(int(t[6:]) for line in raw for t in line.split() if t.startswith("pages="))


def test_malformed_lines_are_counted_skipped_and_named():
    d = dump("malformed.txt")
    assert (d.lines, len(d.areas)) == (9, 2)
    assert [line for line, _ in d.skipped] == [2, 3, 5, 6, 7, 8]
    assert d.problems()[0] == f"{DATA / 'malformed.txt'}:2: 'this' is not an address range 0x<start>-0x<end>"


def test_a_file_with_no_valid_line_is_refused(tmp_path):
    f = tmp_path / "junk"
    f.write_text("hello\nworld\n")
    with pytest.raises(vi.VmallocinfoError) as e:
        vi.read(str(f))
    assert str(e.value) == f"{f}: no valid vmallocinfo line (2 lines, line 1: expected " \
                           "`0x<start>-0x<end> <size> ...`)"


def test_lazy_max_pages_follows_fls_of_the_cpu_count():
    assert [vi.lazy_max_pages(n) for n in (1, 2, 3, 4, 7, 8, 64)] == \
        [8192, 16384, 16384, 24576, 24576, 32768, 7 * 8192]
    assert vi.lazy_max_pages(4, page_size=65536) == 3 * 512


def test_overlapping_areas_are_merged_in_the_layout():
    lay = vi.layout([vi.parse_line(t) for t in (
        "0x0-0x4000 16384 vm_map_ram", "0x2000-0x3000 4096 vm_map_ram", "0x6000-0x8000 8192 vm_map_ram")])
    assert (lay.start, lay.end, lay.used, lay.gaps, lay.largest_gap) == (0, 0x8000, 0x6000, 1, (0x4000, 0x6000))
    assert lay.fragmentation == 0.0


# -- watching ---------------------------------------------------------------------------------

CLONE = "0xffffc90000000000-0xffffc90000005000   20480 kernel_clone+0x94/0x3e0 pages=4 vmalloc N0=4"
ACPI = "0xffffc90000005000-0xffffc90000007000    8192 acpi_os_map_iomem+0x1bc/0x1e0 phys=0x00000000fed00000 ioremap"
CLONE2 = "0xffffc90000007000-0xffffc9000000c000   20480 kernel_clone+0x94/0x3e0 pages=4 vmalloc N0=4"
BPF = "0xffffc9000000c000-0xffffc9000000f000   12288 bpf_prog_alloc_no_stats+0x39/0x230 pages=2 vmalloc N0=2"
LAZY = "0xffffc90000000000-0xffffc90000005000   20480 unpurged vm_area"


def run_watch(path: Path, versions: list[list[str] | str], **kw) -> tuple[str, str]:
    """Watch `path` for len(versions) re-reads; before each, the test rewrites the file."""
    out, err = io.StringIO(), io.StringIO()
    queue = list(versions)

    def rewrite(seconds):
        assert seconds == 0.5
        v = queue.pop(0)
        path.write_text(v if isinstance(v, str) else "\n".join(v) + "\n")

    vi.watch(str(path), 0.5, cpus=1, out=out, err=err, iterations=len(versions), sleep=rewrite,
             stamp=lambda: "t", **kw)
    return out.getvalue(), err.getvalue()


def test_watch_prints_births_frees_and_the_lazy_purge(tmp_path):
    f = tmp_path / "vmallocinfo"
    f.write_text(CLONE + "\n" + ACPI + "\n")
    out, err = run_watch(f, [[ACPI, CLONE2, BPF, LAZY],   # clone freed lazily, two born
                             [ACPI, CLONE2, BPF],         # the purge
                             [ACPI, CLONE2, BPF]])        # nothing: no line
    assert err == ""
    lazy_max = "(0% of lazy_max_pages)"                   # 5 or 0 pages of 8192
    assert out.splitlines() == [
        f"t {f}: 2 areas, addresses real | busy 2  unpurged 0 areas 0/8,192 pages {lazy_max}",
        f"t +2 born -1 freed | busy 3  unpurged 1 areas 5/8,192 pages {lazy_max} | lazy +1 -0 | "
        "born: kernel_clone x1, bpf_prog_alloc_no_stats x1 | freed: kernel_clone x1",
        f"t +0 born -0 freed | busy 3  unpurged 0 areas 0/8,192 pages {lazy_max} | lazy +0 -1 (purge)",
    ]


def test_watch_counts_identical_zeroed_lines(tmp_path):
    zero = "0x0000000000000000-0x0000000000000000   20480 kernel_clone+0x94/0x3e0 pages=4 vmalloc N0=4"
    f = tmp_path / "vmallocinfo"
    f.write_text(zero + "\n")
    out, _ = run_watch(f, [[zero, zero, zero], [zero]])
    lines = out.splitlines()
    assert lines[1].startswith("t +2 born -0 freed | busy 3 ")
    assert lines[2].startswith("t +0 born -2 freed | busy 1 ")


def test_watch_reports_a_bad_read_and_goes_on(tmp_path):
    f = tmp_path / "vmallocinfo"
    f.write_text(ACPI + "\n")
    out, err = run_watch(f, ["torn write\n", [ACPI, BPF]])
    assert err == f"t {f}: no valid vmallocinfo line (1 line, line 1: 'torn' is not an address " \
                  "range 0x<start>-0x<end>)\n"
    assert out.splitlines()[1].startswith("t +1 born -0 freed | busy 2 ")


def test_diff_pairs_areas_by_their_lines():
    old = vi.parse([CLONE, ACPI])
    new = vi.parse([ACPI, CLONE2, LAZY])
    ch = vi.diff(old, new)
    assert [a.raw for a in ch.born] == [CLONE2] and [a.raw for a in ch.freed] == [CLONE]
    assert [a.raw for a in ch.queued] == [LAZY] and ch.purged == []
    assert not vi.diff(new, vi.parse([ACPI, CLONE2, LAZY]))


# -- the command line -------------------------------------------------------------------------

def test_cli_json_has_the_documented_keys(capsys):
    code, out, err = cli(capsys, "vmallocinfo", str(DATA / "v4.13-real.txt"), "--json", "--cpus", "2")
    s = json.loads(out)
    assert code == 0 and err == ""
    assert {"lines", "areas", "kinds", "callers", "pages", "unpurged", "addresses", "skipped"} <= set(s)
    assert (s["lines"], s["areas"], s["pages"], s["addresses"]) == (9, 9, 8, "real")
    assert s["unpurged"] == {"areas": 2, "pages": 7}


def test_cli_json_lists_skipped_lines_and_says_so_on_stderr(capsys):
    path = str(DATA / "malformed.txt")
    code, out, err = cli(capsys, "vmallocinfo", path, "--json")
    s = json.loads(out)
    assert code == 0 and s["areas"] == 2
    assert s["skipped"][2] == {"line": 5, "problem": "size 'eight' is not a number of bytes"}
    assert err.splitlines()[2] == f"{path}:5: size 'eight' is not a number of bytes"


def test_cli_summary_of_a_hashed_dump_says_there_is_no_layout(capsys):
    code, out, err = cli(capsys, "vmallocinfo", str(DATA / "hashed.txt"), "--cpus", "2")
    flat = " ".join(out.split())
    assert code == 0 and err == ""
    assert "addresses hashed" in flat and "no layout:" in flat and "kptr_restrict=1" in flat
    assert "unpurged (freed lazily, awaiting a purge): 2 areas, 10 pages = 0% of lazy_max_pages() 16,384" in flat
    assert "span used" not in flat


def test_cli_summary_of_real_addresses_shows_the_layout(capsys):
    code, out, _ = cli(capsys, "vmallocinfo", str(DATA / "v6.9-nodes.txt"), "--cpus", "8")
    flat = " ".join(out.split())
    assert code == 0
    assert "span used 0xffffc90000000000-0xffffc90000800000 (8 MiB)" in flat
    assert "largest free gap 0xffffc90000245000-0xffffc90000400000 (1.7 MiB); fragmentation 0.05" in flat
    assert "busy areas in 2 ascending runs" in flat and "unpurged areas listed after the busy ones" in flat


def test_cli_reads_standard_input(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((DATA / "zeroed.txt").read_bytes())))
    code, out, _ = cli(capsys, "vmallocinfo", "-", "--json")
    s = json.loads(out)
    assert code == 0 and (s["file"], s["areas"], s["addresses"]) == ("<stdin>", 4, "zeroed")


def test_cli_exit_status_2_with_one_line(capsys, tmp_path):
    junk = tmp_path / "junk"
    junk.write_text("nothing\n")
    for argv, message in (
        ([str(junk)], f"vmapviz: {junk}: no valid vmallocinfo line (1 line, line 1: expected "
                      "`0x<start>-0x<end> <size> ...`)"),
        ([str(tmp_path / "missing")], f"vmapviz: {tmp_path / 'missing'}: no such file"),
        ([str(tmp_path)], f"vmapviz: {tmp_path}: is a directory"),
        ([os.devnull], f"vmapviz: {os.devnull}: no valid vmallocinfo line (0 lines)"),
        (["-", "--watch"], "vmapviz: --watch re-reads a file, not standard input"),
        ([str(junk), "--watch", "0"], "vmapviz: argument --watch: --watch takes 0.05 to 3600 seconds, "
                                      "not 0 (see `vmapviz vmallocinfo --help`)"),
    ):
        code, out, err = cli(capsys, "vmallocinfo", *argv)
        assert (code, out, err) == (2, "", message + "\n")


def test_cli_tui_options_are_checked_before_the_screen_opens(capsys, tmp_path):
    for argv, message in (
        (["--watch"], "vmapviz: --watch needs --vmallocinfo FILE"),
        (["--vmallocinfo", "-"], "vmapviz: --vmallocinfo takes a file: the TUI needs standard input for the keys"),
        (["--vmallocinfo", str(tmp_path / "missing")], f"vmapviz: {tmp_path / 'missing'}: no such file"),
    ):
        assert cli(capsys, "tui", *argv) == (2, "", message + "\n")


def test_cli_permission_denied_says_what_to_do(monkeypatch, capsys):
    def denied(*args, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(vi, "open", denied, raising=False)
    code, out, err = cli(capsys, "vmallocinfo")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("vmapviz: /proc/vmallocinfo: permission denied: /proc/vmallocinfo is mode 0400")
    assert "sudo" in err and "kptr_restrict" in err


def test_cli_watch_ends_cleanly_on_ctrl_c(tmp_path):
    f = tmp_path / "vmallocinfo"
    f.write_text(CLONE + "\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "vmapviz", "vmallocinfo", str(f), "--watch", "0.05"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stdout.readline()            # the watch is running
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert f"{f}: 1 areas, addresses real" in first
    assert p.returncode == 130 and err == "vmapviz: interrupted\n"
