"""Canonical value domains (the codes PostgreSQL's CHECK constraints allow), their labels, and callback data.

Every code stored in the database and every callback string of an inline button is defined here,
and callback data is built and parsed only here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Choice:
    code: str  # what the database stores
    label: str  # what the button shows (Russian)


@dataclass(frozen=True, slots=True)
class ChoiceSet:
    """The ordered choices of one button question; `field` is its short name in callback data."""

    field: str
    choices: tuple[Choice, ...]

    def __iter__(self) -> Iterator[Choice]:
        return iter(self.choices)

    def __contains__(self, code: object) -> bool:
        return any(choice.code == code for choice in self.choices)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(choice.code for choice in self.choices)

    def label(self, code: str) -> str:
        """The label of a known code; KeyError for anything else."""
        for choice in self.choices:
            if choice.code == code:
                return choice.label
        raise KeyError(f"{code!r} is not a {self.field} code")

    def label_or(self, code: str | None, default: str) -> str:
        """The label, or `default` for None or a code outside the domain (e.g. an imported NULL)."""
        return self.label(code) if code in self else default  # type: ignore[arg-type]


MALE, FEMALE = "male", "female"
HEALTHY, ATHLETIC, LEAN = "healthy", "athletic", "lean"

SEX = ChoiceSet("sex", (Choice(MALE, "Мужской"), Choice(FEMALE, "Женский")))

GOAL = ChoiceSet(
    "goal",
    (
        Choice(HEALTHY, "Здоровое тело"),
        Choice(ATHLETIC, "Спортивное тело"),
        Choice(LEAN, "Сухое тело"),
    ),
)

STEPS = ChoiceSet(
    "steps",
    (
        Choice("0-3000", "до 3 000"),
        Choice("3000-5000", "3 000 – 5 000"),
        Choice("5000-8000", "5 000 – 8 000"),
        Choice("8000-10000", "8 000 – 10 000"),
        Choice("10000+", "10 000+"),
    ),
)

SPORT_TYPE = ChoiceSet(
    "sport",
    (
        Choice("none", "Не занимаюсь"),
        Choice("walking", "Ходьба"),
        Choice("running", "Бег"),
        Choice("strength", "Силовые (зал)"),
        Choice("yoga", "Йога / пилатес"),
        Choice("swimming", "Плавание"),
        Choice("cycling", "Велосипед"),
        Choice("team", "Командные виды спорта"),
    ),
)

SPORT_FREQ = ChoiceSet(
    "freq",
    (
        Choice("1-2", "1–2 раза в неделю"),
        Choice("3-4", "3–4 раза в неделю"),
        Choice("5-6", "5–6 раз в неделю"),
        Choice("daily", "Ежедневно"),
    ),
)

# By callback field name: the button questions of the survey and of "new measurements".
CHOICE_SETS: dict[str, ChoiceSet] = {s.field: s for s in (SEX, STEPS, SPORT_TYPE, SPORT_FREQ, GOAL)}

# Spec section 2. The DEV bot stored "10000-plus" and so applied 1.1 there; 1.5 is what was meant.
STEP_MULTIPLIERS: dict[str, float] = {
    "0-3000": 1.1,
    "3000-5000": 1.2,
    "5000-8000": 1.3,
    "8000-10000": 1.4,
    "10000+": 1.5,
}
DEFAULT_STEP_MULTIPLIER = 1.1  # DEV's fallback for any other stored text

# Extra kcal per day; the frequency is deliberately ignored, as in DEV.
SPORT_KCAL: dict[str, int] = {
    "none": 0,
    "walking": 200,
    "running": 400,
    "strength": 600,
    "yoga": 200,
    "swimming": 400,
    "cycling": 300,
    "team": 500,
}

GOAL_FACTORS: dict[str, float] = {HEALTHY: 1.00, ATHLETIC: 1.05, LEAN: 0.90}
DEFAULT_GOAL_FACTOR = 1.00  # any other stored goal (e.g. DEV's "maintain")

assert set(STEP_MULTIPLIERS) == set(STEPS.codes)
assert set(SPORT_KCAL) == set(SPORT_TYPE.codes)
assert set(GOAL_FACTORS) == set(GOAL.codes)


# --- Main menu actions ---------------------------------------------------------------------------

MENU_DATA = "data"
MENU_PROGRESS = "progress"
MENU_MEASURE = "measure"
MENU_GOAL = "goal"
MENU_FOOD = "food"
MENU_CONSULT = "consult"
MENU_ACTIONS: tuple[str, ...] = (MENU_DATA, MENU_PROGRESS, MENU_MEASURE, MENU_GOAL, MENU_FOOD, MENU_CONSULT)

FOOD_EDIT = "edit"
FOOD_CANCEL = "cancel"
FOOD_ACTIONS: tuple[str, ...] = (FOOD_EDIT, FOOD_CANCEL)


# --- Callback data -------------------------------------------------------------------------------
#
#   start:v1                      the welcome's "start the test" button
#   s:v1:<field>:<code>           an answer to a button question (survey or new measurements)
#   m:v1:<action>                 a main-menu button
#   g:v1:<goal>                   goal change
#   f:v1:edit | f:v1:cancel       food preferences
#
# A new meaning gets a new version; old buttons in people's chats then parse to None and are
# answered with "this button is outdated" instead of doing something unexpected.

MAX_CALLBACK_BYTES = 64  # Telegram's limit on callback_data


class CallbackKind(StrEnum):
    START = "start"
    ANSWER = "answer"
    MENU = "menu"
    GOAL = "goal"
    FOOD = "food"


@dataclass(frozen=True, slots=True)
class CallbackAction:
    """A parsed button press. `field` is set for ANSWER only; `value` for all kinds but START."""

    kind: CallbackKind
    field: str | None = None
    value: str | None = None


_START = "start:v1"
_ANSWER = "s:v1:"
_MENU = "m:v1:"
_GOAL = "g:v1:"
_FOOD = "f:v1:"

# Regexes for CallbackQueryHandler(pattern=...): each matches the current version of one kind.
# Register a catch-all after them that answers texts.OUTDATED_BUTTON for everything else.
CALLBACK_PATTERNS: dict[CallbackKind, str] = {
    CallbackKind.START: r"^start:v1$",
    CallbackKind.ANSWER: r"^s:v1:",
    CallbackKind.MENU: r"^m:v1:",
    CallbackKind.GOAL: r"^g:v1:",
    CallbackKind.FOOD: r"^f:v1:",
}


def _checked(data: str) -> str:
    if len(data.encode("utf-8")) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data longer than {MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def build_start() -> str:
    return _START


def build_answer(field: str, code: str) -> str:
    """Callback data of a button question's answer; ValueError for an unknown field or code."""
    choice_set = CHOICE_SETS.get(field)
    if choice_set is None or code not in choice_set:
        raise ValueError(f"unknown answer {field}={code!r}")
    return _checked(f"{_ANSWER}{field}:{code}")


def build_menu(action: str) -> str:
    if action not in MENU_ACTIONS:
        raise ValueError(f"unknown menu action {action!r}")
    return _checked(_MENU + action)


def build_goal(goal: str) -> str:
    if goal not in GOAL:
        raise ValueError(f"unknown goal {goal!r}")
    return _checked(_GOAL + goal)


def build_food(action: str) -> str:
    if action not in FOOD_ACTIONS:
        raise ValueError(f"unknown food action {action!r}")
    return _checked(_FOOD + action)


def parse_callback(data: object) -> CallbackAction | None:
    """The action behind callback data, or None for anything unknown, old or malformed. Never raises."""
    if not isinstance(data, str) or len(data) > MAX_CALLBACK_BYTES:
        return None
    if data == _START:
        return CallbackAction(CallbackKind.START)
    if data.startswith(_ANSWER):
        field, sep, code = data[len(_ANSWER) :].partition(":")
        choice_set = CHOICE_SETS.get(field)
        if sep and choice_set is not None and code in choice_set:
            return CallbackAction(CallbackKind.ANSWER, field, code)
        return None
    if data.startswith(_MENU):
        value = data[len(_MENU) :]
        return CallbackAction(CallbackKind.MENU, value=value) if value in MENU_ACTIONS else None
    if data.startswith(_GOAL):
        value = data[len(_GOAL) :]
        return CallbackAction(CallbackKind.GOAL, value=value) if value in GOAL else None
    if data.startswith(_FOOD):
        value = data[len(_FOOD) :]
        return CallbackAction(CallbackKind.FOOD, value=value) if value in FOOD_ACTIONS else None
    return None
