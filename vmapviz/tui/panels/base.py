"""SnapshotPanel: what every snapshot-fed panel of the main screen does for the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...run.snapshot import Snapshot


class SnapshotPanel:
    """A panel drawn from snapshots, mixed into its widget class (after it): the app
    hands it every snapshot it shows, and asks it to draw again in a new theme."""

    def update_snapshot(self, snap: Snapshot) -> None:
        """Take `snap`: keep what this panel shows of it and refresh what changed."""
        raise NotImplementedError

    def restyle(self) -> None:
        """Draw again in the palette of the new theme (palette.activate has run)."""
        self.refresh()  # type: ignore[attr-defined]
