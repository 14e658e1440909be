"""A conversation left in the middle (a survey never finished, no /cancel) does not keep the answers
typed so far forever: the maintenance loop forgets them after CONVERSATION_RETENTION_DAYS (30)."""

from __future__ import annotations

import asyncio
import json

import asyncpg

from bot.db import conversations
from tests.helpers.bot_harness import MAN, run, survey


async def _rows(url: str) -> dict[int, asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return {r["chat_id"]: r for r in await conn.fetch("SELECT chat_id, flow, step, answers, version "
                                                          "FROM conversations")}
    finally:
        await conn.close()


async def _sql(url: str, sql: str, *args) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


def test_purge_forgets_only_conversations_idle_past_the_retention(database_url):
    answers = json.dumps({"full_name": "Иванов Иван", "birth_date": "1990-06-15"})

    async def body() -> None:
        await _sql(database_url, """
            INSERT INTO conversations (chat_id, user_id, flow, step, answers, version, updated_at) VALUES
              (1, 1, 'survey', 'sex', $1::jsonb, 3, now() - interval '31 days'),
              (2, 2, 'survey', 'sex', $1::jsonb, 3, now() - interval '29 days'),
              (3, 3, NULL, NULL, '{}', 7, now() - interval '90 days')""", answers)
        conn = await asyncpg.connect(database_url)
        try:
            assert await conversations.purge_abandoned(conn, older_than_days=30) == 1
            assert await conversations.purge_abandoned(conn, older_than_days=30) == 0
        finally:
            await conn.close()
        rows = await _rows(database_url)
        assert (rows[1]["flow"], rows[1]["step"], rows[1]["answers"], rows[1]["version"]) == (None, None, "{}", 4)
        assert rows[2]["flow"] == "survey" and json.loads(rows[2]["answers"])["full_name"] == "Иванов Иван"
        assert rows[3]["version"] == 7

    asyncio.run(body())


def test_the_running_bot_forgets_an_abandoned_survey_and_the_person_starts_afresh(database_url):
    async def scenario(h):
        ivan = h.person(3901)
        await survey(ivan, MAN, upto="sex")
        assert (await _rows(database_url))[3901]["step"] == "sex"
        await h.stop_bots()
        await _sql(database_url, "UPDATE conversations SET updated_at = now() - interval '31 days'")
        await h.start_bot()  # its maintenance loop purges on its first tick
        for _ in range(100):
            row = (await _rows(database_url))[3901]
            if row["flow"] is None:
                break
            await asyncio.sleep(0.1)
        assert (row["flow"], row["answers"]) == (None, "{}")
        events = await ivan.press("s:v1:sex:male", strict=False, expect=0)  # the question of a forgotten survey
        assert [e for e in events if e["kind"] == "callback_answer" and "устарела" in (e.get("text") or "")], events

    run(database_url, scenario)
