"""The local sandbox: the real bot against an in-process Bot API stand-in, chatted with in the terminal.

A line typed is a message (`/start` too); a number presses that inline button of the newest
message with buttons; URL buttons show their link; photos are saved to .kbju/sandbox-photos/ and
files (/export) to .kbju/sandbox-files/, under names of their own session. Lines starting with ":"
are the sandbox's own commands and never reach the bot (`:help`). Works through a pipe (stdin not a
terminal), so tests can drive it.

Ctrl-C, SIGTERM or SIGHUP end everything the sandbox started (the bot and its chart worker, the
stand-in, an embedded PostgreSQL it started) with one line of goodbye and the exit code 128 +
the signal; the end of input or `:quit` end it the same way with 0.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date
from datetime import time as day_time
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import Settings
from kbjuctl import localpg, migrations

SANDBOX_TOKEN = "1000000001:SANDBOXsandboxSANDBOXsandbox0000"
USER_ID = 777
STATE_DIR = Path(".kbju")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GOODBYE = "Sandbox stopped: the bot, the stand-in{pg} are down."
HELP = """Sandbox commands (never sent to the bot):
  :help               this list
  :date               the sandbox's date
  :date 2026-11-01    make that day today for the bot (also 01.11.2026); `:date today` undoes it
  :date 2026-11-02 09:30   that moment, e.g. just before a reminder is due (the clock runs on)
  :quit               end the sandbox (as Ctrl-D or Ctrl-C do)
  ::text              send ":text" to the bot
Anything else is a message to the bot; a number presses that button of the newest message with buttons."""


class Stopped(BaseException):
    """A stop signal arrived while the sandbox was starting (not inside the chat's event loop)."""


class _Signals:
    """SIGINT/SIGTERM/SIGHUP for the sandbox's whole life. While it starts they raise Stopped; while
    it chats they set the chat's stop event; while it cleans up they are only noted, so that the
    cleanup runs to its end. The first signal decides the exit code."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._stop: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._cleaning_up = False

    def _handle(self, signum: int, _frame) -> None:
        self.signum = self.signum or signum
        if self._stop is not None:
            loop, stop = self._stop
            loop.call_soon_threadsafe(stop.set)
        elif not self._cleaning_up:
            raise Stopped

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def deliver_to(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        self._stop = (loop, stop)
        if self.signum is not None:
            stop.set()

    def cleaning_up(self) -> None:
        self._stop, self._cleaning_up = None, True

    @property
    def exit_code(self) -> int:
        return 0 if self.signum is None else 128 + self.signum


def sandbox_database() -> str:
    """The embedded PostgreSQL's kbju_sandbox database, created and migrated when missing."""
    admin = localpg.embedded_admin_url(STATE_DIR / "pg")
    url = _ensure_database(admin, "kbju_sandbox")
    migrations.upgrade(url)
    return url


def _ensure_database(admin_url: str, name: str) -> str:
    from psycopg import errors

    from kbjuctl import dburl

    try:
        return localpg.create_database(admin_url, name)
    except errors.DuplicateDatabase:
        return dburl.with_database(admin_url, name)


def run_sandbox(settings: Settings) -> int:
    """Run the sandbox until the input ends, `:quit` or a stop signal; returns the exit code."""
    import logging

    from bot import logging as bot_logging

    bot_logging.setup("WARNING")
    logging.getLogger("tgstandin").setLevel(logging.WARNING)
    signals = _Signals()
    started_here = False
    with signals.installed():
        try:
            try:
                if settings.database_url:
                    migrations.upgrade(settings.database_url)
                    database_url = settings.database_url
                else:
                    print("Starting the embedded PostgreSQL in .kbju/pg ...", flush=True)
                    started_here = not localpg.embedded_running(STATE_DIR / "pg")
                    database_url = sandbox_database()
                asyncio.run(_main(settings, database_url, signals))
            finally:
                signals.cleaning_up()
                if started_here:  # one the person did not ask for must not keep running after the chat
                    localpg.stop_embedded(STATE_DIR / "pg")
        except Stopped:
            pass
        except Exception:
            # A stop signal that lands inside a library call (psycopg, yoyo's lock) can surface as that
            # library's own error from its clean-up, not as Stopped: it is still the person's Ctrl-C.
            if signals.signum is None:
                raise
    print("\n" + GOODBYE.format(pg=", the embedded PostgreSQL" if started_here else ""), flush=True)
    return signals.exit_code


async def _main(settings: Settings, database_url: str, signals: _Signals) -> None:
    from bot.app import serve
    from bot.config import load_settings
    from tgstandin.client import StandinClient
    from tgstandin.server import BotApiStandin

    stop = asyncio.Event()
    signals.deliver_to(asyncio.get_running_loop(), stop)
    async with BotApiStandin() as standin, StandinClient(standin.url, token=SANDBOX_TOKEN) as client:
        bot_settings = load_settings(**{**settings.model_dump(), "bot_token": SANDBOX_TOKEN,
                                        "telegram_api_url": standin.url, "database_url": database_url,
                                        "metrics_port": 0, "webhook_secret": None, "webhook_url": None})
        clock = Clock(ZoneInfo(bot_settings.bot_timezone))
        bot_stop = asyncio.Event()
        bot = asyncio.create_task(serve(bot_settings, stop=bot_stop, handle_signals=False, clock=clock))
        chat = TerminalChat(client, clock)
        printer = asyncio.create_task(chat.print_events())
        print("KBJU sandbox: type a message (try /start); a number presses a button; :help lists the "
              "sandbox's own commands; Ctrl-D or Ctrl-C quits.", flush=True)
        talk = asyncio.create_task(chat.talk(read_lines()))
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([talk, stopped, bot], return_when=asyncio.FIRST_COMPLETED)
            if talk.done() and not stop.is_set():
                talk.result()
                await _wait_or_stop(asyncio.sleep(1.0), stop)  # let the last replies arrive
        finally:
            for task in (talk, stopped, printer):
                task.cancel()
            bot_stop.set()
            await asyncio.gather(bot, talk, stopped, printer, return_exceptions=True)
        if bot.done() and not bot.cancelled() and bot.exception() is not None:
            raise bot.exception()


async def _wait_or_stop(aw, stop: asyncio.Event) -> None:
    tasks = [asyncio.ensure_future(aw), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def read_lines(stream=None) -> AsyncIterator[str]:
    """Lines of stdin, read by the event loop itself (no thread left blocked in a read when the
    sandbox stops); a regular file, which the loop cannot watch, is read directly (it never blocks)."""
    stream = stream or sys.stdin
    fd = stream.fileno()
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    try:
        loop.add_reader(fd, ready.set)
    except (PermissionError, OSError, ValueError):  # a regular file: epoll cannot watch it
        for line in stream:
            yield line.rstrip("\r\n")
        return
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    try:
        while True:
            await ready.wait()
            ready.clear()
            if not select.select([fd], [], [], 0)[0]:
                continue  # the loop's callback ran once more after the last read: nothing new yet
            chunk = os.read(fd, 65536)
            pending += decoder.decode(chunk, final=not chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line.rstrip("\r")
            if not chunk:
                if pending:
                    yield pending
                return
    finally:
        loop.remove_reader(fd)


def parse_moment(text: str) -> tuple[date, day_time | None]:
    """A day (parse_day), optionally followed by a time HH:MM; ValueError otherwise."""
    day, _, at = text.strip().partition(" ")
    if not at.strip():
        return parse_day(day), None
    hours, minutes = (int(part) for part in at.strip().split(":"))
    return parse_day(day), day_time(hours, minutes)


def parse_day(text: str) -> date:
    """2026-11-01 or 01.11.2026; ValueError otherwise."""
    text = text.strip()
    if "." in text:
        day, month, year = (int(part) for part in text.split("."))
        return date(year, month, day)
    return date.fromisoformat(text)


class TerminalChat:
    def __init__(self, client, clock: Clock, photos: Path | None = None) -> None:
        self.client = client
        self.clock = clock
        self.buttons: list[str] = []  # callback data of the newest message with buttons
        self.button_message: int | None = None
        self.photos = photos or STATE_DIR / "sandbox-photos"
        self.files = (photos.parent / "sandbox-files") if photos else STATE_DIR / "sandbox-files"
        # Pictures of every session are kept: their names start with the session's time and pid.
        self.session = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
        self.photo_count = 0

    async def talk(self, lines: AsyncIterator[str]) -> None:
        """Until the input ends or `:quit`."""
        async for raw in lines:
            line = raw.strip()
            if not line:
                continue
            if line.startswith(":") and not line.startswith("::"):
                if self.command(line) == "quit":
                    return
            elif line.isdigit() and self.buttons and 1 <= int(line) <= len(self.buttons):
                await self.client.press(USER_ID, self.button_message, self.buttons[int(line) - 1], strict=False)
            else:
                await self.client.send(USER_ID, line[1:] if line.startswith("::") else line, first_name="Вы")

    def command(self, line: str) -> str | None:
        """A sandbox command: its answer is printed, nothing reaches the bot."""
        name, _, argument = line[1:].partition(" ")
        argument = argument.strip()
        if name == "quit":
            return "quit"
        if name == "help":
            say(HELP)
        elif name == "date" and not argument:
            say(f"sandbox: today is {self.clock.today():%d.%m.%Y}"
                + (" (moved; `:date today` undoes it)" if self.clock.moved else ""))
        elif name == "date":
            self.move_clock(argument)
        else:
            say(f"sandbox: unknown command {line!r}; :help lists them (::text sends :text to the bot).")
        return None

    def move_clock(self, argument: str) -> None:
        if argument == "today":
            self.clock.reset()
        else:
            try:
                day, at = parse_moment(argument)
                self.clock.move_to(day, at)
            except ValueError:
                say(f"sandbox: {argument!r} is not a date; try :date 2026-11-01, :date 01.11.2026 or "
                    ":date 2026-11-02 09:30")
                return
            if at is not None:
                say(f"sandbox: the bot's clock is now {self.clock.now():%d.%m.%Y %H:%M} and runs on.")
                return
        say(f"sandbox: the bot's today is now {self.clock.today():%d.%m.%Y}.")

    async def print_events(self) -> None:
        cursor = 0
        while True:
            page = await self.client.events(USER_ID, after=cursor, min=1, timeout=25)
            for event in page["events"]:
                cursor = max(cursor, event["seq"])
                await self.show(event)

    def save_photo(self, data: bytes) -> Path:
        """A file of its own: named by the session and a counter, never over an existing one."""
        return self._save(self.photos, data, ".png")

    def save_file(self, data: bytes, name: str) -> Path:
        """A document (/export): named by the session, a counter and its own name."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "file"
        return self._save(self.files, data, f"-{safe}")

    def _save(self, folder: Path, data: bytes, suffix: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        while True:
            self.photo_count += 1
            path = folder / f"{self.session}-{self.photo_count}{suffix}"
            try:
                with path.open("xb") as file:
                    file.write(data)
                return path
            except FileExistsError:
                continue

    async def show(self, event: dict) -> None:
        kind = event["kind"]
        if kind not in ("message", "edit"):
            return
        message = event["message"]
        prefix = "bot (edited)" if kind == "edit" else "bot"
        text = message.get("text") or message.get("caption") or ""
        if message.get("photo"):
            path = self.save_photo(await self.client.file_bytes(message["photo"][-1]["file_id"]))
            text = f"[photo saved to {path}] {text}"
        elif message.get("document"):
            document = message["document"]
            path = self.save_file(await self.client.file_bytes(document["file_id"]), document.get("file_name", ""))
            text = f"[file saved to {path}] {text}"
        lines = [f"{prefix}: {text}"]
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        callbacks = [b for row in rows for b in row if b.get("callback_data")]
        if callbacks and kind == "message":
            self.buttons = [b["callback_data"] for b in callbacks]
            self.button_message = event["message_id"]
        for number, button in enumerate(callbacks, 1):
            lines.append(f"  [{number}] {button['text']}")
        for button in (b for row in rows for b in row if b.get("url")):
            lines.append(f"  [link] {button['text']}: {button['url']}")
        say("\n".join(lines))


def say(text: str) -> None:
    print(text, flush=True)
