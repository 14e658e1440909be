"""`kbjuctl webhook info|delete`: where Telegram sends the bot's updates, how many wait, the last error;
and taking the webhook away (for a polling bot, e.g. the old bot after a cutover rolled back)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from kbjuctl.confirm import confirm
from kbjuctl.console import out, print_json
from kbjuctl.errors import BadInput, VerificationFailed
from kbjuctl.options import DryRun, JsonOutput, Yes

app = typer.Typer(help="The bot's webhook at the Bot API (reads BOT_TOKEN and TELEGRAM_API_URL).",
                  no_args_is_help=True)


@app.command()
def info(
    wait: Annotated[float, typer.Option("--wait", min=0, help="Seconds to wait for the pending updates to be "
                                        "delivered (0: just look).")] = 0.0,
    as_json: JsonOutput = False,
) -> None:
    """Show getWebhookInfo. Exits 1 when no webhook is set, or when updates are still pending after --wait."""
    from kbjuctl import webhook_status

    api_url, token = _bot()
    found = (webhook_status.wait_until_delivered(api_url, token, wait) if wait
             else webhook_status.info(api_url, token))
    if as_json:
        print_json(found)
    else:
        last = found.get("last_error_date")
        when = datetime.fromtimestamp(last, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if last else None
        out.print(f"url: {found.get('url') or '[red]none[/] (nobody receives updates by webhook)'}")
        out.print(f"pending updates: {found.get('pending_update_count', 0)}")
        out.print(f"last delivery error: {f'{when}: ' + found.get('last_error_message', '') if when else 'none'}")
        out.print(f"max connections: {found.get('max_connections', '-')}; allowed updates: "
                  f"{', '.join(found.get('allowed_updates') or ['the default set'])}")
    if not found.get("url"):
        raise VerificationFailed("No webhook is set: start the bot with WEBHOOK_URL (it sets the webhook), or "
                                 "it polls instead.")
    if wait and found.get("pending_update_count"):
        raise VerificationFailed(f"{found['pending_update_count']} updates still pending after {wait:g} s: is the "
                                 "bot reachable at the URL above? See the last delivery error.")


@app.command()
def delete(yes: Yes = False, dry_run: DryRun = False) -> None:
    """Remove the webhook (pending updates are kept): updates wait until a bot polls or sets it again.
    A running webhook bot sets it again when it restarts: stop it first."""
    from kbjuctl import webhook_status

    api_url, token = _bot()
    current = webhook_status.info(api_url, token)
    if not current.get("url"):
        out.print("No webhook is set: nothing to remove.")
        return
    plan = [f"url: {current['url']}", f"pending updates (kept): {current.get('pending_update_count', 0)}"]
    if dry_run:
        out.print("Would remove the webhook:\n  " + "\n  ".join(plan), highlight=False)
        return
    confirm("Remove the webhook: the bot behind it gets no more updates.", plan, yes=yes)
    webhook_status.delete(api_url, token)
    out.print("Webhook removed; pending updates are kept for the next bot that polls or sets one.")


def _bot() -> tuple[str, str]:
    from bot.config import load_settings

    settings = load_settings()
    if settings.bot_token is None:
        raise BadInput("BOT_TOKEN is not set: the Bot API answers about one bot, the one of that token.")
    return settings.telegram_api_url, settings.bot_token.get_secret_value()
