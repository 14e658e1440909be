"""What both transports share: which updates the bot asks for and how one is read."""

from __future__ import annotations

import logging
import re
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


# What PostgreSQL text (and jsonb) cannot hold: NUL, and a lone surrogate, which JSON can spell
# ("\ud800") but which is no Unicode character and cannot be encoded as UTF-8 at all.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def _storable(text: str) -> str:
    return UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else REPLACEMENT, text)


def storable(data: Any) -> Any:
    """`data` (decoded JSON) with every string made storable: NUL removed, lone surrogates replaced by
    U+FFFD. Without it a username holding NUL broke its owner's survey at the last step, for good.
    Iterative: a body may nest as deep as the JSON decoder allows."""
    if isinstance(data, str):
        return _storable(data) if UNSTORABLE.search(data) else data
    if not isinstance(data, (dict, list)):
        return data
    stack = [data]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        renamed = []
        for key, value in items:
            if isinstance(value, str):
                if UNSTORABLE.search(value):
                    node[key] = _storable(value)
            elif isinstance(value, (dict, list)):
                stack.append(value)
            if isinstance(key, str) and UNSTORABLE.search(key):
                renamed.append(key)
        for key in renamed:
            node[_storable(key)] = node.pop(key)
    return data


def read_update(data: dict[str, Any], bot) -> Update | None:
    """The Update, or None (logged, counted) for one PTB cannot read, e.g. a field of a new shape.

    This is the edge both transports share: every text in the update is made storable here."""
    try:
        return Update.de_json(storable(data), bot)
    except Exception as exc:  # noqa: BLE001 - whatever the library raises, one update must not stop the bot
        metrics.errors.labels("unreadable_update").inc()
        log.error("update %s could not be read (%s: %s); skipped", data.get("update_id"), type(exc).__name__, exc)
        return None
