"""Handled update ids (table processed_updates): written by conversations.claim_and_lock."""

from __future__ import annotations

from bot.db.pool import Connection, Query, execute, fetchval

IS_PROCESSED = Query("update_is_processed", "SELECT EXISTS (SELECT 1 FROM processed_updates WHERE update_id = $1)")

# Telegram keeps an undelivered update for at most 24 hours; a week is a wide margin.
PRUNE = Query("update_prune", """
DELETE FROM processed_updates WHERE processed_at < now() - make_interval(secs => $1)
""")


async def is_processed(conn: Connection, update_id: int) -> bool:
    return bool(await fetchval(conn, IS_PROCESSED, update_id))


async def prune(conn: Connection, older_than_seconds: float = 7 * 86400) -> int:
    """Forget update ids older than the window; returns how many were deleted."""
    status = await execute(conn, PRUNE, float(older_than_seconds))
    return int(status.split()[-1])
