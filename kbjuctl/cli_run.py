"""`kbjuctl run`: the bot (polling or webhook) with BOT_TOKEN, else the local terminal sandbox."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from kbjuctl.errors import BadInput


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
    if not settings.database_url:
        raise BadInput("DATABASE_URL is required to run the bot, e.g. postgresql://kbju@127.0.0.1:5432/kbju "
                       "(or unset BOT_TOKEN for the local sandbox).")
    serve_bot(settings, webhook=webhook)


def serve_bot(settings, *, webhook: bool) -> None:
    from bot import logging as bot_logging
    from bot.app import serve

    bot_logging.setup(settings.log_level, settings.log_format)
    _install_uvloop()
    asyncio.run(serve(settings, webhook=webhook))


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
