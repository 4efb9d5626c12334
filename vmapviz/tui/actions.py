"""The app's actions, in one table: the key bindings, the footer, the help screen and
the command palette are all made from it.

An Action names a handler (the app's `action_<handler>` method) and its arguments,
the key(s) that run it (none for an entry only the palette offers), a short title
(the footer's word, the palette's entry) and a help line (the help screen, the
palette's second line).  `show` puts it in the footer, which must fit 120 columns:
less-used keys stay out of it and are still in the help and the palette.
"""

from __future__ import annotations

from typing import NamedTuple

from textual.binding import Binding

from ..kernel.events import KINDS, UNTIL


class Action(NamedTuple):
    keys: str            # Textual key names, comma-separated; "" for a palette entry only
    handler: str         # the app's action_<handler>
    args: tuple
    title: str
    help: str
    show: bool = False   # in the footer
    needs: str = ""      # a generation feature it needs (Features field), if any

    @property
    def action(self) -> str:
        """The action string a Binding runs: handler(args...)."""
        return f"{self.handler}({', '.join(map(repr, self.args))})" if self.args else self.handler

    @property
    def key_text(self) -> str:
        """The keys as a person reads them: 'n / →'."""
        return " / ".join(KEY_NAMES.get(k, k) for k in self.keys.split(",") if k not in ALIASES)

    def binding(self) -> Binding:
        first = self.keys.split(",")[0]
        return Binding(self.keys, self.action, self.title, show=self.show,
                       key_display=KEY_NAMES.get(first, first))


KEY_NAMES = {"space": "space", "right": "→", "left": "←", "plus": "+", "minus": "-", "slash": "/",
             "question_mark": "?", "enter": "enter", "escape": "esc",
             "right_square_bracket": "]", "left_square_bracket": "["}
ALIASES = {"equals_sign"}   # bound as well, never shown: '=' is '+' without shift
CPU_CHOICES = (1, 2, 4, 8, 16, 32, 64)

# What "run until" stops at needs a feature: nothing is purged without lazy flushing,
# and there are no block events without vmap blocks.
_UNTIL_NEEDS = {"purge": "lazy_flush", "block": "vmap_blocks"}


def _until(name: str) -> Action:
    what = " or ".join(KINDS[k].title for k in UNTIL[name])
    return Action("", "until", (name,), f"run until {name}",
                  f"run to the next op with {what}", needs=_UNTIL_NEEDS.get(name, ""))


ACTIONS: tuple[Action, ...] = (
    Action("space", "toggle", (), "play", "play / pause", True),
    Action("n,right", "step", (), "step",
           "step one op (→ steps when the map does not have focus; on the map it moves the cursor)", True),
    Action("f", "until", ("flush",), "flush", "run to the next TLB flush", True),
    Action("l", "presenter", (), "presenter",
           "presenter layout: a large map, the lazy-flush/TLB gauge and the explanation, for a "
           "projector at about 100x30", True),
    Action("N,left", "step_back", (), "back",
           "step back one op (← steps back when the map does not have focus)"),
    Action("F", "back_to_flush", (), "back to flush", "go back to the previous TLB flush"),
    Action("g", "jump", (), "go to op", "go to op N (or click the time strip under the header)"),
    Action("t", "quiz", (), "quiz", "quiz mode: predict the next op's answer, then reveal it (in the "
           "box: enter alone skips the question, +N skips N ops ahead)"),
    Action("T", "quiz_kinds", (), "quiz kinds", "quiz mode on one kind of question, or several (address, lazy, flush, ...)"),
    Action("L", "pick_lesson", (), "lesson", "pick a lesson to play"),
    Action("right_square_bracket", "lesson_step", (1,), "lesson: go on", "lesson: go on to the next stop"),
    Action("left_square_bracket", "lesson_step", (-1,), "lesson: back", "lesson: back a stop"),
    Action("plus,equals_sign", "speed", (1,), "faster",
           "speed up: 1 to 10,000 ops/s, then as fast as possible", True),
    Action("minus", "speed", (-1,), "slower", "slow down", True),
    Action("", "set_speed", (None,), "as fast as possible", "run with no pause between ops"),
    Action("z", "zoom", (-1,), "zoom", "zoom the map in, down to one page a cell", True),
    Action("Z", "zoom", (1,), "zoom out", "zoom the map out, up to the whole range"),
    Action("0", "fit", (), "fit", "fit the map to the used part of the range again"),
    Action("enter", "select_block", (), "select block",
           "select the vmap block under the cursor: every bit of its bitmaps", needs="vmap_blocks"),
    Action("escape", "deselect", (), "deselect", "deselect the block", needs="vmap_blocks"),
    Action("w", "pick_workload", (), "workload", "pick a workload (or a trace file)", True),
    Action("v", "variant", (), "variant",
           "the next kernel generation that can run the workload (vanilla, posted, merged, ...)", True),
    Action("c", "cpus", (), "CPUs", "change the CPU count"),
    Action("b", "bits", (), "32/64-bit", "switch width: 64-bit / 32-bit"),
    Action("a", "unmap_aliases", (), "unmap aliases", "call vm_unmap_aliases() now"),
    Action("p", "purge", (), "purge", "purge the lazy areas now (purge_vmap_area_lazy())"),
    Action("r", "reset", (), "reset", "reset: the same run from op 0"),
    Action("e", "toggle_explain", (), "explain", "show / hide the explanations", True),
    Action("slash", "filter_log", (), "filter log", "filter the event log by kind and CPU"),
    Action("", "log_filter", ("",), "log: everything", "show every line of the event log"),
    Action("", "log_filter", ("flush purge",), "log: flushes and purges",
           "show only the TLB flushes and purges"),
    Action("", "log_filter", ("warn",), "log: trouble only",
           "show only WARNs, BUGs, oopses, use-after-free and refused calls"),
    *(_until(name) for name in UNTIL if name != "flush"),
    Action("C", "compare", (), "compare",
           "compare mode: this run on two generations in lockstep, maps and counters side by side "
           "(vanilla against the running one; the palette's 'compare with ...' picks another)"),
    Action("S", "scaling", (), "scaling chart",
           "the cost model's chart: simulated ns per map+touch+unmap against threads, vanilla and the rewrite"),
    Action("s", "screenshot", (), "screenshot",
           "save an SVG screenshot (the path is shown; in a browser, the browser gets it)"),
    Action("question_mark", "help", (), "help", "this help: every key, panel and glyph", True),
    Action("q", "quit", (), "quit", "quit", True),
)

# Keys the panels and Textual handle themselves: listed in the help, bound elsewhere.
OTHER_KEYS = (
    ("arrows, mouse", "move the map cursor (click a cell; the wheel scrolls; PgUp/PgDn pan)"),
    ("tab", "move focus: map, blocks, log (the arrows then work in that panel)"),
    ("ctrl+p", "command palette: workloads, kernels, CPU counts, flush models and every action"),
)


def bindings() -> list[Binding]:
    return [a.binding() for a in ACTIONS if a.keys]
