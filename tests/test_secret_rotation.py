"""Rotating the webhook secret without a refused delivery: while WEBHOOK_SECRET_PREVIOUS names the old
secret, updates signed with either are taken; the webhook is registered with the new one."""

from __future__ import annotations

import time

import aiohttp

from tests.bot_harness import TOKEN, free_port, run
from tests.test_bot_ops import _healthz_once_up


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
