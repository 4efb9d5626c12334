"""/proc/vmallocinfo figures (issue 13).  Run: python benchmarks/bench_vmallocinfo.py

- the time to parse a 100,000-line dump (goal: under 1 s), and to summarise it;
- the cost of one --watch refresh (re-read, parse, diff, print) on a 2,000-line file,
  unchanged between reads and with 100 areas born and 100 freed at each read.

Dumps are synthetic, in the 6.x format with real addresses: vmalloc, ioremap, vmap,
vm_map_ram lines and an unpurged tail, in the proportions of a busy machine.
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time

from vmapviz.models import vmallocinfo as vi

BASE = 0xFFFFC90000000000
ROUNDS = 5


def dump_lines(n: int, first: int = 0) -> list[str]:
    """n lines, areas first..first+n-1 (so two calls with shifted `first` overlap)."""
    out, tail = [], []
    for i in range(first, first + n):
        start = BASE + i * 0x10000
        k = i % 10
        if k < 5:
            pages = 1 + i % 7
            size = (pages + 1) * 4096
            out.append(f"0x{start:016x}-0x{start + size:016x} {size:7d} kernel_clone+0x94/0x3e0 "
                       f"pages={pages} vmalloc N0={pages}")
        elif k == 5:
            out.append(f"0x{start:016x}-0x{start + 8192:016x} {8192:7d} acpi_os_map_iomem+0x1bc/0x1e0 "
                       f"phys=0x00000000fed00000 ioremap")
        elif k == 6:
            out.append(f"0x{start:016x}-0x{start + 12288:016x} {12288:7d} "
                       f"xfs_buf_alloc_backing_mem+0x1d3/0x2a0 [xfs] vmap")
        elif k == 7:
            out.append(f"0x{start:016x}-0x{start + 0x10000:016x} {0x10000:7d} vm_map_ram")
        else:
            tail.append(f"0x{start:016x}-0x{start + 20480:016x} {20480:7d} unpurged vm_area")
    return out + tail


def best(fn, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def parse_figures() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "vmallocinfo")
        with open(path, "w") as f:
            f.write("\n".join(dump_lines(100_000)) + "\n")
        dump = vi.read(path)
        t_parse = best(lambda: vi.read(path))
        t_sum = best(lambda: vi.summarize(dump, cpus=4))
    print(f"parse 100,000 lines (read + parse + address check): {t_parse * 1000:.0f} ms "
          f"(best of {ROUNDS}; {t_parse / 100_000 * 1e6:.2f} us/line)")
    print(f"summarise them (kinds, callers, unpurged, layout, order): {t_sum * 1000:.0f} ms")


def watch_figures(refreshes: int = 200) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "vmallocinfo")
        a = "\n".join(dump_lines(2000)) + "\n"
        b = "\n".join(dump_lines(2000, first=100)) + "\n"   # 100 born, 100 gone
        with open(path, "w") as f:
            f.write(a)

        def same(_):
            pass

        texts = [b, a]

        def churn(_):
            with open(path, "w") as f:
                f.write(texts[0])
            texts.reverse()

        def write_only():
            for _ in range(refreshes):
                churn(0)

        for name, sleep in (("unchanged", same), ("100 born + 100 freed", churn)):
            out = io.StringIO()
            runs = []
            for _ in range(ROUNDS):
                t0 = time.perf_counter()
                vi.watch(path, 0, cpus=4, out=out, err=out, iterations=refreshes, sleep=sleep)
                runs.append((time.perf_counter() - t0) / (refreshes + 1))
            print(f"--watch refresh, 2,000 lines, {name}: {min(runs) * 1000:.2f} ms "
                  f"(best of {ROUNDS}, median {statistics.median(runs) * 1000:.2f} ms)")
        t_write = best(write_only) / refreshes
        print(f"  (of which rewriting the file, the benchmark's own cost: {t_write * 1000:.2f} ms)")


if __name__ == "__main__":
    parse_figures()
    watch_figures()
