"""The webhook under hostile bodies, with the right secret (a leaked secret, or a proxy passing
anything on): oversized bodies are refused before they are buffered, by Content-Length or, for a
chunked body without one, as soon as the read passes the limit; deeply nested JSON is a 400.

The memory test drives the real bot process (`kbjuctl run --webhook`) and measures its RSS with
psutil; it prints the figures (`./scripts/test.sh -s tests/test_webhook_limits.py -k memory`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import threading
import time

import aiohttp
import psutil
import pytest

from bot.transport.webhook import MAX_UPDATE_BYTES
from tests.helpers.bot_harness import TOKEN, _healthz_once_up, free_port, kbjuctl_env, run, start_kbjuctl

SECRET = "s3cret-value"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
BIG = 10 * 1024 * 1024
POSTS, CHUNKED_POSTS, AT_ONCE = 300, 100, 100
RSS_BUDGET = 50 * 1024 * 1024


def test_deeply_nested_json_is_a_400_and_no_traceback(database_url, caplog):
    async def scenario(h):
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        await h.start_bot(webhook=True, port=port, webhook_url=url, webhook_secret=SECRET)
        async with aiohttp.ClientSession() as http:
            assert await _healthz_once_up(http, port) == 200
            for body in (b"[" * 5000, b'{"a":' * 5000, b"[" * 100_000 + b"]" * 100_000):
                async with http.post(url, data=body, headers=HEADERS) as r:
                    assert r.status == 400 and "update" in await r.text()
            # An update of Telegram's shape whose unknown field nests deep (below json's limit).
            deep = b'{"update_id": 9, "message": {"message_id": 1, "date": 1, "chat": {"id": 5, "type": "private"},' \
                   b' "x": ' + b"[" * 900 + b"]" * 900 + b"}}"
            async with http.post(url, data=deep, headers=HEADERS) as r:
                assert r.status in (200, 400)
        ivan = h.person(3501)
        await ivan.say("/start")
        assert "Пройти тест" in str(ivan.buttons(ivan.last_message()))
    run(database_url, scenario, start=False)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR and "Traceback" in r.getMessage()]


def test_a_body_over_the_limit_is_a_413_with_or_without_content_length(database_url):
    async def scenario(h):
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        await h.start_bot(webhook=True, port=port, webhook_url=url, webhook_secret=SECRET)
        async with aiohttp.ClientSession() as http:
            assert await _healthz_once_up(http, port) == 200
            async with http.post(url, data=b" " * (MAX_UPDATE_BYTES + 1), headers=HEADERS) as r:
                assert r.status == 413

            async def chunks():
                for _ in range(4):
                    yield b" " * (MAX_UPDATE_BYTES // 2)
                    await asyncio.sleep(0)

            try:
                async with http.post(url, data=chunks(), headers=HEADERS) as r:
                    assert r.status == 413
            except aiohttp.ClientError:
                pass  # refused and closed while the client was still sending: refused all the same
            # A body under the limit, padded with whitespace, is still an update.
            update = b'{"update_id": 77, "message": 5}' + b" " * (MAX_UPDATE_BYTES - 100)
            async with http.post(url, data=update, headers=HEADERS) as r:
                assert r.status == 200
    run(database_url, scenario, start=False)


class RssSampler:
    """The peak RSS of one process, sampled every 20 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def _flood(url: str) -> dict[str, int]:
    """POSTS bodies of 10 MB with Content-Length and CHUNKED_POSTS without, AT_ONCE at a time."""
    body = b"{" + b" " * (BIG - 1)
    outcomes: dict[str, int] = {}
    gate = asyncio.Semaphore(AT_ONCE)

    async def chunked():
        piece = b" " * (64 * 1024)
        for _ in range(BIG // len(piece)):
            yield piece

    async def post(http: aiohttp.ClientSession, chunked_body: bool) -> None:
        async with gate:
            try:
                async with http.post(url, data=chunked() if chunked_body else body, headers=HEADERS) as r:
                    key = str(r.status)
            except (aiohttp.ClientError, ConnectionError) as exc:
                key = type(exc).__name__
            outcomes[key] = outcomes.get(key, 0) + 1

    connector = aiohttp.TCPConnector(limit=AT_ONCE, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
        await asyncio.gather(*(post(http, i >= POSTS) for i in range(POSTS + CHUNKED_POSTS)))
    return outcomes


async def _up(port: int, bot: subprocess.Popen, timeout: float = 60) -> bool:
    """The bot process's webhook server answers /healthz with 200 (False: it never did, or exited)."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline and bot.poll() is None:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return True
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    return False


@pytest.mark.slow
def test_oversized_bodies_keep_the_bots_memory_flat(database_url):
    async def scenario(h):
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        env = kbjuctl_env(BOT_TOKEN=TOKEN, DATABASE_URL=database_url, TELEGRAM_API_URL=h.url, METRICS_PORT="0",
                          WEBHOOK_URL=url, WEBHOOK_SECRET=SECRET, WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port))
        bot = start_kbjuctl(["run", "--webhook"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert await _up(port, bot)
            people = [h.person(3600 + i) for i in range(5)]
            for person in people:  # warm: every code path of an ordinary update has run once
                await person.say("/start")
            before = psutil.Process(bot.pid).memory_info().rss
            with RssSampler(bot.pid) as sampler:
                started = time.monotonic()
                flood = asyncio.ensure_future(_flood(url))
                await asyncio.sleep(0.5)
                reply_started = time.monotonic()
                await people[0].say("/start")  # an ordinary update in the middle of the flood
                reply_s = time.monotonic() - reply_started
                outcomes = await flood
                flood_s = time.monotonic() - started
            after = psutil.Process(bot.pid).memory_info().rss
            print(f"\nwebhook flood: {POSTS} x 10 MB with Content-Length + {CHUNKED_POSTS} x 10 MB chunked, "
                  f"{AT_ONCE} at a time, on {os.cpu_count()} cores: bot RSS {before / 2**20:.0f} MiB before, "
                  f"peak {sampler.peak / 2**20:.0f} MiB (+{(sampler.peak - before) / 2**20:.1f}), "
                  f"{after / 2**20:.0f} MiB after; flood {flood_s:.1f} s; a reply during it {reply_s:.2f} s; "
                  f"answers {outcomes}")
            assert sampler.peak - before <= RSS_BUDGET
            assert set(outcomes) <= {"413", "ClientOSError", "ServerDisconnectedError", "ClientPayloadError"}
            await people[1].say("/start")  # still serving
        finally:
            bot.terminate()
            bot.wait(30)
    run(database_url, scenario, start=False)
