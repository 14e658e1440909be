"""The local sandbox: the real bot against an in-process Bot API stand-in, chatted with in the terminal.

A line typed is a message (`/start` too); a number presses that inline button of the newest
message with buttons; URL buttons show their link; photos are saved to .kbju/sandbox-photos/.
Works through a pipe (stdin not a terminal), so tests can drive it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.config import Settings
from kbjuctl import localpg, migrations

SANDBOX_TOKEN = "1000000001:SANDBOXsandboxSANDBOXsandbox0000"
USER_ID = 777
STATE_DIR = Path(".kbju")


def sandbox_database() -> str:
    """The embedded PostgreSQL's kbju_sandbox database, created and migrated when missing."""
    admin = localpg.embedded_admin_url(STATE_DIR / "pg")
    url = _ensure_database(admin, "kbju_sandbox")
    migrations.upgrade(url)
    return url


def _ensure_database(admin_url: str, name: str) -> str:
    from kbjuctl import dburl

    try:
        return localpg.create_database(admin_url, name)
    except Exception:  # noqa: BLE001 - already exists
        return dburl.with_database(admin_url, name)


def run_sandbox(settings: Settings) -> None:
    import logging

    from bot import logging as bot_logging

    bot_logging.setup("WARNING")
    logging.getLogger("tgstandin").setLevel(logging.WARNING)
    started_here = False
    if settings.database_url:
        migrations.upgrade(settings.database_url)
        database_url = settings.database_url
    else:
        print("Starting the embedded PostgreSQL in .kbju/pg ...", flush=True)
        started_here = not localpg.embedded_running(STATE_DIR / "pg")
        database_url = sandbox_database()
    try:
        asyncio.run(_main(settings, database_url))
    finally:
        if started_here:  # one the person did not ask for must not keep running after the chat
            localpg.stop_embedded(STATE_DIR / "pg")


async def _main(settings: Settings, database_url: str) -> None:
    from bot.app import serve
    from bot.config import load_settings
    from tgstandin.client import StandinClient
    from tgstandin.server import BotApiStandin

    async with BotApiStandin() as standin, StandinClient(standin.url, token=SANDBOX_TOKEN) as client:
        bot_settings = load_settings(**{**settings.model_dump(), "bot_token": SANDBOX_TOKEN,
                                        "telegram_api_url": standin.url, "database_url": database_url,
                                        "metrics_port": 0, "webhook_secret": None, "webhook_url": None})
        stop = asyncio.Event()
        bot = asyncio.create_task(serve(bot_settings, stop=stop, handle_signals=False))
        chat = TerminalChat(client)
        printer = asyncio.create_task(chat.print_events())
        print("KBJU sandbox: type a message (try /start); a number presses a button; Ctrl-D quits.", flush=True)
        try:
            await chat.read_input()
            await asyncio.sleep(1.0)  # let the last replies arrive
        finally:
            stop.set()
            printer.cancel()
            await asyncio.gather(bot, printer, return_exceptions=True)


class TerminalChat:
    def __init__(self, client) -> None:
        self.client = client
        self.buttons: list[str] = []  # callback data of the newest message with buttons
        self.button_message: int | None = None
        self.photos = STATE_DIR / "sandbox-photos"
        self.photo_count = 0

    async def read_input(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            line = line.strip()
            if not line:
                continue
            if line.isdigit() and self.buttons and 1 <= int(line) <= len(self.buttons):
                await self.client.press(USER_ID, self.button_message, self.buttons[int(line) - 1], strict=False)
            else:
                await self.client.send(USER_ID, line, first_name="Вы")

    async def print_events(self) -> None:
        cursor = 0
        while True:
            page = await self.client.events(USER_ID, after=cursor, min=1, timeout=25)
            for event in page["events"]:
                cursor = max(cursor, event["seq"])
                await self.show(event)

    async def show(self, event: dict) -> None:
        kind = event["kind"]
        if kind not in ("message", "edit"):
            return
        message = event["message"]
        prefix = "bot (edited)" if kind == "edit" else "bot"
        text = message.get("text") or message.get("caption") or ""
        if message.get("photo"):
            self.photos.mkdir(parents=True, exist_ok=True)
            self.photo_count += 1
            path = self.photos / f"{self.photo_count}.png"
            path.write_bytes(await self.client.file_bytes(message["photo"][-1]["file_id"]))
            text = f"[photo saved to {path}] {text}"
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
        print("\n".join(lines), flush=True)
