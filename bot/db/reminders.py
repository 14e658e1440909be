"""Weekly reminders (tables reminders, reminder_sends): a person's choice, and the slots sent.

Due reminders are claimed with FOR UPDATE SKIP LOCKED under a lease (locked_until), at the bot's
clock passed in (never the database's now(): tests and the sandbox move the bot's clock). A slot
is recorded in reminder_sends before its message is sent, and the record is the gate: a slot that
has one is never sent again (bot/jobs.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from bot.db.pool import Connectable, Query, execute, fetch, fetchrow

GET = Query("reminder_get", """
SELECT telegram_id, chat_id, weekday, hour, timezone, enabled, slot_at, due_at FROM reminders WHERE telegram_id = $1
""")

SET = Query("reminder_set", """
INSERT INTO reminders (telegram_id, chat_id, weekday, hour, timezone, enabled, slot_at, due_at)
VALUES ($1, $2, $3, $4, $5, true, $6, $7)
ON CONFLICT (telegram_id) DO UPDATE SET
    chat_id = EXCLUDED.chat_id, weekday = EXCLUDED.weekday, hour = EXCLUDED.hour, timezone = EXCLUDED.timezone,
    enabled = true, slot_at = EXCLUDED.slot_at, due_at = EXCLUDED.due_at, locked_until = NULL, updated_at = now()
RETURNING telegram_id, chat_id, weekday, hour, timezone, enabled, slot_at, due_at
""")

TURN_OFF = Query("reminder_off", """
UPDATE reminders SET enabled = false, locked_until = NULL, updated_at = now() WHERE telegram_id = $1 AND enabled
""")

# $1: the bot's now. A reminder whose lease ran out is claimable again: its sender died.
CLAIM_DUE = Query("reminder_claim_due", """
UPDATE reminders r SET locked_until = $1 + make_interval(secs => $3)
WHERE r.telegram_id IN (
    SELECT telegram_id FROM reminders
    WHERE enabled AND due_at <= $1 AND (locked_until IS NULL OR locked_until < $1)
    ORDER BY due_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING r.telegram_id, r.chat_id, r.weekday, r.hour, r.timezone, r.slot_at, r.due_at,
          (SELECT max(d.date) FROM user_records d WHERE d.telegram_id = r.telegram_id) AS last_measured,
          EXISTS (SELECT FROM conversations c WHERE c.chat_id = r.chat_id AND c.blocked_at IS NOT NULL) AS blocked
""")

# The gate: only the caller whose row this is may send the slot.
RECORD_SLOT = Query("reminder_record_slot", """
INSERT INTO reminder_sends (telegram_id, slot_at, outcome, at) VALUES ($1, $2, $3, $4)
ON CONFLICT (telegram_id, slot_at) DO NOTHING
RETURNING true
""")

SET_OUTCOME = Query("reminder_set_outcome", """
UPDATE reminder_sends SET outcome = $3, at = $4 WHERE telegram_id = $1 AND slot_at = $2
""")

# Only while the slot is still the one claimed: a person who changed the reminder meanwhile keeps theirs.
ADVANCE = Query("reminder_advance", """
UPDATE reminders SET slot_at = $3, due_at = $4, locked_until = NULL WHERE telegram_id = $1 AND slot_at = $2
""")


@dataclass(frozen=True, slots=True)
class Reminder:
    telegram_id: int
    chat_id: int
    weekday: int
    hour: int
    timezone: str
    enabled: bool
    slot_at: datetime
    due_at: datetime


@dataclass(frozen=True, slots=True)
class DueReminder:
    telegram_id: int
    chat_id: int
    weekday: int
    hour: int
    timezone: str
    slot_at: datetime
    due_at: datetime
    last_measured: date | None
    blocked: bool


def _reminder(row) -> Reminder:
    return Reminder(row["telegram_id"], row["chat_id"], row["weekday"], row["hour"], row["timezone"],
                    row["enabled"], row["slot_at"], row["due_at"])


async def get(conn: Connectable, telegram_id: int) -> Reminder | None:
    row = await fetchrow(conn, GET, telegram_id)
    return _reminder(row) if row else None


async def enabled(conn: Connectable, telegram_id: int) -> bool:
    reminder = await get(conn, telegram_id)
    return reminder is not None and reminder.enabled


async def set_reminder(conn: Connectable, telegram_id: int, chat_id: int, weekday: int, hour: int, timezone: str,
                       slot_at: datetime, due_at: datetime) -> Reminder:
    """Turn the person's reminder on with this weekday, hour and zone, next at `slot_at`."""
    return _reminder(await fetchrow(conn, SET, telegram_id, chat_id, weekday, hour, timezone, slot_at, due_at))


async def turn_off(conn: Connectable, telegram_id: int) -> bool:
    """False when it was not on."""
    return (await execute(conn, TURN_OFF, telegram_id)).split()[-1] != "0"


async def claim_due(conn: Connectable, now: datetime, limit: int, lease_seconds: float) -> list[DueReminder]:
    return [DueReminder(**dict(row)) for row in await fetch(conn, CLAIM_DUE, now, limit, float(lease_seconds))]


async def record_slot(conn: Connectable, telegram_id: int, slot_at: datetime, outcome: str, at: datetime) -> bool:
    """Record the slot's outcome unless it has one; True when this call recorded it. A person erased
    meanwhile has nothing to record (False)."""
    try:
        return bool(await fetchrow(conn, RECORD_SLOT, telegram_id, slot_at, outcome, at))
    except asyncpg.ForeignKeyViolationError:
        return False


async def set_outcome(conn: Connectable, telegram_id: int, slot_at: datetime, outcome: str, at: datetime) -> None:
    await execute(conn, SET_OUTCOME, telegram_id, slot_at, outcome, at)


async def advance(conn: Connectable, telegram_id: int, slot_at: datetime, next_slot: datetime,
                  next_due: datetime) -> None:
    await execute(conn, ADVANCE, telegram_id, slot_at, next_slot, next_due)
