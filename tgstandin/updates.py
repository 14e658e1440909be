"""A bot's pending updates and getUpdates long polling, with Telegram's offset rules.

An update stays pending until it is confirmed: by a getUpdates call with a higher offset, or
by a 2xx answer of the webhook. A negative offset keeps only the newest -offset updates.

Like Telegram's Bot API server (telegram-bot-api, Client::abort_long_poll), a getUpdates call that is
going to wait ends a still-waiting one with 409 Conflict ("terminated by other getUpdates request"):
the newest poller wins, so a bot restarted while its old long poll is still open takes over without
an error of its own. A call that does not wait (updates found, or timeout 0) leaves a waiting one
alone. `concurrent_polls` counts the 409s that ended a poll whose client was still connected: two
live processes polling one token at once, which a polling lease must prevent.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from itertools import islice

from .errors import CONFLICT_OTHER_POLL, ApiError

UPDATE_TYPES = (
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "message_reaction",
    "message_reaction_count", "inline_query", "chosen_inline_result", "callback_query",
    "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer",
    "my_chat_member", "chat_member", "chat_join_request", "chat_boost", "removed_chat_boost",
)
DEFAULT_ALLOWED = frozenset(UPDATE_TYPES) - {"chat_member", "message_reaction", "message_reaction_count"}


def update_type(update: dict) -> str | None:
    for key in update:
        if key != "update_id":
            return key
    return None


class UpdateQueue:
    """Pending updates of one bot, oldest first."""

    def __init__(self) -> None:
        self.pending: OrderedDict[int, dict] = OrderedDict()
        # Time-based start: a bot restarted against a persistent database never sees an old id.
        self.next_id = time.time_ns() // 1000
        self.allowed: frozenset[str] = DEFAULT_ALLOWED
        self.closed = False
        self.created = 0
        self.delivered = 0
        self.filtered = 0
        self.concurrent_polls = 0
        self._arrived: asyncio.Future | None = None
        self._poll: asyncio.Future | None = None
        self._poll_connected: Callable[[], bool] = lambda: False

    def set_allowed(self, allowed: object) -> None:
        """allowed_updates of getUpdates/setWebhook; an empty list means the default set."""
        if isinstance(allowed, list):
            self.allowed = frozenset(a for a in allowed if isinstance(a, str)) or DEFAULT_ALLOWED

    def new_id(self) -> int:
        update_id = self.next_id
        self.next_id += 1
        return update_id

    def assign_id(self, update: dict) -> int:
        """Keep a given update_id (later ids stay above it) or assign the next one."""
        given = update.get("update_id")
        if isinstance(given, int) and not isinstance(given, bool):
            self.next_id = max(self.next_id, given + 1)
            return given
        update["update_id"] = self.new_id()
        return update["update_id"]

    def push(self, update: dict) -> bool:
        """Queue an update (its id already assigned); False if allowed_updates filters it out."""
        self.created += 1
        if update_type(update) not in self.allowed:
            self.filtered += 1
            return False
        self.pending[update["update_id"]] = update
        arrived, self._arrived = self._arrived, None
        if arrived is not None and not arrived.done():
            arrived.set_result(None)
        return True

    def acknowledge(self, update_id: int) -> None:
        if self.pending.pop(update_id, None) is not None:
            self.delivered += 1

    def confirm(self, offset: int) -> None:
        """Forget updates below a positive offset, or all but the last -offset ones."""
        pending = self.pending
        if offset > 0:
            while pending:
                first = next(iter(pending))
                if first >= offset:
                    break
                del pending[first]
                self.delivered += 1
        elif offset < 0:
            while len(pending) > -offset:
                pending.popitem(last=False)
                self.delivered += 1

    def drop_all(self) -> None:
        self.pending.clear()

    def terminate_poll(self, reason: str) -> None:
        """End a waiting getUpdates call with 409 and this description."""
        poll, self._poll = self._poll, None
        if poll is not None and not poll.done():
            if self._poll_connected():
                self.concurrent_polls += 1
            poll.set_result(reason)

    def close(self) -> None:
        self.closed = True
        arrived, self._arrived = self._arrived, None
        if arrived is not None and not arrived.done():
            arrived.set_result(None)

    async def get(self, offset: int, limit: int, timeout: float,
                  connected: Callable[[], bool] = lambda: True) -> list[dict]:
        self.confirm(offset)
        found = list(islice(self.pending.values(), limit))
        if found or timeout <= 0 or self.closed:
            return found
        self.terminate_poll(CONFLICT_OTHER_POLL)
        loop = asyncio.get_running_loop()
        me = self._poll = loop.create_future()
        self._poll_connected = connected
        deadline = loop.time() + timeout
        try:
            while True:
                if self._arrived is None:
                    self._arrived = loop.create_future()
                await asyncio.wait((me, self._arrived), timeout=deadline - loop.time(),
                                   return_when=asyncio.FIRST_COMPLETED)
                if me.done():
                    raise ApiError(409, me.result())
                found = list(islice(self.pending.values(), limit))
                if found or loop.time() >= deadline or self.closed:
                    return found
        finally:
            if self._poll is me:
                self._poll = None
