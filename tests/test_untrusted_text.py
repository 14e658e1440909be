"""Any text from Telegram may hold what PostgreSQL text refuses: NUL, or (in JSON) a lone surrogate,
which is no Unicode character and cannot be encoded. Names, usernames and every typed answer go
through the real bot, by polling through the stand-in and posted raw to its webhook; the survey and
the menu must work as for anyone else, and nothing must answer "something went wrong".
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator

import aiohttp
import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import texts as bot_texts
from tests.helpers.bot_harness import MAN, BotHarness, free_port, harness, run, survey, texts

SECRET = "s3cret-value"
REFUSED = ("\x00", "\ud800", "\udfff", "\udc80")


async def _fetch(url: str, sql: str, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchrow(sql, *args)
    finally:
        await conn.close()


def _no_apology(events: list[dict]) -> None:
    assert bot_texts.GENERIC_ERROR not in texts(events), texts(events)


def test_a_nul_in_a_username_and_names_does_not_break_the_survey(database_url):
    async def scenario(h: BotHarness):
        zina = h.client.person(3701, "Зи\x00на", "zina\x00probe", last_name="Тест\x00овна")
        events = await survey(zina, {**MAN, "full_name": "Иванов\x00 Иван"})
        _no_apology(events)
        assert any("2792 ккал" in text for text in texts(events)), texts(events)  # the summary
        row = await _fetch(h.database_url, "SELECT username, first_name FROM users WHERE telegram_id = 3701")
        assert row["username"] == "zinaprobe" and "\x00" not in row["first_name"]
        _no_apology(await zina.say("/menu"))
    run(database_url, scenario)


def _update(update_id: int, chat_id: int, text: str, profile: dict) -> dict:
    sender = {"id": chat_id, "is_bot": False, **profile}
    return {"update_id": update_id, "message": {
        "message_id": update_id % 1_000_000, "date": int(time.time()), "text": text,
        "chat": {"id": chat_id, "type": "private", **{k: v for k, v in profile.items() if k != "language_code"}},
        "from": sender, **({"entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}
                           if text.startswith("/") else {})}}


def _raw(update: dict) -> bytes:
    """JSON with lone surrogates as \\uXXXX escapes: valid JSON, exactly as a sender could write it."""
    return json.dumps(update, ensure_ascii=True).encode()


class LiveBot:
    """The stand-in and a webhook bot on one event loop in a thread, for hypothesis' sync examples."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop: asyncio.Event | None = None
        self.h: BotHarness | None = None
        self.url = ""
        self.ids = itertools.count(9 * 10**15 + int(time.time()) * 1000)  # apart from the stand-in's ids
        self.chats = itertools.count(3_800_000)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> LiveBot:
        self._thread.start()
        self.call(self._start())
        return self

    def __exit__(self, *exc) -> None:
        self.call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        self._cm = harness(self.database_url, start=False)
        self.h = await self._cm.__aenter__()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/telegram/webhook"
        await self.h.start_bot(webhook=True, port=port, webhook_url=self.url, webhook_secret=SECRET)
        self.http = aiohttp.ClientSession()
        for _ in range(100):
            try:
                async with self.http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError("the webhook never came up")

    async def _stop(self) -> None:
        await self.http.close()
        await self._cm.__aexit__(None, None, None)

    async def post(self, update: dict) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
        async with self.http.post(self.url, data=_raw(update), headers=headers) as r:
            return r.status


@pytest.fixture(scope="module")
def live_bot(pg_admin_url, migrated_template) -> Iterator[LiveBot]:
    from kbjuctl import localpg

    name = localpg.unique_name("kbju_fuzz")
    url = localpg.create_database(pg_admin_url, name, template=migrated_template)
    try:
        with LiveBot(url) as bot:
            yield bot
    finally:
        localpg.drop_database(pg_admin_url, name)


# Text as it could arrive: any Unicode, with what PostgreSQL refuses mixed in.
# (Built from a list: st.text() leaves out characters it cannot encode, surrogates among them.)
hostile = st.lists(st.one_of(st.characters(), st.sampled_from(REFUSED)), max_size=40).map("".join)
name_like = st.builds(lambda a, b, c: f"{a}{b}{c}", st.sampled_from(["Иван", "Anna", "Ёжик-Ли"]),
                      st.sampled_from(REFUSED), st.sampled_from([" Петров", " Smith", "ов Сидор"]))
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@FUZZ
@given(first=hostile, last=hostile, username=hostile, full_name=st.one_of(hostile, name_like), likes=hostile,
       dislikes=hostile)
def test_every_text_field_posted_to_the_webhook_is_handled(live_bot, first, last, username, full_name, likes,
                                                           dislikes):
    """Profile fields and every typed answer of the survey and the food flow, raw JSON to the webhook."""
    async def example() -> None:
        chat = next(live_bot.chats)
        person = live_bot.h.client.person(chat, "Пред")  # the stand-in knows the chat: the bot can answer it
        await person.say("/cancel")
        profile = {"first_name": first or "X", "last_name": last, "username": username, "language_code": "ru"}
        profile = {k: v for k, v in profile.items() if v}
        answers = ["/start", full_name, MAN["full_name"], MAN["birth_date"], likes, dislikes, "/menu"]
        for text in answers:
            if not text.strip("\x00"):
                continue
            assert await live_bot.post(_update(next(live_bot.ids), chat, text, profile)) == 200
        events = await person.sync()
        _no_apology(events)
        assert [e for e in events if e["kind"] == "message"], "the bot answered nothing"

    live_bot.call(example())


@FUZZ
@given(first=hostile, last=hostile, username=hostile, full_name=st.one_of(hostile, name_like))
def test_every_text_field_through_the_stand_in_is_handled(live_bot, first, last, username, full_name):
    """The same through the stand-in (which refuses lone surrogates, as Telegram would: only NUL and
    the rest of Unicode get through): a whole survey, the profile stored at its end, and the menu."""
    def clean(text: str) -> str:
        return "".join(ch for ch in text if not 0xD800 <= ord(ch) <= 0xDFFF)

    async def example() -> None:
        person = live_bot.h.client.person(next(live_bot.chats), clean(first).strip() or "X", clean(username) or None,
                                          last_name=clean(last) or None)
        _no_apology(await person.say("/start"))
        _no_apology(await person.press("start:v1"))
        name = clean(full_name)
        if name.strip():  # a refused name gets two messages (why, and the question again): let both arrive
            _no_apology(await person.say(name, settle=0.5))
        step = await _fetch(live_bot.database_url, "SELECT step FROM conversations WHERE chat_id = $1", person.chat_id)
        if step["step"] == "full_name":  # the fuzzed name was refused (the replies are sent after the commit)
            _no_apology(await person.say(MAN["full_name"]))
        for step in ("birth_date", "sex", "height", "weight", "steps", "sport", "freq", "waist", "neck", "goal"):
            if step in ("sex", "steps", "sport", "freq", "goal"):
                events = await person.press(f"s:v1:{step}:{MAN[step]}", expect=2 if step == "goal" else 1)
            else:
                events = await person.say(MAN[step])
            _no_apology(events)
        assert any("ккал" in text for text in texts(events)), texts(events)  # the summary, then the reminder offer
        _no_apology(await person.say("/menu"))

    live_bot.call(example())
