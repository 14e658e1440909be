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
MENU_REMIND = "remind"
MENU_ACTIONS: tuple[str, ...] = (MENU_DATA, MENU_PROGRESS, MENU_MEASURE, MENU_GOAL, MENU_FOOD, MENU_CONSULT,
                                 MENU_REMIND)

FOOD_EDIT = "edit"
FOOD_CANCEL = "cancel"
FOOD_ACTIONS: tuple[str, ...] = (FOOD_EDIT, FOOD_CANCEL)

# "My data": the person's own data, exported or erased; the privacy notice.
DATA_EXPORT = "export"
DATA_ERASE = "erase"  # asks for confirmation
DATA_ERASE_YES = "erase_yes"
DATA_ERASE_NO = "erase_no"
DATA_PRIVACY = "privacy"
DATA_ACTIONS: tuple[str, ...] = (DATA_EXPORT, DATA_ERASE, DATA_ERASE_YES, DATA_ERASE_NO, DATA_PRIVACY)


# --- Reminders ---------------------------------------------------------------------------------------

WEEKDAYS = ChoiceSet(  # code = date.weekday()
    "day",
    (
        Choice("0", "Пн"),
        Choice("1", "Вт"),
        Choice("2", "Ср"),
        Choice("3", "Чт"),
        Choice("4", "Пт"),
        Choice("5", "Сб"),
        Choice("6", "Вс"),
    ),
)

# A short list of zones to choose from (Russia's, west to east); the label shows in buttons and
# texts. BOT_TIMEZONE is the default and need not be one of them.
TIMEZONES = ChoiceSet(
    "zone",
    (
        Choice("kgd", "Калининград (UTC+2)"),
        Choice("msk", "Москва (UTC+3)"),
        Choice("sam", "Самара (UTC+4)"),
        Choice("yek", "Екатеринбург (UTC+5)"),
        Choice("oms", "Омск (UTC+6)"),
        Choice("nsk", "Новосибирск (UTC+7)"),
        Choice("irk", "Иркутск (UTC+8)"),
        Choice("yak", "Якутск (UTC+9)"),
        Choice("vvo", "Владивосток (UTC+10)"),
        Choice("mag", "Магадан (UTC+11)"),
        Choice("pkc", "Камчатка (UTC+12)"),
    ),
)
ZONE_NAMES: dict[str, str] = {
    "kgd": "Europe/Kaliningrad",
    "msk": "Europe/Moscow",
    "sam": "Europe/Samara",
    "yek": "Asia/Yekaterinburg",
    "oms": "Asia/Omsk",
    "nsk": "Asia/Novosibirsk",
    "irk": "Asia/Irkutsk",
    "yak": "Asia/Yakutsk",
    "vvo": "Asia/Vladivostok",
    "mag": "Asia/Magadan",
    "pkc": "Asia/Kamchatka",
}
assert set(ZONE_NAMES) == set(TIMEZONES.codes)


def zone_code(name: str) -> str | None:
    """The list's code of an IANA zone name, None for a zone not on the list."""
    return next((code for code, zone in ZONE_NAMES.items() if zone == name), None)


# What a reminder button does: r:v1:<action>[:<argument>].
REMIND_DAY = "day"        # argument: a WEEKDAYS code
REMIND_HOUR = "hour"      # argument: the hour, 0-23
REMIND_ZONES = "zones"    # show the list of zones
REMIND_ZONE = "zone"      # argument: a TIMEZONES code
REMIND_NO = "no"          # "no, thanks" to the offer
REMIND_CHANGE = "change"
REMIND_OFF = "off"
REMIND_KEEP = "keep"      # leave the reminder as it is
REMIND_MEASURE = "measure"  # the reminder's own button: start "new measurements"
_REMIND_ARGUMENTS = {REMIND_DAY: frozenset(WEEKDAYS.codes), REMIND_HOUR: frozenset(str(h) for h in range(24)),
                     REMIND_ZONE: frozenset(TIMEZONES.codes)}
REMIND_ACTIONS: tuple[str, ...] = (REMIND_DAY, REMIND_HOUR, REMIND_ZONES, REMIND_ZONE, REMIND_NO, REMIND_CHANGE,
                                   REMIND_OFF, REMIND_KEEP, REMIND_MEASURE)


# --- Callback data -------------------------------------------------------------------------------
#
#   start:v1                      the welcome's "start the test" button
#   s:v1:<field>:<code>           an answer to a button question (survey or new measurements)
#   m:v1:<action>                 a main-menu button
#   g:v1:<goal>                   goal change
#   f:v1:edit | f:v1:cancel       food preferences
#   d:v1:<action>                 my data: export, erase (and its confirmation), privacy
#   r:v1:<action>[:<argument>]    reminders: day:<0-6>, hour:<0-23>, zones, zone:<code>, no, change,
#                                 off, keep, measure
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
    DATA = "data"
    REMIND = "remind"


@dataclass(frozen=True, slots=True)
class CallbackAction:
    """A parsed button press. `field` is set for ANSWER (the question) and REMIND (the action, whose
    argument, if any, is `value`); `value` for all other kinds but START."""

    kind: CallbackKind
    field: str | None = None
    value: str | None = None


_START = "start:v1"
_ANSWER = "s:v1:"
_MENU = "m:v1:"
_GOAL = "g:v1:"
_FOOD = "f:v1:"
_DATA = "d:v1:"
_REMIND = "r:v1:"

# Regexes for CallbackQueryHandler(pattern=...): each matches the current version of one kind.
# Register a catch-all after them that answers texts.OUTDATED_BUTTON for everything else.
CALLBACK_PATTERNS: dict[CallbackKind, str] = {
    CallbackKind.START: r"^start:v1$",
    CallbackKind.ANSWER: r"^s:v1:",
    CallbackKind.MENU: r"^m:v1:",
    CallbackKind.GOAL: r"^g:v1:",
    CallbackKind.FOOD: r"^f:v1:",
    CallbackKind.DATA: r"^d:v1:",
    CallbackKind.REMIND: r"^r:v1:",
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


def build_data(action: str) -> str:
    if action not in DATA_ACTIONS:
        raise ValueError(f"unknown data action {action!r}")
    return _checked(_DATA + action)


def build_remind(action: str, argument: str | int | None = None) -> str:
    """r:v1:<action>[:<argument>]; ValueError for an unknown action or an argument it does not take."""
    allowed = _REMIND_ARGUMENTS.get(action)
    if action not in REMIND_ACTIONS or (allowed is None) != (argument is None) \
            or (allowed is not None and str(argument) not in allowed):
        raise ValueError(f"unknown reminder action {action!r} with {argument!r}")
    return _checked(_REMIND + action + ("" if argument is None else f":{argument}"))


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
    if data.startswith(_DATA):
        value = data[len(_DATA) :]
        return CallbackAction(CallbackKind.DATA, value=value) if value in DATA_ACTIONS else None
    if data.startswith(_REMIND):
        action, sep, argument = data[len(_REMIND) :].partition(":")
        allowed = _REMIND_ARGUMENTS.get(action)
        if action not in REMIND_ACTIONS or (allowed is not None) != bool(sep):
            return None
        if allowed is None:
            return CallbackAction(CallbackKind.REMIND, action)
        return CallbackAction(CallbackKind.REMIND, action, argument) if argument in allowed else None
    return None
