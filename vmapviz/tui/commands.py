"""The command palette: every action of the table (actions.py), then every workload,
kernel generation, CPU count and flush model to restart with; in compare mode, its
rows of the table."""

from __future__ import annotations

from functools import partial

from textual import command, work
from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.css.query import NoMatches

from ..kernel.generations import FLUSH_MODELS, GENERATIONS
from ..sentences import EVERY, MODERN, REWRITE, VANILLA, SentenceTable
from .actions import ACTIONS, CPU_CHOICES
from .screens.dialogs import AnswersOnce


_GATHER = command.CommandPalette._gather_commands.__wrapped__   # the search, unwrapped from @work


class CommandPalette(AnswersOnce, command.CommandPalette):
    """Textual's palette, answering once (ctrl+p, enter, enter), and working around a
    race in Textual 8.2.8: a PageUp or PageDown
    that arrives before the palette's option list has laid out its lines (within about
    20 ms of ctrl+p) raises KeyError in OptionList._move_page.  That key is dropped: the
    list is not on screen yet."""

    @work(exclusive=True, group=command.CommandPalette._GATHER_COMMANDS_GROUP)
    async def _gather_commands(self, search_value: str) -> None:
        # Keys queued behind the one that answered still reach the palette's input, and
        # Textual 8.2.8 starts a search for each; a search that runs while the palette
        # is being removed (escape, enter) fails with NoMatches('CommandList'), a worker
        # error that ends the app.  No search starts once answered, and one under way
        # ends quietly.
        if self._answered:
            return
        try:
            await _GATHER(self, search_value)
        except NoMatches:
            pass

    def _action_command_list(self, action: str) -> None:
        try:
            super()._action_command_list(action)
        except KeyError:
            pass


# What each flush model means, in the words of the generations it is true of (the
# ceiling, a constant of the generation, from the registry).
FLUSH_HELP = SentenceTable("palette.flush", lambda model, gen: f"flush model {model!r}")
FLUSH_HELP.add("all", VANILLA + REWRITE, lambda model, gen: (
    "x86: flush_tlb_kernel_range() empties every CPU's whole TLB (flush_tlb_all)"))
FLUSH_HELP.add("all", MODERN, lambda model, gen: (
    f"x86: flush_tlb_kernel_range() runs one INVLPG per page up to {gen.flush_ceiling} pages "
    "(tlb_single_page_flush_ceiling), a whole-TLB flush above"))
FLUSH_HELP.add("range", EVERY, lambda model, gen: (
    "ARM and others: only the range is dropped from each CPU's TLB"))


def palette_entries(app):
    """(title, help, callback) of every palette entry the running generation allows; in
    compare mode, compare mode's own rows of the action table."""
    mode = app.compare_mode()
    for a in mode.ACTIONS if mode is not None else ACTIONS:
        if mode is not None or app.check_action(a.handler, a.args):
            keys = f"key {a.key_text} · " if a.keys else ""
            yield a.title, keys + a.help, partial(getattr(mode or app, f"action_{a.handler}"), *a.args)
    if mode is not None:
        return
    from ..workloads import catalog
    for name, summary in catalog():
        yield f"workload: {name}", summary, partial(app.restart_with, workload=name)
    for gen in GENERATIONS.values():
        yield (f"variant: {gen.name}", f"{gen.title}: {gen.description}",
               partial(app.restart_with, variant=gen.name))
    current = app.run_config.variant
    for gen in GENERATIONS.values():
        if gen.name != current:
            yield (f"compare with {gen.name}", f"compare mode: this run on {current} and on {gen.title}, "
                   "in lockstep, side by side", partial(app.action_compare, gen.name))
    for n in CPU_CHOICES:
        yield f"CPUs: {n}", "restart with this CPU count", partial(app.restart_with, nr_cpus=n)
    for model in FLUSH_MODELS:
        help_text = FLUSH_HELP.pick(model, current).write(model, GENERATIONS[current])
        yield f"flush model: {model}", help_text, partial(app.restart_with, flush=model)


class VmapvizCommands(Provider):
    """Hits: the palette entries whose title matches the query."""

    async def discover(self) -> Hits:
        for title, help_text, callback in palette_entries(self.app):
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in palette_entries(self.app):
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class PaletteHost(App):
    """The app's side of the palette (mixed into VmapvizApp): ctrl+p, and Textual's
    "Theme" and "Keys" entries, open our palette (CommandPalette above)."""

    def action_command_palette(self) -> None:
        # No id (Textual gives it one): ctrl+p again while the last palette is still being
        # removed would otherwise mount a second screen of the same id (DuplicateIds).
        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(CommandPalette())

    def search_themes(self) -> None:
        """The palette's "Theme" entry: Textual's own opens its own palette, without the
        workarounds of ours (commands.CommandPalette); this one is ours."""
        from textual.theme import ThemeProvider
        self.push_screen(CommandPalette(providers=[ThemeProvider], placeholder="Search for themes…"))

    def search_commands(self, commands, placeholder: str = "Search for commands…"):
        """As App.search_commands, in our palette (see search_themes)."""
        from textual.command import SimpleProvider
        return self.push_screen(CommandPalette(providers=[SimpleProvider(self.screen, commands)],
                                               placeholder=placeholder))
