"""What the stand-in remembers: bots (one per token), their private chats, messages and files.

A chat is the private chat of one simulated person with one bot (chat id = user id). The
person and the bot share the chat's message_id counter, as in a real private chat. Message
dicts are never mutated: an edit stores a new dict, so chat events keep true snapshots.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from .chatlog import ChatLog
from .faults import FaultInjector
from .limits import TelegramLimits
from .media import FileStore
from .updates import DEFAULT_ALLOWED, UpdateQueue
from .webhook import WebhookConfig, WebhookPusher

log = logging.getLogger("tgstandin")
TOKEN_RE = re.compile(r"(\d{1,20}):[A-Za-z0-9_-]{20,64}")
_TOKEN_ANYWHERE = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{20,64}")
PROFILE_FIELDS = ("first_name", "last_name", "username", "language_code")


def mask_tokens(text: str) -> str:
    """Hide anything that looks like a bot token (URLs in logs may contain one)."""
    return _TOKEN_ANYWHERE.sub("<hidden>", text)


class Chat:
    """The private chat of a person (user id = chat id) with one bot."""

    __slots__ = (
        "blocked",
        "chat",
        "id",
        "instance",
        "known",
        "last_active",
        "log",
        "messages",
        "next_message_id",
        "profile",
        "user",
    )

    def __init__(self, chat_id: int, events_cap: int) -> None:
        self.id = chat_id
        self.profile: dict = {"first_name": "Тест", "language_code": "ru"}
        self.known = False  # the person has written to (or pressed a button of) the bot
        self.last_active: float | None = None  # time.monotonic() of their latest message or press
        self.blocked = False
        self.next_message_id = 1
        self.messages: dict[int, dict] = {}
        self.log = ChatLog(events_cap)
        self.instance = str(random.getrandbits(63))
        self.user: dict = {}
        self.chat: dict = {}
        self._render()

    def set_profile(self, **profile: object) -> None:
        changed = {k: v for k, v in profile.items() if k in PROFILE_FIELDS and v is not None}
        if any(self.profile.get(k) != v for k, v in changed.items()):
            self.profile = {**self.profile, **changed}
            self._render()

    def _render(self) -> None:
        """The `from` and `chat` objects of this person (new dicts, never mutated)."""
        p = self.profile
        user = {"id": self.id, "is_bot": False, "first_name": p["first_name"]}
        chat = {"id": self.id, "type": "private", "first_name": p["first_name"]}
        for key in ("last_name", "username"):
            if p.get(key):
                user[key] = chat[key] = p[key]
        if p.get("language_code"):
            user["language_code"] = p["language_code"]
        self.user, self.chat = user, chat

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def ordered_messages(self) -> list[dict]:
        return [self.messages[k] for k in sorted(self.messages)]


@dataclass(slots=True)
class CallbackRecord:
    chat_id: int
    answered: bool = False


class BotState:
    """Everything one bot token owns."""

    def __init__(self, token: str, owner: StandinState) -> None:
        self.token = token
        self.owner = owner
        self.bot_id = int(token.split(":", 1)[0])
        self.user = {"id": self.bot_id, "is_bot": True, "first_name": "KBJU Bot", "username": "kbju_test_bot"}
        self.updates = UpdateQueue()
        self.webhook: WebhookConfig | None = None
        self.pusher: WebhookPusher | None = None
        self.chats: dict[int, Chat] = {}
        self.callbacks: dict[str, CallbackRecord] = {}
        self.commands: dict[tuple[str, str], list] = {}
        self.calls: Counter[str] = Counter()
        self.started = time.time()

    def chat(self, chat_id: int) -> Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = Chat(chat_id, self.owner.events_cap)
        return chat

    def deliver(self, update: dict) -> bool:
        """Queue an update for getUpdates, or for the webhook when one is set."""
        queued = self.updates.push(update)
        if queued and self.pusher is not None:
            self.pusher.enqueue(update)
        return queued

    def new_callback_id(self, chat_id: int) -> str:
        while True:
            query_id = str(random.getrandbits(62) | (1 << 61))
            if query_id not in self.callbacks:
                self.callbacks[query_id] = CallbackRecord(chat_id)
                return query_id

    async def set_webhook(self, config: WebhookConfig | None) -> None:
        if self.pusher is not None:
            await self.pusher.stop()
            self.pusher = None
        if config is not None or self.webhook is not None:
            log.info("bot %s: webhook %s", self.bot_id, mask_tokens(config.url) if config else "deleted")
        self.webhook = config
        if config is not None:
            self.pusher = WebhookPusher(
                self.updates, config, self.owner.http(),
                backoff_initial=self.owner.backoff_initial, backoff_max=self.owner.backoff_max,
                timeout=self.owner.webhook_timeout, on_reply=self.owner.on_webhook_reply(self))
            self.pusher.start()

    def stats(self) -> dict:
        pusher = self.pusher
        return {
            "bot_id": self.bot_id,
            "methods": dict(self.calls),
            "updates": {"created": self.updates.created, "delivered": self.updates.delivered,
                        "pending": len(self.updates.pending), "filtered": self.updates.filtered,
                        "concurrent_polls": self.updates.concurrent_polls},
            "allowed_updates": None if self.updates.allowed == DEFAULT_ALLOWED else sorted(self.updates.allowed),
            "webhook": None if self.webhook is None else {
                **self.webhook.info(len(self.updates.pending), None),
                "attempts": pusher.stats.attempts if pusher else 0,
                "successes": pusher.stats.successes if pusher else 0,
                "failures": pusher.stats.failures if pusher else 0,
                "in_flight": pusher.stats.in_flight if pusher else 0,
            },
            "chats": len(self.chats),
        }

    async def close(self) -> None:
        await self.set_webhook(None)
        self.updates.close()
        for chat in self.chats.values():
            chat.log.close()


@dataclass
class StandinState:
    """All bots, files and fault settings of one stand-in server."""

    backoff_initial: float = 0.1
    backoff_max: float = 2.0
    webhook_timeout: float = 30.0
    events_cap: int = 5000
    bots: dict[str, BotState] = field(default_factory=dict)
    files: FileStore = field(default_factory=FileStore)
    faults: FaultInjector = field(default_factory=FaultInjector)
    limits: TelegramLimits = field(default_factory=TelegramLimits)
    calls: Counter = field(default_factory=Counter)
    session: aiohttp.ClientSession | None = None
    webhook_reply_handler: object = None  # set by the server: (bot, payload) -> None

    def bot(self, token: str) -> BotState:
        bot = self.bots.get(token)
        if bot is None:
            bot = self.bots[token] = BotState(token, self)
        return bot

    def http(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self.session

    def on_webhook_reply(self, bot: BotState):
        handler = self.webhook_reply_handler
        return None if handler is None else (lambda payload: handler(bot, payload))

    async def clear(self) -> None:
        for bot in self.bots.values():
            await bot.close()
        self.bots.clear()
        self.files.clear()
        self.faults.clear()
        self.calls.clear()
        self.faults.injected.clear()
        self.limits.clear()
        self.limits.refused.clear()
        self.limits.admitted.clear()
