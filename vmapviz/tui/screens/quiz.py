"""Quiz mode: the next op's question, a box for the prediction, then the answer, why,
and the score.  The run waits just before the op; answering runs it."""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ...teaching.quiz import Question, answer_text, check


class QuizReady(Message):
    """The driver found the next question (None: no op left that a question fits)."""

    def __init__(self, question: Question | None, lesson: bool = False) -> None:
        super().__init__()
        self.question, self.lesson = question, lesson


class Score:
    def __init__(self) -> None:
        self.right = self.asked = 0

    def __str__(self) -> str:
        return f"score {self.right}/{self.asked}"


class QuizScreen(ModalScreen[str | int | None]):
    """Ask, take the prediction, reveal.  `answered(correct)` runs the op; the screen
    then dismisses with "next" (enter) or None (escape: leave quiz mode).  Before an
    answer, enter alone dismisses with 1 (skip this op) and "+N" with N (skip N ops)."""

    DEFAULT_CSS = """
    #quiz-box { width: 100%; height: auto; max-height: 12; border: round $vz-focus;
                background: $surface; padding: 0 1; }
    #quiz-question { max-height: 5; overflow-y: auto; }
    #quiz-verdict { max-height: 4; overflow-y: auto; display: none; }
    #quiz-input { margin: 1 0 0 0; }
    QuizScreen.-short #quiz-box { max-height: 8; }
    QuizScreen.-short #quiz-question { max-height: 4; }
    QuizScreen.-short #quiz-input { margin: 0; }
    QuizScreen.-short #quiz-verdict { max-height: 3; }
    """
    AUTO_FOCUS = "#quiz-input"
    BINDINGS = [Binding("escape", "leave", "leave quiz mode")]

    def __init__(self, question: Question, score: Score, answered: Callable[[bool], None],
                 title: str = "predict, then reveal", skippable: bool = True) -> None:
        super().__init__()
        self.skippable = skippable
        self.question, self.score, self.answered = question, score, answered
        self.title_text = title
        self.revealed = False

    def compose(self) -> ComposeResult:
        with Vertical(id="quiz-box") as box:
            box.border_title = f"{self.title_text} · {self.score}"
            yield Static(self.question.question, id="quiz-question", markup=False)
            yield Input(placeholder="your prediction, then enter · enter alone skips · +N skips N ops · "
                        "escape leaves" if self.skippable else "your prediction, then enter", id="quiz-input",
                        compact=True)
            yield Static("", id="quiz-verdict")

    def on_mount(self) -> None:
        # A short terminal (24 rows): a lower box, so that the blocks and the lazy gauge
        # stay above it (the question scrolls).
        self.set_class(self.app.size.height < 30, "-short")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.revealed:
            return
        text = event.value.strip()
        if not self.skippable and (not text or text.startswith("+")):
            return
        if not text:                       # skip: the op runs, unscored, then the next question
            self.dismiss(1)
            return
        if text.startswith("+") and text[1:].replace(",", "").replace("_", "").isdigit():
            self.dismiss(int(text[1:].replace(",", "").replace("_", "")))
            return
        self.revealed = True
        correct = check(self.question, event.value)
        self.score.asked += 1
        self.score.right += correct
        q = self.question
        verdict = "Right!" if correct else f"Not quite: the answer is {answer_text(q)}."
        verdict_box = self.query_one("#quiz-verdict", Static)
        verdict_box.display = True
        verdict_box.update(
            Text(f"{verdict} Why: {q.why}.\n\nenter: next question · escape: leave quiz mode"))
        self.query_one("#quiz-box").border_title = f"{self.title_text} · {self.score}"
        inp = self.query_one(Input)
        inp.display = False
        self.focus()
        self.answered(correct)

    def key_enter(self) -> None:
        if self.revealed:
            self.dismiss("next")

    def action_leave(self) -> None:
        self.dismiss(None)
