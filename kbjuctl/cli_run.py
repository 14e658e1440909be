"""`kbjuctl run`: the bot (polling or webhook) with BOT_TOKEN, else the local terminal sandbox."""

from __future__ import annotations

from typing import Annotated

import typer

from kbjuctl.errors import BadInput
from kbjuctl.options import DatabaseUrl


def run(
    webhook: Annotated[bool, typer.Option("--webhook", envvar="BOT_WEBHOOK",
                                          help="Serve a webhook instead of polling getUpdates.")] = False,
    host: Annotated[str | None, typer.Option(envvar="WEBHOOK_LISTEN", help="Webhook listen address.",
                                             show_default="127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(envvar="WEBHOOK_PORT", help="Webhook listen port.",
                                             show_default="8443")] = None,
    path: Annotated[str | None, typer.Option(envvar="WEBHOOK_PATH", help="Webhook URL path.",
                                             show_default="/telegram/webhook")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the bot. Reads BOT_TOKEN, DATABASE_URL, TELEGRAM_API_URL, WEBHOOK_URL, WEBHOOK_SECRET, ...

    Without BOT_TOKEN: a local sandbox chat in this terminal (a built-in Bot API stand-in, and
    the --database-url database or an embedded PostgreSQL in .kbju/pg). Ctrl-C ends it (exit 130).
    """
    from bot.config import load_settings  # pydantic: only when the bot runs

    settings = load_settings(webhook_listen=host, webhook_port=port, webhook_path=path, database_url=database_url)
    if settings.bot_token is None:
        from kbjuctl import sandbox

        code = sandbox.run_sandbox(settings)
        if code:
            raise typer.Exit(code)
        return
    if webhook and not settings.webhook_url and not settings.webhook_secret:
        raise BadInput("Webhook mode needs WEBHOOK_URL (the public https URL the bot registers with setWebhook, "
                       "with a secret) or, when you register the webhook yourself, WEBHOOK_SECRET (the "
                       "secret_token you gave setWebhook). With neither, no delivery could pass the secret check.")
    if not settings.database_url:
        raise BadInput("DATABASE_URL is required to run the bot, e.g. postgresql://kbju@127.0.0.1:5432/kbju "
                       "(or unset BOT_TOKEN for the local sandbox).")
    from kbjuctl import serving

    serving.serve_bot(settings, webhook=webhook)
