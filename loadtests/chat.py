"""One simulated person's chat, driven through the stand-in's control API from a Locust greenlet.

`step()` sends a message or presses a button, long-polls the chat's event log until the bot's
answer arrives, and reports the time from sending to the answer's arrival at the stand-in (its
own clock, so Locust's load does not inflate it) to Locust as one request named after the step.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from geventhttpclient import HTTPClient

from bot.domain import texts

BOT_MESSAGE_KINDS = frozenset({"message", "edit"})


def _plain(text: str) -> str:
    """A text as the stand-in stores it: HTML tags parsed away, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", "", text).split())


# The bot's reply when PostgreSQL is unavailable: the person sends the same answer again later.
RETRY_TEXTS = frozenset({_plain(texts.DB_UNAVAILABLE)})
# The bot's apology after an unexpected error in a handler (a bug: always a failed step).
ERROR_TEXTS = frozenset({_plain(texts.GENERIC_ERROR)})


class StepFailed(Exception):
    """The bot did not answer as a person would expect (the message says what came instead)."""

    reported = False  # already fired to Locust as this step's failure


class BotError(StepFailed):
    """The bot apologised for an error of its own."""


class NoReply(StepFailed):
    """No answer at all within the reply timeout."""

    def __init__(self, message: str, update_id: int) -> None:
        super().__init__(message)
        self.update_id = update_id


class RetryAsked(StepFailed):
    """The bot answered 'try again'."""


class ControlApi:
    """A blocking (gevent-cooperative) client of /_standin/, shared by the people of one process."""

    def __init__(self, base_url: str, token: str | None, concurrency: int) -> None:
        parts = urlsplit(base_url)
        self.token = token
        self.prefix = parts.path.rstrip("/")
        self.http = HTTPClient(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                               ssl=parts.scheme == "https", concurrency=concurrency, connection_timeout=10,
                               network_timeout=330, headers={"Content-Type": "application/json"})

    def _answer(self, response) -> dict:
        body = response.read()
        data = json.loads(body) if body else {}
        if response.status_code >= 400:
            raise StepFailed(f"stand-in answered {response.status_code}: {data.get('error', body[:200])}")
        return data

    def post(self, path: str, body: dict) -> dict:
        if self.token:
            body = {"token": self.token, **body}
        return self._answer(self.http.post(f"{self.prefix}/_standin/{path}", body=json.dumps(body)))

    def events(self, chat_id: int, after: int, timeout: float) -> dict:
        query = f"after={after}&min=1&timeout={timeout:.1f}" + (f"&token={self.token}" if self.token else "")
        return self._answer(self.http.get(f"{self.prefix}/_standin/chats/{chat_id}/events?{query}"))


def buttons(message: dict) -> list[dict]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard") or [] for b in row if isinstance(b, dict)]


def text_of(message: dict) -> str:
    return message.get("text") or message.get("caption") or ""


@dataclass
class Answer:
    """What the bot did after one update."""

    update_id: int
    events: list[dict] = field(default_factory=list)

    @property
    def messages(self) -> list[dict]:
        return [e["message"] for e in self.events if e["kind"] == "message"]

    def latest_with(self, predicate: Callable[[dict], bool]) -> dict | None:
        for message in reversed(self.messages):
            if predicate(message):
                return message
        return None


Expect = Callable[[Answer], bool]


def new_messages(count: int = 1) -> Expect:
    return lambda answer: len(answer.messages) >= count


def message_with(predicate: Callable[[dict], bool]) -> Expect:
    return lambda answer: answer.latest_with(predicate) is not None


class Chat:
    def __init__(self, api: ControlApi, user_id: int, profile: dict[str, str], fire: Callable[..., None],
                 reply_timeout_s: float) -> None:
        self.api = api
        self.user_id = user_id
        self.chat_id = user_id          # a private chat's id is the person's id
        self.profile = profile
        self.fire = fire
        self.reply_timeout_s = reply_timeout_s
        self.seq = 0
        self.in_flight: int | None = None    # the update waiting for its answer

    def _wait(self, update_id: int, expect: Expect) -> tuple[Answer, float]:
        answer = Answer(update_id)
        deadline = time.monotonic() + self.reply_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                got = "; ".join(text_of(m)[:60] for m in answer.messages) or "nothing"
                raise NoReply(f"no expected answer within {self.reply_timeout_s:.0f} s (got: {got})", update_id)
            data = self.api.events(self.chat_id, self.seq, min(remaining, 60.0))
            for event in data.get("events", []):
                self.seq = max(self.seq, event["seq"])
                if event["kind"] in BOT_MESSAGE_KINDS or event["kind"] == "callback_answer":
                    answer.events.append(event)
                    if event["kind"] in BOT_MESSAGE_KINDS and (
                            expect(answer) or self.says_error(Answer(update_id, [event]))
                            or self.asks_to_retry(Answer(update_id, [event]))):
                        return answer, event["wall"]
            if data.get("last_seq", 0) > self.seq:
                self.seq = data["last_seq"]

    def step(self, name: str, expect: Expect, *, text: str | None = None, press: tuple[int, str] | None = None,
             strict: bool = False) -> Answer:
        """Send `text` (or press (message_id, data)), wait for the answer that satisfies `expect`.

        "Try again" (texts.DB_UNAVAILABLE) ends the wait whatever was expected, a wrong answer's
        too: the bot did not take the update, and the person sends it again (RetryAsked)."""
        started = time.time()
        if text is not None:
            sent = self.api.post("send", {"user_id": self.user_id, "text": text, **self.profile})
            kind = "message"
        else:
            assert press is not None
            sent = self.api.post("press", {"user_id": self.user_id, "message_id": press[0], "data": press[1],
                                           "strict": strict})
            kind = "press"
        self.in_flight = sent["update_id"]
        try:
            answer, arrived = self._wait(sent["update_id"], expect)
        except StepFailed as exc:
            exc.reported = True
            self.fire(request_type=kind, name=name, response_time=(time.time() - started) * 1000,
                      response_length=0, exception=exc)
            raise
        self.in_flight = None
        elapsed_ms = max(0.0, (arrived - started) * 1000)
        failure: StepFailed | None = None
        if self.says_error(answer):
            failure = BotError(f"the bot apologised for an error: {text_of(answer.messages[-1])[:80]}")
        elif self.asks_to_retry(answer):
            failure = RetryAsked(f"the bot asked to try again: {text_of(answer.messages[-1])[:80]}")
        if failure is not None:
            failure.reported = True
            self.fire(request_type=kind, name=name, response_time=elapsed_ms, response_length=len(answer.events),
                      exception=failure)
            raise failure
        self.fire(request_type=kind, name=name, response_time=elapsed_ms, response_length=len(answer.events),
                  exception=None)
        return answer

    def press_only(self, message_id: int, data: str) -> int:
        """A press whose answer nobody waits for (the second press of an impatient person)."""
        return self.api.post("press", {"user_id": self.user_id, "message_id": message_id, "data": data,
                                       "strict": False})["update_id"]

    @staticmethod
    def asks_to_retry(answer: Answer) -> bool:
        last = answer.messages[-1] if answer.messages else None
        return last is not None and _plain(text_of(last)) in RETRY_TEXTS

    @staticmethod
    def says_error(answer: Answer) -> bool:
        last = answer.messages[-1] if answer.messages else None
        return last is not None and _plain(text_of(last)) in ERROR_TEXTS

    def settle(self, quiet_s: float = 0.0) -> list[dict]:
        """Skip what is still arriving from the previous step, so it is not taken as the next answer;
        returns the skipped bot messages (a correct expectation per step leaves none)."""
        data = self.api.events(self.chat_id, self.seq, quiet_s)
        skipped = []
        for event in data.get("events", []):
            self.seq = max(self.seq, event["seq"])
            if event["kind"] == "message":
                skipped.append(event["message"])
        return skipped


