"""Background loops: the funnel sender (persisted jobs) and maintenance (gauges, pruning, retention).

The funnel loop claims due jobs with FOR UPDATE SKIP LOCKED under a lease, sends, and marks
them done. Delivery is at-least-once: a crash after Telegram accepted the photo but before
`mark_done` leaves the job leased; when the lease runs out it is sent again. That window is
one HTTP round trip, so a duplicate needs a crash at exactly that moment.
"""

from __future__ import annotations

import asyncio
import logging
import time

from telegram.error import Forbidden, TelegramError

from bot import metrics
from bot.db import conversations, stats, updates
from bot.db import jobs as job_repo
from bot.db.pool import UNAVAILABLE_ERRORS, drop_if_demoted, record_pool_gauges
from bot.flows.actions import funnel_photo
from bot.runtime import BotContext, send_photo

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
LEASE_SECONDS = 60.0
BATCH = 20
STATS_EVERY = 15.0
PRUNE_EVERY = 3600.0


async def funnel_loop(app, ctx: BotContext) -> None:
    while True:
        try:
            await run_due_jobs(app, ctx)
        except asyncio.CancelledError:
            raise
        except UNAVAILABLE_ERRORS as exc:
            log.warning("job loop: database unavailable (%s)", type(exc).__name__)
            await drop_if_demoted(ctx.pool, exc)
        except Exception:
            metrics.errors.labels("job").inc()
            log.exception("job loop failed")
        await asyncio.sleep(TICK_SECONDS)


async def run_due_jobs(app, ctx: BotContext) -> int:
    async with ctx.pool.acquire() as conn:
        due = await job_repo.claim_due(conn, BATCH, LEASE_SECONDS)
    for job in due:
        try:
            await send_photo(app.bot, ctx, job.chat_id, funnel_photo(ctx.settings))
        except Forbidden as exc:  # blocked by the person: retrying will not help
            await _finish(ctx, job.id, f"forbidden: {exc.message}", max_attempts=1)
        except TelegramError as exc:
            metrics.errors.labels("job").inc()
            log.warning("funnel job %s failed: %s", job.id, exc)
            await _finish(ctx, job.id, str(exc))
        else:
            await _finish(ctx, job.id, None)
    return len(due)


async def _finish(ctx: BotContext, job_id: int, error: str | None, max_attempts: int = 10) -> None:
    async with ctx.pool.acquire() as conn:
        if error is None:
            await job_repo.mark_done(conn, job_id)
        else:
            await job_repo.mark_failed(conn, job_id, error, max_attempts)


async def maintenance_loop(app, ctx: BotContext) -> None:
    last_prune = 0.0
    while True:
        try:
            record_pool_gauges(ctx.pool)
            async with ctx.pool.acquire() as conn:
                s = await stats.collect(conn)
                if time.monotonic() - last_prune > PRUNE_EVERY:
                    pruned = await updates.prune(conn)
                    days = ctx.settings.conversation_retention_days
                    forgotten = await conversations.purge_abandoned(conn, days)
                    last_prune = time.monotonic()
                    log.info("pruned %d old update ids; forgot the answers of %d conversations left unfinished for "
                             "over %g days", pruned, forgotten, days)
            publish(s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - gauges are best effort; the next tick retries
            log.debug("maintenance tick failed: %s", type(exc).__name__)
        await asyncio.sleep(STATS_EVERY)


def publish(s: stats.Stats) -> None:
    metrics.active_users.labels("5m").set(s.active_5m)
    metrics.active_users.labels("24h").set(s.active_24h)
    metrics.active_users.labels("30d").set(s.active_30d)
    metrics.survey_in_progress.clear()
    for step, n in s.survey_steps.items():
        metrics.survey_in_progress.labels(step).set(n)
    metrics.goal_users.clear()
    for goal, n in s.goals.items():
        metrics.goal_users.labels(goal).set(n)
    metrics.scheduled_jobs.labels("pending").set(s.jobs_pending)
    metrics.scheduled_jobs.labels("overdue").set(s.jobs_overdue)
    metrics.backup_last_success.set(s.last_backup or 0)
    for kind in metrics.BACKUP_KINDS:
        metrics.backup_last_verified.labels(kind).set(s.last_verified.get(kind) or 0)
