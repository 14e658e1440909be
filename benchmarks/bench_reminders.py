"""Benchmark of weekly reminders: a backlog of N due reminders drained through the bulk budget, with
people chatting meanwhile, against the Bot API stand-in enforcing Telegram's sending limits.

The bot runs as `kbjuctl run` (polling) in its own process with the default budget (30 messages/s);
the stand-in and the people share this process. N people with a reminder whose slot began ten
minutes ago are seeded straight into PostgreSQL, all due at once (the worst case: the spread over
the hour that `bot.domain.reminders.spread_seconds` gives is undone, as after a restart with a
backlog). Meanwhile K people each send /menu every two seconds; their replies' latency is measured
during the drain and after it. The stand-in answers 429 when the bot goes over Telegram's limits
(30/s overall, 1/s per chat), so "429s" says whether the budget held.

Prints figures only (not a test). Usage:
  python benchmarks/bench_reminders.py [--people 3000] [--chatting 20] [--rate 30]
The physical bound: at R messages a second, 100,000 reminders take at least 100,000 / R seconds
(55.6 minutes at 30/s); the figures show how close the bot comes and what it costs the people
chatting meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_bot import drop_databases, fresh_database, pct  # noqa: E402
from tgstandin import people  # noqa: E402
from tgstandin.faults import FaultConfig  # noqa: E402
from tgstandin.server import BotApiStandin  # noqa: E402

TOKEN = "123456789:AAEhBP0av28Sn3N9sRgFwhyUbmEr0qJ4hQk"
FIRST_ID = 1_000_000
REMINDER_START = "Пора сделать замеры"
PHYSICAL_PEOPLE = 100_000


def seed(url: str, n: int) -> None:
    """N registered people, each with a reminder whose slot began 10 minutes ago, all due now."""
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    measured = date.today() - timedelta(days=20)
    ids = range(FIRST_ID, FIRST_ID + n)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY users (telegram_id, first_name, sex) FROM STDIN") as copy:
            for i in ids:
                copy.write_row((i, "Тест", "male"))
        with cur.copy("COPY user_records (telegram_id, date, weight, waist, neck, height, goal, steps, sport_type, "
                      "sport_freq) FROM STDIN") as copy:
            for i in ids:
                copy.write_row((i, measured, 80, 90, 40, 180, "healthy", "0-3000", "none", "1-2"))
        with cur.copy("COPY conversations (chat_id, user_id) FROM STDIN") as copy:
            for i in ids:
                copy.write_row((i, i))
        with cur.copy("COPY reminders (telegram_id, chat_id, weekday, hour, timezone, slot_at, due_at) "
                      "FROM STDIN") as copy:
            for i in ids:
                copy.write_row((i, i, slot.weekday(), slot.hour, "UTC", slot, slot + timedelta(seconds=1)))
        cur.execute("ANALYZE")


def start_bot(url: str, database_url: str, rate: float) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_", "DATABASE_", "REMINDER_"))}
    env.update(BOT_TOKEN=TOKEN, TELEGRAM_API_URL=url, DATABASE_URL=database_url, METRICS_PORT="0",
               LOG_LEVEL="WARNING", BOT_MAX_SEND_RATE=str(rate), REMINDER_QUIET_HOURS="0-0",  # any time of day
               FUNNEL_DELAY_SECONDS="3600")
    return subprocess.Popen([sys.executable, "-m", "kbjuctl", "run"], cwd=ROOT, env=env)


async def chat(bot, uid: int, until: asyncio.Event, latencies: list[tuple[float, float]]) -> None:
    """Someone sending /menu every 2 s: (sent at, seconds to the reply) each time."""
    chat = bot.chat(uid)
    while not until.is_set():
        after = chat.log.last_seq if uid in bot.chats else 0
        started = time.monotonic()
        people.say(bot, uid, "/menu", {"first_name": "Тест"})
        while True:
            events = await bot.chat(uid).log.wait(after, 1, 60)
            replies = [e for e in events if e["kind"] == "message"]
            if replies:
                latencies.append((started, replies[0]["ts"] - started))
                break
            after = events[-1]["seq"] if events else after
        await asyncio.sleep(2.0)


async def run(n: int, chatting: int, rate: float) -> dict:
    url = fresh_database()
    seed(url, n)
    async with BotApiStandin() as standin:
        standin.state.faults.configure(FaultConfig.from_json({
            "flood_control": True, "per_chat_per_second": 1.0, "per_chat_burst": 3, "global_per_second": rate,
            "global_burst": int(rate)}))
        bot = standin.state.bot(TOKEN)
        for i in range(FIRST_ID, FIRST_ID + n):  # the people wrote to the bot once, long ago
            bot.chat(i).known = True
        talkers = list(range(500, 500 + chatting))
        proc = start_bot(standin.url, url, rate)
        try:
            latencies: list[tuple[float, float]] = []
            stop = asyncio.Event()
            started = time.monotonic()
            tasks = [asyncio.create_task(chat(bot, uid, stop, latencies)) for uid in talkers]
            pending, arrived = set(range(FIRST_ID, FIRST_ID + n)), []
            while pending:
                await asyncio.sleep(0.5)
                for i in list(pending):
                    times = [e["ts"] for e in bot.chat(i).log.events if e["kind"] == "message"
                             and REMINDER_START in e["message"].get("text", "")]
                    if times:
                        arrived.append(times[0])
                        pending.discard(i)
                if time.monotonic() - started > n / rate * 3 + 120:
                    raise TimeoutError(f"only {len(arrived)} of {n} reminders arrived")
            first, last = min(arrived), max(arrived)
            doubles = sum(1 for i in range(FIRST_ID, FIRST_ID + n) for e in bot.chat(i).log.events
                          if e["kind"] == "message") - n
            drained_at = time.monotonic()
            await asyncio.sleep(10)  # people chatting after the drain, for comparison
            stop.set()
            await asyncio.gather(*tasks)
            cpu = psutil.Process(proc.pid).cpu_times()
        finally:
            proc.terminate()
            proc.wait(30)
    during = [lat for at, lat in latencies if first is not None and first <= at <= drained_at]
    after = [lat for at, lat in latencies if at > drained_at]
    injected = dict(standin.state.faults.injected)
    return {"n": n, "seconds": last - first, "rate": (n - 1) / (last - first), "during": during, "after": after,
            "429s": sum(v for k, v in injected.items() if "429" in str(k)), "bot_cpu_s": cpu.user + cpu.system,
            "doubles": doubles}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=3000, help="reminders due at once")
    parser.add_argument("--chatting", type=int, default=20, help="people sending /menu every 2 s meanwhile")
    parser.add_argument("--rate", type=float, default=30.0, help="the bulk budget, messages a second")
    args = parser.parse_args()
    try:
        r = asyncio.run(run(args.people, args.chatting, args.rate))
    finally:
        drop_databases()
    bound_min = PHYSICAL_PEOPLE / args.rate / 60
    print(f"machine: {platform.machine()}, os.cpu_count() = {os.cpu_count()}, Python {platform.python_version()}")
    print(f"reminders: {r['n']:,} due at once, drained in {r['seconds']:.1f} s = {r['rate']:.1f}/s "
          f"(budget {args.rate:g}/s; 429s from the stand-in's Telegram limits: {r['429s']}; "
          f"sent twice: {r['doubles']})")
    print(f"100,000 reminders: at least {bound_min:.1f} min at {args.rate:g}/s (physical bound); "
          f"at the measured rate {PHYSICAL_PEOPLE / r['rate'] / 60:.1f} min")
    print(f"bot CPU: {r['bot_cpu_s']:.1f} s in all, {r['bot_cpu_s'] / r['n'] * 1000:.2f} ms per reminder "
          "(an upper bound: it includes the chatting people's updates)")
    for label, values in (("during the drain", r["during"]), ("after it", r["after"])):
        if values:
            print(f"/menu replies {label}: {len(values)} - p50 {pct(values, 50) * 1000:.0f} ms, "
                  f"p95 {pct(values, 95) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
