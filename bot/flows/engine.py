"""What one update does to a conversation: the Turn in, the Outcome (new state + replies) out.

A step reads through the turn's connection and returns the state to write and the replies to
send; bot.runtime commits the state (its first write opens the turn's transaction, see
bot.db.conversations for the optimistic and the locking way) and only then sends the replies.
Replies and keyboards are plain data: nothing here knows python-telegram-bot, and nothing is
sent to Telegram before the turn has committed. Texts, codes and callback data come from
bot.domain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from bot.db.conversations import Conversation
from bot.db.pool import Connectable
from bot.domain import choices, texts
from bot.domain.choices import CallbackAction, CallbackKind
from bot.domain.validation import InvalidInput

# --- keyboards and replies ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: a press sends `callback_data` back, or it opens `url`."""

    text: str
    callback_data: str | None = None
    url: str | None = None


Keyboard = tuple[tuple[Button, ...], ...]  # rows of buttons; rendered by bot.transport.markup


@dataclass(frozen=True)
class Send:
    text: str  # Telegram HTML
    markup: Keyboard | None = None


@dataclass(frozen=True)
class Edit:
    """Show the chosen answer in the question message and remove its keyboard."""

    message_id: int
    text: str


@dataclass(frozen=True)
class Photo:
    """The funnel image, or (with `chart`: day, weight, body fat % or None) a progress chart
    rendered after commit (bot.charts)."""

    caption: str
    markup: Keyboard | None = None
    chart: tuple[tuple[date, float, float | None], ...] | None = None


@dataclass(frozen=True)
class Document:
    """A file: `content` as is, or (with `report`, a bot.domain.export.Report) the one-page PDF report,
    rendered after commit with the person's progress chart (bot.report)."""

    filename: str
    caption: str
    content: bytes | None = None
    report: Any = None


@dataclass(frozen=True)
class Answer:
    """answerCallbackQuery (always sent for a press; text shows as a toast, plain text)."""

    text: str | None = None


Reply = Send | Edit | Photo | Document | Answer


# --- a turn ---------------------------------------------------------------------------------

@dataclass
class Turn:
    conn: Connectable  # reads at once; the first write opens the turn's transaction
    conv: Conversation
    chat_id: int
    user_id: int
    username: str | None
    today: date
    settings: Any
    text: str | None = None
    message_id: int | None = None  # the message holding the pressed button
    first_name: str | None = None  # Telegram's, for greetings
    now: datetime | None = None  # the bot's clock (bot.clock): reminders' slots, events' times


FORGET = "forget"  # Outcome.state: leave nothing of the chat behind (the person erased their data)


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    # (flow, step, answers) to write; None keeps the conversation as it was; FORGET deletes it.
    state: tuple[str | None, str | None, dict[str, Any]] | str | None = None
    # What happened, as "kind" or "kind:detail": counted in metrics after commit, and the kinds of
    # bot.db.events.PERSISTED written to user_events in the turn's transaction.
    events: list[str] = field(default_factory=list)

    @classmethod
    def idle(cls, *replies: Reply, events: list[str] | None = None) -> Outcome:
        return cls(list(replies), (None, None, {}), events or [])


# --- keyboards ------------------------------------------------------------------------------
# Every fixed keyboard is the same each time: built once.

def _rows(buttons: list[Button], per_row: int) -> Keyboard:
    return tuple(tuple(buttons[i:i + per_row]) for i in range(0, len(buttons), per_row))


@cache
def answer_keyboard(choice_field: str) -> Keyboard:
    """The buttons of a survey/measurement question: s:v1:<field>:<code>."""
    choice_set = choices.CHOICE_SETS[choice_field]
    buttons = [Button(c.label, callback_data=choices.build_answer(choice_field, c.code)) for c in choice_set]
    return _rows(buttons, 1 if choice_field == choices.GOAL.field else 2)


@cache
def goal_keyboard() -> Keyboard:
    """The goal-change buttons: g:v1:<goal>."""
    return _rows([Button(c.label, callback_data=choices.build_goal(c.code)) for c in choices.GOAL], 1)


@cache
def menu_keyboard() -> Keyboard:
    return _rows([Button(label, callback_data=choices.build_menu(action))
                  for action, label in texts.MENU_BUTTONS.items()], 2)


def menu_message(text: str = texts.MENU_TITLE) -> Send:
    """A message that carries the main menu (the end of every flow and menu action)."""
    return Send(text, menu_keyboard())


@cache
def food_keyboard() -> Keyboard:
    return _rows([Button(texts.FOOD_EDIT_BUTTON, callback_data=choices.build_food(choices.FOOD_EDIT)),
                  Button(texts.FOOD_CANCEL_BUTTON, callback_data=choices.build_food(choices.FOOD_CANCEL))], 2)


@cache
def start_keyboard() -> Keyboard:
    return _rows([Button(texts.START_TEST_BUTTON, callback_data=choices.build_start())], 1)


@cache
def url_keyboard(text: str, url: str) -> Keyboard:
    return ((Button(text, url=url),),)


# --- questions ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    step: str
    prompt: str | Callable[[dict[str, Any]], str]
    parse: Callable[[str, Turn], Any] | None = None  # a typed answer
    choice_field: str | None = None  # a button answer: the choices field (sex, steps, sport, freq, goal)
    kind: CallbackKind = CallbackKind.ANSWER  # GOAL: the goal-change buttons (g:v1:<goal>)
    when: Callable[[dict[str, Any]], bool] = lambda answers: True

    def text(self, answers: dict[str, Any]) -> str:
        return self.prompt(answers) if callable(self.prompt) else self.prompt

    def ask(self, answers: dict[str, Any], intro: str | None = None) -> Send:
        text = self.text(answers) if intro is None else f"{intro}\n\n{self.text(answers)}"
        if self.choice_field is None:
            return Send(text)
        return Send(text, goal_keyboard() if self.kind is CallbackKind.GOAL else answer_keyboard(self.choice_field))

    def accepts(self, action: CallbackAction) -> bool:
        if self.choice_field is None or action.kind is not self.kind:
            return False
        pressed_field = action.field if action.kind is CallbackKind.ANSWER else choices.GOAL.field
        return pressed_field == self.choice_field


@dataclass(frozen=True)
class Refusal:
    """An answer the flow does not take: why (`message`), and the question asked again (`step`)
    with the answers kept (`answers`)."""

    message: str
    step: str
    answers: dict[str, Any]


# Called after each answer with the answers so far (it may add values derived from them, e.g. the
# body fat after the last measurement); a Refusal replaces the normal advance.
Check = Callable[[Turn, dict[str, Any], str], Awaitable[Refusal | None]]


@dataclass(frozen=True)
class Flow:
    name: str
    questions: tuple[Question, ...]
    finish: Callable[[Turn, dict[str, Any]], Awaitable[Outcome]]
    check: Check | None = None

    def question(self, step: str | None) -> Question | None:
        return next((q for q in self.questions if q.step == step), None)

    def next_question(self, answers: dict[str, Any], after: str | None = None) -> Question | None:
        steps = [q.step for q in self.questions]
        start = 0 if after is None else steps.index(after) + 1
        return next((q for q in self.questions[start:] if q.when(answers)), None)

    async def refusal(self, turn: Turn, answers: dict[str, Any], after: str) -> Refusal | None:
        return None if self.check is None else await self.check(turn, answers, after)


async def start_flow(turn: Turn, flow: Flow, answers: dict[str, Any] | None = None,
                     lead: list[Reply] | None = None, intro: str | None = None) -> Outcome:
    answers = dict(answers or {})
    first = flow.next_question(answers)
    return Outcome([*(lead or []), first.ask(answers, intro)], (flow.name, first.step, answers))


async def advance(turn: Turn, flow: Flow, answers: dict[str, Any], after: str, lead: list[Reply],
                  refusal: Refusal | None) -> Outcome:
    if refusal is not None:  # the reason and the question asked again, in one message
        again = flow.question(refusal.step)
        return Outcome([*lead, again.ask(refusal.answers, refusal.message)], (flow.name, refusal.step, refusal.answers))
    nxt = flow.next_question(answers, after)
    if nxt is not None:
        return Outcome([*lead, nxt.ask(answers)], (flow.name, nxt.step, answers))
    done = await flow.finish(turn, answers)
    done.replies[:0] = lead
    return done


async def answer_text(turn: Turn, flow: Flow) -> Outcome:
    """A typed reply to the pending question: parse it, or explain and ask the same again."""
    answers = turn.conv.answers
    question = flow.question(turn.conv.step)
    if question is None:  # a state written by another version of the bot
        return Outcome.idle(Send(texts.GENERIC_ERROR))
    # What was wrong and the same question again, in one message (one Bot API call, one of the
    # chat's per-second share).
    if question.parse is None:  # buttons pending
        return Outcome([question.ask(answers, texts.USE_BUTTONS)])
    if turn.text is None:  # a sticker or photo instead of the typed answer
        return Outcome([question.ask(answers, texts.TEXT_EXPECTED)])
    try:
        value = question.parse(turn.text, turn)
    except InvalidInput as exc:
        return Outcome([question.ask(answers, exc.message)])
    answers = {**answers, question.step: value}
    return await advance(turn, flow, answers, question.step, [], await flow.refusal(turn, answers, question.step))


async def answer_choice(turn: Turn, flow: Flow | None, action: CallbackAction) -> Outcome:
    """A pressed answer button: accepted only for the question pending now (else outdated)."""
    question = flow.question(turn.conv.step) if flow is not None else None
    if question is None or not question.accepts(action):
        return Outcome([Answer(texts.OUTDATED_BUTTON)])
    answers = {**turn.conv.answers, question.step: action.value}
    refusal = await flow.refusal(turn, answers, question.step)
    lead: list[Reply] = [Answer()]
    if turn.message_id is not None:  # the question shows the answer, or that it was not taken
        shown = texts.refused_answer if refusal is not None else texts.recorded_answer
        lead.append(Edit(turn.message_id, shown(question.choice_field, action.value)))
    return await advance(turn, flow, answers, question.step, lead, refusal)
