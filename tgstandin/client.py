"""Async client of the stand-in's control API, and `Person`, a simulated person in a chat.

Bot tests read like a conversation: `await alice.say("/start")` returns what the bot did in
answer, `await alice.press("goal:v1:lean")` presses a button that is on screen. Waiting is a
long poll on the chat's event log, never a sleep; an expectation that is not met raises a
`TimeoutError` that shows the recent chat, so a failing test explains itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Self

import aiohttp

BOT_KINDS = frozenset({"message", "edit", "delete", "callback_answer"})


class StandinError(Exception):
    """The control API refused a request (the message says why)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"stand-in answered {status}: {message}")
        self.status = status
        self.message = message


class StandinClient:
    """Control API client. `token` selects the bot when the stand-in knows several."""

    def __init__(self, base_url: str, token: str | None = None, *,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> Self:
        self._http()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    def _token(self, values: dict) -> dict:
        if self.token and "token" not in values:
            values["token"] = self.token
        return values

    async def _call(self, verb: str, path: str, *, body: dict | None = None, query: dict | None = None,
                    timeout: float = 30.0) -> dict:
        url = f"{self.base_url}/_standin{path}"
        async with self._http().request(verb, url, json=body, params=query,
                                        timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            data = await response.json(content_type=None)
            if response.status >= 400:
                raise StandinError(response.status, data.get("error", str(data)) if isinstance(data, dict)
                                   else str(data))
            return data

    async def register_bot(self, token: str | None = None) -> dict:
        return await self._call("POST", "/bots", body=self._token({"token": token} if token else {}))

    async def send(self, user_id: int, text: str, **profile: object) -> dict:
        """The person `user_id` writes `text`: returns {update_id, message_id, chat_id}."""
        body = {"user_id": user_id, "text": text, **{k: v for k, v in profile.items() if v is not None}}
        return await self._call("POST", "/send", body=self._token(body))

    async def press(self, user_id: int, message_id: int, data: str, strict: bool = True) -> dict:
        """Press the inline button with `data` on a bot message: {update_id, callback_query_id}."""
        body = {"user_id": user_id, "message_id": message_id, "data": data, "strict": strict}
        return await self._call("POST", "/press", body=self._token(body))

    async def inject(self, update: dict) -> dict:
        return await self._call("POST", "/update", body=self._token({"update": update}))

    async def block(self, user_id: int, blocked: bool = True) -> dict:
        """The person blocks (or unblocks) the bot: sends to them fail with 403."""
        return await self._call("POST", "/block", body=self._token({"user_id": user_id, "blocked": blocked}))

    async def events(self, chat_id: int, after: int = 0, min: int = 1, timeout: float = 10.0) -> dict:
        """{events, last_seq}: events with seq > after, once `min` exist or at the timeout."""
        query = self._token({"after": after, "min": min, "timeout": timeout})
        return await self._call("GET", f"/chats/{chat_id}/events", query=query, timeout=timeout + 30)

    async def messages(self, chat_id: int) -> list[dict]:
        """The chat's messages as they are now (after edits and deletions), by message_id."""
        return (await self._call("GET", f"/chats/{chat_id}/messages", query=self._token({})))["messages"]

    async def file_bytes(self, file_id: str) -> bytes:
        async with self._http().get(f"{self.base_url}/_standin/files/{file_id}") as response:
            if response.status != 200:
                raise StandinError(response.status, await response.text())
            return await response.read()

    async def stats(self) -> dict:
        return await self._call("GET", "/stats")

    async def set_faults(self, token: str | None = None, **settings: object) -> dict:
        """Inject faults for one bot (token) or globally; see FaultConfig for the settings."""
        body = dict(settings)
        if token:
            body["token"] = token
        return await self._call("POST", "/faults", body=body)

    async def clear_faults(self, token: str | None = None) -> dict:
        return await self._call("DELETE", "/faults", query={"token": token} if token else None)

    async def set_limits(self, token: str | None = None, **settings: object) -> dict:
        """Telegram's sending limits for one bot (token) or every bot; see tgstandin.limits.LimitsConfig."""
        body = dict(settings)
        if token:
            body["token"] = token
        return await self._call("POST", "/limits", body=body)

    async def clear_limits(self, token: str | None = None) -> dict:
        return await self._call("DELETE", "/limits", query={"token": token} if token else None)

    async def reset(self) -> dict:
        return await self._call("POST", "/reset")

    def person(self, user_id: int, first_name: str = "Тест", username: str | None = None, **kw: object) -> Person:
        return Person(self, user_id, first_name, username, **kw)


class Person:
    """A simulated person in a private chat with the bot (chat id = user id).

    `cursor` is the seq of the last chat event this person has seen; each call returns only
    what happened after it. A local mirror of the chat (built from the events) answers
    `last_message()` and `buttons()` without a round trip.
    """

    def __init__(self, client: StandinClient, user_id: int, first_name: str = "Тест",
                 username: str | None = None, *, last_name: str | None = None,
                 language_code: str | None = "ru") -> None:
        self.client = client
        self.user_id = user_id
        self.profile = {"first_name": first_name, "last_name": last_name, "username": username,
                        "language_code": language_code}
        self.cursor = 0
        self.seen: list[dict] = []
        self._messages: dict[int, dict] = {}

    @property
    def chat_id(self) -> int:
        return self.user_id

    def __repr__(self) -> str:
        return f"Person({self.profile['first_name']!r}, user_id={self.user_id})"

    # --- actions -----------------------------------------------------------------------------

    async def say(self, text: str, expect: int = 1, timeout: float = 10.0, settle: float = 0.0) -> list[dict]:
        """Send `text`; return the bot's events after it, once `expect` new bot messages arrived.

        Bot events that were still arriving from an earlier step are taken into the mirror
        and the transcript but neither returned nor counted.
        """
        sent = await self.client.send(self.user_id, text, **self.profile)
        return await self._collect(expect, timeout, f"saying {text!r}", since=sent["seq"], settle=settle)

    async def press(self, data: str, message_id: int | None = None, expect: int = 1, strict: bool = True,
                    timeout: float = 10.0, settle: float = 0.0) -> list[dict]:
        """Press the button with callback_data `data` (default: on the newest message showing it).

        Returns the bot's events until `expect` new messages arrived; with expect=0, until the
        bot answered this callback query.
        """
        await self.sync()
        if message_id is None:
            message_id = self._message_with_button(data)
        pressed = await self.client.press(self.user_id, message_id, data, strict)
        query_id = pressed["callback_query_id"]

        def answered(events: list[dict]) -> bool:
            return any(e["kind"] == "callback_answer" and e.get("callback_query_id") == query_id for e in events)

        return await self._collect(expect, timeout, f"pressing {data!r} on message {message_id}",
                                   since=pressed["seq"], until=answered if expect == 0 else None, settle=settle)

    async def wait(self, expect: int = 1, timeout: float = 10.0) -> list[dict]:
        """Wait for bot messages nobody asked for right now (e.g. a scheduled one)."""
        return await self._collect(expect, timeout, "waiting")

    async def sync(self) -> list[dict]:
        """Take in whatever happened in the chat since the cursor, without waiting."""
        page = await self.client.events(self.user_id, after=self.cursor, min=0, timeout=0)
        self._absorb(page["events"])
        return [e for e in page["events"] if e["kind"] in BOT_KINDS]

    # --- what is on screen -------------------------------------------------------------------

    def last_message(self) -> dict | None:
        """The newest bot message as it looks now (after edits), or None."""
        for message_id in sorted(self._messages, reverse=True):
            message = self._messages[message_id]
            if message.get("from", {}).get("is_bot"):
                return message
        return None

    def message(self, message_id: int) -> dict | None:
        return self._messages.get(message_id)

    @staticmethod
    def buttons(message: dict | None) -> list[tuple[str, str | None]]:
        """Inline buttons of a message, flattened: [(text, callback_data or url), ...]."""
        if not message:
            return []
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        return [(b.get("text"), b.get("callback_data") or b.get("url")) for row in rows for b in row]

    def transcript(self, last: int | None = None) -> str:
        """The chat as readable lines (what this person has seen so far)."""
        events = self.seen if last is None else self.seen[-last:]
        return "\n".join(describe(e, self.profile["first_name"]) for e in events)

    # --- internals ---------------------------------------------------------------------------

    def _absorb(self, events: list[dict]) -> None:
        for event in events:
            if event["seq"] <= self.cursor:
                continue
            self.cursor = event["seq"]
            self.seen.append(event)
            kind = event["kind"]
            if kind in ("message", "edit", "user_message"):
                self._messages[event["message_id"]] = event["message"]
            elif kind == "delete":
                self._messages.pop(event["message_id"], None)

    def _message_with_button(self, data: str) -> int:
        for message_id in sorted(self._messages, reverse=True):
            if any(button[1] == data for button in self.buttons(self._messages[message_id])):
                return message_id
        raise LookupError(f"{self!r}: no message on screen has a button with callback_data {data!r}.\n"
                          f"Recent chat:\n{self.transcript(last=15)}")

    async def _collect(self, expect: int, timeout: float, what: str, since: int = 0,
                       until: Callable[[list[dict]], bool] | None = None, settle: float = 0.0) -> list[dict]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        got: list[dict] = []

        def satisfied() -> bool:
            return (sum(1 for e in got if e["kind"] == "message") >= expect
                    and (until is None or until(got)))

        while not satisfied():
            remaining = deadline - loop.time()
            if remaining <= 0:
                wanted = f"{expect} new bot message(s)" if until is None else "the bot's answer to the press"
                have = sum(1 for e in got if e["kind"] == "message")
                raise TimeoutError(f"{self!r} waited {timeout}s after {what} for {wanted}, got {have} "
                                   f"message(s).\nRecent chat:\n{self.transcript(last=20)}")
            page = await self.client.events(self.user_id, after=self.cursor, min=1, timeout=min(remaining, 30.0))
            fresh = [e for e in page["events"] if e["seq"] > self.cursor]
            self._absorb(fresh)
            got.extend(e for e in fresh if e["kind"] in BOT_KINDS and e["seq"] > since)
        if settle > 0:
            await asyncio.sleep(settle)
            got.extend(e for e in await self.sync() if e["seq"] > since)
        return got


def describe(event: dict, person: str = "person") -> str:
    """One readable line for a chat event."""
    kind, seq = event["kind"], event["seq"]
    if kind == "user_message":
        return f"[{seq}] {person}: {event['message'].get('text', '')}"
    if kind == "user_press":
        return f"[{seq}] {person} pressed {event['data']!r} on #{event['message_id']}"
    if kind == "user_update":
        update = event["update"]
        return f"[{seq}] injected update: {[k for k in update if k != 'update_id']}"
    if kind == "message":
        return f"[{seq}] bot #{event['message_id']}: {_content(event['message'])}"
    if kind == "edit":
        return f"[{seq}] bot edited #{event['message_id']}: {_content(event['message'])}"
    if kind == "delete":
        return f"[{seq}] bot deleted #{event['message_id']}"
    if kind == "callback_answer":
        text = f": {event['text']!r}" if event.get("text") else ""
        return f"[{seq}] bot answered the press{text}{' (alert)' if event.get('show_alert') else ''}"
    if kind == "chat_action":
        return f"[{seq}] bot is {event['action']}"
    return f"[{seq}] {kind}"


def _content(message: dict) -> str:
    text = message.get("text")
    if text is None:
        caption = message.get("caption", "")
        if "photo" in message:
            text = f"[photo] {caption}"
        elif "document" in message:
            text = f"[document {message['document'].get('file_name', '')}] {caption}"
        else:
            text = caption
    buttons = " ".join(f"[{t} → {d}]" for t, d in Person.buttons(message))
    return f"{text} {buttons}".rstrip() if buttons else text
