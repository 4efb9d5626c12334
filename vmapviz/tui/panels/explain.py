"""What just happened: the sentences on the last op (words/explain.py), or, while the
run is too fast to read them, a hint on how to slow it down."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...run.snapshot import Snapshot
from ..words.explain import explain
from .base import SnapshotPanel

EXPLAIN_MAX_SPEED = 50  # above this many ops/s the explanation waits for a pause
FAST = -3               # the op "explained" while the hint is up


class ExplainPanel(VerticalScroll, SnapshotPanel, can_focus=False):
    """The explanation of the last op, written again only when that op changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._explained_op = -2

    def compose(self) -> ComposeResult:
        yield Static("", id="explain-text")

    def update_snapshot(self, snap: Snapshot) -> None:
        last = snap.last_op[-1].op if snap.last_op else -1
        fast = snap.running and (snap.speed is None or snap.speed > EXPLAIN_MAX_SPEED)
        if fast:
            if self._explained_op != FAST:
                self._explained_op = FAST
                self._show_fast_hint()
        elif last != self._explained_op or snap.op == 0:
            self._explained_op = last
            self._show_explanation(snap)

    def _show_explanation(self, snap: Snapshot) -> None:
        sentences = explain(snap)
        self.border_title = (f"what just happened · op {snap.last_op[-1].op:,}"
                             if snap.last_op else "what just happened")
        self.query_one("#explain-text", Static).update(" ".join(sentences))

    def _show_fast_hint(self) -> None:
        self.border_title = "what just happened"
        self.query_one("#explain-text", Static).update(
            "Running too fast to explain every op. "
            "Press space to pause, n to step one op, f to run to the next TLB flush, "
            "or - to slow down below 50 ops/s; the explanation of each op comes back.")
