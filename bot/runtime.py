"""What lives as long as the bot: the typed context in bot_data, and one update's transaction.

`run_turn` is the only place an update touches the database: claim the update id and lock the
chat's conversation (one statement), run the flow step, write the new state, commit; then send
the replies. A re-delivered update finds its id claimed and does nothing; a database outage is
answered with "try again" without marking the update handled.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from telegram import InputFile, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import ContextTypes

from bot import logging as bot_logging
from bot import metrics, privacy
from bot.charts import ChartRenderer
from bot.clock import Clock
from bot.config import Settings
from bot.db import conversations, events
from bot.db.pool import UNAVAILABLE_ERRORS, DatabaseProbe, Pool, TurnConnection, drop_if_demoted
from bot.domain import texts
from bot.flows.engine import FORGET, Answer, Document, Edit, Outcome, Photo, Reply, Send, Turn
from bot.report import ReportRenderer
from bot.transport import botapi, markup
from bot.transport.sender import transient

if TYPE_CHECKING:
    from bot.bulk import BulkLane

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parent / "assets"
HTML = ParseMode.HTML  # every text of bot.domain.texts is Telegram HTML


@dataclass
class BotContext:
    """Resources of a running bot, opened by bot.app.open_resources, closed by close_resources."""

    settings: Settings
    pool: Pool
    charts: ChartRenderer
    clock: Clock  # the day a record belongs to; only the sandbox moves it
    funnel_photo: Path
    probe: DatabaseProbe  # /healthz's own connection
    bulk: BulkLane  # every message that is not a reply goes through it (bot.bulk)
    reports: ReportRenderer = field(default_factory=lambda: ReportRenderer())  # /export's PDF, off the loop
    funnel_file_id: str | None = None  # Telegram's id of the uploaded image, reused after the first send
    background: set = field(default_factory=set)

    @property
    def tz(self) -> ZoneInfo:
        return self.clock.tz

    def today(self):
        return self.clock.today()

    def now(self):
        """The bot's "now" (aware, in BOT_TIMEZONE): what reminders and events go by; tests move it."""
        return self.clock.now()


def get(context: ContextTypes.DEFAULT_TYPE) -> BotContext:
    return context.bot_data["kbju"]


Action = Callable[[Turn], Awaitable[Outcome]]


async def run_turn(update: Update, context: ContextTypes.DEFAULT_TYPE, action: Action, label: str) -> None:
    """Handle one update: its state and writes commit together, then its replies are sent."""
    ctx = get(context)
    chat, user, query = update.effective_chat, update.effective_user, update.callback_query
    if chat is None or user is None or chat.type != "private":
        _ended("ignored")
        return
    started = time.perf_counter()
    message = update.effective_message if query is None else None

    def turn_for(conn, conv: conversations.Conversation) -> Turn:
        now = ctx.now()
        return Turn(conn, conv, chat.id, user.id, user.username, now.date(), ctx.settings,
                    text=message.text if message is not None else None,
                    message_id=query.message.message_id if query and query.message else None,
                    first_name=user.first_name, now=now)

    try:
        async with ctx.pool.acquire() as conn:
            handled = await _optimistic_turn(conn, update.update_id, chat.id, user.id, action, turn_for)
            if handled is CONFLICTED:
                metrics.turn_conflicts.labels("fallback").inc()
                handled = await _locking_turn(conn, update.update_id, chat.id, user.id, action, turn_for)
    except UNAVAILABLE_ERRORS as exc:
        _ended("db_unavailable")
        metrics.errors.labels("db_unavailable").inc()
        log.warning("database unavailable (%s)", type(exc).__name__)
        await drop_if_demoted(ctx.pool, exc)
        await _send_quietly(context, chat.id, query, texts.DB_UNAVAILABLE)
        return
    if handled is None:  # handled before (re-delivery, or a second replica got it)
        _ended("duplicate")
        if query is not None:
            await _answer_quietly(query)
        return
    conv, outcome = handled
    # Never what was typed or shown: the flow and step the update found, what it did.
    bot_logging.annotate(flow=conv.flow or "idle", step=conv.step or label, handler=label)
    log.debug("%d replies", len(outcome.replies))
    _count(outcome.events)
    await send_replies(context, ctx, chat.id, query, outcome.replies)
    _ended("ok")
    metrics.update_handling.labels(conv.flow or "idle", conv.step or label).observe(
        time.perf_counter() - started, exemplar={"update_id": str(update.update_id)})
    if message is not None and message.date is not None:
        metrics.update_lag.observe(max(0.0, time.time() - message.date.timestamp()))


def _ended(outcome: str) -> None:
    """How the update ended: counted (kbju_updates_total) and named in its last log line."""
    metrics.updates.labels(outcome).inc()
    bot_logging.annotate(outcome=outcome)


CONFLICTED = object()  # the optimistic attempts kept losing to other turns of the chat
OPTIMISTIC_ATTEMPTS = 3


async def _optimistic_turn(conn, update_id: int, chat_id: int, user_id: int, action: Action, turn_for):
    """Read without a lock, act, write only if nobody wrote the conversation meanwhile (see
    bot.db.conversations). Reads need no transaction; the first write opens one. Returns
    (conversation, outcome), None for an update handled before, or CONFLICTED."""
    for _attempt in range(OPTIMISTIC_ATTEMPTS):
        conv = await conversations.read(conn, update_id, chat_id, user_id)
        if conv is None:
            return None
        unit = TurnConnection(conn)
        try:
            turn = turn_for(unit, conv)
            outcome = await action(turn)
            if outcome.state == FORGET:  # the person's data is gone: so is the conversation
                if not await conversations.forget(unit, update_id, chat_id):
                    await unit.rollback()
                    return None
                await unit.commit()
                return conv, outcome
            await events.record(unit, user_id, events.persisted(outcome.events), turn.now)
            # Inside the turn's transaction when the action wrote; else one statement, no BEGIN/COMMIT.
            written = await conversations.commit_turn(conn, update_id, conv, outcome.state)
        except BaseException:
            await unit.rollback()
            raise
        if written:
            await unit.commit()
            return conv, outcome
        await unit.rollback()
        metrics.turn_conflicts.labels("retried").inc()
    return CONFLICTED


async def _locking_turn(conn, update_id: int, chat_id: int, user_id: int, action: Action, turn_for):
    """The fallback for a chat that keeps conflicting: the conversation row locked for the turn."""
    async with conn.transaction():
        conv = await conversations.claim_and_lock(conn, update_id, chat_id, user_id)
        if conv is None:
            outcome = None
        else:
            turn = turn_for(conn, conv)
            outcome = await action(turn)
            if outcome.state == FORGET:
                await conversations.delete(conn, chat_id)
            else:
                await events.record(conn, user_id, events.persisted(outcome.events), turn.now)
                await conversations.save_turn(conn, conv, outcome.state)
    metrics.db_transactions.labels("commit").inc()
    return None if outcome is None else (conv, outcome)


def _count(events: list[str]) -> None:
    for event in events:
        if event == "survey_started":
            metrics.survey_started.inc()
        elif event == "survey_completed":
            metrics.survey_completed.inc()
        elif event == "registration":
            metrics.registrations.inc()
        elif event.startswith("survey_abandoned:"):
            metrics.survey_abandoned.labels(event.split(":", 1)[1]).inc()
        elif (action := event.partition(":")[0]) in metrics.USER_ACTIONS:
            metrics.user_actions.labels(action).inc()


async def send_replies(context, ctx: BotContext, chat_id: int, query, replies: list[Reply]) -> None:
    bot = context.bot
    answered = False
    for reply in replies:
        if isinstance(reply, Answer):
            if query is not None and not answered:
                answered = True
                await _answer_quietly(query, reply.text)
        elif isinstance(reply, Document):
            await send_document(bot, ctx, chat_id, reply)
        else:
            await send_reply(bot, ctx, chat_id, reply)
    if query is not None and not answered:
        await _answer_quietly(query)


async def send_reply(bot, ctx: BotContext, chat_id: int, reply: Send | Edit | Photo, *,
                     rate_limit_args: dict | None = None) -> None:
    """One message to the chat. `rate_limit_args` tells bot.transport.sender what kind of send
    it is (bot.bulk passes sender.BULK); a reply to the update being handled passes nothing."""
    if isinstance(reply, Send):
        await botapi.call(bot, "sendMessage", {"chat_id": chat_id, "text": reply.text, "parse_mode": HTML,
                                               "reply_markup": markup.render(reply.markup)},
                          rate_limit_args=rate_limit_args)
    elif isinstance(reply, Edit):
        try:  # no reply_markup: the keyboard is removed
            await botapi.call(bot, "editMessageText", {"chat_id": chat_id, "message_id": reply.message_id,
                                                       "text": reply.text, "parse_mode": HTML},
                              rate_limit_args=rate_limit_args)
        except BadRequest as exc:  # already shows this (a re-delivered press), or too old to edit
            log.debug("edit of message %s skipped: %s", reply.message_id, exc.message)
    elif isinstance(reply, Photo):
        await send_photo(bot, ctx, chat_id, reply, rate_limit_args=rate_limit_args)


async def send_photo(bot, ctx: BotContext, chat_id: int, photo: Photo, *, rate_limit_args: dict | None = None) -> None:
    markup_ = markup.render(photo.markup)
    if photo.chart is not None:
        png = await ctx.charts.progress_chart(photo.chart)
        await bot.send_photo(chat_id, png, caption=photo.caption, parse_mode=HTML, reply_markup=markup_,
                             rate_limit_args=rate_limit_args)
        return
    if ctx.funnel_file_id is not None:
        try:
            await bot.send_photo(chat_id, ctx.funnel_file_id, caption=photo.caption, parse_mode=HTML,
                                 reply_markup=markup_, rate_limit_args=rate_limit_args)
            return
        except BadRequest:
            ctx.funnel_file_id = None  # forgotten by the server: upload again
    sent = await bot.send_photo(chat_id, ctx.funnel_photo.read_bytes(), caption=photo.caption, parse_mode=HTML,
                                reply_markup=markup_, rate_limit_args=rate_limit_args)
    if sent.photo:
        ctx.funnel_file_id = sent.photo[-1].file_id


async def send_document(bot, ctx: BotContext, chat_id: int, document: Document) -> None:
    content = document.content
    if document.report is not None:
        chart = await ctx.charts.progress_chart(document.report.chart) if len(document.report.chart) > 1 else None
        content = await ctx.reports.pdf(document.report, chart)
    await bot.send_document(chat_id, InputFile(content, filename=document.filename), caption=document.caption,
                            parse_mode=HTML)


async def _answer_quietly(query, text: str | None = None) -> None:
    try:
        await botapi.call(query.get_bot(), "answerCallbackQuery", {"callback_query_id": query.id, "text": text})
    except TelegramError as exc:  # a press older than Telegram's answer window: nothing to do
        log.debug("answerCallbackQuery failed: %s", exc)


async def _send_quietly(context, chat_id: int, query, text: str) -> None:
    try:
        if query is not None:
            await query.answer()
        await context.bot.send_message(chat_id, text, parse_mode=HTML)
    except TelegramError as exc:
        log.warning("could not tell chat about the outage: %s", exc)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one error handler: log once with the update id, apologise to the person."""
    update_id = getattr(update, "update_id", None)
    metrics.updates.labels("error").inc()
    if isinstance(context.error, NetworkError) and transient(context.error):
        # Telegram kept failing past bot.transport.sender's retries: an outage outside the bot, not a
        # bug. What the turn wrote is committed; the reply is lost, and so would an apology be.
        metrics.errors.labels("bot_api").inc()
        bot_logging.annotate(outcome="reply_lost")
        log.warning("update %s: reply lost, the Bot API kept failing (%s)", update_id, context.error.message)
        return
    metrics.errors.labels("handler").inc()
    bot_logging.annotate(outcome="error")
    user = getattr(update, "effective_user", None)
    log.error("update %s of %s failed", update_id, privacy.user_ref(user.id) if user else "nobody",
              exc_info=context.error)
    chat = getattr(update, "effective_chat", None)
    if chat is not None:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(chat.id, texts.GENERIC_ERROR, parse_mode=HTML)


def funnel_photo_path(settings: Settings) -> Path:
    return Path(settings.funnel_photo) if settings.funnel_photo else ASSETS / "funnel.png"


__all__ = ["BotContext", "Send"]
