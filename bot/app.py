"""Builds the PTB Application: every handler is registered in `register_handlers`, lifecycle hooks here."""

from __future__ import annotations

import asyncio
import gc
import logging
from zoneinfo import ZoneInfo

from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import buildinfo, handlers, jobs, metrics, privacy, webhook_watch
from bot.bulk import BulkLane
from bot.charts import ChartRenderer
from bot.clock import Clock
from bot.config import Settings
from bot.db import stats
from bot.db.pool import DatabaseProbe, create_pool
from bot.domain.choices import CALLBACK_PATTERNS, CallbackKind
from bot.logging import add_secret
from bot.runtime import BotContext, funnel_photo_path, on_error
from bot.transport import lease, tls
from bot.transport import webhook as webhook_server
from bot.transport.polling import POLL_TIMEOUT
from bot.transport.request import make_request
from bot.transport.sender import Sender
from bot.transport.updates import IN_FLIGHT, UPDATE_SLOTS, InFlight

log = logging.getLogger(__name__)


def token_of(settings: Settings) -> str:
    return settings.bot_token.get_secret_value()


def register_handlers(app: Application) -> None:
    """The whole conversation map in one screen."""
    app.add_handler(TypeHandler(object, handlers.count_update, block=True), group=-1)
    app.add_handler(CommandHandler("start", handlers.start))
    app.add_handler(CommandHandler("menu", handlers.menu))
    app.add_handler(CommandHandler("data", handlers.data))
    app.add_handler(CommandHandler("cancel", handlers.cancel))
    app.add_handler(CommandHandler("reminders", handlers.reminders))
    app.add_handler(CommandHandler("export", handlers.export))
    app.add_handler(CommandHandler("delete_me", handlers.delete_me))
    app.add_handler(CommandHandler("privacy", handlers.privacy))
    app.add_handler(MessageHandler(filters.COMMAND, handlers.other_command))
    app.add_handler(MessageHandler(~filters.COMMAND & ~filters.UpdateType.EDITED, handlers.text))
    app.add_handler(CallbackQueryHandler(handlers.survey_start, pattern=CALLBACK_PATTERNS[CallbackKind.START]))
    app.add_handler(CallbackQueryHandler(handlers.menu_action, pattern=CALLBACK_PATTERNS[CallbackKind.MENU]))
    app.add_handler(CallbackQueryHandler(handlers.food_button, pattern=CALLBACK_PATTERNS[CallbackKind.FOOD]))
    app.add_handler(CallbackQueryHandler(handlers.answer, pattern=CALLBACK_PATTERNS[CallbackKind.ANSWER]))
    app.add_handler(CallbackQueryHandler(handlers.goal, pattern=CALLBACK_PATTERNS[CallbackKind.GOAL]))
    app.add_handler(CallbackQueryHandler(handlers.data_button, pattern=CALLBACK_PATTERNS[CallbackKind.DATA]))
    app.add_handler(CallbackQueryHandler(handlers.remind_button, pattern=CALLBACK_PATTERNS[CallbackKind.REMIND]))
    app.add_handler(CallbackQueryHandler(handlers.outdated_button))  # old versions, forged data
    app.add_error_handler(on_error)


def build_application(settings: Settings, *, backend: str | None = None, job_worker: bool = True,
                      clock: Clock | None = None) -> Application:
    """An Application wired to our HTTP backend and sender; `open_resources` opens the rest.

    The Application is never `start()`ed (our polling loop and webhook server call process_update),
    so PTB's post_init/post_shutdown hooks and its concurrent_updates never run: the lifecycle is
    `serve`'s, and bot.transport.updates bounds the updates handled at once."""
    token = settings.bot_token.get_secret_value()
    add_secret(token)
    salt = settings.log_salt.get_secret_value() if settings.log_salt else None
    add_secret(salt)
    privacy.configure(salt, token)
    for secret in (settings.webhook_secret, settings.webhook_secret_previous):
        if secret:
            add_secret(secret.get_secret_value())
    backend = backend or settings.bot_http_backend
    api = settings.telegram_api_url
    requests = (make_request(backend, pool_size=max(64, settings.concurrent_updates)),
                make_request(backend, pool_size=2, read_timeout=POLL_TIMEOUT + 10))
    app = (
        Application.builder()
        .token(token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .request(requests[0])
        .get_updates_request(requests[1])
        .rate_limiter(Sender(chat_rate=settings.bot_chat_rate, chat_burst=settings.bot_chat_burst))
        .updater(None)  # our own polling loop and webhook server acknowledge after handling
        .build()
    )
    app.bot_data[UPDATE_SLOTS] = asyncio.Semaphore(settings.concurrent_updates)
    in_flight = app.bot_data[IN_FLIGHT] = InFlight()
    metrics.oldest_unhandled_update_age.set_function(in_flight.oldest_age)
    app.bot_data["settings"] = settings
    app.bot_data["job_worker"] = job_worker
    app.bot_data["backend"] = backend
    app.bot_data["requests"] = requests
    app.bot_data["clock"] = clock or Clock(ZoneInfo(settings.bot_timezone))
    register_handlers(app)
    return app


async def open_resources(app: Application) -> None:
    """The pool, the chart worker and the background loops, for as long as the bot serves."""
    settings: Settings = app.bot_data["settings"]
    pool = await create_pool(settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                             statement_timeout_ms=settings.db_statement_timeout_ms)
    charts = ChartRenderer()
    bulk = BulkLane(pool, settings.bot_bulk_rate, app.bot_data.get(IN_FLIGHT))
    ctx = BotContext(settings, pool, charts, app.bot_data["clock"], funnel_photo_path(settings),
                     DatabaseProbe(settings.database_url), bulk)
    app.bot_data["kbju"] = ctx
    warm = charts.warm_up()
    ctx.background.add(warm)
    warm.add_done_callback(ctx.background.discard)
    await _build_info(pool)
    ctx.background.add(asyncio.create_task(jobs.maintenance_loop(app, ctx), name="kbju-maintenance"))
    ctx.background.add(asyncio.create_task(jobs.database_probe_loop(ctx), name="kbju-db-probe"))
    if (watch := webhook_watch.start(app.bot, settings.telegram_info_interval_seconds)) is not None:
        ctx.background.add(watch)
    if app.bot_data.get("job_worker", True):
        ctx.background.add(asyncio.create_task(jobs.funnel_loop(app, ctx), name="kbju-funnel"))
        ctx.background.add(asyncio.create_task(jobs.reminders_loop(app, ctx), name="kbju-reminders"))


async def _build_info(pool) -> None:
    try:
        async with pool.acquire() as conn:
            schema = await stats.schema_version(conn)
    except Exception:  # noqa: BLE001 - informational only
        schema = "unknown"
    metrics.build_info.labels(buildinfo.version(), buildinfo.revision(), schema).set(1)


async def close_resources(app: Application) -> None:
    ctx: BotContext | None = app.bot_data.get("kbju")
    if ctx is None:
        return
    for task in list(ctx.background):
        task.cancel()
    await asyncio.gather(*ctx.background, return_exceptions=True)
    ctx.charts.close()
    await ctx.probe.close()
    ctx.reports.close()
    await ctx.pool.close()


GC_YOUNGEST_THRESHOLD = 20_000  # Python's default is 700


def _freeze_startup_heap() -> None:
    """Keep what startup built (PTB, aiohttp, asyncpg, pydantic, our modules: long-lived) out of
    the cyclic collector's full passes, so that they scan only what updates create. Under load a
    full pass came every ~0.5 s and stopped the bot for ~50 ms each time (docs/bot.md).

    An update leaves a few hundred short-lived objects: collecting the youngest generation every
    700 allocations ran ~900 collections per burst benchmark (0.21 s); every 20,000, 13 (0.065 s)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST_THRESHOLD, *gc.get_threshold()[1:])


async def serve(settings: Settings, *, webhook: bool = False, host: str | None = None, port: int | None = None,
                path: str | None = None, stop: asyncio.Event | None = None, backend: str | None = None,
                handle_signals: bool = True, clock: Clock | None = None) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT): finish in-flight updates, close the pool, return.
    `clock`: the sandbox's movable calendar (default: the real one in BOT_TIMEZONE)."""
    import secrets
    import signal

    stop = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    app = build_application(settings, backend=backend, clock=clock)
    try:
        await app.initialize()  # getMe: the token and the Bot API server are checked here
    except Exception:
        # A Bot whose getMe failed is not initialised, so its shutdown would not close the HTTP clients.
        await asyncio.gather(*(request.shutdown() for request in app.bot_data["requests"]))
        raise
    metrics_server = metrics.start_server(settings.metrics_host, settings.metrics_port)
    try:
        await open_resources(app)
        _freeze_startup_heap()
        log.info("bot started (%s, %s backend)", "webhook" if webhook else "polling", app.bot_data["backend"])
        if settings.bot_max_send_rate is not None:
            log.warning("BOT_MAX_SEND_RATE is an older setting: the bulk budget is BOT_BULK_RATE (%g/s for all "
                        "replicas together; BOT_MAX_SEND_RATE when unset); rename it (docs/bot.md)",
                        settings.bot_bulk_rate)
        if webhook:
            secret = (settings.webhook_secret.get_secret_value() if settings.webhook_secret
                      else secrets.token_urlsafe(32))
            add_secret(secret)
            previous = settings.webhook_secret_previous.get_secret_value() if settings.webhook_secret_previous \
                else None
            served_tls = tls.server_context(settings.webhook_cert, settings.webhook_key) if settings.webhook_key \
                else None
            server = await webhook_server.start_server(app, host or settings.webhook_listen,
                                                       port or settings.webhook_port,
                                                       path or settings.webhook_path, secret, served_tls,
                                                       previous)
            try:
                if settings.webhook_url:
                    await webhook_server.register(app, settings.webhook_url, secret, settings.webhook_cert)
                await stop.wait()
                await server.drain_and_stop(settings.webhook_drain_seconds)
            finally:
                await server.stop()  # at once after a failure; a no-op after the drain
        else:
            await lease.poll_as_leader(app, lease.PollingLease(settings.database_url, token_of(settings)), stop)
    finally:
        await close_resources(app)
        await app.shutdown()
        if metrics_server is not None:
            await asyncio.to_thread(metrics_server.shutdown)  # waits for its serve loop's next poll
            metrics_server.server_close()
        log.info("bot stopped")
