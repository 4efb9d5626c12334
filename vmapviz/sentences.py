"""Sentence ownership: each text a view shows is written for the generations it is true of.

A `SentenceTable` maps a key (a call name, an event kind, a quiz kind, a WARN's
function...) to the texts written for it, each with the set of generation names that
own it.  A text about a mechanism, worded without a version, is owned by a
`Capability` instead: every generation whose features declare it (Features.have), so
a new generation that declares node pools or dirty ranges shows their sentences without
an edit here.  `pick(key, generation)` returns the text owned by that generation, or the
table's neutral text: a generation never borrows another's sentence.  A new generation
(a name in `vmapviz.kernel.generations.GENERATIONS`) starts with the neutral texts
everywhere until someone writes, or extends the owners of, a text that is true of it.

`Said` records which text produced which sentences, so a test can check, for every
generation and every key, that the owner of each sentence shown is the generation that
showed it (`provenance()`).

Pure Python: no textual, no rich; the kernel package does not import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple

NEUTRAL = frozenset({"*"})      # the owners of a neutral text: true of every generation

# Owner tuples several tables share, listed by hand (never derived from the registry).
# MODERN is the 6.x family: a text it owns was checked against 6.12.33's C and 6.18.2's,
# which differ, for what the simulator models, only in decay_va_pool_node() (a text about
# the pools' decay is written per kernel, owned by one of the two names).
VANILLA = ("vanilla",)
REWRITE = ("posted", "merged")
MODERN = ("modern", "modern-6.18")
EVERY = VANILLA + REWRITE + MODERN


@dataclass(frozen=True)
class Capability:
    """The owners of a text about a mechanism: the generations whose features have
    `needs` (a Features.have expression, e.g. "dirty_range")."""

    needs: str

    def owners(self) -> frozenset[str]:
        from .kernel.generations import GENERATIONS
        return frozenset(name for name, g in GENERATIONS.items() if g.features.have(self.needs))


class Text(NamedTuple):
    """One text: the function that writes its sentences, and who owns it (generation
    names, or a Capability: the generations declaring it, asked when the text is picked)."""

    by: frozenset[str] | Capability
    write: Callable

    @property
    def owners(self) -> frozenset[str]:
        return self.by.owners() if isinstance(self.by, Capability) else self.by


class SentenceTable:
    """The texts written for each key, by owner.  `neutral(key, *args)` writes the
    description a generation without its own text gets."""

    def __init__(self, name: str, neutral: Callable) -> None:
        self.name = name
        self.neutral = Text(NEUTRAL, neutral)
        self.texts: dict[str, list[Text]] = {}

    def add(self, key: str, owners: Iterable[str] | Capability, write: Callable) -> None:
        """Register `write` as the text of `key` for `owners` (generation names, or the
        generations that declare a Capability).  Two texts of one key may not share an
        owner."""
        text = Text(owners if isinstance(owners, Capability) else frozenset(owners), write)
        assert text.owners and NEUTRAL.isdisjoint(text.owners), f"{self.name}.{key}: name its owners"
        for t in self.texts.get(key, ()):
            assert not t.owners & text.owners, f"{self.name}.{key}: {sorted(t.owners & text.owners)} own two texts"
        self.texts.setdefault(key, []).append(text)

    def add_each(self, owners: Iterable[str] | Capability, texts: dict[str, Callable]) -> None:
        """add() each key: write of `texts`, all for `owners`."""
        for key, write in texts.items():
            self.add(key, owners, write)

    def owns(self, *keys: str, by: Iterable[str] | Capability):
        """Decorator: register the function as the text of each key for `by`."""
        def register(write: Callable) -> Callable:
            for key in keys:
                self.add(key, by, write)
            return write
        return register

    def pick(self, key: str, generation: str) -> Text:
        """The text of `key` that `generation` owns, else the neutral one."""
        for t in self.texts.get(key, ()):
            if generation in t.owners:
                return t
        return self.neutral

    def keys(self) -> list[str]:
        return sorted(self.texts)

    def owners_of(self, key: str) -> list[frozenset[str]]:
        return [t.owners for t in self.texts.get(key, ())]


class Said(list):
    """Sentences in order, each remembered with the owners of the text that wrote it:
    `add(text, sentences)`; the list itself holds the sentences."""

    def __init__(self) -> None:
        super().__init__()
        self.owners: list[frozenset[str]] = []

    def add(self, text: Text, sentences: Iterable[str]) -> None:
        for s in sentences:
            self.append(s)
            self.owners.append(text.owners)

    def provenance(self) -> list[tuple[str, frozenset[str]]]:
        return list(zip(self, self.owners))


def borrowed(said: Said, generation: str) -> list[str]:
    """The sentences of `said` written by a text that `generation` does not own (and
    that is not neutral): what a test of sentence ownership fails on."""
    return [s for s, owners in said.provenance() if owners != NEUTRAL and generation not in owners]
