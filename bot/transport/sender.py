"""How the bot's Bot API calls leave: replies at once, Telegram's per-chat pace, bulk behind its budget.

python-telegram-bot hands every Bot API call to its rate limiter (`BaseRateLimiter.process_request`);
`Sender` is ours. Telegram's limits (Bot FAQ; docs/bot.md "Sending") are per chat (about one
message a second, short bursts tolerated), per group (20 a minute) and for bulk notifications
(about 30 a second for the whole bot). So:

- a reply to the update being handled goes out at once while its chat is within its burst
  (`chat_burst` messages, a step's two or three); a chat that keeps receiving more is paced to
  `chat_rate` messages a second. Every call that puts or changes a message in a chat counts
  (send*, edit*, copy*, forward*); answerCallbackQuery and the rest are never held back;
- a bulk send (rate_limit_args `BULK`: the funnel, reminders; bot.bulk is its one entry point,
  which also takes the bot-wide bulk budget) goes to a chat only while that chat is quiet (its
  burst refilled), so a person in the middle of a conversation gets their replies first;
- a 429 is honoured as Telegram says it: its `retry_after` holds that chat (a reply is sent
  again after it, up to `max_flood_waits` times; a bulk send raises, and bot.bulk holds the bulk
  budget of every replica); a 429 on a call without a chat holds every call. Each is counted in
  kbju_bot_api_flood_waits_total{scope} and kbju_bot_api_retry_after_seconds_total;
- a server error (5xx) or a lost connection on a call the person sees is sent again after
  NETWORK_BACKOFF: the turn is committed before its replies go, so a lost reply would leave the
  person without their next question.

Pacing is per replica: two replicas answering one chat each keep their own count (Telegram's 429
and its retry_after still hold both back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter

from bot import metrics

log = logging.getLogger(__name__)

MESSAGE_CALLS = ("send", "edit", "copy", "forward")  # calls that put or change a message in a chat
NETWORK_BACKOFF = (0.5, 1.0, 2.0)  # seconds before each new attempt after a transient failure
BULK = {"bulk": True}  # rate_limit_args of a bulk send
GROUP_WINDOW_S = 60.0
GROUP_PER_MINUTE = 20
PRUNE_EVERY = 5000  # paced calls between sweeps of chats whose budget has refilled
# A chat's budget refills this much slower than `chat_rate`: a message that waited for its
# share can still reach Telegram a little sooner after the one before it than it left (network
# and event-loop jitter), and Telegram counts what arrives.
PACE_MARGIN = 0.9


def retried(endpoint: str) -> bool:
    """Calls worth repeating after a transient failure: what the person sees."""
    return endpoint.startswith(MESSAGE_CALLS) or endpoint == "answerCallbackQuery"


def transient(exc: NetworkError) -> bool:
    """A server error or a lost connection; not a refusal of the request itself (BadRequest)."""
    return not isinstance(exc, BadRequest)


def _seconds(retry_after: Any) -> float:
    return retry_after.total_seconds() if hasattr(retry_after, "total_seconds") else float(retry_after)


def _is_group(chat_id: object) -> bool:
    return isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0)


class _ChatBudget:
    __slots__ = ("hold_until", "sent", "stamp", "tokens")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.stamp = now
        self.hold_until = 0.0
        self.sent: deque[float] | None = None  # a group's messages of the last minute


class Sender(BaseRateLimiter[dict]):
    """PTB's rate limiter hook: Telegram's per-chat pace, the bulk lane's manners, 429 and 5xx retries."""

    def __init__(self, chat_rate: float = 1.0, chat_burst: int = 3, max_flood_waits: int = 5,
                 clock=time.monotonic) -> None:
        self.chat_rate = chat_rate  # 0: no per-chat pacing (a Bot API server without limits)
        self._refill = chat_rate * PACE_MARGIN
        self.chat_burst = max(1, chat_burst)
        self.max_flood_waits = max_flood_waits
        self.clock = clock
        self.chats: dict[object, _ChatBudget] = {}
        self.hold_all_until = 0.0  # a 429 on a call without a chat
        self.bulk_hold_until = 0.0  # a 429 on a bulk send (this replica; bot.bulk tells the others)
        self._paced = 0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    # --- per chat ------------------------------------------------------------------------------

    def _budget(self, chat_id: object, now: float) -> _ChatBudget:
        budget = self.chats.get(chat_id)
        if budget is None:
            budget = self.chats[chat_id] = _ChatBudget(float(self.chat_burst), now)
            if _is_group(chat_id):
                budget.sent = deque()
        else:
            budget.tokens = min(self.chat_burst, budget.tokens + (now - budget.stamp) * self._refill)
            budget.stamp = now
        return budget

    def _reserve(self, chat_id: object, now: float, bulk: bool) -> tuple[float, bool]:
        """(seconds to wait, whether this message's share of the chat is taken).

        A reply takes the next share in turn and waits for it when the burst is spent. A bulk
        message takes one only from a full budget, else it waits and asks again; so does any
        message to a chat held by a 429."""
        self._paced += 1
        if self._paced % PRUNE_EVERY == 0:
            self._prune(now)
        budget = self._budget(chat_id, now)
        held = budget.hold_until - now
        if held > 0:
            return held, False
        if bulk and budget.tokens < self.chat_burst:
            return max(0.05, (self.chat_burst - budget.tokens) / self._refill), False
        if budget.sent is not None:  # a group: at most 20 in any minute as well
            while budget.sent and budget.sent[0] <= now - GROUP_WINDOW_S:
                budget.sent.popleft()
            if len(budget.sent) >= GROUP_PER_MINUTE:
                return budget.sent[0] + GROUP_WINDOW_S - now, False
            budget.sent.append(now)
        budget.tokens -= 1
        return (0.0 if budget.tokens >= 0 else -budget.tokens / self._refill), True

    def _prune(self, now: float) -> None:
        for chat_id in [c for c, b in self.chats.items()
                        if b.hold_until <= now and not b.sent
                        and (self.chat_rate <= 0 or b.tokens + (now - b.stamp) * self._refill >= self.chat_burst)]:
            del self.chats[chat_id]

    def hold_chat(self, chat_id: object, seconds: float) -> None:
        now = self.clock()
        budget = self._budget(chat_id, now) if self.chat_rate > 0 else self.chats.setdefault(
            chat_id, _ChatBudget(0.0, now))
        budget.hold_until = max(budget.hold_until, now + seconds)
        budget.tokens = min(budget.tokens, 0.0)  # Telegram's bucket for this chat is empty

    # --- every call ----------------------------------------------------------------------------

    async def _wait_turn(self, chat_id: object, counted: bool, bulk: bool) -> None:
        """Until this call may go: holds after a 429, then the chat's pace (when pacing is on)."""
        waited = 0.0
        while True:
            now = self.clock()
            wait = self.hold_all_until - now
            if bulk:
                wait = max(wait, self.bulk_hold_until - now)
            taken = False
            if wait <= 0 and counted:
                if self.chat_rate > 0:
                    wait, taken = self._reserve(chat_id, now, bulk)
                else:  # no pacing, but a 429's hold on the chat still stands
                    budget = self.chats.get(chat_id)
                    wait = budget.hold_until - now if budget is not None else 0.0
            if wait <= 0:
                break
            waited += wait
            await asyncio.sleep(wait)
            if taken:  # its share is reserved: it goes now
                break
        metrics.send_wait.labels("bulk" if bulk else "reply").observe(waited)

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        bulk = bool(rate_limit_args) and bool(rate_limit_args.get("bulk"))
        chat_id = data.get("chat_id")
        counted = chat_id is not None and endpoint.startswith(MESSAGE_CALLS)
        flood_waits = network_failures = 0
        while True:
            await self._wait_turn(chat_id, counted, bulk)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = _seconds(exc.retry_after)
                if chat_id is None:
                    scope = "global"
                    self.hold_all_until = max(self.hold_all_until, self.clock() + seconds)
                else:
                    scope = "bulk" if bulk else "chat"
                    self.hold_chat(chat_id, seconds)
                    if bulk:
                        self.bulk_hold_until = max(self.bulk_hold_until, self.clock() + seconds)
                metrics.bot_api_flood_waits.labels(scope).inc()
                metrics.bot_api_retry_after.inc(seconds)
                if bulk or flood_waits == self.max_flood_waits:
                    raise
                flood_waits += 1
                log.warning("flood control on %s (%s): waiting %.0f s (attempt %d)", endpoint, scope, seconds,
                            flood_waits)
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
