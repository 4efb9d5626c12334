"""/proc/vmallocinfo as each generation prints it (s_show() of v2.6.26-2.6.28): one line
per vm_struct on vmlist, `0x%p-0x%p %7ld` (the size includes the guard page), then
` pages=%d` when it has pages, then the flags.  Expected lines are written by hand."""

import pytest

from vmapviz.faces.cli import main
from vmapviz.kernel import VM_IOREMAP, Config, Kernel

P = 4096


def test_vanilla_prints_every_area_of_vmlist():
    k = Kernel(Config(variant="vanilla"))
    a = k.vmalloc(2 * P)            # [S, S+3P): 2 pages + guard
    k.vmap(1)                       # [S+3P, S+5P)
    k.get_vm_area(P, VM_IOREMAP)    # 8 KiB aligned: [S+6P, S+8P), no pages
    assert a == 0xFFFFC20000000000
    assert k.vmallocinfo() == ([
        "0xffffc20000000000-0xffffc20000003000   12288 pages=2 vmalloc",
        "0xffffc20000003000-0xffffc20000005000    8192 vmap",
        "0xffffc20000006000-0xffffc20000008000    8192 ioremap",
    ], "")


def test_the_rewrite_hides_vm_map_ram_and_lazy_areas():
    k = Kernel(Config(variant="merged", bits=32))
    a = k.vmalloc(P)                # [S, S+2P), then the gap page
    k.vm_map_ram(4)                 # a vmap block: a vmap_area with no vm_struct
    b = k.vmalloc(P)
    k.vfree(a)                      # lazy: still in the tree, off vmlist
    lines, hidden = k.vmallocinfo()
    assert lines == [f"0x{b:08x}-0x{b + 2 * P:08x}    8192 pages=1 vmalloc"]
    blocks = k.config.vmap_bbmap_bits
    assert hidden == ("merged v2.6.28's /proc/vmallocinfo walks vmlist only: it does not show "
                      "1 vm_map_ram area (vmap blocks included) and 1 lazily freed area awaiting "
                      f"a purge, {blocks + 2:,} pages of address space in all.")


def test_run_prints_it_for_the_pipe(capsys):
    assert main(["run", "agp-bug", "--variant", "vanilla", "--vmallocinfo"]) == 0
    out, err = capsys.readouterr()
    # agp-bug on vanilla: a = [S, S+2P) is freed at once; b = [S+2P, S+4P) (no gap
    # page); c, 4 pages + guard, does not fit a's 2-page hole and goes right after b.
    S = Config(bits=32).vmalloc_start
    assert out.splitlines() == [
        f"0x{S + 2 * P:08x}-0x{S + 4 * P:08x}    8192 pages=1 vmalloc",
        f"0x{S + 4 * P:08x}-0x{S + 9 * P:08x}   20480 pages=4 vmalloc",
    ]
    assert err == ""


def test_modern_prints_node_by_node_then_the_unpurged_areas():
    # 6.12's vmalloc_info_show(): 2 CPUs give 2 vmap nodes; an area belongs to the node
    # of its start's 16-page zone, (addr / 64 KiB) % 2: zone 0 and 2 are node 0, zone 1
    # node 1.  One guard page, no gap page.
    k = Kernel(Config(variant="modern", nr_cpus=2))
    S = k.config.vmalloc_start
    a = k.vmalloc(2 * P)        # [S, S+0x3000)            zone 0: node 0
    k.vmalloc(16 * P)           # [S+0x3000, S+0x14000)    zone 0: node 0
    k.vmalloc(P)                # [S+0x14000, S+0x16000)   zone 1: node 1
    k.vmalloc(P)                # [S+0x16000, S+0x18000)   zone 1: node 1
    k.vmalloc(9 * P)            # [S+0x18000, S+0x22000)   zone 1: node 1
    k.vmalloc(P)                # [S+0x22000, S+0x24000)   zone 2: node 0
    k.vfree(a)                  # lazy: shown last, as an unpurged vm_area
    lines, hidden = k.vmallocinfo()

    def line(lo, hi, tail):
        return f"0x{S + lo:016x}-0x{S + hi:016x} {hi - lo:7d} {tail}"
    assert lines == [line(0x3000, 0x14000, "pages=16 vmalloc"),
                     line(0x22000, 0x24000, "pages=1 vmalloc"),
                     line(0x14000, 0x16000, "pages=1 vmalloc"),
                     line(0x16000, 0x18000, "pages=1 vmalloc"),
                     line(0x18000, 0x22000, "pages=9 vmalloc"),
                     line(0x0, 0x3000, "unpurged vm_area")]
    assert hidden == ""


@pytest.mark.parametrize("variant", ["vanilla", "posted", "merged", "modern"])
def test_pages_only_where_nr_pages_is_set_and_vpages_per_generation(variant):
    # s_show() prints " pages=%d" only if (v->nr_pages) (2.6.27 966, 2.6.28 1728, 6.12.33
    # 5013); only __vmalloc_area_node() sets nr_pages, so a vmap() line has none.  600
    # pages: the page array (4,800 bytes) is vmalloc'ed: " vpages" (VM_VPAGES before 6.x;
    # 6.12 prints it when is_vmalloc_addr(v->pages), 5037).
    from vmapviz.kernel import Config, Kernel
    k = Kernel(Config(variant=variant, nr_cpus=2))
    k.vmalloc(600 * 4096)
    k.vmap(3)
    lines, _ = k.vmallocinfo()
    big, vmap, array = sorted(lines, key=lambda line: -int(line.split()[1]))
    assert big.endswith(" 2461696 pages=600 vmalloc vpages")
    assert array.endswith("   12288 pages=2 vmalloc")
    assert vmap.endswith("   16384 vmap") and "pages=" not in vmap
