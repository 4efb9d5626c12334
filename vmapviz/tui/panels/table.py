"""The panel table: every panel of the main screen, one line each, as `actions.ACTIONS`
is for keys.  The app composes, mounts, feeds snapshots to, picks, restyles and
highlights panels by looping over `PANELS`; the help lists their lines and a lesson's
`highlight = "<id>"` names them.  A new panel is a widget (panels/), a line here and a
rule in app.tcss.

This module imports no Textual (the widget is named, loaded on use), so the teaching
floor can check a lesson's `highlight` against it without importing the TUI.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Panel:
    id: str               # the widget's id (app.tcss), and a lesson's highlight name
    widget: str           # "module:Class" in vmapviz.tui.panels
    row: str | None       # the Horizontal row (#top, #middle, #bottom) it sits in; None: a row of its own
    title: str            # its border title and its name in the help
    help: str = ""        # its line in the help ("": not listed)
    needs: str = ""       # the generation features it needs (Features.have: "a", "a|b", "!a"); "": always
    lesson: str = ""      # what a lesson's highlight calls it ("look at ..."); "": not a highlight target
    hidden_waits: bool = False   # skip its snapshots while it is not displayed (it redraws whole)

    def widget_class(self) -> Any:
        module, name = self.widget.split(":")
        return getattr(importlib.import_module(f"{__package__}.{module}"), name)

    def shown_with(self, features: Any) -> bool:
        """Whether a generation with `features` (Features) has what this panel shows."""
        return bool(features.have(self.needs))


PANELS = (
    Panel("header", "header:Header", None, "header",
          "workload, variant, CPUs, width, seed, running or paused, speed, op count"),
    Panel("timeline", "timeline:TimelineStrip", None, "time strip"),
    Panel("map", "addrmap:AddressMap", "top", "vmalloc space",
          "the map of [VMALLOC_START, VMALLOC_END); the title says what is shown and what one "
          "cell is. A cell shows the dominant state of its pages; a lazily freed area wins from "
          "a quarter of the cell up.", lesson="the vmalloc map"),
    Panel("inspector", "inspector:Inspector", "top", "under the cursor",
          "the areas in the cell: range, size, flags, kind, state, block and CPU, and which "
          "CPUs' TLBs still hold stale entries for it", lesson="under the cursor"),
    Panel("blocks", "blocks:BlockList", "middle", "per-CPU vmap blocks",
          "(generations with vmap blocks) each CPU's free and dirty lists in list order; each "
          "block's alloc_map and dirty_map as a bar; every bit of the selected block. Where "
          "blocks bump-allocate (6.12): the bump pointer ↑, the dirty range d (underlined in the "
          "bar), pages in use, freed and past the bump pointer",
          needs="vmap_blocks", lesson="the per-CPU vmap blocks", hidden_waits=True),
    Panel("free", "freespace:FreeSpacePanel", "middle", "free tree and pools",
          "(generations with a free tree or vmap nodes; wide screens) the free blocks, the "
          "largest and the next two; each node's pools of purged areas by size (4p×3: three "
          "areas of 4 pages), pool hits and misses", needs="free_tree|vmap_nodes"),
    Panel("lazy", "lazy:LazyPanel", "middle", "lazy TLB flushing",
          "(generations that flush lazily) vmap_lazy_nr against lazy_max_pages, flushes, IPIs, "
          "purges, failures, WARN and BUG counts, and a sparkline of flushes by op; where a "
          "kworker purges, whether it is pending or what its last drain did",
          needs="lazy_flush", lesson="lazy TLB flushing", hidden_waits=True),
    Panel("costs", "costs:CostPanel", "middle", "what a free costs",
          "(generations that flush at once) the last free's flush, IPIs and emptied TLBs, "
          "totals per CPU, lock acquisitions, and the walk lengths as sparklines",
          needs="!lazy_flush", hidden_waits=True),
    Panel("log", "eventlog:EventLog", "bottom", "events",
          "kernel-style lines of each op, WARN/BUG/flush tagged, a kworker's on its own "
          "\"kworker\" lines; filter with / (kinds, cpuN, kworker)", lesson="the events"),
    Panel("explain", "explain:ExplainPanel", "bottom", "what just happened",
          "two or three sentences on the last op, for the classroom (e hides it)",
          lesson="what just happened"),
    Panel("lesson", "lesson:LessonPanel", None, "lesson"),
)

# A lesson's highlight names: id -> what the lesson's stop line calls it.
LESSON_NAMES = {p.id: p.lesson for p in PANELS if p.lesson}
