"""The command palette: every workload and every action of the app."""

from __future__ import annotations

from functools import partial

from textual import command
from textual.command import DiscoveryHit, Hit, Hits, Provider

from .screens import AnswersOnce


class CommandPalette(AnswersOnce, command.CommandPalette):
    """Textual's palette, answering once (ctrl+p, enter, enter), and working around a
    race in Textual 8.2.8: a PageUp or PageDown
    that arrives before the palette's option list has laid out its lines (within about
    20 ms of ctrl+p) raises KeyError in OptionList._move_page.  That key is dropped: the
    list is not on screen yet."""

    def _gather_commands(self, search_value: str):
        # Keys queued behind the one that answered still reach the palette's input, and
        # Textual 8.2.8 starts a search for each: one that runs while the palette is
        # being removed fails with NoMatches('CommandList') and ends the app.
        if not self._answered:
            return super()._gather_commands(search_value)
        return None

    def _action_command_list(self, action: str) -> None:
        try:
            super()._action_command_list(action)
        except KeyError:
            pass


def _workloads() -> list[tuple[str, str]]:
    try:
        from ..workloads import catalog
    except ImportError:
        return []
    return catalog()


class VmapvizCommands(Provider):
    """Hits: 'workload NAME' for each built-in, then the app's actions."""

    def _commands(self):
        app = self.app
        for name, summary in _workloads():
            yield f"workload {name}", summary, partial(app.restart_with, workload=name)
        yield from app.palette_actions()

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
