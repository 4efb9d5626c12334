"""Colours and glyphs, one place for every panel.

Rules the palette follows:
- One hue per CPU (Okabe-Ito, then Paul Tol's muted set; colour-blind safe), used the
  same way in the map, the block list and the event log; the CPU number is always
  printed next to it in text, so the hue is a help, never the only cue.
- States are told apart by glyph first (a shape survives a monochrome projector) and
  by colour second: busy kinds use different shade/quadrant glyphs, lazily freed
  areas a cross-hatch, guard/gap pages a dot; in the bitmaps an allocated page is a
  full-height half cell and a dirty page a half-height one.
"""

from __future__ import annotations

from functools import lru_cache

from rich.style import Style

from ..kernel.events import KINDS

# Okabe & Ito (2008), then Paul Tol's "muted" scheme: 15 hues before repeating.
CPU_HUES = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
    "#88CCEE", "#44AA99", "#DDCC77", "#AA4499", "#117733", "#999933", "#CC6677", "#882255",
)

PANEL_BG = "#121212"
SLOT_BG = "#303030"        # a free page inside a block bitmap: an empty slot
CURSOR = Style(color="#000000", bgcolor="#FFFFFF", bold=True)


def cpu_hue(cpu: int) -> str:
    return CPU_HUES[cpu % len(CPU_HUES)]


@lru_cache(maxsize=None)
def cpu_style(cpu: int, bold: bool = False) -> Style:
    return Style(color=cpu_hue(cpu), bold=bold)


# -- map cell classes ---------------------------------------------------------------
# A cell of the address map shows one class: the dominant (or most important) state
# of the pages it spans.  Classes are small ints so a row is a list of ints; vmap
# blocks get three classes per CPU (pages handed out, dirty, not yet handed out).

FREE, GUARD, VMALLOC, VMAP, IOREMAP, VM_AREA, LAZY = range(7)
BLOCK_BASE = 16
BLOCK_ALLOC, BLOCK_DIRTY, BLOCK_FREE = 0, 1, 2

KIND_CLASS = {
    "vmalloc": VMALLOC, "vpages": VMALLOC,
    "vmap": VMAP, "vm_map_ram": VMAP, "user": VMAP,
    "ioremap": IOREMAP,
    "vm_area": VM_AREA,
}

#            class: (glyph, style, legend text)
BASE_CLASSES = {
    FREE: (" ", Style(), "free"),
    GUARD: ("·", Style(color="#8A8A8A"), "guard/gap page"),
    VMALLOC: ("▓", Style(color="#D7D7D7"), "vmalloc"),
    VMAP: ("▚", Style(color="#B8C7E0"), "vmap / vm_map_ram"),
    IOREMAP: ("░", Style(color="#E0B8E0"), "ioremap"),
    VM_AREA: ("▞", Style(color="#A8A8A8"), "vm_area (unmapped)"),
    LAZY: ("╳", Style(color="#FFFFFF", bgcolor="#7A1F1F", bold=True), "lazily freed, awaiting flush"),
}

BLOCK_GLYPHS = {BLOCK_ALLOC: "█", BLOCK_DIRTY: "▄", BLOCK_FREE: "▁"}


def block_class(cpu: int, state: int) -> int:
    return BLOCK_BASE + cpu * 3 + state


@lru_cache(maxsize=4096)
def class_glyph(cls: int) -> tuple[str, Style]:
    """The glyph and style of a map class."""
    if cls < BLOCK_BASE:
        glyph, style, _ = BASE_CLASSES[cls]
        return glyph, style
    cpu, state = divmod(cls - BLOCK_BASE, 3)
    return BLOCK_GLYPHS[state], Style(color=cpu_hue(cpu))


# -- bitmap cells ---------------------------------------------------------------------
# Two pages per cell, left page in the left half.  Per page: F free, A allocated (in
# alloc_map, not dirty), D dirty (vb_free'd; the PTE and maybe TLB entries remain).
# A is a full-height half, D a lower quadrant, F empty (the slot background shows).
PAIR_GLYPHS = {
    ("F", "F"): " ", ("A", "F"): "▌", ("F", "A"): "▐", ("A", "A"): "█",
    ("D", "F"): "▖", ("F", "D"): "▗", ("D", "D"): "▄",
    ("A", "D"): "▙", ("D", "A"): "▟",
}


def page_state(alloc_map: int, dirty_map: int, bit: int) -> str:
    if dirty_map >> bit & 1:
        return "D"
    if alloc_map >> bit & 1:
        return "A"
    return "F"


@lru_cache(maxsize=64)
def bitmap_style(cpu: int) -> Style:
    return Style(color=cpu_hue(cpu), bgcolor=SLOT_BG)


# -- event log ------------------------------------------------------------------------
# A style for every kind of the kernel's vocabulary (events.KINDS), and "gap", the log's
# own line for ops it did not keep.
_ALARM = Style(color="#FFFFFF", bgcolor="#A00000", bold=True)
LOG_STYLES = {
    "call": Style(dim=True),
    "return": Style(),
    "area": Style(color="#9E9E9E"),
    "lazy": Style(color="#C0C0C0", italic=True),
    "purge": Style(bold=True),
    "flush": Style(color="#000000", bgcolor="#F0E442", bold=True),
    "block": Style(color="#C0C0C0"),
    "bits": Style(color="#9E9E9E"),
    "alias": Style(color="#C0C0C0"),
    "warn": Style(color="#000000", bgcolor="#E69F00", bold=True),
    "bug": _ALARM,
    "fault": _ALARM,
    "uaf": _ALARM,
    "refused": Style(color="#000000", bgcolor="#8FB8DE", bold=True),
    "error": Style(color="#FFFFFF", bgcolor="#5F005F", bold=True),
    "gap": Style(dim=True, italic=True),
}
# The word in front of the lines that must stand out even in monochrome.
LOG_TAGS = {k: f" {kind.tag} " for k, kind in KINDS.items() if kind.tag}
