"""Several `kbjuctl run` polling processes on one token and one database: exactly one polls, the others
stand by; a standby takes over when the leader is SIGKILLed or its lock connection is ended. Real
processes, the real stand-in over HTTP, the real PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import urllib.request

import psycopg
import pytest

from kbjuctl import dburl
from tests.helpers.bot_harness import TOKEN, free_port, kbjuctl_env, start_kbjuctl, texts
from tgstandin import BotApiStandin, StandinClient

pytestmark = pytest.mark.slow  # starts processes: not in a fast run
TAKEOVER_TARGET_S = 10.0


def _leader_gauge(port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("kbju_polling_leader "):
            return float(line.split()[1])
    return None


async def _leaders(ports: dict[int, int]) -> list[int]:
    """Indexes of the replicas whose metrics say they hold the lease."""
    values = await asyncio.gather(*(asyncio.to_thread(_leader_gauge, port) for port in ports.values()))
    return [index for index, value in zip(ports, values, strict=True) if value == 1.0]


async def _one_leader(ports: dict[int, int], timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        leaders = await _leaders(ports)
        if len(leaders) == 1:
            return leaders[0]
        assert len(leaders) < 2, f"two replicas hold the polling lease: {leaders}"
        await asyncio.sleep(0.1)
    raise AssertionError("no replica took the polling lease")


async def _answered(person, text: str, timeout_s: float = 20) -> float:
    """Seconds until the bot answers `text` (what a person waits)."""
    started = time.monotonic()
    events = await person.say(text, timeout=timeout_s)
    assert texts(events), f"no answer to {text!r}"
    return time.monotonic() - started


def test_one_poller_of_three_and_a_standby_takes_over_when_the_leader_dies_or_loses_its_lock(database_url):
    name = dburl.database_name(database_url)

    async def scenario() -> None:
        async with BotApiStandin() as standin, StandinClient(standin.url, token=TOKEN) as client:
            ports = {index: free_port() for index in range(3)}
            bots = {index: start_kbjuctl(["run"], kbjuctl_env(
                BOT_TOKEN=TOKEN, DATABASE_URL=database_url, TELEGRAM_API_URL=standin.url,
                METRICS_PORT=str(port), LOG_LEVEL="INFO"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True) for index, port in ports.items()}
            try:
                leader = await _one_leader(ports)
                person = client.person(5005, "Лиза")
                await _answered(person, "/start")

                bots[leader].send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                del ports[leader]
                new_leader = await _one_leader(ports)
                took_over = time.monotonic() - killed_at
                waited = await _answered(person, "/menu")
                print(f"\nleader SIGKILLed: replica {new_leader} holds the lease after {took_over:.2f} s; "
                      f"first reply {time.monotonic() - killed_at:.2f} s after the kill ({waited:.2f} s wait); "
                      f"target {TAKEOVER_TARGET_S:.0f} s; {__import__('os').cpu_count()} cores")

                with psycopg.connect(database_url, autocommit=True) as conn:  # its lock connection ends
                    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                                 "AND application_name = 'kbju-bot-lease' AND state <> 'active' "
                                 "AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)",
                                 (name,))
                cut_at = time.monotonic()
                await asyncio.sleep(1.5)  # the leader notices within its check interval
                leader_again = await _one_leader(ports)
                await _answered(person, "/data")
                print(f"lock connection ended: replica {leader_again} holds the lease "
                      f"{time.monotonic() - cut_at:.2f} s later")
                stats = await client.stats()
                assert sum(bot["updates"]["concurrent_polls"] for bot in stats["bots"]) == 0
            finally:
                for process in bots.values():
                    if process.poll() is None:
                        process.send_signal(signal.SIGTERM)
                logs = {index: process.communicate(timeout=30)[0] for index, process in bots.items()}
            assert "polling lease lost" in logs[new_leader] or "polling lease lost" in "".join(logs.values())
            assert sum(log.count("polling lease acquired") for log in logs.values()) >= 3
            assert not any("Traceback" in log for index, log in logs.items() if index != leader), logs

    asyncio.run(scenario())
