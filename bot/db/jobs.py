"""Persisted scheduled jobs (table scheduled_jobs): the funnel message after the survey.

Claimed with FOR UPDATE SKIP LOCKED under a lease (locked_until), so several replicas share
them and a job whose sender crashed is retried once the lease has run out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.db.pool import Connection, Query, execute, fetch, fetchrow

SCHEDULE = Query("job_schedule", """
INSERT INTO scheduled_jobs (kind, chat_id, run_at, payload, dedupe_key)
VALUES ($1, $2, now() + make_interval(secs => $3), $4, $5)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
""")

# A running job whose lease expired is claimable again: its sender died before marking it.
CLAIM_DUE = Query("job_claim_due", """
UPDATE scheduled_jobs
SET status = 'running', attempts = attempts + 1, locked_until = now() + make_interval(secs => $2)
WHERE id IN (
    SELECT id FROM scheduled_jobs
    WHERE run_at <= now()
      AND (status = 'pending' OR (status = 'running' AND locked_until < now()))
    ORDER BY run_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, kind, chat_id, run_at, payload, attempts
""")

MARK_DONE = Query("job_mark_done", """
UPDATE scheduled_jobs SET status = 'done', done_at = now(), locked_until = NULL, last_error = NULL
WHERE id = $1
""")

# A failed attempt goes back to pending after a back-off; after max attempts it stays failed.
MARK_FAILED = Query("job_mark_failed", """
UPDATE scheduled_jobs
SET status = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'pending' END,
    run_at = now() + make_interval(secs => least(600, 5 * attempts * attempts)),
    locked_until = NULL, last_error = left($2, 500)
WHERE id = $1
""")

GET_JOB = Query("job_get", """
SELECT id, kind, chat_id, run_at, payload, attempts, status FROM scheduled_jobs WHERE id = $1
""")


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    chat_id: int
    run_at: datetime
    payload: dict[str, Any]
    attempts: int


def _job(row) -> Job:
    return Job(row["id"], row["kind"], row["chat_id"], row["run_at"], dict(row["payload"] or {}),
               row["attempts"])


async def schedule(conn: Connection, kind: str, chat_id: int, delay_seconds: float,
                   payload: dict[str, Any] | None = None, dedupe_key: str | None = None) -> int | None:
    """Schedule a job; returns its id, or None when a job with the same dedupe_key exists."""
    row = await fetchrow(conn, SCHEDULE, kind, chat_id, float(delay_seconds), payload or {}, dedupe_key)
    return row["id"] if row else None


async def claim_due(conn: Connection, limit: int = 20, lease_seconds: float = 60.0) -> list[Job]:
    return [_job(row) for row in await fetch(conn, CLAIM_DUE, limit, float(lease_seconds))]


async def mark_done(conn: Connection, job_id: int) -> None:
    await execute(conn, MARK_DONE, job_id)


async def mark_failed(conn: Connection, job_id: int, error: str, max_attempts: int = 10) -> None:
    await execute(conn, MARK_FAILED, job_id, error, max_attempts)


async def get_status(conn: Connection, job_id: int) -> str | None:
    row = await fetchrow(conn, GET_JOB, job_id)
    return row["status"] if row else None
