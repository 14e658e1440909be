"""After a load run: does every simulated person's state in PostgreSQL equal what they entered?

The journal (loadtests.journal) says what each person entered and saw confirmed; this module
folds it into the expected final state and compares it with the database, read-only:
- the users row (name split, sex, birth date), every measurement row (seeded rows unchanged,
  the newest row equal to the last values entered, no more rows than entries), food preferences,
  the weekly reminder (on, with the day and hour chosen; none for who said "no, thanks");
- no stuck conversation: a person whose last flow finished must be idle;
- no lost update: an update that never got a reply must at least be recorded as processed
  (its reply may have died with a killed replica; the update itself must not).
A mismatch fails the run whatever the latency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from loadtests import journal

RECORD_FIELDS = ("weight", "waist", "neck", "hip", "height", "goal", "steps", "sport_type", "sport_freq")
USER_FIELDS = ("first_name", "last_name", "sex", "date_of_birth")
MAX_LISTED = 50

USERS_SQL = """
SELECT telegram_id, first_name, last_name, sex, date_of_birth FROM users WHERE telegram_id = ANY(%s)
"""
RECORDS_SQL = """
SELECT telegram_id, date, weight, waist, neck, hip, height, goal, steps, sport_type, sport_freq
FROM user_records WHERE telegram_id = ANY(%s) ORDER BY telegram_id, date
"""
FOOD_SQL = """
SELECT telegram_id, likes_raw, dislikes_raw FROM user_food_preferences WHERE telegram_id = ANY(%s)
"""
CONVERSATIONS_SQL = "SELECT chat_id, flow, step FROM conversations WHERE chat_id = ANY(%s)"
REMINDERS_SQL = "SELECT telegram_id, weekday, hour, enabled FROM reminders WHERE telegram_id = ANY(%s)"
HAS_REMINDERS = "SELECT to_regclass('public.reminders') IS NOT NULL AS present"
UNKNOWN = object()  # the database has no reminders table
PROCESSED_SQL = "SELECT update_id FROM processed_updates WHERE update_id = ANY(%s)"


@dataclass(frozen=True)
class Mismatch:
    person: int
    what: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return f"person {self.person}: {self.what}: expected {self.expected!r}, found {self.actual!r}"


RUN_ENDED = "the run ended"  # loadtests/locustfile.py: a step whose answer was still awaited at the end


@dataclass
class ConsistencyReport:
    people: int = 0
    facts: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    lost_updates: list[int] = field(default_factory=list)        # sent, never replied, never processed
    replies_lost: int = 0                                        # processed, but the reply never came
    unanswered: int = 0
    in_flight_at_end: int = 0  # processed, its reply still on its way when the run stopped its people

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.lost_updates

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "people": self.people, "facts": self.facts,
            "mismatches": len(self.mismatches),
            "mismatch_examples": [str(m) for m in self.mismatches[:MAX_LISTED]],
            "lost_updates": len(self.lost_updates), "lost_update_ids": self.lost_updates[:MAX_LISTED],
            "unanswered_updates": self.unanswered, "replies_lost_after_commit": self.replies_lost,
            "in_flight_at_end": self.in_flight_at_end,
        }


@dataclass
class Expected:
    """One person's expected state, folded from their facts."""

    user: dict[str, Any] | None = None
    seeded: dict[str, dict[str, Any]] = field(default_factory=dict)   # ISO date -> record
    entered: list[dict[str, Any]] = field(default_factory=list)       # new records, oldest first
    food: dict[str, str] | None = None
    reminder: dict[str, int] | None = None  # weekday, hour
    must_be_idle: bool = True
    registered: bool = False


def _apply(exp: Expected, fact: dict[str, Any]) -> None:
    kind = fact["kind"]
    if kind == "seeded":
        exp.user, exp.registered = fact["user"], True
        exp.seeded = {r["date"]: r for r in fact["records"]}
        exp.food = fact.get("food")
    elif kind == "registered":
        exp.user, exp.registered = fact["user"], True
        exp.entered.append(fact["record"])
    elif kind == "measured":
        exp.entered.append(fact["record"])
    elif kind == "food":
        exp.food = fact["food"]
    elif kind == "reminder":
        exp.reminder = fact["reminder"]
    elif kind == "goal":
        # The goal flow changes the newest record in place (bot.db.records.set_goal).
        if exp.entered:
            exp.entered[-1] = {**exp.entered[-1], "goal": fact["goal"]}
        elif exp.seeded:
            newest = max(exp.seeded)
            exp.seeded[newest] = {**exp.seeded[newest], "goal": fact["goal"]}
    else:
        raise ValueError(f"unknown fact kind {kind!r}")
    exp.must_be_idle = True


def expected_states(people: dict[int, list[dict[str, Any]]], processed: set[int],
                    report: ConsistencyReport) -> dict[int, Expected]:
    states: dict[int, Expected] = {}
    for person, facts in people.items():
        exp = Expected()
        for fact in facts:
            report.facts += 1
            kind = fact["kind"]
            if kind == "abandoned":
                exp.must_be_idle = False
            elif kind == "unanswered":
                report.unanswered += 1
                exp.must_be_idle = False
                if fact["update_id"] in processed:
                    if fact.get("error") == RUN_ENDED:
                        report.in_flight_at_end += 1
                    else:
                        report.replies_lost += 1
                    if fact.get("then"):
                        _apply(exp, fact["then"])
                        exp.must_be_idle = False  # the reply never came: the flow may be anywhere
                else:
                    report.lost_updates.append(fact["update_id"])
            else:
                _apply(exp, fact)
        states[person] = exp
    return states


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float | int) and isinstance(actual, float | int) and not isinstance(expected, bool):
        return math.isclose(float(expected), float(actual), abs_tol=1e-6)
    if isinstance(actual, date):
        actual = actual.isoformat()
    return expected == actual


def _compare_record(report: ConsistencyReport, person: int, label: str,
                    expected: dict[str, Any], actual: dict[str, Any]) -> None:
    for name in RECORD_FIELDS:
        if not _same(expected.get(name), actual.get(name)):
            report.mismatches.append(Mismatch(person, f"{label} {name}", expected.get(name), actual.get(name)))


def compare(person: int, exp: Expected, rows: dict[str, Any], report: ConsistencyReport) -> None:
    user = rows["user"]
    records: list[dict[str, Any]] = rows["records"]
    if exp.user is None:
        if records:
            report.mismatches.append(Mismatch(person, "records of someone who never finished the survey",
                                              0, len(records)))
    elif user is None:
        report.mismatches.append(Mismatch(person, "users row", "present", None))
    else:
        for name in USER_FIELDS:
            if not _same(exp.user.get(name), user.get(name)):
                report.mismatches.append(Mismatch(person, f"user {name}", exp.user.get(name), user.get(name)))

    by_date = {r["date"].isoformat(): r for r in records}
    for day, seeded in exp.seeded.items():
        if day not in by_date:
            report.mismatches.append(Mismatch(person, f"seeded record of {day}", "present", None))
        else:
            _compare_record(report, person, f"seeded record of {day}", seeded, by_date[day])
    new_rows = [r for r in records if r["date"].isoformat() not in exp.seeded]
    if exp.entered:
        if not new_rows:
            report.mismatches.append(Mismatch(person, "new record", "present", None))
        else:
            _compare_record(report, person, "newest record", exp.entered[-1], new_rows[-1])
    if len(new_rows) > len(exp.entered):
        report.mismatches.append(Mismatch(person, "number of new records (doubled write?)",
                                          f"<= {len(exp.entered)}", len(new_rows)))

    food = rows["food"]
    if exp.food is None:
        if food is not None:
            report.mismatches.append(Mismatch(person, "food preferences", None, food))
    elif food != exp.food:
        report.mismatches.append(Mismatch(person, "food preferences", exp.food, food))

    reminder = rows["reminder"]
    if reminder is not UNKNOWN:
        shown = None if reminder is None or not reminder["enabled"] else {"weekday": reminder["weekday"],
                                                                          "hour": reminder["hour"]}
        if shown != exp.reminder:
            report.mismatches.append(Mismatch(person, "weekly reminder", exp.reminder, shown))

    conversation = rows["conversation"]
    if exp.must_be_idle and exp.registered and conversation and conversation["flow"] is not None:
        report.mismatches.append(Mismatch(person, "conversation (stuck?)", "idle",
                                          f"{conversation['flow']}/{conversation['step']}"))


def _fetch(database_url: str, people: list[int], update_ids: list[int]) -> tuple[dict[int, dict], set[int]]:
    import psycopg
    from psycopg.rows import dict_row

    rows: dict[int, dict[str, Any]] = {p: {"user": None, "records": [], "food": None, "conversation": None,
                                           "reminder": None} for p in people}
    # Read-only per transaction, not per session: a session that starts read-only is refused by
    # target_session_attrs=read-write (a multi-host URL), as on a replica.
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        conn.read_only = True
        for row in conn.execute(USERS_SQL, (people,)):
            rows[row.pop("telegram_id")]["user"] = row
        for row in conn.execute(RECORDS_SQL, (people,)):
            rows[row.pop("telegram_id")]["records"].append(row)
        for row in conn.execute(FOOD_SQL, (people,)):
            rows[row["telegram_id"]]["food"] = {"likes": row["likes_raw"], "dislikes": row["dislikes_raw"]}
        for row in conn.execute(CONVERSATIONS_SQL, (people,)):
            rows[row.pop("chat_id")]["conversation"] = row
        if conn.execute(HAS_REMINDERS).fetchone()["present"]:
            for row in conn.execute(REMINDERS_SQL, (people,)):
                rows[row.pop("telegram_id")]["reminder"] = row
        else:  # a schema from before reminders (a release rolled back): nothing to compare
            for person_rows in rows.values():
                person_rows["reminder"] = UNKNOWN
        processed = {r["update_id"] for r in conn.execute(PROCESSED_SQL, (update_ids,))}
    return rows, processed


def check(database_url: str, journal_paths: Iterable[Path]) -> ConsistencyReport:
    """Compare every journaled person's final state with the database."""
    people = journal.read(journal_paths)
    update_ids = [f["update_id"] for facts in people.values() for f in facts if f["kind"] == "unanswered"]
    rows, processed = _fetch(database_url, sorted(people), update_ids)
    report = ConsistencyReport(people=len(people))
    for person, exp in expected_states(people, processed, report).items():
        compare(person, exp, rows[person], report)
    return report
