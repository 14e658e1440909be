"""Background loops: due scheduled jobs (the funnel; each kind's message goes out through bot.bulk)
and maintenance (gauges, pruning).

The job loop claims due jobs with FOR UPDATE SKIP LOCKED under a lease, sends each kind's message
through the bulk lane (bot.bulk: the bot-wide bulk budget shared by every replica, after people's
replies), and marks them done. A kind is one entry in JOB_KINDS. Delivery is at-least-once: a
crash after Telegram accepted the message but before `mark_done` leaves the job leased; when the
lease runs out it is sent again. That window is one HTTP round trip, so a duplicate needs a crash
at exactly that moment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from telegram.error import Forbidden, TelegramError

from bot import metrics
from bot.db import jobs as job_repo
from bot.db import stats, updates
from bot.db.jobs import Job
from bot.db.pool import UNAVAILABLE_ERRORS, record_pool_gauges
from bot.flows.actions import funnel_photo
from bot.runtime import BotContext

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
LEASE_SECONDS = 60.0
BATCH = 20  # jobs claimed at once by one replica; more are claimed as soon as these are sent
SENDING_AT_ONCE = 8  # a replica's bulk sends in flight (each waits for its slot of the bulk budget)
STATS_EVERY = 15.0
PRUNE_EVERY = 3600.0


async def send_funnel(app, ctx: BotContext, job: Job) -> None:
    await ctx.bulk.send(app.bot, ctx, job.chat_id, funnel_photo(ctx.settings))


# What each kind of job does when it is due; every message goes through ctx.bulk.send.
JOB_KINDS: dict[str, Callable[[object, BotContext, Job], Awaitable[None]]] = {"funnel": send_funnel}


async def jobs_loop(app, ctx: BotContext) -> None:
    while True:
        try:
            claimed = await run_due_jobs(app, ctx)
        except asyncio.CancelledError:
            raise
        except UNAVAILABLE_ERRORS as exc:
            log.warning("job loop: database unavailable (%s)", type(exc).__name__)
            claimed = 0
        except Exception:
            metrics.errors.labels("job").inc()
            log.exception("job loop failed")
            claimed = 0
        if claimed < BATCH:  # a full batch: more may be due, claim again at once
            await asyncio.sleep(TICK_SECONDS)


async def run_due_jobs(app, ctx: BotContext) -> int:
    """Claim up to BATCH due jobs and run them, SENDING_AT_ONCE at a time; the number claimed."""
    async with ctx.pool.acquire() as conn:
        due = await job_repo.claim_due(conn, BATCH, LEASE_SECONDS)
    if not due:
        return 0
    sending = asyncio.Semaphore(SENDING_AT_ONCE)

    async def run(job: Job) -> None:
        async with sending:
            await _run_job(app, ctx, job)

    results = await asyncio.gather(*(run(job) for job in due), return_exceptions=True)
    failed = next((r for r in results if isinstance(r, Exception)), None)
    if failed is not None:  # e.g. the database went away while marking one done: its lease retries it
        raise failed
    return len(due)


async def _run_job(app, ctx: BotContext, job: Job) -> None:
    kind = JOB_KINDS.get(job.kind)
    try:
        if kind is None:
            raise TelegramError(f"no handler for job kind {job.kind!r}")
        await kind(app, ctx, job)
    except Forbidden as exc:  # blocked by the person: retrying will not help
        await _finish(ctx, job.id, f"forbidden: {exc.message}", max_attempts=1)
    except TelegramError as exc:
        metrics.errors.labels("job").inc()
        log.warning("%s job %s failed: %s", job.kind, job.id, exc)
        await _finish(ctx, job.id, str(exc))
    else:
        await _finish(ctx, job.id, None)


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
                    last_prune = time.monotonic()
                    log.info("pruned %d old update ids", pruned)
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
