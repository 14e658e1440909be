"""Background loops: the funnel sender (persisted jobs), weekly reminders, maintenance (gauges, pruning,
retention).

Both the funnel and the reminders are bulk messages: they leave through `send_bulk`, the one entry
point for every message that is not a reply to the person's own update.

The funnel loop claims due jobs with FOR UPDATE SKIP LOCKED under a lease, sends, and marks
them done. Delivery is at-least-once: a crash after Telegram accepted the photo but before
`mark_done` leaves the job leased; when the lease runs out it is sent again. That window is
one HTTP round trip, so a duplicate needs a crash at exactly that moment.

The reminder loop claims due reminders the same way, at the bot's clock (BotContext.now), decides
what becomes of each (bot.domain.reminders.decide), and records the slot in reminder_sends BEFORE
sending: a slot with a record is never sent again, so a reminder goes out at most once per slot
whatever the replicas, leases and restarts; a crash between the record and Telegram's answer
loses that week's reminder (its record stays `sending`). Then the reminder moves on to its next
slot. A 403 ("bot was blocked by the user") marks the chat blocked: reminders and the funnel skip
it until the person writes again (any update clears the mark).
"""

from __future__ import annotations

import asyncio
import logging
import time
from zoneinfo import ZoneInfo

from telegram.error import Forbidden, TelegramError

from bot import metrics
from bot.db import conversations, stats, updates
from bot.db import jobs as job_repo
from bot.db import reminders as reminder_repo
from bot.db.pool import UNAVAILABLE_ERRORS, drop_if_demoted, record_pool_gauges
from bot.domain import reminders as schedule
from bot.flows.actions import funnel_photo
from bot.flows.engine import Photo, Send
from bot.flows.reminders import reminder_message
from bot.runtime import BotContext

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
LEASE_SECONDS = 60.0
BATCH = 20  # jobs claimed at once by one replica; more are claimed as soon as these are sent
SENDING_AT_ONCE = 8  # a replica's bulk sends in flight (each waits for its slot of the bulk budget)
STATS_EVERY = 15.0
DB_PROBE_EVERY = 5.0
PRUNE_EVERY = 3600.0


REMINDER_BATCH = 30  # claimed at once by one replica: a second's worth of the bulk budget
REMINDER_LEASE_SECONDS = 120.0  # longer than a batch can take behind the bulk budget
REMINDERS_AT_ONCE = 8  # a replica's reminder sends in flight: one held by a 429 does not hold the others


async def send_bulk(app, ctx: BotContext, chat_id: int, reply: Send | Photo) -> None:
    """The one way bulk messages (the funnel, reminders) leave the bot: through the bulk lane (bot.bulk:
    after people's replies, within the bot-wide budget every replica shares); raises what the Bot API
    answered when the message could not be sent (Forbidden: the person blocked the bot)."""
    await ctx.bulk.send(app.bot, ctx, chat_id, reply)


async def _blocked(ctx: BotContext, chat_id: int, source: str) -> None:
    """The person blocked the bot: the chat is marked, reminders and the funnel leave it alone."""
    async with ctx.pool.acquire() as conn:
        if await conversations.mark_blocked(conn, chat_id, ctx.now()):
            metrics.blocked.labels(source).inc()


async def funnel_loop(app, ctx: BotContext) -> None:
    while True:
        try:
            claimed = await run_due_jobs(app, ctx)
        except asyncio.CancelledError:
            raise
        except UNAVAILABLE_ERRORS as exc:
            log.warning("job loop: database unavailable (%s)", type(exc).__name__)
            await drop_if_demoted(ctx.pool, exc)
            claimed = 0
        except Exception:
            metrics.errors.labels("job").inc()
            log.exception("job loop failed")
            claimed = 0
        if claimed < BATCH:  # a full batch: more may be due, claim again at once
            await asyncio.sleep(TICK_SECONDS)


async def run_due_jobs(app, ctx: BotContext) -> int:
    """Claim up to BATCH due funnel jobs and send them, SENDING_AT_ONCE at a time (each waits for its
    slot of the bulk budget, so one held by a 429 does not hold the others); the number claimed."""
    async with ctx.pool.acquire() as conn:
        due = await job_repo.claim_due(conn, BATCH, LEASE_SECONDS)
    gate = asyncio.Semaphore(SENDING_AT_ONCE)

    async def run(job: job_repo.Job) -> None:
        async with gate:
            await _run_job(app, ctx, job)

    await asyncio.gather(*(run(job) for job in due))
    return len(due)


async def _run_job(app, ctx: BotContext, job: job_repo.Job) -> None:
    try:
        await send_bulk(app, ctx, job.chat_id, funnel_photo(ctx.settings))
    except Forbidden as exc:  # blocked by the person: retrying will not help
        await _finish(ctx, job.id, f"forbidden: {exc.message}", max_attempts=1)
        await _blocked(ctx, job.chat_id, "funnel")
    except TelegramError as exc:
        metrics.errors.labels("job").inc()
        log.warning("funnel job %s failed: %s", job.id, exc)
        await _finish(ctx, job.id, str(exc))
    else:
        await _finish(ctx, job.id, None)


async def _finish(ctx: BotContext, job_id: int, error: str | None, max_attempts: int = 10) -> None:
    async with ctx.pool.acquire() as conn:
        if error is None:
            await job_repo.mark_done(conn, job_id)
        else:
            await job_repo.mark_failed(conn, job_id, error, max_attempts)


async def reminders_loop(app, ctx: BotContext) -> None:
    while True:
        try:
            claimed = await run_due_reminders(app, ctx)
        except asyncio.CancelledError:
            raise
        except UNAVAILABLE_ERRORS as exc:
            log.warning("reminder loop: database unavailable (%s)", type(exc).__name__)
            await drop_if_demoted(ctx.pool, exc)
            claimed = 0
        except Exception:
            metrics.errors.labels("job").inc()
            log.exception("reminder loop failed")
            claimed = 0
        if claimed < REMINDER_BATCH:  # a full batch: more may be due, claim again at once
            await asyncio.sleep(TICK_SECONDS)


async def run_due_reminders(app, ctx: BotContext) -> int:
    """Claim due reminders and see each through; the number claimed."""
    async with ctx.pool.acquire() as conn:
        due = await reminder_repo.claim_due(conn, ctx.now(), REMINDER_BATCH, REMINDER_LEASE_SECONDS)
    sending = asyncio.Semaphore(REMINDERS_AT_ONCE)

    async def remind(reminder: reminder_repo.DueReminder) -> None:
        async with sending:
            await _remind(app, ctx, reminder)

    results = await asyncio.gather(*(remind(r) for r in due), return_exceptions=True)
    failed = next((r for r in results if isinstance(r, Exception)), None)
    if failed is not None:  # e.g. the database went away mid-batch: the lease brings the rest back
        raise failed
    return len(due)


async def _remind(app, ctx: BotContext, r: reminder_repo.DueReminder) -> None:
    tz = ZoneInfo(r.timezone)
    now = ctx.now()
    decision = schedule.decide(now, r.slot_at, tz, ctx.settings.quiet_hours(), r.last_measured, r.blocked)
    async with ctx.pool.acquire() as conn:
        mine = await reminder_repo.record_slot(conn, r.telegram_id, r.slot_at, decision.value, now)
    outcome = decision.value if mine else None
    if mine and decision is schedule.Decision.SEND:
        try:
            await send_bulk(app, ctx, r.chat_id, reminder_message())
            outcome = "sent"
        except Forbidden:
            outcome = "blocked"
            await _blocked(ctx, r.chat_id, "reminder")
        except TelegramError as exc:
            outcome = "failed"
            metrics.errors.labels("job").inc()
            log.warning("a reminder could not be sent: %s", exc)
    # The next slot after now: a bot that was down for weeks does not send the ones it missed.
    next_slot = schedule.next_slot(max(ctx.now(), r.slot_at), r.weekday, r.hour, tz)
    async with ctx.pool.acquire() as conn:
        if mine and outcome != decision.value:
            await reminder_repo.set_outcome(conn, r.telegram_id, r.slot_at, outcome, ctx.now())
        await reminder_repo.advance(conn, r.telegram_id, r.slot_at, next_slot,
                                    schedule.due_at(next_slot, r.telegram_id))
    if outcome is not None:
        metrics.reminders.labels(outcome).inc()


async def database_probe_loop(ctx: BotContext) -> None:
    """kbju_db_up every DB_PROBE_EVERY seconds, on /healthz's own connection (never the pool's, so a
    busy replica is not reported as cut off): what KbjuBotDatabaseUnreachable watches."""
    while True:
        metrics.db_up.set(1 if await ctx.probe.answers(timeout=2.0) else 0)
        await asyncio.sleep(DB_PROBE_EVERY)


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
    for kind in metrics.BACKUP_KINDS:
        metrics.backup_last_success.labels(kind).set(s.last_backup.get(kind) or 0)
        metrics.backup_last_verified.labels(kind).set(s.last_verified.get(kind) or 0)
    metrics.reminders_enabled.set(s.reminders_enabled)
    metrics.people_blocked.set(s.people_blocked)
