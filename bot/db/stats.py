"""Aggregates for the gauges (active people, survey steps, goals, job backlog, last backup), read on an interval."""

from __future__ import annotations

from dataclasses import dataclass

from bot.db.pool import Connection, Query, fetch, fetchrow, fetchval

ACTIVE_USERS = Query("stats_active_users", """
SELECT count(*) FILTER (WHERE updated_at > now() - interval '5 minutes') AS m5,
       count(*) FILTER (WHERE updated_at > now() - interval '24 hours') AS h24,
       count(*) FILTER (WHERE updated_at > now() - interval '30 days') AS d30
FROM conversations
""")

LAST_BACKUP = Query("stats_last_backup", """
SELECT kind, extract(epoch FROM max(finished_at))::float8 AS at FROM backup_runs GROUP BY kind
""")

LAST_VERIFIED = Query("stats_last_verified", """
SELECT kind, extract(epoch FROM max(verified_at))::float8 AS at FROM backup_verifications GROUP BY kind
""")

SURVEY_STEPS = Query("stats_survey_steps", """
SELECT step, count(*) AS n FROM conversations WHERE flow = 'survey' GROUP BY step
""")

GOALS = Query("stats_goals", """
SELECT coalesce(goal, 'unknown') AS goal, count(*) AS n
FROM (SELECT DISTINCT ON (telegram_id) goal FROM user_records ORDER BY telegram_id, date DESC, id DESC) latest
GROUP BY 1
""")

JOBS = Query("stats_jobs", """
SELECT count(*) FILTER (WHERE status IN ('pending', 'running')) AS pending,
       count(*) FILTER (WHERE status IN ('pending', 'running') AND run_at < now() - interval '60 seconds')
           AS overdue
FROM scheduled_jobs
""")


@dataclass(frozen=True, slots=True)
class Stats:
    active_5m: int
    active_24h: int
    active_30d: int
    survey_steps: dict[str, int]
    goals: dict[str, int]
    jobs_pending: int
    jobs_overdue: int
    last_backup: dict[str, float]  # kind (logical, full, diff, incr) -> unix time of its newest backup_runs row
    last_verified: dict[str, float]  # kind (logical, full, diff, incr) -> unix time of its newest verification
    reminders_enabled: int = 0
    people_blocked: int = 0


async def collect(conn: Connection) -> Stats:
    active = await fetchrow(conn, ACTIVE_USERS)
    steps = {row["step"] or "unknown": row["n"] for row in await fetch(conn, SURVEY_STEPS)}
    goals = {row["goal"]: row["n"] for row in await fetch(conn, GOALS)}
    jobs = await fetchrow(conn, JOBS)
    last_backup = {row["kind"]: row["at"] for row in await fetch(conn, LAST_BACKUP)}
    verified = {row["kind"]: row["at"] for row in await fetch(conn, LAST_VERIFIED)}
    reminders = await fetchrow(conn, REMINDERS)
    return Stats(active["m5"], active["h24"], active["d30"], steps, goals, jobs["pending"], jobs["overdue"],
                 last_backup, verified, reminders["enabled"], reminders["blocked"])


REMINDERS = Query("stats_reminders", """
SELECT (SELECT count(*) FROM reminders WHERE enabled) AS enabled,
       (SELECT count(*) FROM conversations WHERE blocked_at IS NOT NULL) AS blocked
""")

SCHEMA_VERSION = Query("stats_schema_version", "SELECT max(migration_id) FROM _yoyo_migration")


async def schema_version(conn: Connection) -> str:
    return await fetchval(conn, SCHEMA_VERSION) or "none"
