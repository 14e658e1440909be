"""Telegram's own view of the bot's updates, from getWebhookInfo, as metrics.

Every TELEGRAM_INFO_INTERVAL_SECONDS (default 60, 0: off) each replica asks getWebhookInfo through
the bot's Bot API path (bot.transport.botapi: counted in kbju_bot_api_requests_total like every call)
and exports:

- kbju_telegram_pending_updates: pending_update_count, the updates Telegram holds for the bot. In
  webhook mode those not yet delivered (a failing webhook, or deliveries slower than arrivals); in
  polling mode (url empty) those the polling leader has not yet confirmed with getUpdates' offset,
  which is the same backlog seen from the other side, so it is watched in both modes.
- kbju_telegram_webhook_last_error_timestamp_seconds: last_error_date, 0 when Telegram reports none
  (always in polling mode).
- kbju_telegram_webhook_errors_total: how many times last_error_date moved on between two checks
  (at most one per check; the first check only sets the baseline). last_error_message is never
  exported or logged: it is free text (hosts, addresses, whatever the far end answered); `kbjuctl
  webhook info` shows it to an operator who asks.
- kbju_telegram_webhook_info_success_timestamp_seconds: when this replica last got an answer, and
  kbju_telegram_webhook_info_interval_seconds the interval (0: off), so a stale answer is visible
  (KbjuWebhookInfoStale) instead of a frozen gauge passing for a healthy one.

Every replica asks: the answer is the bot's, the same for all, and the alerts take max() over the
replicas, so one replica that can still reach Telegram keeps the metrics fresh. One call a minute
per replica is far below any limit of the Bot API. A failed call leaves the gauges as they were.
"""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import Counter, Gauge

from bot.transport import botapi

log = logging.getLogger(__name__)

METHOD = "getWebhookInfo"
TIMEOUT = 10.0  # seconds for one getWebhookInfo: a hung call must not stop the next check for long

pending_updates = Gauge("kbju_telegram_pending_updates",
                        "Updates Telegram holds for the bot (getWebhookInfo pending_update_count): not yet "
                        "delivered to the webhook, or not yet confirmed by getUpdates")
last_error = Gauge("kbju_telegram_webhook_last_error_timestamp_seconds",
                   "Unix time of Telegram's latest failed webhook delivery (getWebhookInfo last_error_date; 0: none)")
new_errors = Counter("kbju_telegram_webhook_errors",
                     "Times getWebhookInfo's last_error_date moved on between two checks (at most one per check)")
info_success = Gauge("kbju_telegram_webhook_info_success_timestamp_seconds",
                     "Unix time this replica last got an answer from getWebhookInfo (0: not yet)")
info_interval = Gauge("kbju_telegram_webhook_info_interval_seconds",
                      "Seconds between this replica's getWebhookInfo checks (TELEGRAM_INFO_INTERVAL_SECONDS; 0: off)")


class WebhookWatch:
    """What one replica has seen of getWebhookInfo: turns each answer into the gauges."""

    def __init__(self) -> None:
        self._error_date: int | None = None  # last_error_date of the previous answer; None: no answer yet

    def observe(self, info: dict, now: float) -> None:
        pending = info.get("pending_update_count")
        if not isinstance(pending, int):
            raise ValueError("getWebhookInfo answered without pending_update_count")
        error_date = info.get("last_error_date") or 0
        pending_updates.set(pending)
        last_error.set(error_date)
        if self._error_date is not None and error_date > self._error_date:
            new_errors.inc()
        self._error_date = error_date
        info_success.set(now)


async def check(bot, watch: WebhookWatch) -> bool:
    """One getWebhookInfo; True when it answered and the gauges were updated."""
    try:
        info = await botapi.call(bot, METHOD, {}, read_timeout=TIMEOUT, connect_timeout=TIMEOUT)
        watch.observe(info, time.time())
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - the next check retries; staleness is its own alert
        log.warning("getWebhookInfo failed (%s): the Telegram gauges keep their last values", type(exc).__name__)
        return False
    return True


def start(bot, every: float) -> asyncio.Task | None:
    """The checking loop as a task (the caller cancels it at shutdown); None when `every` is 0 (off)."""
    info_interval.set(every)
    if every <= 0:
        return None
    return asyncio.create_task(watch_loop(bot, every), name="kbju-telegram-info")


async def watch_loop(bot, every: float) -> None:
    """Check at start and then every `every` seconds, until cancelled."""
    watch = WebhookWatch()
    while True:
        await check(bot, watch)
        await asyncio.sleep(every)
