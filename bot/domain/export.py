"""A person's data as files: the CSV of every measurement, and what the one-page report shows.

The input is what the database's `kbju_person_data` returns (one list of rows per table, as JSON),
so the bot's /export and `kbjuctl users export` build the same files from the same query.

The CSV is for Excel and LibreOffice in a Russian locale, opened by a double click: UTF-8 with a
byte-order mark (without it Excel reads Cyrillic as cp1251 mojibake), `;` between fields (the
Russian list separator, since `,` is the decimal separator), numbers with a decimal comma and at
most two decimals (the number as typed; two decimals also tidy a value imported from the old bot,
such as 70.30000000000001), dates as dd.mm.yyyy, CRLF line ends, one header row with the units.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from bot.domain import choices, texts
from bot.domain.trends import Point

CSV_BOM = "\ufeff"
CSV_DELIMITER = ";"
CSV_DIGITS = 2
CSV_HEADER = ("Дата", "Вес, кг", "Талия, см", "Шея, см", "Бёдра, см", "Рост, см", "Жир, %", "Цель",
              "Шаги в день", "Спорт", "Тренировки")


@dataclass(frozen=True, slots=True)
class Measurement:
    """One user_records row as the export shows it; codes stay codes until rendered."""

    date: dt.date
    weight: float
    waist: float
    neck: float
    hip: float | None
    height: int
    body_fat: float | None
    goal: str | None
    steps: str | None
    sport_type: str | None
    sport_freq: str | None
    legacy: dict[str, str | None]  # the old bot's spelling where a code could not be kept

    def point(self) -> Point:
        return Point(self.date, self.weight, self.waist, self.body_fat)


@dataclass(frozen=True, slots=True)
class Person:
    telegram_id: int
    last_name: str | None
    first_name: str | None
    sex: str | None
    birth_date: dt.date | None
    registered_at: str | None  # ISO text as stored


def _day(value: Any) -> dt.date | None:
    return None if value in (None, "") else dt.date.fromisoformat(str(value)[:10])


def measurements(data: dict[str, Any]) -> list[Measurement]:
    """The user_records of `kbju_person_data`, oldest first."""
    rows = sorted(data.get("user_records") or [], key=lambda r: (r["date"], r["id"]))
    return [Measurement(_day(r["date"]), float(r["weight"]), float(r["waist"]), float(r["neck"]),
                        None if r.get("hip") is None else float(r["hip"]), int(r["height"]),
                        None if r.get("bodyfat") is None else float(r["bodyfat"]), r.get("goal"), r.get("steps"),
                        r.get("sport_type"), r.get("sport_freq"),
                        {k: r.get(f"legacy_{k}") for k in ("goal", "steps", "sport_type", "sport_freq")})
            for r in rows]


def person(data: dict[str, Any]) -> Person | None:
    users = data.get("users") or []
    if not users:
        return None
    u = users[0]
    return Person(int(u["telegram_id"]), u.get("last_name"), u.get("first_name"), u.get("sex"),
                  _day(u.get("date_of_birth")), u.get("created_at"))


def _number(value: float | None) -> str:
    return "" if value is None else texts.format_number(value, CSV_DIGITS)


def _label(choice_set: choices.ChoiceSet, code: str | None, legacy: str | None) -> str:
    if code in choice_set:
        return choice_set.label(code)
    return legacy or ""


def csv_bytes(rows: list[Measurement]) -> bytes:
    """The measurements as a CSV file (see the module's docstring for the format)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for m in rows:
        writer.writerow((texts.format_date(m.date), _number(m.weight), _number(m.waist), _number(m.neck),
                         _number(m.hip), str(m.height), _number(m.body_fat),
                         _label(choices.GOAL, m.goal, m.legacy["goal"]),
                         _label(choices.STEPS, m.steps, m.legacy["steps"]),
                         _label(choices.SPORT_TYPE, m.sport_type, m.legacy["sport_type"]),
                         _label(choices.SPORT_FREQ, m.sport_freq, m.legacy["sport_freq"])))
    return (CSV_BOM + out.getvalue()).encode("utf-8")


def parse_csv(data: bytes) -> list[dict[str, str]]:
    """Read an export back (tests and operators checking a file): one dict per row, by header."""
    text = data.decode("utf-8")
    if not text.startswith(CSV_BOM):
        raise ValueError("not an export: the UTF-8 byte-order mark is missing")
    return list(csv.DictReader(io.StringIO(text[len(CSV_BOM):]), delimiter=CSV_DELIMITER))


def parse_number(text: str) -> float | None:
    return None if text == "" else float(text.replace(",", "."))


def file_stem(telegram_id: int, today: dt.date) -> str:
    """kbju-<id>-<yyyy-mm-dd>: files of one export share it."""
    return f"kbju-{telegram_id}-{today.isoformat()}"


# --- The one-page report ----------------------------------------------------------------------------

REPORT_ROWS = 12  # the newest measurements listed on the page (all of them are in the CSV)


@dataclass(frozen=True, slots=True)
class Report:
    """What the one-page PDF shows, as plain text (bot.report draws it)."""

    title: str
    sections: tuple[tuple[str, tuple[str, ...]], ...]  # (heading, lines)
    history_columns: tuple[str, ...]
    history: tuple[tuple[str, ...], ...]
    history_note: str
    chart: tuple[tuple[dt.date, float, float | None], ...]  # (day, kg, body fat %): the progress chart's points
    footer: str


def _value(value: float | None, unit: str) -> str:
    return texts.NOT_SET if value is None else f"{texts.format_number(value)} {unit}"


def report(who: Person, rows: list[Measurement], today: dt.date, operator: str | None) -> Report:
    """The report of a person with at least one measurement (rows oldest first)."""
    from bot.domain import formulas, trends

    latest = rows[-1]
    name = " ".join(part for part in (who.last_name, who.first_name) if part) or texts.NOT_SET
    person_lines = (f"Имя: {name}",
                    f"Дата рождения: {texts.format_date(who.birth_date) if who.birth_date else texts.NOT_SET}"
                    + (f" ({formulas.age_years(who.birth_date, today)} лет)" if who.birth_date else ""),
                    f"Пол: {choices.SEX.label_or(who.sex, texts.NOT_SET)}",
                    f"Рост: {latest.height} см",
                    f"Цель: {_label(choices.GOAL, latest.goal, latest.legacy['goal']) or texts.NOT_SET}")
    latest_lines = (f"{texts.format_date(latest.date)}: вес {_value(latest.weight, 'кг')}, "
                    f"талия {_value(latest.waist, 'см')}, шея {_value(latest.neck, 'см')}"
                    + (f", бёдра {_value(latest.hip, 'см')}" if latest.hip is not None else ""),
                    f"Процент жира: {_value(latest.body_fat, '%')}")
    sections = [(texts.REPORT_PERSON, person_lines), (texts.REPORT_LATEST, latest_lines)]
    if latest.body_fat is not None:
        try:
            t = formulas.daily_targets(latest.weight, latest.body_fat, latest.steps, latest.sport_type, latest.goal)
        except formulas.LeanGoalRefused:
            t = None
        if t is not None:
            sections.append((texts.REPORT_TARGETS, (f"Калории: {t.calories} ккал",
                                                    f"Белки {t.protein_g} г · жиры {t.fat_g} г · углеводы "
                                                    f"{t.carbs_g} г")))
    if len(rows) > 1:
        first = rows[0]
        weeks = trends.weekly([m.point() for m in rows])
        t = trends.trend(weeks)
        share = trends.weight_percent_per_week(t, latest.weight)
        progress_lines = [
            f"С {texts.format_date(first.date)} по {texts.format_date(latest.date)}: вес "
            f"{texts.format_number(first.weight)} → {texts.format_number(latest.weight)} кг "
            f"({texts.format_change(latest.weight - first.weight)} кг), талия {texts.format_number(first.waist)} → "
            f"{texts.format_number(latest.waist)} см",
            texts.pace_line(trends.pace(latest.goal, t, latest.weight).value, latest.goal, t.weight, share),
        ]
        sections.append((texts.REPORT_PROGRESS, tuple(progress_lines)))
    else:
        sections.append((texts.REPORT_PROGRESS, (texts.REPORT_NO_CHART,)))
    shown = rows[-REPORT_ROWS:]
    history = tuple((texts.format_date(m.date), texts.format_number(m.weight), texts.format_number(m.waist),
                     texts.format_number(m.neck), texts.NOT_SET if m.hip is None else texts.format_number(m.hip),
                     texts.NOT_SET if m.body_fat is None else texts.format_number(m.body_fat))
                    for m in reversed(shown))
    note = texts.report_more_rows(len(shown), len(rows)) if len(rows) > len(shown) else ""
    return Report(f"{texts.REPORT_TITLE}: {name}", tuple(sections), texts.REPORT_HISTORY_COLUMNS, history, note,
                  tuple((m.date, m.weight, m.body_fat) for m in rows), texts.report_generated(today, operator))
