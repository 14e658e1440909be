"""The webhook server as a load balancer sees it (both found by the rolling-upgrade drill):

- its drain on SIGTERM: /healthz says "draining" at once while the listener still serves, updates
  already in flight finish and are acknowledged, and only after WEBHOOK_DRAIN_SECONDS does the
  listener close;
- its readiness under load: a replica whose every pool connection is busy still says the database
  answers, or a balancer takes busy replicas out one after the other (503 for everyone).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

import aiohttp
import asyncpg

from tests.helpers.bot_harness import TOKEN, free_port, kbjuctl_env, run, start_kbjuctl

SECRET = "drain-s3cret-value"
DRAIN_S = 2.0


def _update(update_id: int, user_id: int, text: str) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": int(time.time()), "text": text, "chat": {"id": user_id, "type": "private"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Вера"}}}


async def _healthz(http: aiohttp.ClientSession, port: int) -> tuple[int, str] | None:
    """(status, body) of /healthz, or None when nothing listens."""
    try:
        async with http.get(f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=3)) as r:
            return r.status, await r.text()
    except aiohttp.ClientConnectorError:
        return None


async def _until(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def test_sigterm_drains_the_webhook_server_before_closing_it(database_url, tmp_path):
    log = tmp_path / "bot.log"

    async def scenario(h):
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        env = kbjuctl_env(BOT_TOKEN=TOKEN, DATABASE_URL=database_url, TELEGRAM_API_URL=h.url, METRICS_PORT="0",
                          WEBHOOK_URL=url, WEBHOOK_SECRET=SECRET, WEBHOOK_LISTEN="127.0.0.1",
                          WEBHOOK_PORT=str(port), WEBHOOK_DRAIN_SECONDS=str(DRAIN_S))
        with log.open("wb") as out:
            bot = start_kbjuctl(["run", "--webhook"], env, stdout=out, stderr=subprocess.STDOUT)
        try:
            async with aiohttp.ClientSession() as http:
                assert (await _until(lambda: _healthz(http, port)))[0] == 200
                await h.person(4002).say("/start")  # warm: the bot serves through its webhook
                # Every reply now takes 1.5 s at the Bot API: an update stays in flight at the bot.
                await h.client.set_faults(delay_ms=1500, rate_delay=1.0, methods=["sendMessage"])
                vera = h.person(4001, "Вера")
                in_flight = asyncio.create_task(vera.say("/start", timeout=20))
                await asyncio.sleep(0.5)
                bot.send_signal(signal.SIGTERM)
                signalled = time.monotonic()

                # Readiness fails at once, while the listener still answers (so a balancer stops routing).
                status = await _until(lambda: _not_ready(http, port), timeout=5)
                assert status[0] == 503 and "draining" in status[1], status
                # A balancer that has not noticed yet still gets its update handled, on a closing connection.
                headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                async with http.post(url, json=_update(10**12, 4002, "/start"), headers=headers) as r:
                    assert r.status == 200
                    assert r.headers.get("Connection", "").lower() == "close"

                # The update that was in flight at SIGTERM is answered, and acknowledged to the Bot API.
                events = await in_flight
                assert any(e["kind"] == "message" for e in events)
                stats = await h.client.stats()
                assert stats["updates"]["pending"] == 0, stats

                # The listener closes only after the drain delay, then the process exits 0.
                await _until(lambda: _closed(http, port), timeout=DRAIN_S + 10)
                assert time.monotonic() - signalled >= DRAIN_S - 0.3
                assert await asyncio.to_thread(bot.wait, 40) == 0
        finally:
            if bot.poll() is None:
                bot.kill()
                bot.wait(10)

    async def _closed(http, port) -> bool:
        return await _healthz(http, port) is None

    async def _not_ready(http, port) -> tuple[int, str] | None:
        status = await _healthz(http, port)
        return None if status is not None and status[0] == 200 else status or (0, "not listening")

    run(database_url, scenario, start=False)
    text = log.read_text(errors="replace")
    assert "draining" in text and "Traceback" not in text, text[-3000:]


def test_healthz_says_ready_while_every_pool_connection_is_busy(database_url):
    async def scenario(h):
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        await h.start_bot(webhook=True, port=port, webhook_url=url, webhook_secret=SECRET, db_pool_min=1,
                          db_pool_max=2)
        blocker = await asyncpg.connect(database_url)
        try:
            async with aiohttp.ClientSession() as http:
                assert (await _until(lambda: _healthz(http, port)))[0] == 200
                # Every turn now waits for this lock while holding a pool connection: the pool is busy,
                # the database still answers.
                tx = blocker.transaction()
                await tx.start()
                await blocker.execute("LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE")
                waiting = [asyncio.create_task(h.person(5000 + i).say("/start", timeout=30)) for i in range(4)]
                await _until(lambda: _turns_waiting(database_url, 2), timeout=10)
                started = time.monotonic()
                assert (await _healthz(http, port))[0] == 200
                assert time.monotonic() - started < 0.9  # its own connection: no queue behind the turns
                await tx.rollback()
                for task in waiting:
                    assert await task
        finally:
            await blocker.close()

    run(database_url, scenario, start=False)


async def _turns_waiting(database_url: str, count: int) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                   "AND application_name = 'kbju-bot'") >= count
    finally:
        await conn.close()
