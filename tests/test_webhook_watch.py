"""Telegram's view of the bot's updates (bot.webhook_watch): the real bot reads getWebhookInfo from the
Bot API stand-in and its /metrics page shows the pending updates, the webhook's last error and when it
last got an answer; the error's text never appears there."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bot import webhook_watch
from tests.helpers.bot_harness import TOKEN, free_port, run

SECRET = "s3cret-value"
GAUGES = ("kbju_telegram_pending_updates", "kbju_telegram_webhook_last_error_timestamp_seconds",
          "kbju_telegram_webhook_info_success_timestamp_seconds", "kbju_telegram_webhook_info_interval_seconds",
          "kbju_telegram_webhook_errors_total")


def samples(page: str) -> dict[str, float]:
    """The unlabelled samples of GAUGES on a /metrics page."""
    found = {}
    for line in page.splitlines():
        name, _, value = line.partition(" ")
        if name in GAUGES:
            found[name] = float(value)
    return found


async def scrape(http: aiohttp.ClientSession, port: int) -> str:
    async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
        assert r.status == 200
        return await r.text()


async def until(http: aiohttp.ClientSession, port: int, what: str, ok) -> tuple[str, dict[str, float]]:
    """Scrape until ok(samples) holds (each check of the bot runs every 0.1 s here); fails after 20 s."""
    for _ in range(200):
        page = await scrape(http, port)
        values = samples(page)
        if ok(values):
            return page, values
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: never so; last seen {values}")


async def webhook_info(http: aiohttp.ClientSession, standin: str) -> dict:
    async with http.post(f"{standin}/bot{TOKEN}/getWebhookInfo") as r:
        return (await r.json())["result"]


def test_the_webhook_backlog_and_its_delivery_errors_become_metrics_without_the_error_text(database_url):
    async def scenario(h):
        port, metrics_port = free_port(), free_port()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        await h.start_bot(webhook=True, port=port, webhook_url=url, webhook_secret=SECRET, metrics_host="127.0.0.1",
                          metrics_port=metrics_port, telegram_info_interval_seconds=0.1)
        async with aiohttp.ClientSession() as http:
            _, healthy = await until(http, metrics_port, "a first answer of getWebhookInfo",
                                     lambda v: v.get("kbju_telegram_webhook_info_success_timestamp_seconds", 0) > 0)
            assert healthy["kbju_telegram_pending_updates"] == 0
            assert healthy["kbju_telegram_webhook_last_error_timestamp_seconds"] == 0
            assert healthy["kbju_telegram_webhook_info_interval_seconds"] == 0.1
            errors_before = healthy["kbju_telegram_webhook_errors_total"]

            # The webhook moved to a port nothing listens on (a dead balancer): Telegram keeps the updates
            # and reports why it cannot deliver them.
            dead = f"http://127.0.0.1:{free_port()}/telegram/webhook"
            async with http.post(f"{h.url}/bot{TOKEN}/setWebhook", json={"url": dead, "secret_token": SECRET}) as r:
                assert (await r.json())["ok"]
            for n in range(3):
                await h.client.send(4501, f"привет {n}", first_name="Вера")
            page, failing = await until(
                http, metrics_port, "three pending updates and a delivery error",
                lambda v: v["kbju_telegram_pending_updates"] == 3
                and v["kbju_telegram_webhook_last_error_timestamp_seconds"] > 0)
            info = await webhook_info(http, h.url)
            assert info["pending_update_count"] == 3 and info["last_error_message"]
            assert failing["kbju_telegram_webhook_last_error_timestamp_seconds"] <= info["last_error_date"]
            assert failing["kbju_telegram_webhook_info_success_timestamp_seconds"] >= \
                failing["kbju_telegram_webhook_last_error_timestamp_seconds"]
            _, counted = await until(http, metrics_port, "the new error counted",
                                     lambda v: v["kbju_telegram_webhook_errors_total"] > errors_before)
            for line in page.splitlines():
                if line.startswith("kbju_telegram"):
                    assert "{" not in line, line  # no label at all, least of all the error's text
            assert info["last_error_message"] not in page and dead not in page

            assert counted["kbju_telegram_webhook_last_error_timestamp_seconds"] > 0

            # Back to the bot: Telegram delivers the backlog, the pending count drops to 0, and the
            # gauge says what getWebhookInfo says of the last error (the new webhook has had none).
            async with http.post(f"{h.url}/bot{TOKEN}/setWebhook", json={"url": url, "secret_token": SECRET}) as r:
                assert (await r.json())["ok"]
            _, recovered = await until(http, metrics_port, "the backlog delivered",
                                       lambda v: v["kbju_telegram_pending_updates"] == 0)
            info = await webhook_info(http, h.url)
            assert info["pending_update_count"] == 0
            assert recovered["kbju_telegram_webhook_last_error_timestamp_seconds"] == info.get("last_error_date", 0)
    run(database_url, scenario, start=False)


def test_in_polling_mode_the_pending_count_is_the_getupdates_backlog(database_url):
    async def scenario(h):
        metrics_port = free_port()
        await h.start_bot(metrics_host="127.0.0.1", metrics_port=metrics_port, telegram_info_interval_seconds=0.1)
        async with aiohttp.ClientSession() as http:
            _, values = await until(http, metrics_port, "a first answer of getWebhookInfo",
                                    lambda v: v.get("kbju_telegram_webhook_info_success_timestamp_seconds", 0) > 0)
            info = await webhook_info(http, h.url)
            assert info["url"] == "" and "last_error_date" not in info  # no webhook: getUpdates' queue
            assert values["kbju_telegram_pending_updates"] == 0
            assert values["kbju_telegram_webhook_last_error_timestamp_seconds"] == 0
    run(database_url, scenario, start=False)


def test_the_check_can_be_turned_off(database_url):
    async def scenario(h):
        metrics_port = free_port()
        await h.start_bot(metrics_host="127.0.0.1", metrics_port=metrics_port, telegram_info_interval_seconds=0)
        async with aiohttp.ClientSession() as http:
            page = await scrape(http, metrics_port)
        assert samples(page)["kbju_telegram_webhook_info_interval_seconds"] == 0  # KbjuWebhookInfoStale stays quiet
    webhook_watch.info_interval.set(60)  # as a bot that checked before, in this process, left it
    run(database_url, scenario, start=False)


def test_an_answer_without_a_pending_count_is_refused_and_a_moved_error_date_is_counted_once():
    watch = webhook_watch.WebhookWatch()
    with pytest.raises(ValueError, match="pending_update_count"):
        watch.observe({"url": ""}, 1000.0)
    before = webhook_watch.new_errors._value.get()
    watch.observe({"url": "https://x", "pending_update_count": 2, "last_error_date": 900}, 1000.0)  # the baseline
    watch.observe({"url": "https://x", "pending_update_count": 2, "last_error_date": 900}, 1060.0)  # the same error
    watch.observe({"url": "https://x", "pending_update_count": 5, "last_error_date": 1050}, 1120.0)  # a new one
    assert webhook_watch.new_errors._value.get() == before + 1
    assert webhook_watch.pending_updates._value.get() == 5
    assert webhook_watch.last_error._value.get() == 1050
    assert webhook_watch.info_success._value.get() == 1120.0
