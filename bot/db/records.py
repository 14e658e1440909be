"""Dated measurements (table user_records): one row per person per local day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.db.pool import Connection, Query, fetch, fetchrow

# A second entry on the same day replaces that day's values (the DEV bot's rule).
UPSERT_RECORD = Query("record_upsert", """
INSERT INTO user_records (telegram_id, date, weight, waist, neck, hip, height, goal, steps, sport_type,
                          sport_freq, bodyfat, legacy_goal)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (telegram_id, date) DO UPDATE SET
    weight = EXCLUDED.weight, waist = EXCLUDED.waist, neck = EXCLUDED.neck, hip = EXCLUDED.hip,
    height = EXCLUDED.height, goal = EXCLUDED.goal, steps = EXCLUDED.steps,
    sport_type = EXCLUDED.sport_type, sport_freq = EXCLUDED.sport_freq, bodyfat = EXCLUDED.bodyfat,
    legacy_goal = EXCLUDED.legacy_goal, updated_at = now()
RETURNING id, telegram_id, date, weight, waist, neck, hip, height, goal, steps, sport_type, sport_freq,
          bodyfat, legacy_goal
""")

LATEST_RECORD = Query("record_latest", """
SELECT id, telegram_id, date, weight, waist, neck, hip, height, goal, steps, sport_type, sport_freq,
       bodyfat, legacy_goal
FROM user_records WHERE telegram_id = $1 ORDER BY date DESC, id DESC LIMIT 1
""")

LIST_RECORDS = Query("record_list", """
SELECT id, telegram_id, date, weight, waist, neck, hip, height, goal, steps, sport_type, sport_freq,
       bodyfat, legacy_goal
FROM user_records WHERE telegram_id = $1 ORDER BY date, id
""")

SET_GOAL = Query("record_set_goal", """
UPDATE user_records SET goal = $2, updated_at = now() WHERE id = $1
RETURNING id, telegram_id, date, weight, waist, neck, hip, height, goal, steps, sport_type, sport_freq,
          bodyfat, legacy_goal
""")


@dataclass(frozen=True, slots=True)
class Measurement:
    """One record's values as the bot collects them (before it has an id)."""

    weight: float
    waist: float
    neck: float
    hip: float | None
    height: int
    goal: str | None
    steps: str | None
    sport_type: str | None
    sport_freq: str | None
    bodyfat: float | None
    legacy_goal: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    id: int
    telegram_id: int
    date: date
    weight: float
    waist: float
    neck: float
    hip: float | None
    height: int
    goal: str | None
    steps: str | None
    sport_type: str | None
    sport_freq: str | None
    bodyfat: float | None
    legacy_goal: str | None


def _record(row) -> Record:
    return Record(**dict(row))


async def upsert_record(conn: Connection, telegram_id: int, day: date, m: Measurement) -> Record:
    row = await fetchrow(conn, UPSERT_RECORD, telegram_id, day, m.weight, m.waist, m.neck, m.hip, m.height,
                         m.goal, m.steps, m.sport_type, m.sport_freq, m.bodyfat, m.legacy_goal)
    return _record(row)


async def latest_record(conn: Connection, telegram_id: int) -> Record | None:
    row = await fetchrow(conn, LATEST_RECORD, telegram_id)
    return _record(row) if row else None


async def list_records(conn: Connection, telegram_id: int) -> list[Record]:
    return [_record(row) for row in await fetch(conn, LIST_RECORDS, telegram_id)]


async def set_goal(conn: Connection, record_id: int, goal: str) -> Record:
    """The goal change is stored on the latest record, which later records inherit it from."""
    return _record(await fetchrow(conn, SET_GOAL, record_id, goal))
