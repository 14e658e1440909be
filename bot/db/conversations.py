"""Conversation state per chat (table conversations), written together with the handled update id.

Every handled update bumps its chat's `version` exactly once, in the same statement or
transaction that records its update id in processed_updates. Two ways to run a turn use that:

- optimistic (the usual one, two round trips for a step that only moves the conversation on):
  `read` the state without a lock, decide, then `commit_turn` writes the new state and the update
  id only if the version is still the one read. When another turn of the chat (a second replica,
  a re-delivery) got there first, nothing is written and the turn is run again from a new read.
- locking (the fallback when a chat keeps conflicting): `claim_and_lock` records the update id and
  row-locks the conversation in one round trip inside a transaction; `save` bumps the version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bot.db.pool import Connection, Query, execute, fetchrow, fetchval

log = logging.getLogger(__name__)

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
RETURNING chat_id, user_id, flow, step, answers, version
""")

LOCK = Query("conversation_lock", """
INSERT INTO conversations (chat_id, user_id) VALUES ($1, $2)
ON CONFLICT (chat_id) DO UPDATE SET updated_at = now()
RETURNING chat_id, user_id, flow, step, answers, version
""")

SAVE = Query("conversation_save", """
UPDATE conversations
SET flow = $2, step = $3, answers = $4, version = version + 1, updated_at = now(), blocked_at = NULL
WHERE chat_id = $1
RETURNING version
""")

READ = Query("conversation_read", """
SELECT EXISTS (SELECT 1 FROM processed_updates WHERE update_id = $1) AS handled,
       $2::bigint AS chat_id, $3::bigint AS user_id, c.flow, c.step, c.answers, c.version
FROM (VALUES (0)) AS one (x) LEFT JOIN conversations c ON c.chat_id = $2
""")

# The conversation is written first and the update id recorded only for a row that was written;
# a chat without a row gets one at version 1 (`read` reports a missing row as version 0).
COMMIT_TURN = Query("conversation_commit_turn", """
WITH saved AS (
    INSERT INTO conversations AS c (chat_id, user_id, flow, step, answers, version)
    VALUES ($1, $2, $3, $4, $5, 1)
    ON CONFLICT (chat_id) DO UPDATE
    SET flow = $3, step = $4, answers = $5, version = c.version + 1, updated_at = now(), blocked_at = NULL
    WHERE c.version = $6
    RETURNING c.version
), claim AS (
    INSERT INTO processed_updates (update_id) SELECT $7 FROM saved
    ON CONFLICT (update_id) DO NOTHING
    RETURNING update_id
)
SELECT (SELECT version FROM saved) AS version, (SELECT count(*) FROM claim) AS claimed
""")

# A flow left in the middle (no /cancel, no answer since) keeps what was typed so far: forgotten
# after the retention, a batch at a time; rows a turn holds locked are left for the next round.
# The version bump makes a turn that read the row before the purge start again from a new read.
PURGE_ABANDONED = Query("conversation_purge_abandoned", """
UPDATE conversations SET flow = NULL, step = NULL, answers = jsonb_build_object(), version = version + 1,
                         updated_at = now()
WHERE chat_id IN (SELECT chat_id FROM conversations
                  WHERE flow IS NOT NULL AND updated_at < now() - make_interval(secs => $1)
                  LIMIT $2 FOR UPDATE SKIP LOCKED)
""")
PURGE_BATCH = 10_000

# A turn that leaves nothing of the chat behind (after the person erased their data): the update id
# is recorded as handled, the conversation row is gone. Nothing returned: handled before.
FORGET = Query("conversation_forget", """
WITH claim AS (
    INSERT INTO processed_updates (update_id) VALUES ($1)
    ON CONFLICT (update_id) DO NOTHING
    RETURNING update_id
), gone AS (
    DELETE FROM conversations WHERE chat_id = $2 AND EXISTS (SELECT FROM claim)
)
SELECT update_id FROM claim
""", writes=True)

DELETE = Query("conversation_delete", "DELETE FROM conversations WHERE chat_id = $1")

# A message to the chat was refused with 403: its person blocked the bot. Any update from them
# clears it (COMMIT_TURN, SAVE). Not an activity: updated_at stays.
MARK_BLOCKED = Query("conversation_mark_blocked", """
UPDATE conversations SET blocked_at = $2 WHERE chat_id = $1 AND blocked_at IS NULL
""")

GET = Query("conversation_get", """
SELECT chat_id, user_id, flow, step, answers, version FROM conversations WHERE chat_id = $1
""")


@dataclass(frozen=True, slots=True)
class Conversation:
    chat_id: int
    user_id: int
    flow: str | None = None
    step: str | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    version: int = 0

    @property
    def idle(self) -> bool:
        return self.flow is None


def _conversation(row) -> Conversation:
    return Conversation(row["chat_id"], row["user_id"], row["flow"], row["step"], dict(row["answers"] or {}),
                        row["version"])


async def read(conn: Connection, update_id: int, chat_id: int, user_id: int) -> Conversation | None:
    """Without a lock: the chat's committed conversation (idle at version 0 when it has none yet),
    or None when this update was already handled."""
    row = await fetchrow(conn, READ, update_id, chat_id, user_id)
    if row["handled"]:
        return None
    return Conversation(chat_id, user_id) if row["version"] is None else _conversation(row)


State = tuple[str | None, str | None, dict[str, Any]]  # (flow, step, answers)


def _next_state(conv: Conversation, state: State | None) -> State:
    """(flow, step, answers) to write: a turn's new state, or the conversation as it was."""
    return (conv.flow, conv.step, conv.answers) if state is None else state


async def save_turn(conn: Connection, conv: Conversation, state: State | None) -> int:
    """Locking path, inside the transaction of `claim_and_lock`: write the turn's new state (None:
    as it was), bumping the version either way; returns the new version."""
    return await save(conn, conv.chat_id, *_next_state(conv, state))


async def commit_turn(conn: Connection, update_id: int, conv: Conversation, state: State | None) -> bool:
    """Write the turn's new state (None: as it was) and record the update as handled, if the
    conversation is still at conv.version; False when another turn got there first."""
    row = await fetchrow(conn, COMMIT_TURN, conv.chat_id, conv.user_id, *_next_state(conv, state), conv.version,
                         update_id)
    if row["version"] is None:
        return False
    if not row["claimed"]:  # only a turn that skipped the version bump could have recorded it
        log.warning("update %s was already recorded as handled by a turn that kept the version", update_id)
    return True


async def claim_and_lock(conn: Connection, update_id: int, chat_id: int, user_id: int) -> Conversation | None:
    """Inside a transaction: the locked conversation, or None when this update was already handled."""
    row = await fetchrow(conn, CLAIM_AND_LOCK, update_id, chat_id, user_id)
    return _conversation(row) if row else None


async def forget(conn: Connection, update_id: int, chat_id: int) -> bool:
    """Record the update as handled and delete the chat's conversation; False when it was handled
    before (nothing changed)."""
    return await fetchval(conn, FORGET, update_id, chat_id) is not None


async def delete(conn: Connection, chat_id: int) -> None:
    await execute(conn, DELETE, chat_id)


async def mark_blocked(conn: Connection, chat_id: int, at) -> bool:
    """True when the chat was not marked blocked before (a new block, counted once)."""
    return (await execute(conn, MARK_BLOCKED, chat_id, at)).split()[-1] != "0"


async def lock(conn: Connection, chat_id: int, user_id: int) -> Conversation:
    """Inside a transaction: the chat's conversation, row-locked (created idle if missing)."""
    return _conversation(await fetchrow(conn, LOCK, chat_id, user_id))


async def get(conn: Connection, chat_id: int) -> Conversation | None:
    row = await fetchrow(conn, GET, chat_id)
    return _conversation(row) if row else None


async def save(conn: Connection, chat_id: int, flow: str | None, step: str | None, answers: dict[str, Any]) -> int:
    """Write the new state; returns the new version."""
    return await fetchval(conn, SAVE, chat_id, flow, step, answers)


async def purge_abandoned(conn: Connection, older_than_days: float) -> int:
    """Forget the answers of every conversation left in a flow for longer than the retention;
    returns how many were forgotten."""
    purged = 0
    while True:
        status = await execute(conn, PURGE_ABANDONED, older_than_days * 86400.0, PURGE_BATCH)
        batch = int(status.split()[-1])
        purged += batch
        if batch < PURGE_BATCH:
            return purged


async def reset(conn: Connection, chat_id: int) -> None:
    await execute(conn, SAVE, chat_id, None, None, {})
