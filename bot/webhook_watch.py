"""What Telegram says about the updates waiting for the bot: getWebhookInfo every WATCH_EVERY seconds.

`pending_update_count` is the backlog at Telegram: updates not yet delivered to the webhook (or, in
polling mode, not yet fetched with getUpdates). `last_error_date` is the last time a delivery to
the webhook failed (Telegram keeps retrying). Both become gauges (kbju_telegram_*) for
KbjuTelegramUpdateBacklog and KbjuWebhookDeliveryFailing; the time of the last good answer shows
when they are stale. The error's message is never exported (a label would be free text); the log
says it once per new error, at WARNING.
"""

from __future__ import annotations

import asyncio
import logging
import time

from telegram.error import TelegramError

from bot import metrics
from bot.transport import botapi

log = logging.getLogger(__name__)
WATCH_EVERY = 60.0


class WebhookWatch:
    def __init__(self) -> None:
        self.last_error_date = 0

    def publish(self, info: dict) -> None:
        metrics.telegram_pending_updates.set(int(info.get("pending_update_count") or 0))
        error_date = int(info.get("last_error_date") or 0)
        metrics.telegram_webhook_last_error.set(error_date)
        if error_date > self.last_error_date:
            if self.last_error_date:  # the first answer's error may be old news from before this start
                metrics.telegram_webhook_errors.inc()
            log.warning("Telegram's last delivery to the webhook failed at %s: %s",
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(error_date)),
                        info.get("last_error_message") or "(no message)")
            self.last_error_date = error_date
        metrics.telegram_webhook_info_success.set(time.time())

    async def check(self, bot) -> bool:
        try:
            info = await botapi.call(bot, "getWebhookInfo", {})
        except TelegramError as exc:
            log.debug("getWebhookInfo failed: %s", type(exc).__name__)
            return False
        if isinstance(info, dict):
            self.publish(info)
            return True
        return False


async def watch_loop(bot, every: float = WATCH_EVERY) -> None:
    watch = WebhookWatch()
    while True:
        await watch.check(bot)
        await asyncio.sleep(every)
