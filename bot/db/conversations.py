"""Conversation state per chat (table conversations), claimed together with the update id.

An update is handled inside one transaction that starts with `claim_and_lock`: it records the
update id in processed_updates and row-locks the chat's conversation in a single round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.db.pool import Connection, Query, execute, fetchrow, fetchval

# The INSERT ... ON CONFLICT DO UPDATE takes the row lock like SELECT ... FOR UPDATE, creates
# the row for a new chat, and returns the latest committed state after any wait. Nothing is
# returned when the update id was already recorded: the update was handled before.
CLAIM_AND_LOCK = Query("conversation_claim_lock", """
WITH claim AS (
    INSERT INTO processed_updates (update_id) VALUES ($1)
    ON CONFLICT (update_id) DO NOTHING
    RETURNING update_id
)
INSERT INTO conversations (chat_id, user_id)
SELECT $2, $3 FROM claim
ON CONFLICT (chat_id) DO UPDATE SET updated_at = now()
RETURNING chat_id, user_id, flow, step, answers, prompt_message_id, version
""")

LOCK = Query("conversation_lock", """
INSERT INTO conversations (chat_id, user_id) VALUES ($1, $2)
ON CONFLICT (chat_id) DO UPDATE SET updated_at = now()
RETURNING chat_id, user_id, flow, step, answers, prompt_message_id, version
""")

SAVE = Query("conversation_save", """
UPDATE conversations
SET flow = $2, step = $3, answers = $4, prompt_message_id = $5, version = version + 1, updated_at = now()
WHERE chat_id = $1
RETURNING version
""")

GET = Query("conversation_get", """
SELECT chat_id, user_id, flow, step, answers, prompt_message_id, version FROM conversations WHERE chat_id = $1
""")


@dataclass(frozen=True, slots=True)
class Conversation:
    chat_id: int
    user_id: int
    flow: str | None = None
    step: str | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    prompt_message_id: int | None = None
    version: int = 0

    @property
    def idle(self) -> bool:
        return self.flow is None


def _conversation(row) -> Conversation:
    return Conversation(row["chat_id"], row["user_id"], row["flow"], row["step"], dict(row["answers"] or {}),
                        row["prompt_message_id"], row["version"])


async def claim_and_lock(conn: Connection, update_id: int, chat_id: int, user_id: int) -> Conversation | None:
    """Inside a transaction: the locked conversation, or None when this update was already handled."""
    row = await fetchrow(conn, CLAIM_AND_LOCK, update_id, chat_id, user_id)
    return _conversation(row) if row else None


async def lock(conn: Connection, chat_id: int, user_id: int) -> Conversation:
    """Inside a transaction: the chat's conversation, row-locked (created idle if missing)."""
    return _conversation(await fetchrow(conn, LOCK, chat_id, user_id))


async def get(conn: Connection, chat_id: int) -> Conversation | None:
    row = await fetchrow(conn, GET, chat_id)
    return _conversation(row) if row else None


async def save(conn: Connection, chat_id: int, flow: str | None, step: str | None, answers: dict[str, Any],
               prompt_message_id: int | None = None) -> int:
    """Write the new state; returns the new version."""
    return await fetchval(conn, SAVE, chat_id, flow, step, answers, prompt_message_id)


async def reset(conn: Connection, chat_id: int) -> None:
    await execute(conn, SAVE, chat_id, None, None, {}, None)
