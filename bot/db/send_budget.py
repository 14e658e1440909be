"""The bot-wide budget of bulk messages (table send_budget), shared by every replica.

A virtual schedule: the row holds the moment the budget's next message may go. Taking a slot
moves it on by 1/rate in one statement, so replicas that ask at the same moment get consecutive
slots, and the bot as a whole sends at most `rate` bulk messages a second (one more in any
one-second window at most), however many replicas it runs. A 429 on a bulk send pushes the
moment past its retry_after, for every replica. The database's clock decides; the caller only
waits the seconds it is told.
"""

from __future__ import annotations

from bot.db.pool import Connection, Query, execute, fetchval

BULK = "bulk"

TAKE = Query("send_budget_take", """
INSERT INTO send_budget AS b (name, next_at) VALUES ($1, clock_timestamp() + make_interval(secs => $2))
ON CONFLICT (name) DO UPDATE SET next_at = greatest(b.next_at, clock_timestamp()) + make_interval(secs => $2)
RETURNING extract(epoch FROM b.next_at - clock_timestamp())::float8 - $2
""")

HOLD = Query("send_budget_hold", """
INSERT INTO send_budget AS b (name, next_at) VALUES ($1, clock_timestamp() + make_interval(secs => $2))
ON CONFLICT (name) DO UPDATE SET next_at = greatest(b.next_at, clock_timestamp() + make_interval(secs => $2))
""")


async def take_slot(conn: Connection, rate: float, name: str = BULK) -> float:
    """Reserve the next slot of a budget of `rate` messages a second: seconds to wait for it (<= 0: now)."""
    return await fetchval(conn, TAKE, name, 1.0 / rate)


async def hold(conn: Connection, seconds: float, name: str = BULK) -> None:
    """No slot of the budget before `seconds` from now (Telegram answered 429 with that retry_after)."""
    await execute(conn, HOLD, name, float(seconds))
