"""How the bot's messages leave (bot/transport/sender.py, bot/bulk.py), end to end: the real bot over
HTTP against the stand-in with Telegram's limits on (tgstandin/limits.py), a real PostgreSQL.

Replies go out at once while a bulk backlog waits its budget; a chat that keeps receiving is
paced to what Telegram allows without a single 429; a 429 holds exactly its chat (or every call
when it names none) and nothing is lost; two replicas together keep one bulk budget.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from bot import metrics
from bot.domain import texts as t
from tests.helpers.bot_harness import TOKEN, free_port, run, texts

FUNNEL_SQL = """
INSERT INTO scheduled_jobs (kind, chat_id, run_at, dedupe_key)
SELECT 'funnel', chat, now(), 'funnel:' || chat FROM unnest($1::bigint[]) AS chat
"""


async def _sql(database_url: str, query: str, *args):
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


def _strangers(h, chats: range) -> None:
    """People who wrote to the bot long ago: what it sends them now is unsolicited (bulk)."""
    bot = h.standin.state.bot(TOKEN)
    for chat_id in chats:
        bot.chat(chat_id).known = True


async def _photos(h) -> int:
    return (await h.client.stats())["methods"].get("sendPhoto", 0)


async def _until(condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        await asyncio.sleep(0.05)


def test_a_reply_goes_out_while_a_bulk_backlog_of_1000_funnel_messages_waits(database_url):
    backlog = range(500_000, 501_000)

    async def scenario(h):
        await h.client.set_limits(token=TOKEN)  # Telegram's documented limits
        _strangers(h, backlog)
        await _sql(h.database_url, FUNNEL_SQL, list(backlog))
        await h.start_bot(bot_chat_rate=1.0)  # the shipped defaults: 1/s per chat, 30/s bulk
        await _until(lambda: _photos_at_least(h, 10), what="the backlog to start going out")

        person = h.person(7001)
        events = await person.say("/start")
        assert "Привет" in texts(events)[0] and person.buttons(person.last_message())
        sent = await _photos(h)
        waiting = (await _sql(h.database_url, "SELECT count(*) AS n FROM scheduled_jobs WHERE status <> 'done'"))[0]
        # The reply did not wait its turn behind the backlog (which takes 1000 / 30 = 33 s).
        assert sent < 200 and waiting["n"] > 800, (sent, waiting["n"])
        limits = (await h.client.stats())["limits"]
        assert limits["refused"] == {}  # the bot never went over Telegram's limits: not a single 429
        assert limits["peak_bulk_per_second"]["123456789"] <= 31  # the bulk budget: 30/s

    run(database_url, scenario, start=False)


async def _photos_at_least(h, n: int) -> bool:
    return await _photos(h) >= n


def test_a_chat_that_keeps_receiving_is_paced_without_a_single_429(database_url):
    async def scenario(h):
        await h.client.set_limits(token=TOKEN, per_chat_per_second=2, per_chat_burst=3)
        await h.start_bot(bot_chat_rate=2, bot_chat_burst=3)
        stranger = h.person(7201)
        for _ in range(7):  # not registered: each gets "take the test first", one message
            await h.client.send(7201, "привет")
        events = await stranger.wait(expect=7, timeout=20)
        replies = [e for e in events if e["kind"] == "message"]
        assert [r["message"]["text"] for r in replies] == [t.REGISTER_FIRST] * 7  # nothing lost
        # The first three at once, the other four at two a second.
        assert replies[-1]["ts"] - replies[0]["ts"] >= 1.5
        assert (await h.client.stats())["limits"]["refused"] == {}

    run(database_url, scenario, start=False)


def test_a_429_holds_exactly_that_chat_and_the_reply_follows_after_retry_after(database_url):
    async def scenario(h):
        anna, boris = h.person(7301), h.person(7302)
        await anna.say("/start")
        await boris.say("/start")
        held = metrics.bot_api_flood_waits.labels("chat")._value.get()
        await h.client.set_faults(token=TOKEN, rate_429=1.0, retry_after=2, chats=[7301], methods=["sendMessage"])
        asked = time.monotonic()
        await h.client.send(7301, "/start")
        await _until(lambda: _injected(h, "429"), what="the 429")
        await h.client.clear_faults(token=TOKEN)
        events = await boris.say("/start")  # another chat: not held
        boris_answered = [e for e in events if e["kind"] == "message"][-1]["ts"]
        events = await anna.wait(timeout=10)
        [reply] = [e for e in events if e["kind"] == "message"]  # sent once, after the wait: not lost
        assert boris_answered < reply["ts"]  # Anna's chat waited, Boris's did not
        assert reply["ts"] - asked >= 1.9  # Telegram's retry_after was honoured
        assert "Привет" in reply["message"]["text"]
        assert metrics.bot_api_flood_waits.labels("chat")._value.get() == held + 1

    run(database_url, scenario)


def test_a_429_without_a_chat_holds_every_call(database_url):
    async def scenario(h):
        anna, boris = h.person(7401), h.person(7402)
        await anna.say("/start")
        await boris.say("/start")
        held = metrics.bot_api_flood_waits.labels("global")._value.get()
        await h.client.set_faults(token=TOKEN, rate_429=1.0, retry_after=2, methods=["answerCallbackQuery"])
        pressed = asyncio.create_task(anna.press("start:v1", timeout=15))
        await _until(lambda: _injected(h, "429"), what="the 429")
        refused = time.monotonic()
        await h.client.clear_faults(token=TOKEN)
        events = await boris.say("/menu")  # waits for the hold too: the 429 named no chat
        answered = [e for e in events if e["kind"] == "message"][-1]["ts"]
        assert answered - refused >= 1.5
        assert "фамилию" in texts(await pressed)[-1]  # Anna's press was answered and her survey began
        assert metrics.bot_api_flood_waits.labels("global")._value.get() == held + 1

    run(database_url, scenario)


async def _injected(h, kind: str) -> bool:
    return bool((await h.client.stats())["faults"]["injected"].get(kind))


def test_two_replicas_together_keep_one_bulk_budget(database_url):
    chats = range(600_000, 600_060)

    async def scenario(h):
        # Telegram's bulk limit set to the bots' budget: two replicas each sending at the budget
        # (40/s together) would be refused and would peak far above 20 a second.
        await h.client.set_limits(token=TOKEN, bulk_per_second=20, bulk_burst=5)
        _strangers(h, chats)
        await _sql(h.database_url, FUNNEL_SQL, list(chats))
        for _ in range(2):  # webhook mode without registering a webhook: two replicas, no updates
            await h.start_bot(webhook=True, port=free_port(), webhook_secret="two-replicas", bot_bulk_rate=20)

        async def all_sent() -> bool:
            rows = await _sql(h.database_url, "SELECT count(*) AS n FROM scheduled_jobs WHERE status = 'done'")
            return rows[0]["n"] == len(chats)

        await _until(all_sent, what="every funnel message")
        limits = (await h.client.stats())["limits"]
        assert limits["refused"] == {} and limits["admitted"]["bulk"] == len(chats)
        assert limits["peak_bulk_per_second"]["123456789"] <= 23
        bot = h.standin.state.bot(TOKEN)
        delivered = {c for c in chats if any(m.get("photo") for m in bot.chat(c).messages.values())}
        assert delivered == set(chats)  # every one, once

    run(database_url, scenario, start=False)


def test_the_bulk_budget_is_one_schedule_for_every_replica_and_a_429_pushes_it(database_url):
    """bot.db.send_budget directly: two connections (two replicas) taking slots in turn get
    consecutive slots of one schedule; a hold (a 429 on a bulk send) moves every later slot past it."""
    from bot.db import send_budget

    async def scenario() -> None:
        replicas = [await asyncpg.connect(database_url) for _ in range(2)]
        try:
            started = time.monotonic()
            waits = [await send_budget.take_slot(replicas[i % 2], 50) for i in range(50)]
            elapsed = time.monotonic() - started
            assert waits[0] <= 0.01  # an idle budget: the first goes at once
            # 50 slots at 50/s: the last is about a second after the first, whoever took it.
            assert waits[-1] + elapsed >= 0.95
            await send_budget.hold(replicas[0], 5)
            assert await send_budget.take_slot(replicas[1], 50) >= 4.9
        finally:
            for conn in replicas:
                await conn.close()

    asyncio.run(scenario())
