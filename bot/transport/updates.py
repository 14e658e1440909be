"""What both transports share: which updates the bot asks for and how one is read."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update

from bot import metrics

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "callback_query"]
UPDATE_SLOTS = "update_slots"  # bot_data key: asyncio.Semaphore(CONCURRENT_UPDATES)
IN_FLIGHT = "updates_in_flight"  # bot_data key: InFlight, read by bot.bulk to give way to people


class InFlight:
    """Updates this process has taken and not finished (waiting for a slot or being handled)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


async def process(app, update: Update) -> None:
    """Handle one update, at most CONCURRENT_UPDATES at once in this process (the rest wait)."""
    in_flight = app.bot_data.get(IN_FLIGHT)
    if in_flight is None:
        async with app.bot_data[UPDATE_SLOTS]:
            await app.process_update(update)
        return
    in_flight.count += 1
    try:
        async with app.bot_data[UPDATE_SLOTS]:
            await app.process_update(update)
    finally:
        in_flight.count -= 1


def read_update(data: dict[str, Any], bot) -> Update | None:
    """The Update, or None (logged, counted) for one PTB cannot read, e.g. a field of a new shape."""
    try:
        return Update.de_json(data, bot)
    except Exception as exc:  # noqa: BLE001 - whatever the library raises, one update must not stop the bot
        metrics.errors.labels("unreadable_update").inc()
        log.error("update %s could not be read (%s: %s); skipped", data.get("update_id"), type(exc).__name__, exc)
        return None
