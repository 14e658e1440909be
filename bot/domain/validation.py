"""Parse and validate every typed answer: each parser returns the value or raises InvalidInput.

Lenient in form (spaces, units, comma decimals, date separators), strict in meaning (the bounds are
the database's CHECK constraints, inclusive). Any str at all either parses or raises InvalidInput.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.domain import DomainError, texts
from bot.domain.formulas import age_years

NAME_MIN_CHARS, NAME_MAX_CHARS = 3, 50
AGE_MIN, AGE_MAX = 10, 120
HEIGHT_MIN, HEIGHT_MAX = 100, 250
WEIGHT_MIN, WEIGHT_MAX = 30.0, 300.0
WAIST_MIN, WAIST_MAX = 50.0, 200.0
NECK_MIN, NECK_MAX = 20.0, 100.0
HIP_MIN, HIP_MAX = 50.0, 200.0
LIKES_MIN_CHARS = 5
DISLIKES_MIN_CHARS = 3
FOOD_MAX_CHARS = 4096

# A dislikes answer meaning "nothing": stored as ''. ("нет" is 3 characters and kept as typed, as DEV did.)
NOTHING_ANSWERS = frozenset({"-", "–", "—"})

_MAX_NUMBER_INPUT = 40  # anything longer is not a measurement; keeps the work per message bounded


class InvalidInput(DomainError):
    """The answer cannot be used; `message` says what is wrong and what is expected, with an example."""


@dataclass(frozen=True, slots=True)
class FullName:
    last_name: str  # the first word, as DEV split it (may really be a given name)
    first_name: str  # all other words, joined by single spaces


_LETTER = "A-Za-zА-Яа-яЁё"
_NAME_WORD = re.compile(f"[{_LETTER}]+(?:-[{_LETTER}]+)*")


def parse_full_name(text: str) -> FullName:
    """At least two words of Cyrillic/Latin letters (hyphens only between letters), each ≥ 2 letters
    and not one letter repeated ("Ааа"), 3–50 characters after collapsing whitespace."""
    words = text.split()
    collapsed = " ".join(words)
    if len(words) < 2:
        raise InvalidInput(texts.NAME_NEEDS_TWO_WORDS)
    if not all(_NAME_WORD.fullmatch(word) for word in words):
        raise InvalidInput(texts.NAME_BAD_CHARACTERS)
    for word in words:
        letters = word.replace("-", "")
        if len(letters) < 2:
            raise InvalidInput(texts.NAME_WORD_TOO_SHORT)
        if len(set(letters.lower())) == 1:
            raise InvalidInput(texts.NAME_REPEATED_LETTER)
    if not NAME_MIN_CHARS <= len(collapsed) <= NAME_MAX_CHARS:
        raise InvalidInput(texts.name_bad_length(NAME_MIN_CHARS, NAME_MAX_CHARS))
    return FullName(last_name=words[0], first_name=" ".join(words[1:]))


_DATE = re.compile(r"([0-9]{1,2})\s*[./-]\s*([0-9]{1,2})\s*[./-]\s*([0-9]{4})")


def parse_birth_date(text: str, today: date) -> date:
    """DD.MM.YYYY (also D.M.YYYY, "/" or "-" separators): a real date, not after `today`, age 10–120."""
    match = _DATE.fullmatch(text.strip()) if len(text) <= _MAX_NUMBER_INPUT else None
    if match is None:
        raise InvalidInput(texts.DATE_BAD_FORMAT)
    day, month, year = (int(part) for part in match.groups())
    try:
        born = date(year, month, day)
    except ValueError:
        raise InvalidInput(texts.DATE_DOES_NOT_EXIST) from None
    if born > today:
        raise InvalidInput(texts.DATE_IN_FUTURE)
    if not AGE_MIN <= age_years(born, today) <= AGE_MAX:
        raise InvalidInput(texts.date_age_out_of_range(AGE_MIN, AGE_MAX))
    return born


# ASCII digits only ("\d" would also take Arabic-Indic and other digits); an optional unit.
_NUMBER = re.compile(r"([0-9]+(?:[.,][0-9]+)?)\s*(?:(см|cm|кг|kg)\.?)?", re.IGNORECASE)
_UNITS = {"height": "см cm", "waist": "см cm", "neck": "см cm", "hip": "см cm", "weight": "кг kg"}


def _number(text: str, field: str) -> tuple[str, float]:
    """The number as typed (with a dot) and its value; InvalidInput unless the text is a plain
    non-negative decimal, optionally followed by this field's unit."""
    stripped = text.strip()
    match = _NUMBER.fullmatch(stripped) if len(stripped) <= _MAX_NUMBER_INPUT else None
    if match is None or (match.group(2) and match.group(2).lower() not in _UNITS[field].split()):
        raise InvalidInput(texts.number_not_recognized(field))
    typed = match.group(1).replace(",", ".")
    return typed, float(typed)


def _bounded(value: float, field: str, low: float, high: float) -> float:
    if not low <= value <= high:
        raise InvalidInput(texts.number_out_of_range(field, low, high))
    return value


def parse_height(text: str) -> int:
    """Whole centimetres 100–250: "180", " 180 ", "180 см"; "180.5" is refused (whole number expected)."""
    typed, value = _number(text, "height")
    if "." in typed:
        raise InvalidInput(texts.number_not_whole("height"))
    return int(_bounded(value, "height", HEIGHT_MIN, HEIGHT_MAX))


def parse_weight(text: str) -> float:
    """Kilograms 30–300, "70.5" or "70,5", optional "кг"."""
    return _bounded(_number(text, "weight")[1], "weight", WEIGHT_MIN, WEIGHT_MAX)


def parse_waist(text: str) -> float:
    """Centimetres 50–200, comma or dot decimals, optional "см"."""
    return _bounded(_number(text, "waist")[1], "waist", WAIST_MIN, WAIST_MAX)


def parse_neck(text: str) -> float:
    """Centimetres 20–100."""
    return _bounded(_number(text, "neck")[1], "neck", NECK_MIN, NECK_MAX)


def parse_hip(text: str) -> float:
    """Centimetres 50–200."""
    return _bounded(_number(text, "hip")[1], "hip", HIP_MIN, HIP_MAX)


def _storable(text: str) -> str:
    # PostgreSQL text cannot hold NUL, and a lone surrogate cannot be encoded as UTF-8 at all.
    if "\x00" in text:
        raise InvalidInput(texts.TEXT_UNSUPPORTED_CHARACTERS)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(texts.TEXT_UNSUPPORTED_CHARACTERS) from None
    return text


def parse_likes(text: str) -> str:
    """Free text, stripped (str.strip, as DEV), 5–4096 characters."""
    likes = _storable(text.strip())
    if len(likes) < LIKES_MIN_CHARS:
        raise InvalidInput(texts.likes_too_short(LIKES_MIN_CHARS))
    if len(likes) > FOOD_MAX_CHARS:
        raise InvalidInput(texts.text_too_long(FOOD_MAX_CHARS))
    return likes


def parse_dislikes(text: str) -> str:
    """Free text, stripped; '' for a blank answer or a lone dash ("nothing"), otherwise 3–4096 characters.

    Words like "нет" are kept as typed: they are ≥ 3 characters and DEV stored them so.
    """
    dislikes = _storable(text.strip())
    if dislikes == "" or dislikes in NOTHING_ANSWERS:
        return ""
    if len(dislikes) < DISLIKES_MIN_CHARS:
        raise InvalidInput(texts.dislikes_too_short(DISLIKES_MIN_CHARS))
    if len(dislikes) > FOOD_MAX_CHARS:
        raise InvalidInput(texts.text_too_long(FOOD_MAX_CHARS))
    return dislikes
