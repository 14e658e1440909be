"""The bot's webhook as the Bot API sees it (getWebhookInfo: where updates go, how many wait, the
last delivery error), and its removal (deleteWebhook, the pending updates kept) so that a polling
bot can take the updates again. The token goes into the request URL only, never into a message."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from bot.logging import add_secret, mask_secrets
from kbjuctl.errors import BadInput, OperationFailed


def info(api_url: str, token: str, timeout_s: float = 10.0) -> dict:
    """getWebhookInfo's result: url, pending_update_count, last_error_date, last_error_message, ..."""
    return _call(api_url, token, "getWebhookInfo", timeout_s)


def delete(api_url: str, token: str, timeout_s: float = 10.0) -> None:
    """deleteWebhook, keeping the pending updates (drop_pending_updates false)."""
    _call(api_url, token, "deleteWebhook?drop_pending_updates=false", timeout_s)


def _call(api_url: str, token: str, method: str, timeout_s: float) -> object:
    add_secret(token)
    request = urllib.request.Request(f"{api_url.rstrip('/')}/bot{token}/{method}", method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # nosec B310  # TELEGRAM_API_URL: http(s) checked by config
            data = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            description = json.load(exc).get("description", exc.reason)
        except ValueError:
            description = exc.reason
        if exc.code in (401, 404):
            raise BadInput(f"The Bot API at {api_url} refused BOT_TOKEN ({exc.code} {description}).") from None
        raise OperationFailed(f"The Bot API at {api_url} answered {exc.code} {description}.") from None
    except (OSError, ValueError) as exc:
        raise OperationFailed(f"Cannot reach the Bot API at {api_url}: {mask_secrets(str(exc))}") from None
    if not data.get("ok"):
        raise OperationFailed(f"{method.split('?')[0]} failed: {data.get('description')}")
    return data["result"]


def wait_until_delivered(api_url: str, token: str, timeout_s: float) -> dict:
    """Poll until no update is pending (or timeout_s passed); the last info."""
    deadline = time.monotonic() + timeout_s
    while True:
        current = info(api_url, token)
        if not current.get("pending_update_count") or time.monotonic() >= deadline:
            return current
        time.sleep(0.5)
