"""Random walks through the bot, as impatient people meet it: whatever they do, in any order.

Each person takes seeded random actions: a button of the newest keyboard, a button of an older
keyboard still on screen, a double tap, a valid or invalid answer, a command, a sticker. After
every action the bot must answer (a message, or the press answered), never with the apology for
an internal error; at the end /cancel then /menu must lead to the menu or the welcome. Once more
with the Bot API failing now and then, as Telegram's does.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from bot.domain import texts as domain_texts
from tests.helpers.bot_harness import free_port, run, texts

SEEDS = (1, 2, 3, 4)
ACTIONS = 70
WORDS = ["Иванов Иван", "Анна-Мария Петрова", "15.06.1990", "1.2.2005", "31.02.1990", "01.01.1900", "180",
         "165,5", " 85.5 ", "60", "95", "42", "32", "96", "0", "-5", "999", "abc", "🙂", "", "1e3", "nan",
         "Я" * 300, "/start", "/menu", "/data", "/cancel", "/help", "/start ref123", "Меню"]
# A valid answer to the question on screen (by a word of its text), so walks get deep into flows.
ANSWERS = {"фамилию и имя": "Иванов Иван", "дата рождения": "15.06.1990", "рост": "180", "вес": "85,5",
           "талии": "95", "шеи": "42", "бёдер": "96", "любите": "курица, гречка", "не едите": "-"}


def _valid_answer(person) -> str | None:
    last = person.last_message() or {}
    text = last.get("text") or last.get("caption") or ""
    return next((answer for word, answer in ANSWERS.items() if word in text), None)


async def _walk(h, seed: int) -> list[str]:
    """The walk of one person; returns what went wrong (empty when nothing did)."""
    rng = random.Random(seed)
    person = h.person(7000 + seed, first_name=f"Обезьянка{seed}")
    problems: list[str] = []
    await person.say("/start")
    for step in range(ACTIONS):
        await person.sync()
        keyboards = [m for m in _on_screen(person) if _callback_buttons(m)]
        roll = rng.random()
        try:
            if keyboards and roll < 0.45:
                message = keyboards[0] if rng.random() < 0.8 else rng.choice(keyboards)
                data = rng.choice(_callback_buttons(message))
                await person.press(data, message_id=message["message_id"], expect=0, settle=0.05)
                if rng.random() < 0.15:  # the double tap: the same button again at once
                    await person.press(data, message_id=message["message_id"], expect=0, strict=False,
                                       settle=0.05)
            elif roll < 0.93:
                text = _valid_answer(person) if rng.random() < 0.6 else None
                text = text or rng.choice(WORDS)
                if text.strip():
                    await person.say(text, settle=0.05)
            else:
                await h.client.inject({"message": {
                    "message_id": 500_000 + 1_000 * step, "date": 0, "sticker": _STICKER,
                    "from": {"id": person.user_id, "is_bot": False, "first_name": "Обезьянка"},
                    "chat": {"id": person.user_id, "type": "private", "first_name": "Обезьянка"}}})
                await person.wait()
        except TimeoutError as exc:
            problems.append(f"seed {seed}, action {step}: no answer\n{exc}")
            break
    await person.say("/cancel", settle=0.1)
    final = texts(await person.say("/menu", settle=1.0))  # a retried reply may still be on its way
    if not any("Главное меню" in t or "/start" in t for t in final):
        problems.append(f"seed {seed}: /menu after /cancel answered {final!r}")
    said = [e["message"].get("text", "") for e in person.seen if e["kind"] == "message"]
    if domain_texts.GENERIC_ERROR in said:
        problems.append(f"seed {seed}: the bot apologised for an internal error\n{person.transcript()}")
    return problems


_STICKER = {"file_id": "CAACAgIAAxkBAAE", "file_unique_id": "AgADBQAD", "type": "regular", "width": 512,
            "height": 512, "is_animated": False, "is_video": False}


def _on_screen(person) -> list[dict]:
    """Bot messages on screen, newest first."""
    ids = sorted((i for i in person._messages if person.message(i).get("from", {}).get("is_bot")), reverse=True)
    return [person.message(i) for i in ids]


def _callback_buttons(message: dict) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


# Telegram's own failures, now and then: 500, 502, a connection dropped before the call ran.
API_FAULTS = {"rate_500": 0.01, "rate_502": 0.01, "rate_drop": 0.01, "seed": 11}


@pytest.mark.parametrize(("webhook", "faults"), [(False, False), (True, False), (False, True)],
                         ids=["polling", "webhook", "polling-with-bot-api-errors"])
def test_random_walks_never_break_the_bot(database_url, webhook, faults):
    async def scenario(h):
        if faults:
            await h.client.set_faults(**API_FAULTS)
        if webhook:
            port = free_port()
            await h.start_bot(webhook=True, port=port, webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
                              webhook_secret="monkey-secret")
        results = await asyncio.gather(*(_walk(h, seed) for seed in SEEDS))
        problems = [p for result in results for p in result]
        assert not problems, "\n\n".join(problems)
    run(database_url, scenario, start=not webhook)
