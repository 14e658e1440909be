"""What people did, kept for the operators' statistics (table user_events; sql/0043 reads it)."""

from __future__ import annotations

from datetime import datetime

from bot.db.pool import Connectable, Query, execute

RECORD = Query("event_record", """
INSERT INTO user_events (telegram_id, kind, detail, at) SELECT $1, kind, detail, $4
FROM unnest($2::text[], $3::text[]) AS e (kind, detail)
""")


# The Outcome.events ("kind" or "kind:detail") that are kept in user_events; the others are metrics only.
PERSISTED = frozenset({"survey_started", "survey_completed", "survey_abandoned", "consult_opened", "reminder_set",
                       "reminder_declined", "reminder_off", "reminder_opened", "export"})


def persisted(events: list[str]) -> list[tuple[str, str | None]]:
    """(kind, detail) of the events kept in user_events."""
    pairs = [(kind, detail or None) for kind, _, detail in (event.partition(":") for event in events)]
    return [(kind, detail) for kind, detail in pairs if kind in PERSISTED]


async def record(conn: Connectable, telegram_id: int, events: list[tuple[str, str | None]], at: datetime) -> None:
    """(kind, detail) pairs, all at `at` (the bot's clock), in one statement."""
    if events:
        await execute(conn, RECORD, telegram_id, [kind for kind, _ in events], [detail for _, detail in events], at)
