"""A lesson in the TUI: a panel under the map with the step, its note, what the stop
shows against what the lesson says, and the keys to go on (]) or back ([).  Steps run
in the driver's thread (Driver.apply) through the same Player as the headless one."""

from __future__ import annotations

import functools

from rich.markup import escape
from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from ...teaching.lesson import Lesson, Stop, play_to, reveal, state_line


class LessonStopped(Message):
    """The driver finished a lesson step."""

    def __init__(self, index: int, reached: Stop | None) -> None:
        super().__init__()
        # not `stop`: that name is Message.stop(), which ends the message's bubbling
        self.index, self.reached = index, reached


class LessonPanel(Static):
    """The lesson's note and state at the current stop."""

    DEFAULT_CSS = """
    LessonPanel { dock: bottom; height: auto; max-height: 12; border: round $vz-focus;
                  background: $surface; color: $foreground; padding: 0 1; display: none; }
    """

    def show_stop(self, lesson: Lesson, stop: Stop) -> None:
        step = stop.step
        last = stop.index == len(lesson.steps) - 1
        self.border_title = f"lesson: {escape(lesson.title)} · stop {stop.index + 1} of {len(lesson.steps)}"
        # The lesson file's text is text, never markup: "[VMALLOC_START, +80 KiB)" shows as is.
        out = Text()
        out.append(step.describe(), "bold")
        if step.note:
            out.append("\n" + step.note)
        out.append("\n" + state_line(stop.op, stop.stats), "dim")
        for w in stop.wrong:
            out.append("\nMISMATCH", "bold")
            out.append(f": {w}")
        out.append("\n] go on · [ back a stop · shift+L another lesson" if not last else
                   "\nThe end of the lesson. [ back a stop · shift+L another lesson")
        self.update(out)
        self.display = True


class LessonRunner:
    """Where the app is in a lesson: the player, the stop shown, and the step asked."""

    def __init__(self, lesson: Lesson) -> None:
        self.lesson = lesson
        self.index = -1          # the stop on screen
        self.stop: Stop | None = None

    def steps_to(self, target: int):
        """fn(run) for Driver.apply: the steps from the stop on screen up to `target`
        (teaching.lesson.play_to; a partial, so that it pickles)."""
        return functools.partial(play_to, lesson=self.lesson, start=self.index, target=target)

    def reveal(self, stop: Stop):
        return functools.partial(reveal, lesson=self.lesson, stop=stop)
