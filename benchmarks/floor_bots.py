"""Two floor bots for bench_bot.py's burst: the same replies as our bot, with none of its work.

What a step's p95 can be on this machine is bounded by what the harness and the bot's process
must do at the least. These bots answer every update with the Bot API calls our bot makes for
that step (a text: one sendMessage; a button: answerCallbackQuery, editMessageText and
sendMessage; the goal button one more sendMessage) and do nothing else: no database, no state,
no validation, no logging, no metrics.

  raw  aiohttp alone: getUpdates and the replies, no python-telegram-bot at all;
  ptb  python-telegram-bot's Application with our aiohttp backend and polling loop, replies
       through `Bot.do_api_request` as our bot sends them.

Usage (started by bench_bot.py --floors): BOT_TOKEN=... TELEGRAM_API_URL=... python floor_bots.py raw|ptb
They stop on SIGTERM at once (the default action): nothing of theirs needs finishing.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYBOARD = {"inline_keyboard": [[{"text": "Да", "callback_data": "x:1"}, {"text": "Нет", "callback_data": "x:2"}]]}
QUESTION, ANSWERED, RESULT = "Следующий вопрос?", "Ответ принят", "Ваши КБЖУ"


def _replies(chat: int, query: tuple[str, int, str] | None) -> list[tuple[str, dict]]:
    """The Bot API calls our bot makes for a text (query None) or a button (id, message id, data)."""
    if query is None:
        return [("sendMessage", {"chat_id": chat, "text": QUESTION, "reply_markup": KEYBOARD})]
    query_id, message_id, data = query
    calls = [("answerCallbackQuery", {"callback_query_id": query_id}),
             ("editMessageText", {"chat_id": chat, "message_id": message_id, "text": ANSWERED}),
             ("sendMessage", {"chat_id": chat, "text": QUESTION, "reply_markup": KEYBOARD})]
    if "goal" in data:
        calls.append(("sendMessage", {"chat_id": chat, "text": RESULT}))
    return calls


async def raw_bot(api: str, token: str) -> None:
    base = f"{api}/bot{token}/"
    headers = {"Content-Type": "application/json"}
    tasks: set[asyncio.Task] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def post(method: str, params: dict) -> bytes:
            async with session.post(base + method, data=json.dumps(params), headers=headers) as response:
                return await response.read()

        async def handle(update: dict) -> None:
            if "callback_query" in update:
                query = update["callback_query"]
                calls = _replies(query["message"]["chat"]["id"],
                                 (query["id"], query["message"]["message_id"], query.get("data", "")))
            else:
                calls = _replies(update["message"]["chat"]["id"], None)
            for method, params in calls:
                await post(method, params)

        offset = 0
        while True:
            for update in json.loads(await post("getUpdates", {"offset": offset, "timeout": 10, "limit": 100}))[
                    "result"]:
                offset = update["update_id"] + 1
                task = asyncio.create_task(handle(update))
                tasks.add(task)
                task.add_done_callback(tasks.discard)


async def ptb_bot(api: str, token: str) -> None:
    from telegram.ext import Application, TypeHandler

    from bot.transport import botapi, polling
    from bot.transport.request import make_request
    from bot.transport.updates import UPDATE_SLOTS

    async def handle(update, context) -> None:
        query = update.callback_query
        calls = _replies(update.effective_chat.id,
                         None if query is None else (query.id, query.message.message_id, query.data or ""))
        for method, params in calls:
            await botapi.call(context.bot, method, params)

    app = (Application.builder().token(token).base_url(f"{api}/bot")
           .request(make_request("aiohttp", pool_size=256))
           .get_updates_request(make_request("aiohttp", pool_size=2, read_timeout=20))
           .updater(None).build())
    app.bot_data[UPDATE_SLOTS] = asyncio.Semaphore(256)
    app.add_handler(TypeHandler(object, handle))
    async with app:
        await app.start()
        await polling.poll(app, asyncio.Event())


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind not in ("raw", "ptb"):
        sys.exit("usage: floor_bots.py raw|ptb  (with BOT_TOKEN and TELEGRAM_API_URL set)")
    bot = raw_bot if kind == "raw" else ptb_bot
    try:  # our bot runs on uvloop too
        from uvloop import run
    except ImportError:
        run = asyncio.run
    run(bot(os.environ["TELEGRAM_API_URL"].rstrip("/"), os.environ["BOT_TOKEN"]))


if __name__ == "__main__":
    main()
