"""Everything of one person at once: the subject access request and the erasure (sql/0042).

The functions in the database name every table that holds a person's data; the bot (/export,
/delete_me) and kbjuctl (`users export`, `users erase`) both call them, so there is one list.
"""

from __future__ import annotations

from typing import Any

from bot.db.pool import Connectable, Query, fetch, fetchval

DATA = Query("person_data", "SELECT kbju_person_data($1)")
ERASE = Query("person_erase", "SELECT table_name, row_count FROM kbju_erase_person($1, $2)", writes=True)


async def data(conn: Connectable, telegram_id: int) -> dict[str, Any]:
    """{table: [row, ...], ...} of every table that holds the person's data (JSON values)."""
    return await fetchval(conn, DATA, telegram_id)


async def erase(conn: Connectable, telegram_id: int, ledger_source: str = "bot") -> dict[str, int]:
    """Delete every row of the person, in the caller's transaction; rows removed per table. An
    erasure that removed anything is recorded in the erasures ledger."""
    return {row["table_name"]: row["row_count"] for row in await fetch(conn, ERASE, telegram_id, ledger_source)}
