"""The one way bulk messages leave (the funnel, reminders): after people's replies, within the bot-wide budget.

Telegram allows a bot about 30 bulk notifications a second in all (Bot FAQ), whatever the number
of its replicas; replies to people who just wrote do not count there. So every message that is
not a reply to the update being handled goes through `BulkLane.send`, which

1. gives way while this replica is busy answering people (`BUSY_UPDATES` or more updates in
   flight), for at most `MAX_GIVE_WAY_S` per message so a claimed job's lease never runs out;
2. takes the next slot of the bot-wide budget (`BOT_BULK_RATE` a second, bot.db.send_budget: one
   row in PostgreSQL that every replica moves on) and waits for it;
3. sends as a bulk send (bot.transport.sender: it goes to a chat only while that chat is quiet);
4. on a 429, holds the budget of every replica for its retry_after and tries again (at most
   `MAX_FLOOD_WAITS` times, then raises: the caller's job is retried later, nothing is lost).
"""

from __future__ import annotations

import asyncio
import logging
import time

from telegram.error import RetryAfter

from bot import metrics
from bot.db import send_budget
from bot.flows.engine import Edit, Photo, Send
from bot.runtime import send_reply
from bot.transport.sender import BULK
from bot.transport.updates import InFlight

log = logging.getLogger(__name__)
BUSY_UPDATES = 32  # updates in flight on this replica from which bulk sends give way
MAX_GIVE_WAY_S = 10.0
GIVE_WAY_POLL_S = 0.05
MAX_FLOOD_WAITS = 3


class BulkLane:
    """Created by bot.app.open_resources (ctx.bulk); `send` is the entry point for every bulk message."""

    def __init__(self, pool, rate: float, in_flight: InFlight | None) -> None:
        self.pool = pool
        self.rate = rate  # 0: no budget (a Bot API server without limits)
        self.in_flight = in_flight

    async def send(self, bot, ctx, chat_id: int, reply: Send | Edit | Photo) -> None:
        """Send one bulk message; raises what the Bot API answered when it could not be sent."""
        for attempt in range(MAX_FLOOD_WAITS + 1):
            started = time.monotonic()
            await self._give_way()
            await self._slot()
            metrics.send_wait.labels("bulk_budget").observe(time.monotonic() - started)
            try:
                await send_reply(bot, ctx, chat_id, reply, rate_limit_args=BULK)
                return
            except RetryAfter as exc:
                seconds = exc.retry_after.total_seconds() if hasattr(exc.retry_after, "total_seconds") \
                    else float(exc.retry_after)
                log.warning("flood control on a bulk send: every replica's bulk sends wait %.0f s", seconds)
                if self.rate > 0:
                    async with self.pool.acquire() as conn:
                        await send_budget.hold(conn, seconds)
                if attempt == MAX_FLOOD_WAITS:
                    raise

    async def _give_way(self) -> None:
        if self.in_flight is None:
            return
        deadline = time.monotonic() + MAX_GIVE_WAY_S
        while self.in_flight.count >= BUSY_UPDATES and time.monotonic() < deadline:
            await asyncio.sleep(GIVE_WAY_POLL_S)

    async def _slot(self) -> None:
        if self.rate <= 0:
            return
        async with self.pool.acquire() as conn:
            wait = await send_budget.take_slot(conn, self.rate)
        if wait > 0:
            await asyncio.sleep(wait)
