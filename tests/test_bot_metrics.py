"""The running bot's /metrics: every name of the docs/bot.md contract, no id in any label, the backup gauge."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.bot_harness import MAN, free_port, run, survey

DOCS = Path(__file__).resolve().parents[1] / "docs" / "bot.md"
CHAT_ID = 730_000_123  # distinctive: must never show up in a label
BACKUP_AT = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)


def contract_names() -> set[str]:
    """Metric names listed in docs/bot.md's Metrics section (the contract with monitoring/)."""
    section = DOCS.read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"`(kbju_[a-z0-9_]+)", section))
    assert len(names) >= 20, names
    return names


async def scrape(port: int) -> list:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        return list(text_string_to_metric_families(await response.text()))


def test_metrics_expose_the_contract_without_ids_and_the_last_backup_time(database_url):
    port = free_port()

    async def scenario(h):
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("INSERT INTO backup_runs (finished_at, path, size_bytes, total_rows, archive_sha256) "
                               "VALUES ($1, '/b/1', 1, 1, $2), ($3, '/b/0', 1, 1, $2)",
                               BACKUP_AT, "0" * 64, datetime(2024, 4, 30, tzinfo=UTC))
        finally:
            await conn.close()
        await h.start_bot(metrics_port=port, metrics_host="127.0.0.1")
        person = h.person(CHAT_ID, "Иван", "ivan_metrics")
        await survey(person, MAN)
        await h.client.press(CHAT_ID, person.last_message()["message_id"], "menu:v1:data", strict=False)
        await person.say("/nonsense")
        for _ in range(100):  # the maintenance loop's first tick runs at start
            families = await scrape(port)
            backup = {(s.name, s.labels.get("kind")): s.value for f in families for s in f.samples}.get(
                ("kbju_backup_last_success_timestamp_seconds", "logical"))
            if backup == BACKUP_AT.timestamp():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"backup gauge is {backup}, expected {BACKUP_AT.timestamp()}")
        # A labelled family nobody incremented yet has its # TYPE line (family name without _total) only.
        exposed = {f.name for f in families} | {s.name for f in families for s in f.samples}
        assert {n for n in contract_names() if n not in exposed and n.removesuffix("_total") not in exposed} == set()
        samples = [s for f in families if f.name.startswith("kbju_") for s in f.samples]
        assert {s.labels.get("kind") for s in samples if s.name == "kbju_updates_received_total"} >= {
            "message", "command", "callback"}
        # Hygiene: no _created series; the long poll is counted but kept out of the latency histogram;
        # the pool's gauge has parts only (they add up to the open connections), its limit apart.
        every = {s.name for f in families for s in f.samples}
        assert not [n for n in every if n.endswith("_created")]
        polls = [s.value for s in samples if s.name == "kbju_bot_api_requests_total"
                 and s.labels["method"] == "getUpdates"]
        assert sum(polls) >= 1, "the harness's bot polls"
        assert not [s for s in samples if s.name.startswith("kbju_bot_api_request_seconds")
                    and s.labels.get("method") == "getUpdates"]
        assert any(s.name == "kbju_bot_api_request_seconds_count" and s.labels["method"] == "sendMessage"
                   for s in samples)
        pool = {s.labels["state"]: s.value for s in samples if s.name == "kbju_db_pool_connections"}
        assert set(pool) == {"idle", "in_use"} and sum(pool.values()) >= 1, pool
        assert [s.value for s in samples if s.name == "kbju_db_pool_max_connections"] == [10]  # the harness's
        ids = {str(CHAT_ID), "ivan_metrics", "Иван"}
        for sample in samples:
            for name, value in sample.labels.items():
                assert not any(i in value for i in ids), (sample.name, name, value)
                assert not re.fullmatch(r"-?\d{5,}", value), (sample.name, name, value)  # no id of any kind
    run(database_url, scenario, start=False)
