"""Serving the bot for `kbjuctl run`: the schema made current first, start-up failures made messages."""

from __future__ import annotations

import asyncio
import logging

from kbjuctl import migrations
from kbjuctl.errors import OperationFailed


def serve_bot(settings, *, webhook: bool) -> None:
    """Run the bot until SIGTERM/SIGINT (polling, or webhook with `webhook`)."""
    from telegram.error import InvalidToken, NetworkError

    from bot import logging as bot_logging
    from bot.app import serve

    bot_logging.setup(settings.log_level, settings.log_format, service="kbju-bot")
    ensure_schema(settings.database_url, settings.db_auto_migrate)
    _install_uvloop()
    try:
        asyncio.run(serve(settings, webhook=webhook))
    except InvalidToken:
        raise OperationFailed("The Bot API refused BOT_TOKEN (Unauthorized). Check the token @BotFather gave, "
                              f"and that TELEGRAM_API_URL ({settings.telegram_api_url}) is the server it "
                              "belongs to.") from None
    except NetworkError as exc:  # TimedOut included: at startup (getMe), before any update was taken
        raise OperationFailed(f"Cannot reach the Bot API at {settings.telegram_api_url}: "
                              f"{bot_logging.mask_secrets(str(exc))}. "
                              "Check TELEGRAM_API_URL and the network.") from None


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def ensure_schema(url: str, auto_migrate: bool) -> None:
    """The bot needs every migration of sql/: apply the pending ones (yoyo's lock serialises replicas
    starting together), or with auto-migrate off refuse to start, naming the command to run."""
    import psycopg

    pending = [m.id for m in migrations.status(url) if not m.applied]
    if not pending:
        return
    advice = "Run `kbjuctl db upgrade` as the schema owner, then start the bot again."
    if not auto_migrate:
        raise OperationFailed(f"The database schema is not up to date: {len(pending)} migration(s) pending "
                              f"({', '.join(pending)}), and DB_AUTO_MIGRATE is off. {advice}")
    if not migrations.can_migrate(url):
        raise OperationFailed(f"The database schema is not up to date ({len(pending)} migration(s) pending) and "
                              f"this login cannot apply them: it may not change the schema. {advice}")
    logging.getLogger("kbjuctl.run").info("applying %d pending schema migration(s): %s", len(pending),
                                          ", ".join(pending))
    try:
        migrations.upgrade(url)
    except psycopg.Error as exc:
        raise OperationFailed(f"The database schema is not up to date ({len(pending)} migration(s) pending) and "
                              f"this login cannot apply them: {str(exc).strip().splitlines()[0]}. {advice}") from None
