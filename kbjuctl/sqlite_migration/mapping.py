"""DEV values to PROD values: the translation tables, row checks and quarantine reasons. Pure, no I/O.

A row either maps to the tuple written to PostgreSQL or raises Reject(code, text): such a row
goes, whole, to migration_quarantine. The tables below are the documented mapping (docs/migration.md);
the canonical spellings map to themselves.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import UTC, date, datetime

from bot.domain import choices, formulas, validation

# The canonical codes come from bot.domain.choices, so a code the bot gains (a sport type) is
# migrated as itself, never reported "unmapped". Below: DEV's other spellings of them.
GOAL_ALIASES = {"maintain": choices.HEALTHY}  # DEV's fallback goal; its factor (1.00) is healthy's
STEPS_ALIASES = {
    "10000-plus": "10000+",  # the survey's button code in DEV
    # the measurement flow's first number
    "0": "0-3000", "3000": "3000-5000", "5000": "5000-8000", "8000": "8000-10000", "10000": "10000+",
}
SPORT_TYPE_ALIASES: dict[str, str] = {}
SPORT_FREQ_ALIASES = {
    "1": "1-2", "3": "3-4", "5": "5-6", "Ежедневно": "daily",
    # display texts the survey meant to store; harmless to accept
    "1-2 раза": "1-2", "3-4 раза": "3-4", "5-6 раз": "5-6",
}


def _translation(choice_set: choices.ChoiceSet, aliases: dict[str, str]) -> dict[str, str]:
    unknown = {alias: code for alias, code in aliases.items() if code not in choice_set}
    if unknown:
        raise ValueError(f"aliases naming no {choice_set.field} code: {unknown}")
    return {**{code: code for code in choice_set.codes}, **aliases}


GOAL = _translation(choices.GOAL, GOAL_ALIASES)
STEPS = _translation(choices.STEPS, STEPS_ALIASES)
SPORT_TYPE = _translation(choices.SPORT_TYPE, SPORT_TYPE_ALIASES)
SPORT_FREQ = _translation(choices.SPORT_FREQ, SPORT_FREQ_ALIASES)
SEX = frozenset(choices.SEX.codes)

# The bot's bounds, which are the schema's CHECK ranges (sql/0001.initial.sql), inclusive.
RANGES = {"weight": (validation.WEIGHT_MIN, validation.WEIGHT_MAX),
          "waist": (validation.WAIST_MIN, validation.WAIST_MAX),
          "neck": (validation.NECK_MIN, validation.NECK_MAX),
          "hip": (validation.HIP_MIN, validation.HIP_MAX),
          "height": (validation.HEIGHT_MIN, validation.HEIGHT_MAX),
          "bodyfat": (formulas.BODY_FAT_MIN, formulas.BODY_FAT_MAX)}
# Unpacked for RecordMapper's hot loop.
_WEIGHT_LO, _WEIGHT_HI = RANGES["weight"]
_WAIST_LO, _WAIST_HI = RANGES["waist"]
_NECK_LO, _NECK_HI = RANGES["neck"]
_HIP_LO, _HIP_HI = RANGES["hip"]
_HEIGHT_LO, _HEIGHT_HI = RANGES["height"]
_BODYFAT_LO, _BODYFAT_HI = RANGES["bodyfat"]

# The columns COPY writes. imported_at (the run's time, the same in every row) is not among them: it is
# the column's DEFAULT for the duration of the load (target.default_imported_at), which spares
# encoding a timestamptz per row; the verification checks it like every other column.
USERS_COLUMNS = ("telegram_id", "username", "first_name", "last_name", "sex", "date_of_birth", "created_at")
RECORDS_COLUMNS = ("telegram_id", "date", "weight", "waist", "neck", "hip", "height", "goal", "steps",
                   "sport_type", "sport_freq", "bodyfat", "legacy_source_id", "legacy_goal", "legacy_steps",
                   "legacy_sport_type", "legacy_sport_freq", "legacy_step_multiplier")
FOOD_COLUMNS = ("telegram_id", "likes_raw", "dislikes_raw", "created_at", "legacy_source_id")
TARGET_COLUMNS = {"users": USERS_COLUMNS, "user_records": RECORDS_COLUMNS, "user_food_preferences": FOOD_COLUMNS}

# Quarantine reasons: stable code -> what it means (the row's own detail is added to the text).
REASONS = {
    "orphan_record": "the record's telegram_id has no user in the source (e.g. the DEV main branch's bot-id rows)",
    "orphan_food": "the food row's telegram_id has no user in the source",
    "owner_quarantined": "the row's user was quarantined, so the row has no user in PostgreSQL",
    "owner_skipped": "the row's user already exists in the target and was skipped (--on-conflict skip)",
    "duplicate_record_date": "a second record of one user on one date (the lowest id is kept)",
    "duplicate_food": "a second food row of one user (the lowest id is kept)",
    "missing_value": "a value PostgreSQL requires is NULL",
    "wrong_type": "a value of the wrong storage type",
    "invalid_date": "not a real date in YYYY-MM-DD form",
    "invalid_timestamp": "not a real time in YYYY-MM-DD HH:MM:SS[.ffffff] form",
    "out_of_range": "a measurement outside the schema's range",
    "invalid_value": "a value outside the column's domain with no legacy column to keep it",
    "nul_character": "text containing a NUL character, which PostgreSQL text cannot hold",
    "exists_in_target": "the target already holds this row (--on-conflict skip)",
}

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z", re.ASCII)
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?\Z", re.ASCII)


def shape(value) -> str:
    """What a rejected value is, never what it holds: reports and logs must not carry a person's
    name, birth date or measurements (the row itself is kept in migration_quarantine)."""
    if isinstance(value, str):
        return f"text of {len(value)} characters"
    if isinstance(value, bytes):
        return f"bytes ({len(value)})"
    return type(value).__name__


class Reject(Exception):
    """This source row cannot exist in PostgreSQL: quarantine it with this reason."""

    def __init__(self, code: str, detail: str):
        super().__init__(code, detail)
        self.code = code
        self.text = f"{REASONS[code]}: {detail}"


def parse_date(value, column: str) -> date | None:
    if value is None:
        return None
    if type(value) is not str:
        raise Reject("wrong_type", f"{column} is {shape(value)}, not a date text")
    if _DATE_RE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise Reject("invalid_date", f"{column} ({shape(value)})")


def parse_timestamp(value, column: str) -> datetime | None:
    """DEV wrote naive UTC; the result is an aware UTC datetime (never the session's zone)."""
    if value is None:
        return None
    if type(value) is not str:
        raise Reject("wrong_type", f"{column} is {shape(value)}, not a timestamp text")
    if _TIMESTAMP_RE.match(value):
        try:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        except ValueError:
            pass
    raise Reject("invalid_timestamp", f"{column} ({shape(value)})")


def _text(value, column: str, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise Reject("missing_value", f"{column} is NULL")
        return None
    if type(value) is not str:
        raise Reject("wrong_type", f"{column} is {shape(value)}, not text")
    if "\x00" in value:
        raise Reject("nul_character", f"{column}")
    return value


def _measurement(value, column: str, required: bool) -> float | None:
    if value is None:
        if required:
            raise Reject("missing_value", f"{column} is NULL")
        return None
    if type(value) is not float:
        raise Reject("wrong_type", f"{column} is {shape(value)}, not REAL")
    low, high = RANGES[column]
    if not low <= value <= high:  # NaN fails too
        raise Reject("out_of_range", f"{column} outside {low:g}..{high:g}")
    return value


class Unmapped:
    """DEV values with no canonical equivalent: the row is migrated with NULL beside the original."""

    def __init__(self, examples: int = 5):
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.example_ids: dict[tuple[str, str, str], list[int]] = {}
        self._examples = examples

    def merge(self, other: Unmapped) -> None:
        """Add what another instance noted (a later key range: its examples come after ours)."""
        self.counts.update(other.counts)
        for key, ids in other.example_ids.items():
            mine = self.example_ids.setdefault(key, [])
            mine.extend(ids[:max(0, self._examples - len(mine))])

    def note(self, table: str, column: str, value: str, source_id: int) -> None:
        key = (table, column, value)
        self.counts[key] += 1
        ids = self.example_ids.setdefault(key, [])
        if len(ids) < self._examples:
            ids.append(source_id)


class UserMapper:
    def map(self, row: tuple) -> tuple:
        telegram_id, username, first_name, last_name, sex, date_of_birth, created_at = row
        if sex is not None and sex not in SEX:
            raise Reject("invalid_value", f"sex ({shape(sex)}) is neither 'male' nor 'female'")
        created = parse_timestamp(created_at, "created_at")
        if created is None:
            raise Reject("missing_value", "created_at is NULL")
        return (telegram_id, _text(username, "username"), _text(first_name, "first_name"),
                _text(last_name, "last_name"), sex, parse_date(date_of_birth, "date_of_birth"), created)


class RecordMapper:
    """user_records: the hot loop of the migration (a million rows), so it is written flat."""

    def __init__(self, unmapped: Unmapped):
        self.unmapped = unmapped
        self._dates: dict[str, date] = {}

    def map(self, row: tuple) -> tuple:
        (source_id, telegram_id, day, weight, waist, neck, hip, height, goal, steps, sport_type, sport_freq,
         multiplier, bodyfat) = row
        parsed_day = self._dates.get(day)
        canonical_goal = GOAL.get(goal)
        canonical_steps = STEPS.get(steps)
        canonical_type = SPORT_TYPE.get(sport_type)
        canonical_freq = SPORT_FREQ.get(sport_freq)
        # One combined test for the common row; any doubt goes through the detailed checks below.
        if (parsed_day is None or canonical_goal is None or canonical_steps is None or canonical_type is None
                or canonical_freq is None or type(weight) is not float or type(waist) is not float
                or type(neck) is not float or type(height) is not int or not _WEIGHT_LO <= weight <= _WEIGHT_HI
                or not _WAIST_LO <= waist <= _WAIST_HI or not _NECK_LO <= neck <= _NECK_HI
                or not _HEIGHT_LO <= height <= _HEIGHT_HI
                or (hip is not None and (type(hip) is not float or not _HIP_LO <= hip <= _HIP_HI))
                or (bodyfat is not None and (type(bodyfat) is not float
                                             or not _BODYFAT_LO <= bodyfat <= _BODYFAT_HI))
                or (multiplier is not None and type(multiplier) is not float)):
            return self._checked(row)
        return (telegram_id, parsed_day, weight, waist, neck, hip, height, canonical_goal, canonical_steps,
                canonical_type, canonical_freq, bodyfat, source_id, goal, steps, sport_type, sport_freq,
                multiplier)

    def _checked(self, row: tuple) -> tuple:
        (source_id, telegram_id, day, weight, waist, neck, hip, height, goal, steps, sport_type, sport_freq,
         multiplier, bodyfat) = row
        parsed_day = parse_date(day, "date")
        if parsed_day is None:
            raise Reject("missing_value", "date is NULL")
        self._dates[day] = parsed_day
        weight = _measurement(weight, "weight", True)
        waist = _measurement(waist, "waist", True)
        neck = _measurement(neck, "neck", True)
        hip = _measurement(hip, "hip", False)
        bodyfat = _measurement(bodyfat, "bodyfat", False)
        if type(height) is not int:
            if height is None:
                raise Reject("missing_value", "height is NULL")
            raise Reject("wrong_type", f"height is {shape(height)}, not INTEGER")
        if not _HEIGHT_LO <= height <= _HEIGHT_HI:
            raise Reject("out_of_range", f"height outside {_HEIGHT_LO}..{_HEIGHT_HI}")
        if multiplier is not None and type(multiplier) is not float:
            raise Reject("wrong_type", f"step_multiplier is {shape(multiplier)}, not REAL")
        return (telegram_id, parsed_day, weight, waist, neck, hip, height,
                self._canonical(GOAL, goal, "goal", source_id),
                self._canonical(STEPS, steps, "steps", source_id),
                self._canonical(SPORT_TYPE, sport_type, "sport_type", source_id),
                self._canonical(SPORT_FREQ, sport_freq, "sport_freq", source_id),
                bodyfat, source_id, goal, steps, sport_type, sport_freq, multiplier)

    def _canonical(self, table: dict[str, str], value, column: str, source_id: int) -> str | None:
        canonical = table.get(value)
        if canonical is not None:
            return canonical
        _text(value, column, required=True)
        self.unmapped.note("user_records", column, value, source_id)
        return None


class FoodMapper:
    def map(self, row: tuple) -> tuple:
        source_id, telegram_id, likes_raw, dislikes_raw, created_at = row
        created = parse_timestamp(created_at, "created_at")
        if created is None:
            raise Reject("missing_value", "created_at is NULL")
        return (telegram_id, _text(likes_raw, "likes_raw", True), _text(dislikes_raw, "dislikes_raw", True),
                created, source_id)


def original_json(columns: tuple[str, ...], row: tuple) -> str:
    """The whole source row as a JSON object: text as is, INTEGER and REAL as numbers (repr)."""
    return json.dumps({c: _json_value(v) for c, v in zip(columns, row, strict=True)}, ensure_ascii=False,
                      allow_nan=False)


def _json_value(value):
    if type(value) is float and not math.isfinite(value):
        return {"$real": repr(value)}
    if type(value) is bytes:
        return {"$blob_hex": value.hex()}
    if type(value) is str and "\x00" in value:
        return {"$text_utf8_hex": value.encode("utf-8", "surrogatepass").hex()}
    return value
