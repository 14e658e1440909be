"""`kbjuctl run`: the bot (polling or webhook) with BOT_TOKEN, else the local terminal sandbox."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from kbjuctl.errors import BadInput, OperationFailed


def run(
    webhook: Annotated[bool, typer.Option("--webhook", envvar="BOT_WEBHOOK",
                                          help="Serve a webhook instead of polling getUpdates.")] = False,
    host: Annotated[str | None, typer.Option(envvar="WEBHOOK_LISTEN", help="Webhook listen address.")] = None,
    port: Annotated[int | None, typer.Option(envvar="WEBHOOK_PORT", help="Webhook listen port.")] = None,
    path: Annotated[str | None, typer.Option(envvar="WEBHOOK_PATH", help="Webhook URL path.")] = None,
) -> None:
    """Run the bot. Reads BOT_TOKEN, DATABASE_URL, TELEGRAM_API_URL, WEBHOOK_URL, WEBHOOK_SECRET, ...

    Without BOT_TOKEN: a local sandbox chat in this terminal (a built-in Bot API stand-in, and
    DATABASE_URL or an embedded PostgreSQL in .kbju/pg).
    """
    from bot.config import load_settings  # pydantic: only when the bot runs

    settings = load_settings(webhook_listen=host, webhook_port=port, webhook_path=path)
    if settings.bot_token is None:
        from kbjuctl import sandbox

        sandbox.run_sandbox(settings)
        return
    if webhook and not settings.webhook_url and not settings.webhook_secret:
        raise BadInput("Webhook mode needs WEBHOOK_URL (the public https URL the bot registers with setWebhook, "
                       "with a secret) or, when you register the webhook yourself, WEBHOOK_SECRET (the "
                       "secret_token you gave setWebhook). With neither, no delivery could pass the secret check.")
    if not settings.database_url:
        raise BadInput("DATABASE_URL is required to run the bot, e.g. postgresql://kbju@127.0.0.1:5432/kbju "
                       "(or unset BOT_TOKEN for the local sandbox).")
    serve_bot(settings, webhook=webhook)


def serve_bot(settings, *, webhook: bool) -> None:
    from telegram.error import InvalidToken, NetworkError

    from bot import logging as bot_logging
    from bot.app import serve

    bot_logging.setup(settings.log_level, settings.log_format)
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
    import logging

    import psycopg

    from kbjuctl import migrations

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
