"""Fault injection, off unless configured.

Load and fault tests need the Bot API to misbehave the way the real one does: 429 with
retry_after, 500/502, slow answers, connections dropped before or after the call took
effect. (Telegram's sending limits are not a fault: tgstandin.limits.) Settings apply per bot
token or globally; with nothing configured the per-request cost is one dictionary lookup.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass, fields

SEND_METHODS = frozenset({
    "sendmessage", "sendphoto", "senddocument", "sendaudio", "sendvideo", "sendanimation", "sendvoice",
    "sendvideonote", "sendmediagroup", "sendlocation", "sendvenue", "sendcontact", "sendpoll", "senddice",
    "sendsticker", "copymessage", "copymessages", "forwardmessage", "forwardmessages",
})
ACTIONS = ("429", "500", "502", "drop", "drop_after")


@dataclass(slots=True)
class FaultConfig:
    """What to inject. Rates are fractions of matching Bot API calls (0..1)."""

    rate_429: float = 0.0
    retry_after: int = 1
    rate_500: float = 0.0
    rate_502: float = 0.0
    rate_drop: float = 0.0          # close the connection without running the call
    rate_drop_after: float = 0.0    # run the call, then close the connection without an answer
    delay_ms: float = 0.0
    rate_delay: float = 1.0         # fraction of calls delayed by delay_ms
    methods: list[str] | None = None  # only these methods (case-insensitive); None = all
    chats: list[int] | None = None    # only calls to these chat ids; None = all
    seed: int | None = None

    @classmethod
    def from_json(cls, body: dict) -> FaultConfig:
        """Validated settings; ValueError names what is wrong."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(body) - known - {"token"})
        if unknown:
            raise ValueError(f"unknown fault settings {unknown}; known: {sorted(known)}")
        config = cls(**{k: v for k, v in body.items() if k in known})
        total = sum(getattr(config, f"rate_{a}") for a in ACTIONS)
        rates = [getattr(config, f"rate_{a}") for a in ACTIONS] + [config.rate_delay]
        if any(not isinstance(r, int | float) or not 0 <= r <= 1 for r in rates) or total > 1:
            raise ValueError("rates must be numbers in 0..1 and the error/drop rates must sum to at most 1")
        if not isinstance(config.retry_after, int) or config.retry_after < 1:
            raise ValueError("retry_after must be a positive integer")
        if config.methods is not None:
            if not isinstance(config.methods, list) or not all(isinstance(m, str) for m in config.methods):
                raise ValueError("methods must be a list of method names")
            config.methods = [m.lower() for m in config.methods]
        if config.chats is not None and (not isinstance(config.chats, list) or not all(
                isinstance(c, int) and not isinstance(c, bool) for c in config.chats)):
            raise ValueError("chats must be a list of chat ids")
        return config

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class Decision:
    delay: float = 0.0
    action: str | None = None  # one of ACTIONS
    retry_after: int = 0


NOTHING = Decision()


class _Rule:
    __slots__ = ("chats", "config", "methods", "rng")

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.methods = frozenset(config.methods) if config.methods is not None else None
        self.chats = frozenset(str(c) for c in config.chats) if config.chats is not None else None


class FaultInjector:
    """Per-token rules override the global rule; counts every injected fault."""

    def __init__(self) -> None:
        self.global_rule: _Rule | None = None
        self.rules: dict[str, _Rule] = {}
        self.injected: Counter[str] = Counter()

    def configure(self, config: FaultConfig, token: str | None = None) -> None:
        if token is None:
            self.global_rule = _Rule(config)
        else:
            self.rules[token] = _Rule(config)

    def clear(self, token: str | None = None) -> None:
        if token is None:
            self.global_rule = None
            self.rules.clear()
        else:
            self.rules.pop(token, None)

    def describe(self, bot_id_of: dict[str, int]) -> dict:
        return {
            "global": self.global_rule.config.to_json() if self.global_rule else None,
            "per_bot": {str(bot_id_of.get(t, "?")): r.config.to_json() for t, r in self.rules.items()},
        }

    def decide(self, token: str, method: str, chat_id: object) -> Decision:
        rule = self.rules.get(token) or self.global_rule
        if rule is None or (rule.methods is not None and method not in rule.methods) \
                or (rule.chats is not None and str(chat_id) not in rule.chats):
            return NOTHING
        config = rule.config
        decision = Decision()
        if config.delay_ms > 0 and rule.rng.random() < config.rate_delay:
            decision.delay = config.delay_ms / 1000
            self.injected["delay"] += 1
        draw = rule.rng.random()
        for action in ACTIONS:
            rate = getattr(config, f"rate_{action}")
            if draw < rate:
                decision.action = action
                decision.retry_after = config.retry_after
                self.injected[action] += 1
                return decision
            draw -= rate
        return decision
