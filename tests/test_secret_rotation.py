"""Rotating secrets without a refused update (docs/security.md): the webhook secret, while
WEBHOOK_SECRET_PREVIOUS names the old one; the bot's database password, by alternating two logins."""

from __future__ import annotations

import secrets
import time

import aiohttp
import asyncpg
import psycopg

from kbjuctl.roles import ensure_login
from tests.helpers.bot_harness import MAN, TOKEN, _healthz_once_up, free_port, run, survey, texts
from tests.helpers.roles import as_role


def _update(update_id: int) -> dict:
    return {"update_id": update_id, "message": {"message_id": 1, "date": int(time.time()), "text": "/start",
                                                "chat": {"id": 4301, "type": "private"},
                                                "from": {"id": 4301, "is_bot": False, "first_name": "X"}}}


def test_both_secrets_are_taken_during_a_rotation_and_the_new_one_is_registered(database_url):
    async def scenario(h):
        await h.client.send(4301, "/cancel", first_name="X")  # the stand-in knows the chat: the bot can answer
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        stop = await h.start_bot(webhook=True, port=port, webhook_url=url, webhook_secret="new-secret",
                                 webhook_secret_previous="old-secret")
        async with aiohttp.ClientSession() as http:
            assert await _healthz_once_up(http, port) == 200
            async with http.post(f"{h.url}/bot{TOKEN}/getWebhookInfo") as r:
                assert (await r.json())["result"]["url"] == url
            statuses = []
            for n, secret in enumerate(("old-secret", "new-secret", "other")):
                async with http.post(url, json=_update(9_100 + n),
                                     headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as r:
                    statuses.append(r.status)
            assert statuses == [200, 200, 403]
        stop.set()
        await h.stop_bots()
        await h.start_bot(webhook=True, port=port, webhook_url=url, webhook_secret="new-secret")
        async with aiohttp.ClientSession() as http:
            assert await _healthz_once_up(http, port) == 200
            async with http.post(url, json=_update(9_200), headers={"X-Telegram-Bot-Api-Secret-Token": "old-secret"}
                                 ) as r:
                assert r.status == 403  # the rotation is over: the old secret is refused
    run(database_url, scenario, start=False)


def test_the_bots_database_password_is_rotated_by_alternating_two_logins_without_a_refused_update(database_url):
    """docs/security.md's procedure: login B is made beside A, a replica on B starts, the one on A
    stops, and A is retired (NOLOGIN). A person keeps talking to the bot throughout."""
    names = [f"kbju_bot_rot_{secrets.token_hex(3)}_{suffix}" for suffix in "ab"]
    passwords = [secrets.token_urlsafe(24) for _ in names]

    async def scenario(h):
        ensure_login(database_url, names[0], passwords[0], "kbju_bot")
        h.database_url = as_role(database_url, names[0], passwords[0])  # what the next bot connects as
        first = await h.start_bot()
        anna = h.person(4401)
        await survey(anna, MAN, upto="weight")
        ensure_login(database_url, names[1], passwords[1], "kbju_bot")
        h.database_url = as_role(database_url, names[1], passwords[1])
        await h.start_bot()
        await anna.say(MAN["weight"])  # two replicas, one per login
        first.set()
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute(f'ALTER ROLE "{names[0]}" NOLOGIN')
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", names[0])
        finally:
            await admin.close()
        for step in ("steps", "sport", "freq"):
            await anna.press(f"s:v1:{step}:{MAN[step]}")
        await anna.say(MAN["waist"])
        await anna.say(MAN["neck"])
        events = await anna.press("s:v1:goal:healthy", expect=2)
        assert any("2792 ккал" in text for text in texts(events)), texts(events)

    try:
        run(database_url, scenario, start=False)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            for name in names:
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                    conn.execute(f'DROP OWNED BY "{name}"')
                    conn.execute(f'DROP ROLE "{name}"')
