"""Runs the real bot against the Bot API stand-in and a real database, for end-to-end tests.

Tests are plain sync functions that call `run(scenario)`; a scenario is an async function
taking a `BotHarness`. Everything (stand-in, bot, people) shares one event loop per test; the
bot talks to the stand-in over real HTTP exactly as it would to api.telegram.org.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp

from bot.app import serve
from bot.clock import Clock
from bot.config import Settings, load_settings
from tgstandin.client import Person, StandinClient
from tgstandin.server import BotApiStandin

TOKEN = "123456789:AAEhBP0av28Sn3N9sRgFwhyUbmEr0qJ4hQk"
ROOT = Path(__file__).resolve().parents[2]

# The spec's worked example (a man) and a woman, as the survey's answers.
MAN = {"full_name": "Иванов Иван", "birth_date": "15.06.1990", "sex": "male", "height": "180", "weight": "85",
       "steps": "8000-10000", "sport": "running", "freq": "3-4", "waist": "95", "neck": "42", "goal": "healthy"}
WOMAN = {"full_name": "Петрова Анна Сергеевна", "birth_date": "01.02.1995", "sex": "female", "height": "165",
         "weight": "60,5", "steps": "5000-8000", "sport": "yoga", "freq": "1-2", "waist": "70", "neck": "32",
         "hip": "96", "goal": "athletic"}


def bot_settings(database_url: str, api_url: str, **overrides: object) -> Settings:
    """The bot's settings for a test. People here answer at once, faster than anyone types, and the
    stand-in enforces no limits unless a test turns them on: so no per-chat pacing either (tests of
    the sender turn it on)."""
    values = {"database_url": database_url, "bot_token": TOKEN, "telegram_api_url": api_url, "metrics_port": 0,
              "funnel_delay_seconds": 1, "db_pool_min": 1, "db_pool_max": 10, "bot_chat_rate": 0}
    values.update(overrides)
    return load_settings(**values)


class BotHarness:
    def __init__(self, standin: BotApiStandin, client: StandinClient, database_url: str) -> None:
        self.standin = standin
        self.client = client
        self.database_url = database_url
        self._bots: list[tuple[asyncio.Task, asyncio.Event]] = []

    @property
    def url(self) -> str:
        return self.standin.url

    def person(self, user_id: int, first_name: str = "Тест", username: str | None = None) -> Person:
        return self.client.person(user_id, first_name, username)

    async def start_bot(self, *, webhook: bool = False, port: int | None = None, clock: Clock | None = None,
                        **overrides: object) -> asyncio.Event:
        """Start one bot (polling, or webhook on `port`; `clock`: a movable one); returns the event that stops it."""
        settings = bot_settings(self.database_url, self.standin.url, **overrides)
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, webhook=webhook, host="127.0.0.1", port=port, stop=stop,
                                         handle_signals=False, clock=clock))
        self._bots.append((task, stop))
        await asyncio.sleep(0.05)
        if task.done():
            task.result()
        return stop

    @contextlib.asynccontextmanager
    async def background_replica(self, clock: Clock | None = None, **overrides: object) -> AsyncIterator[object]:
        """A second replica that takes no updates: only its background loops (funnel, reminders) run,
        on the same database, as another replica's would."""
        from bot.app import build_application, close_resources, open_resources

        settings = bot_settings(self.database_url, self.standin.url, **overrides)
        app = build_application(settings, clock=clock)
        await app.initialize()
        await open_resources(app)
        try:
            yield app
        finally:
            await close_resources(app)
            await app.shutdown()

    async def stop_bots(self) -> None:
        for _task, stop in self._bots:
            stop.set()
        for task, _ in self._bots:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)
        self._bots.clear()


@contextlib.asynccontextmanager
async def harness(database_url: str, *, start: bool = True, **overrides: object) -> AsyncIterator[BotHarness]:
    async with BotApiStandin() as standin, StandinClient(standin.url, token=TOKEN) as client:
        h = BotHarness(standin, client, database_url)
        try:
            if start:
                await h.start_bot(**overrides)
            yield h
        finally:
            await h.stop_bots()


def run(database_url: str, scenario: Callable[[BotHarness], Awaitable[None]], *, start: bool = True,
        **overrides: object) -> None:
    async def main() -> None:
        async with harness(database_url, start=start, **overrides) as h:
            await scenario(h)
    asyncio.run(main())


async def survey(person: Person, answers: dict[str, str], *, upto: str | None = None,
                 reminder: str | None = "no") -> list[dict]:
    """Drive the registration survey from /start; stop before `upto` (a step name) if given.

    The survey ends with the summary, the KBJU (with the menu) and the offer of a weekly reminder;
    `reminder` answers the offer with that reminder button ("no" by default, so that the menu is the
    last message; None leaves the offer on screen). Returns the bot's events of the last answer,
    without the offer."""
    await person.say("/start")
    await person.press("start:v1")
    events: list[dict] = []
    for step in ("full_name", "birth_date", "sex", "height", "weight", "steps", "sport", "freq", "waist",
                 "neck", "hip", "goal"):
        if step == upto:
            break
        if step not in answers:
            continue
        if step in ("sex", "steps", "sport", "freq", "goal"):
            expect = 2 if step == "goal" else 1  # the summary with the targets, and the reminder offer
            events = await person.press(f"s:v1:{step}:{answers[step]}", expect=expect)
        else:
            events = await person.say(answers[step])
    if upto is None:
        events = [e for e in events if not is_reminder_offer(e)]
        if reminder is not None:
            await person.press(f"r:v1:{reminder}")
    return events


def is_reminder_offer(event: dict) -> bool:
    return event["kind"] == "message" and any(
        data == "r:v1:no" for _, data in Person.buttons(event["message"]))


async def db_rows(database_url: str, sql: str, *args) -> list:
    """The rows of one statement, on a connection of its own (what the database holds, seen from outside)."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def texts(events: list[dict]) -> list[str]:
    return [(e["message"].get("text") or e["message"].get("caption") or "") for e in events
            if e["kind"] == "message"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kbjuctl_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BOT_", "DATABASE_", "TELEGRAM_", "WEBHOOK_", "METRICS_", "FUNNEL_"))}
    env.update({"PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def start_kbjuctl(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kbjuctl", *args], cwd=kw.pop("cwd", ROOT), env=env, **kw)


async def _healthz_once_up(http: aiohttp.ClientSession, port: int) -> int | None:
    """The webhook server's /healthz status, once it accepts connections (None if it never does)."""
    for _ in range(50):
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                return r.status
        await asyncio.sleep(0.1)
    return None

