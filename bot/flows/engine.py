"""What one update does to a conversation: the Turn in, the Outcome (new state + replies) out.

A step runs inside the update's transaction with the conversation row locked; it returns the
state to write and the replies to send after commit. Replies are plain data so nothing is sent
to Telegram while the row lock is held.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.db.conversations import Conversation
from bot.db.pool import Connection
from bot.flows import stopgap_domain as d

# --- replies --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Send:
    text: str
    markup: InlineKeyboardMarkup | None = None


@dataclass(frozen=True)
class Edit:
    """Show the chosen answer in the question message and remove its keyboard."""

    message_id: int
    text: str


@dataclass(frozen=True)
class Photo:
    caption: str
    markup: InlineKeyboardMarkup | None = None
    path: Path | None = None  # None: the funnel image
    chart: tuple[tuple[date, float], ...] | None = None  # rendered after commit


@dataclass(frozen=True)
class Answer:
    """answerCallbackQuery (always sent for a press; text shows as a toast)."""

    text: str | None = None


Reply = Send | Edit | Photo | Answer


# --- a turn ---------------------------------------------------------------------------------

@dataclass
class Turn:
    conn: Connection
    conv: Conversation
    chat_id: int
    user_id: int
    username: str | None
    today: date
    settings: Any
    text: str | None = None
    message_id: int | None = None  # the message holding the pressed button
    message_text: str | None = None


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    # (flow, step, answers) to write; None keeps the conversation as it was.
    state: tuple[str | None, str | None, dict[str, Any]] | None = None
    events: list[str] = field(default_factory=list)  # counters to bump after commit

    @classmethod
    def idle(cls, *replies: Reply, events: list[str] | None = None) -> Outcome:
        return cls(list(replies), (None, None, {}), events or [])


IDLE_STATE = (None, None, {})


# --- questions ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    step: str
    parse: Callable[[str, Turn], Any] | None = None  # a typed answer
    group: str | None = None  # a button answer: the choice group
    when: Callable[[dict[str, Any]], bool] = lambda answers: True

    @property
    def prompt(self) -> str:
        return d.PROMPTS[self.step]

    def ask(self) -> Send:
        return Send(self.prompt, choice_keyboard(self.group) if self.group else None)


@dataclass(frozen=True)
class Flow:
    name: str
    questions: tuple[Question, ...]
    finish: Callable[[Turn, dict[str, Any]], Awaitable[Outcome]]
    # Called after each answer; may return an Outcome that replaces the normal advance.
    check: Callable[[Turn, dict[str, Any], str], Awaitable[Outcome | None]] | None = None

    def question(self, step: str | None) -> Question | None:
        return next((q for q in self.questions if q.step == step), None)

    def next_question(self, answers: dict[str, Any], after: str | None = None) -> Question | None:
        steps = [q.step for q in self.questions]
        start = 0 if after is None else steps.index(after) + 1
        return next((q for q in self.questions[start:] if q.when(answers)), None)


def choice_keyboard(group: str) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(text, callback_data=d.callback_data(group, code))
               for code, text in d.CHOICES[group].items()]
    per_row = d.COLUMNS.get(group, 1)
    return InlineKeyboardMarkup([buttons[i:i + per_row] for i in range(0, len(buttons), per_row)])


def menu_keyboard(consultation_url: str) -> InlineKeyboardMarkup:
    b = d.MENU_BUTTONS
    row = [InlineKeyboardButton(b[a], callback_data=d.callback_data("menu", a)) for a in b]
    return InlineKeyboardMarkup([row[0:2], row[2:4], row[4:6]])


def url_keyboard(text: str, url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(text, url=url)]])


async def start_flow(turn: Turn, flow: Flow, answers: dict[str, Any] | None = None,
                     lead: list[Reply] | None = None) -> Outcome:
    answers = dict(answers or {})
    first = flow.next_question(answers)
    return Outcome([*(lead or []), first.ask()], (flow.name, first.step, answers))


async def advance(turn: Turn, flow: Flow, answers: dict[str, Any], after: str, lead: list[Reply]) -> Outcome:
    if flow.check is not None:
        checked = await flow.check(turn, answers, after)
        if checked is not None:
            checked.replies[:0] = lead
            return checked
    nxt = flow.next_question(answers, after)
    if nxt is not None:
        return Outcome([*lead, nxt.ask()], (flow.name, nxt.step, answers))
    done = await flow.finish(turn, answers)
    done.replies[:0] = lead
    return done


async def answer_text(turn: Turn, flow: Flow) -> Outcome:
    """A typed reply to the pending question: parse it, or explain and ask the same again."""
    question = flow.question(turn.conv.step)
    if question is None:  # a state written by another version of the bot
        return Outcome.idle(Send(d.APOLOGY))
    if question.group is not None:
        return Outcome([Send(d.USE_BUTTONS), question.ask()])
    try:
        if turn.text is None:
            raise d.InvalidInput(d.PROMPTS[question.step])
        value = question.parse(turn.text, turn)
    except d.InvalidInput as exc:
        return Outcome([Send(exc.message_ru), question.ask()])
    answers = {**turn.conv.answers, question.step: value}
    return await advance(turn, flow, answers, question.step, [])


async def answer_choice(turn: Turn, flow: Flow | None, group: str, code: str) -> Outcome:
    """A pressed answer button: accepted only for the question it belongs to (else outdated)."""
    question = flow.question(turn.conv.step) if flow is not None else None
    if question is None or question.group != group or code not in d.CHOICES.get(group, {}):
        return Outcome([Answer(d.OUTDATED_BUTTON)])
    lead: list[Reply] = [Answer()]
    if turn.message_id is not None:
        lead.append(Edit(turn.message_id, f"{question.prompt}\n✅ {d.label(group, code)}"))
    answers = {**turn.conv.answers, question.step: code}
    return await advance(turn, flow, answers, question.step, lead)
