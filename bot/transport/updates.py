"""What both transports share: which updates the bot asks for and how one is read."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from telegram import Update

from bot import logging as bot_logging
from bot import metrics, privacy

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "callback_query"]
UPDATE_SLOTS = "update_slots"  # bot_data key: asyncio.Semaphore(CONCURRENT_UPDATES)
IN_FLIGHT = "updates_in_flight"  # bot_data key: InFlight, read by bot.bulk to give way to people


class InFlight:
    """Updates this process has taken and not finished: `count` waiting for a slot or being handled,
    `taken` (update id -> monotonic time it was taken) also those queued behind their chat's earlier
    update (polling); the oldest of them is kbju_oldest_unhandled_update_age_seconds."""

    __slots__ = ("count", "taken")

    def __init__(self) -> None:
        self.count = 0
        self.taken: dict[int, float] = {}

    def take(self, update_id: int) -> float:
        return self.taken.setdefault(update_id, time.monotonic())

    def oldest_age(self) -> float:
        if not self.taken:
            return 0.0
        return max(0.0, time.monotonic() - min(self.taken.values()))


async def process(app, update: Update) -> None:
    """Handle one update, at most CONCURRENT_UPDATES at once in this process (the rest wait).

    Every line logged meanwhile carries the update's id and the person's salted ref (bot.logging);
    the last says how it ended ("update handled": flow, step, outcome, duration_ms from when it was
    taken)."""
    in_flight = app.bot_data.get(IN_FLIGHT) or InFlight()
    user = update.effective_user
    taken = in_flight.take(update.update_id)
    in_flight.count += 1
    with bot_logging.bound(update_id=update.update_id, user=privacy.user_ref(user.id) if user else None):
        try:
            async with app.bot_data[UPDATE_SLOTS]:
                await app.process_update(update)
        finally:
            in_flight.count -= 1
            in_flight.taken.pop(update.update_id, None)
            context = bot_logging.context()
            log.info("update handled", extra={"fields": {"outcome": context.get("outcome", "ignored"),
                                                          "duration_ms": round((time.monotonic() - taken) * 1000, 1)}})


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
