"""The round-robin front: turns over the replicas, skips one that refuses, passes the secret on."""

from __future__ import annotations

import asyncio

from aiohttp import ClientSession, web

from kbjuctl.loadtest.procs import free_port
from loadtests.front import Front


async def _upstream(name: str, seen: list) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        seen.append((name, request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.json_response({"replica": name})

    app = web.Application()
    app.router.add_post("/telegram/webhook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def _scenario() -> tuple[list, list, dict]:
    seen: list = []
    first, first_url = await _upstream("a", seen)
    second, second_url = await _upstream("b", seen)
    dead_url = f"http://127.0.0.1:{free_port()}"  # nothing listens: a killed replica
    front = Front([first_url, dead_url, second_url])
    runner = web.AppRunner(front.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    statuses = []
    try:
        async with ClientSession() as http:
            for update_id in range(6):
                async with http.post(f"http://127.0.0.1:{port}/telegram/webhook", json={"update_id": update_id},
                                     headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}) as resp:
                    statuses.append(resp.status)
            async with http.get(f"http://127.0.0.1:{port}/_front/stats") as resp:
                stats = await resp.json()
    finally:
        await runner.cleanup()
        await first.cleanup()
        await second.cleanup()
    return statuses, seen, stats


def test_round_robin_skips_a_replica_that_refuses_connections():
    statuses, seen, stats = asyncio.run(_scenario())
    assert statuses == [200] * 6
    assert [update["update_id"] for _name, _secret, update in seen] == list(range(6))  # each once, none lost
    assert {secret for _name, secret, _update in seen} == {"s3cret"}
    assert {name for name, _secret, _update in seen} == {"a", "b"}
    assert stats["forwarded"][1] == 0 and stats["refused"][1] >= 1
    assert stats["forwarded"][0] + stats["forwarded"][2] == 6
