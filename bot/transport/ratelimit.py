"""A light Bot API rate limiter: honours 429 retry_after and keeps under Telegram's send limits.

PTB's AIORateLimiter needs the aiolimiter extra; this does the same two jobs with asyncio only:
an overall budget for message-sending methods (Telegram: about 30 per second, 0 turns it off),
in which bulk messages (the funnel, reminders) give way to replies, and 20 per minute per group
chat, plus bounded retries after RetryAfter so a reply is not lost to flood control, and after a
server error or a lost connection (NETWORK_BACKOFF) for what the person sees.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter

from bot import metrics

log = logging.getLogger(__name__)

_SENDING = ("send", "edit", "copy", "forward")
NETWORK_BACKOFF = (0.5, 1.0, 2.0)  # seconds before each new attempt after a transient failure


def retried(endpoint: str) -> bool:
    """Calls worth repeating after a transient failure: what the person sees."""
    return endpoint.startswith(_SENDING) or endpoint == "answerCallbackQuery"


def transient(exc: NetworkError) -> bool:
    """A server error or a lost connection; not a refusal of the request itself (BadRequest)."""
    return not isinstance(exc, BadRequest)


BULK = "bulk"  # rate_limit_args of a bulk message (bot.jobs.send_bulk): after every reply waiting
BULK_RESERVE = 3  # tokens a bulk message leaves in the bucket, so that a reply finds one at once


class _TokenBucket:
    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens = capacity
        self.stamp = time.monotonic()
        self.lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    async def take(self, bulk: bool = False) -> None:
        """One token. A reply waits in turn for the next one; a bulk message only takes one while
        BULK_RESERVE more are left, and waits outside the lock, so replies always go first and find
        a token at once while bulk messages use the rest of the budget."""
        keep = min(BULK_RESERVE, self.capacity - 1) if bulk else 0
        while True:
            async with self.lock:
                self._refill()
                if self.tokens >= 1 + keep:
                    self.tokens -= 1
                    return
                wait = (1 + keep - self.tokens) / self.rate
                if not bulk:
                    await asyncio.sleep(wait)  # in turn: replies keep their order
                    self._refill()
                    self.tokens -= 1
                    return
            await asyncio.sleep(wait)


class RateLimiter(BaseRateLimiter[int]):
    def __init__(self, overall_per_second: float = 30.0, group_per_minute: float = 20.0,
                 max_retries: int = 5) -> None:
        self.overall = _TokenBucket(overall_per_second, overall_per_second) if overall_per_second > 0 else None
        self.group_rate = group_per_minute / 60
        self.groups: dict[Any, _TokenBucket] = {}
        self.max_retries = max_retries

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        sending = endpoint.startswith(_SENDING)
        chat_id = data.get("chat_id")
        flood_waits = network_failures = 0
        while True:
            if sending and self.overall is not None:
                await self.overall.take(bulk=rate_limit_args == BULK)
            if sending and ((isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str)):
                bucket = self.groups.setdefault(chat_id, _TokenBucket(self.group_rate, 20))
                await bucket.take()
            try:
                return await callback(*args, **kwargs)
            except NetworkError as exc:
                # 500/502 and dropped connections: the turn is already committed, so a reply lost
                # here would leave the person without their next question. Sent again; when the
                # first attempt did arrive (only its answer was lost), the person sees it twice.
                if not (retried(endpoint) and transient(exc)) or network_failures == len(NETWORK_BACKOFF):
                    raise
                pause = NETWORK_BACKOFF[network_failures]
                network_failures += 1
                log.warning("%s failed (%s); sending again in %.1f s", endpoint, exc.message, pause)
                await asyncio.sleep(pause)
            except RetryAfter as exc:
                wait = exc.retry_after.total_seconds() if hasattr(exc.retry_after, "total_seconds") \
                    else float(exc.retry_after)
                if flood_waits == self.max_retries:
                    raise
                flood_waits += 1
                metrics.bot_api_retry_after.inc(wait)
                log.warning("flood control on %s: waiting %.1f s (attempt %d)", endpoint, wait, flood_waits)
                await asyncio.sleep(wait + 0.1)
