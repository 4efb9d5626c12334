"""Quiz mode and lessons in the app: the keys t, T, L, [ and ], the questions' screens
and a lesson's stops (what the lesson panel says, the panel it highlights).

`Teaching` is mixed into the app; it asks the driver's thread for the next question
(teaching/quiz.py) or the next stop (panels/lesson.py's LessonRunner) and shows the
answer when it comes back as a message.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from textual.app import App

from .panels.lesson import LessonRunner, LessonStopped
from .panels.table import LESSON_NAMES
from .run_view import guarded
from .screens.dialogs import PickScreen
from .screens.quiz import QuizReady, QuizScreen


class Teaching(App):
    """See the module docstring (a base of VmapvizApp, whose driver and panels it uses)."""

    driver: Any
    snap: Any
    score: Any
    quiz_kinds: list[str] | None
    lesson: LessonRunner | None
    lesson_panel: Any
    panels: dict[str, Any]
    amap: Any
    user_acted: Callable[[], None]
    load_then: Callable[..., None]

    @guarded
    def action_quiz(self, skip: int = 0) -> None:
        """Quiz mode: the run waits before the next op a question of the chosen kinds
        fits and can show enough for; predict it.  `skip`: run that many ops first."""
        from ..teaching.quiz import ask_after
        self.user_acted()
        self.driver.apply(functools.partial(ask_after, skip=skip, kinds=self.quiz_kinds),
                          lambda q: self.post_message(QuizReady(q)))

    @guarded
    def action_quiz_kinds(self) -> None:
        """Choose the kinds of question quiz mode asks, then start it."""
        from ..teaching.quiz import FOR, KINDS, ONE_OP
        variant = self.snap.config.variant if self.snap else None
        options = [("all", "every kind this kernel has questions for")] + [
            (k, KINDS[k]) for k in ONE_OP if variant is None or variant in FOR[k]]

        def chosen(answer: str | None) -> None:
            if not answer:
                return
            kinds = [k.strip() for k in answer.split(",") if k.strip()]
            offered = [k for k, _ in options]
            bad = [k for k in kinds if k not in offered]
            if bad or not kinds:
                self.notify(f"No such kind of question here: {', '.join(bad) or answer!r}; "
                            f"the kinds: {', '.join(offered[1:])}", timeout=5)
                return
            self.quiz_kinds = None if "all" in kinds else kinds
            self.action_quiz()

        self.push_screen(PickScreen("quiz: which kind of question?", options,
                                    "all" if self.quiz_kinds is None else self.quiz_kinds[0],
                                    free_text="or several kinds, separated by commas, then enter:",
                                    placeholder="e.g. lazy,flush"), chosen)

    def on_quiz_ready(self, message: QuizReady) -> None:
        if message.question is None:
            self.notify("No op left that a question fits.", timeout=3)
            return

        def closed(result) -> None:
            if result == "next":
                self.action_quiz()
            elif isinstance(result, int):          # skipped: this op, or N ops ahead
                self.action_quiz(result)

        self.push_screen(QuizScreen(message.question, self.score, lambda _ok: self.driver.step(1)), closed)

    @guarded
    def action_pick_lesson(self) -> None:
        from ..teaching.lesson import catalog, find
        options = [(item.name.split("-", 1)[-1], item.title) for item in catalog()]

        def chosen(name: str | None) -> None:
            if name:
                self.load_then(lambda: find(name), self.start_lesson)

        self.push_screen(PickScreen("pick a lesson", options, None,
                                    free_text="or the path of a lesson file, then enter:"), chosen)

    def start_lesson(self, lesson) -> None:
        self.lesson = LessonRunner(lesson)
        self.action_lesson_step(1)

    @guarded
    def action_lesson_step(self, direction: int) -> None:
        runner = self.lesson
        if runner is None:
            self.notify("No lesson: shift+L picks one.", timeout=3)
            return
        target = runner.index + direction
        if not 0 <= target < len(runner.lesson.steps):
            return
        self.user_acted()
        self.driver.apply(runner.steps_to(target), lambda stop: self.post_message(LessonStopped(target, stop)))

    def on_lesson_stopped(self, message: LessonStopped) -> None:
        runner = self.lesson
        if runner is None or message.reached is None:
            return
        runner.index, runner.stop = message.index, message.reached
        stop = message.reached
        self.lesson_panel.show_stop(runner.lesson, stop)
        for name in LESSON_NAMES:
            self.panels[name].remove_class("-lesson-highlight")
        target = stop.step.value if stop.step.action == "highlight" else None
        if isinstance(target, str):
            self.panels[target].add_class("-lesson-highlight")
        elif isinstance(target, dict):
            self.amap.add_class("-lesson-highlight")
            self.amap._move_cursor_to(target["start"])
        if stop.question is not None and not stop.wrong and stop.op < stop.question.op:
            def answered(_ok: bool) -> None:
                self.driver.apply(runner.reveal(stop),
                                  lambda s: self.post_message(LessonStopped(message.index, s)))
            self.push_screen(QuizScreen(stop.question, self.score, answered, "lesson question",
                                        skippable=False))
