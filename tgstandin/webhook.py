"""Webhook delivery: POST each pending update to the bot, re-deliver until it answers 2xx.

As Telegram does, updates of one chat go out one at a time and in order (the next one only
after the previous one was acknowledged), while different chats proceed in parallel up to
`max_connections`. A failed delivery keeps the update, records last_error_*, and retries that
chat after a growing pause (short here, so tests stay fast).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from .updates import UpdateQueue, update_type

log = logging.getLogger("tgstandin.webhook")


@dataclass(slots=True)
class WebhookConfig:
    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None = None
    certificate: str | None = None  # PEM uploaded with setWebhook: the only trust root for an https url
    last_error_date: int | None = None
    last_error_message: str | None = None

    def info(self, pending: int, allowed: frozenset[str] | None) -> dict:
        info = {"url": self.url, "has_custom_certificate": self.certificate is not None,
                "pending_update_count": pending, "max_connections": self.max_connections}
        if self.ip_address:
            info["ip_address"] = self.ip_address
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        if allowed is not None:
            info["allowed_updates"] = sorted(allowed)
        return info


def trust_for(pem: str) -> ssl.SSLContext:
    """A client context that trusts exactly this certificate (and checks the host name against it)."""
    return ssl.create_default_context(cadata=pem)  # given cadata, the system's CAs are not loaded


def check_certificate(data: bytes) -> str:
    """The PEM text of an uploaded certificate; ValueError for anything else."""
    try:
        pem = data.decode("ascii")
        ssl.create_default_context(cadata=pem)
    except (UnicodeDecodeError, ssl.SSLError, ValueError):
        raise ValueError("not a PEM certificate") from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError("not a PEM certificate")
    return pem


def chat_key(update: dict) -> object:
    """The ordering queue of an update: its chat, else its sender, else itself."""
    kind = update_type(update)
    body = update.get(kind) if kind else None
    if isinstance(body, dict):
        chat = body.get("chat") or (body.get("message") or {}).get("chat")
        if isinstance(chat, dict) and "id" in chat:
            return chat["id"]
        sender = body.get("from")
        if isinstance(sender, dict) and "id" in sender:
            return sender["id"]
    return ("update", update.get("update_id"))


@dataclass(slots=True)
class PushStats:
    attempts: int = 0
    successes: int = 0
    failures: int = 0
    in_flight: int = 0


class WebhookPusher:
    """Delivers one bot's pending updates to its webhook until stopped."""

    def __init__(self, queue: UpdateQueue, config: WebhookConfig, session: aiohttp.ClientSession, *,
                 backoff_initial: float, backoff_max: float, timeout: float,
                 on_reply: Callable[[dict], None] | None = None) -> None:
        self.queue = queue
        self.config = config
        self.session = session
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.on_reply = on_reply
        self.stats = PushStats()
        self._chats: dict[object, deque[int]] = {}
        self._failures: dict[object, int] = {}
        self._ready: asyncio.Queue = asyncio.Queue()
        self._workers: list[asyncio.Task] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._stopped = False
        self._headers = {"Content-Type": "application/json"}
        # As Telegram: an uploaded (self-signed) certificate is the trust root for the webhook's
        # https; without one, the server's certificate must chain to a public CA (the system's).
        self._ssl = trust_for(config.certificate) if config.certificate else True
        if config.secret_token:
            self._headers["X-Telegram-Bot-Api-Secret-Token"] = config.secret_token

    def start(self) -> None:
        for update in self.queue.pending.values():
            self.enqueue(update)
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.config.max_connections)]

    def enqueue(self, update: dict) -> None:
        key = chat_key(update)
        chat = self._chats.get(key)
        if chat is None:
            chat = self._chats[key] = deque()
        chat.append(update["update_id"])
        if len(chat) == 1:
            self._ready.put_nowait(key)

    async def stop(self) -> None:
        self._stopped = True
        for timer in self._timers:
            timer.cancel()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()

    async def _work(self) -> None:
        while True:
            key = await self._ready.get()
            chat = self._chats.get(key)
            if not chat:
                continue
            update = self.queue.pending.get(chat[0])
            if update is None:  # dropped meanwhile
                self._advance(key, chat)
                continue
            self.stats.in_flight += 1
            try:
                error = await self._post(update)
            finally:
                self.stats.in_flight -= 1
            if error is None:
                self.queue.acknowledge(chat[0])
                self._failures.pop(key, None)
                self._advance(key, chat)
            else:
                self._fail(key, error)

    def _advance(self, key: object, chat: deque[int]) -> None:
        chat.popleft()
        if chat:
            self._ready.put_nowait(key)
        else:
            del self._chats[key]

    def _fail(self, key: object, error: str) -> None:
        self.stats.failures += 1
        self.config.last_error_date = int(time.time())
        self.config.last_error_message = error
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        delay = min(self.backoff_initial * 2 ** (failures - 1), self.backoff_max)
        log.debug("webhook delivery failed (%s); retrying in %.2fs", error, delay)
        handle: asyncio.TimerHandle | None = None

        def retry() -> None:
            self._timers.discard(handle)
            if not self._stopped:
                self._ready.put_nowait(key)

        handle = asyncio.get_running_loop().call_later(delay, retry)
        self._timers.add(handle)

    async def _post(self, update: dict) -> str | None:
        """None on a 2xx answer, else the error text getWebhookInfo shows."""
        self.stats.attempts += 1
        body = json.dumps(update, ensure_ascii=False).encode()
        try:
            async with self.session.post(self.config.url, data=body, headers=self._headers, ssl=self._ssl,
                                         timeout=self.timeout, allow_redirects=False) as response:
                if not 200 <= response.status < 300:
                    return f"Wrong response from the webhook: {response.status} {response.reason}"
                if self.on_reply is not None and response.content_type == "application/json":
                    self._reply(await response.read())
        except TimeoutError:
            return "Read timeout expired"
        except aiohttp.ClientConnectorCertificateError as exc:
            return f"SSL error {{certificate verify failed: {exc.certificate_error.reason}}}"
        except aiohttp.ClientSSLError as exc:
            return f"SSL error {{{type(exc).__name__}}}"
        except aiohttp.ClientConnectorError:
            return "Connection refused"
        except aiohttp.ClientError as exc:
            return f"Connection error: {type(exc).__name__}"
        self.stats.successes += 1
        return None

    def _reply(self, raw: bytes) -> None:
        """A webhook may answer with a Bot API call (`{"method": ...}`); Telegram executes it."""
        try:
            payload = json.loads(raw) if raw.strip() else None
        except ValueError:
            return
        if isinstance(payload, dict) and isinstance(payload.get("method"), str):
            self.on_reply(payload)
