"""`vmapviz vmallocinfo`: the summary of a /proc/vmallocinfo dump as Rich tables."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..units import human_bytes, pct
from ..models.vmallocinfo import ADDRESS_ADVICE, CRASH, DRGN, FORMATS, GDB, KINDS, PROC, REAL

MAX_PROBLEMS = 20
KIND_MEANING = {
    "vmalloc": "vmalloc() and friends: pages allocated and mapped",
    "vmap": "vmap(): a caller's pages mapped",
    "ioremap": "ioremap(): device memory",
    "sparse": "VM_SPARSE: mapped piecemeal (BPF arena)",
    "vm_area": "get_vm_area() without those flags",
    "vm_map_ram": "vm_map_ram(): vmap blocks, large mappings",
    "unpurged": "lazily freed: awaiting a purge and TLB flush",
}


FORMAT_NOTES = {
    DRGN: "callers are bare symbol names; busy areas only (no unpurged lines)",
    GDB: "callers are <symbol+decimal offset>; busy areas only (no unpurged lines)",
    CRASH: "no callers, flags or kinds (every area counts as vm_area), only areas with a "
           "vm_struct",
}


def print_summary(s: dict, problems: list[str], console: Console | None = None) -> None:
    """Areas by kind, top callers, the lazy list against lazy_max_pages(), the layout."""
    from .output import Output
    console = console or Output(highlight=False)
    err = Output(stderr=True, highlight=False)
    for line in problems[:MAX_PROBLEMS]:
        err.print(line, markup=False)
    if len(problems) > MAX_PROBLEMS:
        err.print(f"... and {len(problems) - MAX_PROBLEMS} more malformed lines")
    skipped = len(s["skipped"])
    console.print(f"[bold]{escape(s['file'])}[/]: {s['lines']:,} lines, {s['areas']:,} areas"
                  f"{f', {skipped:,} malformed lines skipped' if skipped else ''}, "
                  f"addresses [bold]{s['addresses']}[/]")
    fmt = s.get("format", PROC)
    if fmt != PROC:
        note = FORMAT_NOTES[fmt]
        console.print(f"read as [bold]{FORMATS[fmt]}[/] output: {note}")
    if s["addresses"] != REAL:
        console.print(f"[yellow]no layout:[/] {escape(ADDRESS_ADVICE[s['addresses']])} ({s['evidence']})")

    kinds = Table(box=None, padding=(0, 2), header_style="bold")
    for name, justify in (("kind", "left"), ("areas", "right"), ("meaning", "left")):
        kinds.add_column(name, justify=justify, style="dim" if name == "meaning" else None)
    for k in KINDS:
        if k in s["kinds"]:
            kinds.add_row(k, f"{s['kinds'][k]:,}", KIND_MEANING[k])
    console.print(kinds)
    console.print(f"[bold]{s['pages']:,} pages[/] ({human_bytes(s['pages'] * s['page_size'])}) "
                  f"mapped by the areas that print pages=")

    callers = Table(box=None, padding=(0, 2), header_style="bold", title_justify="left",
                    title="top callers by pages", title_style="bold")
    for name in ("caller", "areas", "pages", "address space"):
        callers.add_column(name, justify="left" if name == "caller" else "right",
                           overflow="ellipsis", no_wrap=True)
    for c in s["callers"]:
        callers.add_row(escape(c["caller"]), f"{c['areas']:,}", f"{c['pages']:,}", human_bytes(c["bytes"]))
    console.print(callers)

    u, lazy_max = s["unpurged"], s["lazy_max_pages"]
    console.print(f"[bold]unpurged[/] (freed lazily, awaiting a purge): {u['areas']:,} areas, "
                  f"{u['pages']:,} pages = {pct(u['pages'], lazy_max)} of lazy_max_pages() "
                  f"{lazy_max:,} (fls({s['cpus']} CPUs) x 32 MiB / {human_bytes(s['page_size'])})")
    lay = s["layout"]
    if lay:
        lo, hi = lay["span"]
        g0, g1 = lay["largest_gap"]
        console.print(f"[bold]span used[/] {lo:#x}-{hi:#x} ({human_bytes(lay['span_bytes'])}): "
                      f"{human_bytes(lay['used_bytes'])} in areas "
                      f"({pct(lay['used_bytes'], lay['span_bytes'])}), "
                      f"{human_bytes(lay['free_bytes'])} free in {lay['gaps']:,} gaps")
        if lay["gaps"]:
            console.print(f"[bold]largest free gap[/] {g0:#x}-{g1:#x} "
                          f"({human_bytes(lay['largest_gap_bytes'])}); [bold]fragmentation[/] "
                          f"{lay['fragmentation']:.2f} (1 - largest gap / free space in the span)")
        o = s["order"]
        if not o["sorted"]:
            notes = []
            if o["busy_runs"] > 1:
                notes.append(f"busy areas in {o['busy_runs']} ascending runs (one per vmap node, 6.9+)")
            if o["unpurged_tail"]:
                notes.append("unpurged areas listed after the busy ones (5.x+)")
            console.print(f"[bold]order[/]: not address-sorted: {'; '.join(notes) or 'out of order'}")
    if s["unknown_tokens"]:
        tokens = ", ".join(f"{escape(t)} x{n}" for t, n in list(s["unknown_tokens"].items())[:8])
        console.print(f"[yellow]unknown tokens kept[/] (a newer kernel?): {tokens}")
