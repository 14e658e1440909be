"""Telegram's sending limits (flood control), as its Bot FAQ documents them, answered with 429.

Source: https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
  - in a single chat, avoid sending more than one message per second; short bursts are tolerated,
    after that the API answers 429;
  - in a group, no more than 20 messages per minute;
  - bulk notifications to many people: no more than about 30 messages per second overall;
  - a 429 carries `parameters.retry_after`, the seconds to wait.

Telegram does not publish the burst it tolerates, nor how it tells a reply from a bulk
notification. The model here (tgstandin/README.md, "Telegram's limits"):
  - every message that lands in a chat counts toward that chat: send*, copy*, forward* and
    edit* calls (Telegram answers 429 to rapid edits too); a private chat takes `per_chat_burst`
    at once and then `per_chat_per_second` (a token bucket);
  - a group or channel (chat id < 0, or an @username) also takes at most `group_per_minute` in
    any 60 s;
  - a new message (send*, copy*, forward*) to a private chat whose person has not written to the
    bot or pressed its button within the last `reply_window_s` seconds is unsolicited: those
    share one bucket of `bulk_per_second` (burst `bulk_burst`) per bot. Replies to a person who
    just wrote are not bulk and do not count there;
  - a call is counted when it is let through, whatever the method then answers; a refused call
    counts for nothing. answerCallbackQuery and every other method are not limited.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

from .faults import SEND_METHODS

EDIT_METHODS = frozenset({"editmessagetext", "editmessagecaption", "editmessagemedia", "editmessagereplymarkup",
                          "editmessagelivelocation", "stopmessagelivelocation"})
WINDOW_S = 60.0  # the group limit's window


@dataclass(slots=True)
class LimitsConfig:
    """Telegram's limits as the stand-in enforces them; off unless `enabled`."""

    enabled: bool = True
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    group_per_minute: int = 20
    bulk_per_second: float = 30.0
    bulk_burst: int = 30
    reply_window_s: float = 60.0

    @classmethod
    def from_json(cls, body: dict) -> LimitsConfig:
        """Validated settings; ValueError names what is wrong."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(body) - known - {"token"})
        if unknown:
            raise ValueError(f"unknown limit settings {unknown}; known: {sorted(known)}")
        config = cls(**{k: v for k, v in body.items() if k in known})
        if not isinstance(config.enabled, bool):
            raise ValueError("enabled must be true or false")
        for name in ("per_chat_per_second", "bulk_per_second"):
            value = getattr(config, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name} must be a number above 0")
        for name in ("per_chat_burst", "group_per_minute", "bulk_burst"):
            value = getattr(config, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1")
        if isinstance(config.reply_window_s, bool) or not isinstance(config.reply_window_s, int | float) \
                or config.reply_window_s < 0:
            raise ValueError("reply_window_s must be a number of seconds, 0 or more")
        return config

    def to_json(self) -> dict:
        return asdict(self)


class _Bucket:
    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens = float(capacity)
        self.stamp = now

    def wait(self, now: float) -> float:
        """Seconds until one message may go (0: now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        return self.tokens + (now - self.stamp) * self.rate >= self.capacity


class _Window:
    """At most `limit` events in any WINDOW_S seconds."""

    __slots__ = ("limit", "times")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.times: deque[float] = deque()

    def wait(self, now: float) -> float:
        while self.times and self.times[0] <= now - WINDOW_S:
            self.times.popleft()
        return 0.0 if len(self.times) < self.limit else self.times[0] + WINDOW_S - now


class _BotLimits:
    """One bot token's buckets."""

    __slots__ = ("bulk", "bulk_times", "chats", "groups", "peak_bulk_per_second")

    def __init__(self, config: LimitsConfig, now: float) -> None:
        self.chats: dict[str, _Bucket] = {}
        self.groups: dict[str, _Window] = {}
        self.bulk = _Bucket(config.bulk_per_second, config.bulk_burst, now)
        self.bulk_times: deque[float] = deque()  # admitted bulk messages of the last second
        self.peak_bulk_per_second = 0


def _is_group(chat_id: str) -> bool:
    return chat_id.startswith(("-", "@"))


class TelegramLimits:
    """Decides, per Bot API call, whether Telegram's flood control would refuse it.

    `check` returns 0 when the call may go (and counts it), or the retry_after to answer with.
    Settings are global or per bot token (per-token settings win), like tgstandin.faults.
    """

    PRUNE_EVERY = 10_000  # calls between sweeps of idle chats' full buckets

    def __init__(self, config: LimitsConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.global_config = config
        self.configs: dict[str, LimitsConfig] = {}
        self.bots: dict[str, _BotLimits] = {}
        self.refused: Counter[str] = Counter()    # 429s answered, by limit: chat, group, bulk
        self.admitted: Counter[str] = Counter()   # messages let through: reply, bulk, edit, group
        self._calls = 0

    def configure(self, config: LimitsConfig, token: str | None = None) -> None:
        if token is None:
            self.global_config = config
            self.bots.clear()
        else:
            self.configs[token] = config
            self.bots.pop(token, None)

    def clear(self, token: str | None = None) -> None:
        if token is None:
            self.global_config = None
            self.configs.clear()
            self.bots.clear()
        else:
            self.configs.pop(token, None)
            self.bots.pop(token, None)

    def config_for(self, token: str) -> LimitsConfig | None:
        config = self.configs.get(token) or self.global_config
        return config if config is not None and config.enabled else None

    def describe(self, bot_id_of: dict[str, int]) -> dict:
        peaks = {str(bot_id_of.get(t, "?")): b.peak_bulk_per_second for t, b in self.bots.items()}
        return {
            "global": self.global_config.to_json() if self.global_config else None,
            "per_bot": {str(bot_id_of.get(t, "?")): c.to_json() for t, c in self.configs.items()},
            "refused": dict(self.refused), "admitted": dict(self.admitted),
            "peak_bulk_per_second": peaks,
        }

    def check(self, token: str, method: str, chat_id: object, last_active: float | None) -> int:
        """0: the call goes (counted); else the retry_after (seconds) of Telegram's 429.

        `method` is lower-case; `last_active` is when the chat's person last wrote or pressed a
        button (the clock's seconds), None when never."""
        sending = method in SEND_METHODS
        if not sending and method not in EDIT_METHODS:
            return 0
        config = self.config_for(token)
        if config is None or chat_id is None or chat_id == "":
            return 0
        now = self.clock()
        limits = self.bots.get(token)
        if limits is None:
            limits = self.bots[token] = _BotLimits(config, now)
        self._calls += 1
        if self._calls % self.PRUNE_EVERY == 0:
            self._prune(limits, now)
        key = str(chat_id)
        chat = limits.chats.get(key)
        if chat is None:
            chat = limits.chats[key] = _Bucket(config.per_chat_per_second, config.per_chat_burst, now)
        group = None
        if _is_group(key):
            group = limits.groups.get(key)
            if group is None:
                group = limits.groups[key] = _Window(config.group_per_minute)
        bulk = sending and group is None and (last_active is None or now - last_active > config.reply_window_s)
        waits = {"chat": chat.wait(now)}
        if group is not None:
            waits["group"] = group.wait(now)
        if bulk:
            waits["bulk"] = limits.bulk.wait(now)
        limit, wait = max(waits.items(), key=lambda item: item[1])
        if wait > 0:
            self.refused[limit] += 1
            return max(1, math.ceil(wait))
        chat.tokens -= 1
        if group is not None:
            group.times.append(now)
            self.admitted["group"] += 1
        elif bulk:
            limits.bulk.tokens -= 1
            times = limits.bulk_times
            times.append(now)
            while times[0] <= now - 1.0:
                times.popleft()
            limits.peak_bulk_per_second = max(limits.peak_bulk_per_second, len(times))
            self.admitted["bulk"] += 1
        else:
            self.admitted["reply" if sending else "edit"] += 1
        return 0

    @staticmethod
    def _prune(limits: _BotLimits, now: float) -> None:
        """Forget chats whose bucket has refilled: a new bucket would be the same."""
        for key in [k for k, bucket in limits.chats.items() if bucket.full(now)]:
            del limits.chats[key]
        for key in [k for k, window in limits.groups.items() if window.wait(now) == 0 and not window.times]:
            del limits.groups[key]
