"""`vmapviz vmallocinfo` reads the other tools' listings: drgn's contrib/vmallocinfo.py
and gdb's lx-vmallocinfo keep their callers (they were dropped), crash's `kmem -v` is
read (it was refused).  The fixtures are written from each tool's source (see
tests/data/vmallocinfo/README.md); the expected figures are counted by hand from them."""

import json
import os

import pytest

from vmapviz.models import vmallocinfo as vi
from vmapviz.faces.cli import main

DATA = os.path.join(os.path.dirname(__file__), "data", "vmallocinfo")
START = 0xFFFFC90000000000


def _summary(name):
    return vi.summarize(vi.read(os.path.join(DATA, name)), cpus=2)


@pytest.mark.parametrize("name, fmt", [("drgn-6.18.txt", vi.DRGN), ("gdb-6.18.txt", vi.GDB)])
def test_drgn_and_gdb_keep_their_callers(name, fmt):
    s = _summary(name)
    assert s["format"] == fmt and s["areas"] == 5 and not s["skipped"]
    # kernel_clone 4 pages, bpf_prog_alloc_no_stats 1, the module address 3, acpi 0
    callers = {c["caller"]: (c["areas"], c["pages"]) for c in s["callers"]}
    assert callers == {"kernel_clone": (1, 4), "bpf_prog_alloc_no_stats": (1, 1),
                       "0xffffffffc0a01234": (1, 3), "acpi_os_map_iomem": (1, 0),
                       "(vm_map_ram)": (1, 0)}
    assert s["kinds"] == {"vmalloc": 2, "vmap": 1, "ioremap": 1, "vm_map_ram": 1}
    assert s["pages"] == 8 and not s["unknown_tokens"]
    # real addresses: the span from the first area to the end of the 4 MiB vmap block
    assert s["addresses"] == vi.REAL
    assert s["layout"]["span"] == [START, START + 0x800000]


def test_crash_kmem_v_is_read():
    s = _summary("crash-kmem-v-6.18.txt")
    # the prompt and the header are not areas; four areas with a vm_struct
    assert s["format"] == vi.CRASH and s["areas"] == 4 and not s["skipped"]
    assert s["kinds"] == {"vm_area": 4} and s["callers"][0]["caller"] == "(no caller)"
    assert s["addresses"] == vi.REAL
    # 20480 + 8192 + 8192 + 16384 bytes used in [START, START + 0x16000), one gap of 0x9000
    lay = s["layout"]
    assert lay["span"] == [START, START + 0x16000] and lay["used_bytes"] == 53248
    assert lay["largest_gap"] == [START + 0x7000, START + 0x10000]


def test_a_gdb_caller_s_offset_is_decimal():
    a = vi.parse_line("0xffffc90000000000-0xffffc90000005000      20480 <kernel_clone+184> "
                      "pages=4 vmalloc", 1, vi.GDB)
    assert a.caller == "<kernel_clone+184>" and a.who == "kernel_clone" and a.kind == "vmalloc"


def test_a_bare_word_is_a_caller_only_in_a_drgn_listing():
    line = "0xffffc90000000000-0xffffc90000005000   20480 newflag pages=4 vmalloc"
    assert vi.parse_line(line, 1).extra == ("newflag",)          # the kernel's: a new flag
    assert vi.parse_line(line, 1, vi.DRGN).who == "newflag"       # drgn's: the symbol


def test_the_kernel_s_own_files_stay_proc():
    for name in ("v2.6.28-real.txt", "v4.13-real.txt", "v6.9-nodes.txt", "hashed.txt",
                 "real-6.18-hashed.txt"):
        assert vi.read(os.path.join(DATA, name)).format == vi.PROC


def test_a_crash_line_that_is_not_an_area_is_skipped_with_its_line(tmp_path):
    path = tmp_path / "crash.txt"
    path.write_text("crash> kmem -v\n   VMAP_AREA         VM_STRUCT     ADDRESS RANGE   SIZE\n"
                    "ffff888100a3b600  ffff888104c1e000  ffffc90000000000 - ffffc90000005000    20480\n"
                    "kmem: invalid structure\n")
    d = vi.read(str(path))
    assert len(d.areas) == 1 and d.problems() == [f"{path}:4: expected crash's "
                                                  "`[VMAP_AREA] VM_STRUCT <start> - <end> <size>`"]


@pytest.mark.parametrize("name", ["drgn-6.18.txt", "gdb-6.18.txt", "crash-kmem-v-6.18.txt"])
def test_the_cli_reads_each(name, capsys):
    assert main(["vmallocinfo", os.path.join(DATA, name), "--json", "--cpus", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["addresses"] == "real"
