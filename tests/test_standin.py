"""The Bot API stand-in over real HTTP: Telegram's envelope, errors, updates and webhooks,
the control API, fault injection, and a real python-telegram-bot Application talking to it.

Every test is a plain function running one `asyncio.run(...)` scenario against a fresh
server on a free port, so tests are independent and need no pytest plugin.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Self

import aiohttp
import pytest
from aiohttp import web

from tgstandin import BotApiStandin, Person, StandinClient, StandinError

TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawE"
OTHER_TOKEN = "654321:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsawE"
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(60)


def run(scenario: Callable[[BotApiStandin, aiohttp.ClientSession], Awaitable[None]], **options) -> None:
    """Run a scenario against a fresh stand-in with an HTTP session."""

    async def main() -> None:
        async with (BotApiStandin(backoff_initial=0.05, backoff_max=0.2, **options) as standin,
                    aiohttp.ClientSession() as http):
            await scenario(standin, http)

    asyncio.run(main())


async def api(http: aiohttp.ClientSession, standin: BotApiStandin, method: str, token: str = TOKEN,
              **params: object) -> tuple[int, dict]:
    """A Bot API call with a JSON body: (HTTP status, envelope)."""
    async with http.post(f"{standin.url}/bot{token}/{method}", json=params) as response:
        return response.status, await response.json()


async def ok(http: aiohttp.ClientSession, standin: BotApiStandin, method: str, **params: object) -> object:
    status, body = await api(http, standin, method, **params)
    assert status == 200 and body["ok"] is True, body
    return body["result"]


async def polls_ended_live(http: aiohttp.ClientSession, standin: BotApiStandin) -> int:
    """How many waiting getUpdates a newer one ended while their client was still connected."""
    async with http.get(f"{standin.url}/_standin/stats") as response:
        stats = await response.json()
    return sum(bot["updates"]["concurrent_polls"] for bot in stats["bots"])


async def fails(http: aiohttp.ClientSession, standin: BotApiStandin, method: str, code: int = 400,
                **params: object) -> str:
    status, body = await api(http, standin, method, **params)
    assert status == code and body["ok"] is False and body["error_code"] == code, body
    return body["description"]


def png(width: int, height: int) -> bytes:
    """A valid PNG of the given size (grey pixels), made without Pillow."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


KEYBOARD = {"inline_keyboard": [[{"text": "Да", "callback_data": "yes"}, {"text": "Нет", "callback_data": "no"}],
                                [{"text": "Сайт", "url": "https://example.com"}]]}


# --- envelope, tokens, parameters ---------------------------------------------------------------

def test_get_me_envelope_token_check_and_unknown_method():
    async def scenario(standin, http):
        me = await ok(http, standin, "getMe")
        assert me == {"id": 123456, "is_bot": True, "first_name": "KBJU Bot", "username": "kbju_test_bot",
                      "can_join_groups": True, "can_read_all_group_messages": False,
                      "supports_inline_queries": False, "can_connect_to_business": False,
                      "has_main_web_app": False}
        async with http.get(f"{standin.url}/bot{TOKEN}/GETME") as response:  # names are case-insensitive
            assert (await response.json())["result"]["id"] == 123456
        for bad in ("123456", "abc:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawE", "123:short"):
            async with http.get(f"{standin.url}/bot{bad}/getMe") as response:
                assert response.status == 401
                assert await response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        status, body = await api(http, standin, "sendTelepathy")
        assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
        for method in ("close", "logOut"):
            assert await ok(http, standin, method) is True

    run(scenario)


def test_parameters_in_query_json_form_and_multipart():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            await control.send(7, "hi")
        url = f"{standin.url}/bot{TOKEN}/sendMessage"
        markup = json.dumps(KEYBOARD)
        async with http.get(url, params={"chat_id": "7", "text": "query", "reply_markup": markup}) as r:
            by_query = (await r.json())["result"]
        async with http.post(url, json={"chat_id": 7, "text": "json", "reply_markup": KEYBOARD}) as r:
            by_json = (await r.json())["result"]
        async with http.post(url, data={"chat_id": "7", "text": "form", "reply_markup": markup,
                                        "protect_content": "true"}) as r:
            by_form = (await r.json())["result"]
        form = aiohttp.FormData()
        for key, value in {"chat_id": "7", "text": "multipart", "reply_markup": markup}.items():
            form.add_field(key, value)
        form.add_field("unused_file", b"x", filename="x.bin")  # forces multipart/form-data
        async with http.post(url, data=form) as r:
            by_multipart = (await r.json())["result"]
        results = [by_query, by_json, by_form, by_multipart]
        assert [m["text"] for m in results] == ["query", "json", "form", "multipart"]
        assert all(m["reply_markup"] == KEYBOARD for m in results)
        assert [m["message_id"] for m in results] == [2, 3, 4, 5]  # shared counter: the person's hi is 1
        assert by_form["has_protected_content"] is True
        message = by_json
        assert message["chat"] == {"id": 7, "type": "private", "first_name": "Тест"}
        assert message["from"]["is_bot"] is True and abs(message["date"] - time.time()) < 5

    run(scenario)


# --- sending, editing, deleting: Telegram's errors ------------------------------------------------

def test_send_message_errors_use_telegram_descriptions():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            await control.send(7, "hi")
            expect = {
                "Bad Request: chat_id is empty": {"text": "x"},
                "Bad Request: message text is empty": {"chat_id": 7},
                "Bad Request: chat not found": {"chat_id": 8, "text": "nobody wrote from chat 8"},
                "Bad Request: message is too long": {"chat_id": 7, "text": "я" * 4097},
                "Bad Request: BUTTON_DATA_INVALID": {"chat_id": 7, "text": "x", "reply_markup": {
                    "inline_keyboard": [[{"text": "b", "callback_data": "д" * 33}]]}},  # 66 UTF-8 bytes
                "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"": {
                    "chat_id": 7, "text": "<b>bold", "parse_mode": "HTML"},
            }
            for description, params in expect.items():
                assert await fails(http, standin, "sendMessage", **params) == description
            assert await fails(http, standin, "sendMessage", chat_id=7, text="  \n ") == \
                "Bad Request: message text is empty"
            unmatched = await fails(http, standin, "sendMessage", chat_id=7, text="<b><i>x</b></i>", parse_mode="HTML")
            assert unmatched.startswith("Bad Request: can't parse entities: ")
            unsupported = await fails(http, standin, "sendMessage", chat_id=7, text="<x>y</x>", parse_mode="HTML")
            assert unsupported.startswith("Bad Request: can't parse entities: Unsupported start tag \"x\"")
            assert await ok(http, standin, "sendMessage", chat_id=7, text="я" * 4096)
            assert await ok(http, standin, "sendMessage", chat_id=7, text="x", reply_markup={
                "inline_keyboard": [[{"text": "b", "callback_data": "д" * 32}]]})  # exactly 64 bytes
            await control.block(7)
            assert await fails(http, standin, "sendMessage", 403, chat_id=7, text="x") == \
                "Forbidden: bot was blocked by the user"
            await control.send(7, "/start")  # writing again means unblocking
            assert await ok(http, standin, "sendMessage", chat_id=7, text="welcome back")

    run(scenario)


def test_html_is_parsed_into_plain_text_and_utf16_entities():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            await control.send(7, "hi")
        message = await ok(http, standin, "sendMessage", chat_id=7, parse_mode="HTML",
                           text="\n😀 <b>Вес</b> &lt;70&gt; <a href=\"https://x.org\">link</a>\n")
        assert message["text"] == "😀 Вес <70> link"
        assert message["entities"] == [{"type": "bold", "offset": 3, "length": 3},
                                       {"type": "text_link", "offset": 12, "length": 4, "url": "https://x.org"}]
        message = await ok(http, standin, "sendMessage", chat_id=7, parse_mode="html",
                           text='<pre><code class="language-python">x = 1</code></pre><blockquote expandable>q'
                                '</blockquote><span class="tg-spoiler">s</span>')
        assert message["text"] == "x = 1qs"
        assert message["entities"] == [{"type": "pre", "offset": 0, "length": 5, "language": "python"},
                                       {"type": "expandable_blockquote", "offset": 5, "length": 1},
                                       {"type": "spoiler", "offset": 6, "length": 1}]
        plain = await ok(http, standin, "sendMessage", chat_id=7, text="<b>kept as typed</b>")
        assert plain["text"] == "<b>kept as typed</b>" and "entities" not in plain

    run(scenario)


def test_edit_and_delete_rules():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            await control.send(7, "hi")
            sent = await ok(http, standin, "sendMessage", chat_id=7, text="Question?", reply_markup=KEYBOARD)
            mid = sent["message_id"]
            assert await fails(http, standin, "editMessageText", chat_id=7, message_id=mid, text="Question?",
                               reply_markup=KEYBOARD) == (
                "Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message")
            assert await fails(http, standin, "editMessageText", chat_id=7, message_id=999, text="x") == \
                "Bad Request: message to edit not found"
            assert await fails(http, standin, "editMessageText", chat_id=7, message_id=1, text="x") == \
                "Bad Request: message can't be edited"
            # An edit without reply_markup removes the keyboard, as in Telegram.
            edited = await ok(http, standin, "editMessageText", chat_id=7, message_id=mid, text="Question? — Да")
            assert "reply_markup" not in edited and edited["edit_date"] >= sent["date"]
            assert await fails(http, standin, "editMessageReplyMarkup", chat_id=7, message_id=mid) == \
                "Bad Request: message is not modified: specified new message content and reply markup are " \
                "exactly the same as a current content and reply markup of the message"
            with_keyboard = await ok(http, standin, "editMessageReplyMarkup", chat_id=7, message_id=mid,
                                     reply_markup=KEYBOARD)
            assert with_keyboard["reply_markup"] == KEYBOARD and with_keyboard["text"] == "Question? — Да"
            assert await fails(http, standin, "editMessageCaption", chat_id=7, message_id=mid, caption="c") == \
                "Bad Request: there is no caption in the message to edit"
            assert await ok(http, standin, "deleteMessage", chat_id=7, message_id=mid) is True
            assert await fails(http, standin, "deleteMessage", chat_id=7, message_id=mid) == \
                "Bad Request: message to delete not found"
            assert [m["message_id"] for m in await control.messages(7)] == [1]
            kinds = [(e["kind"], e.get("message_id")) for e in (await control.events(7, min=0))["events"]]
            assert kinds == [("user_message", 1), ("message", mid), ("edit", mid), ("edit", mid), ("delete", mid)]

    run(scenario)


def test_answer_callback_query_once_and_chat_action_and_commands():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            await control.send(7, "hi")
            sent = await ok(http, standin, "sendMessage", chat_id=7, text="?", reply_markup=KEYBOARD)
            query_id = (await control.press(7, sent["message_id"], "yes"))["callback_query_id"]
            too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
            assert await fails(http, standin, "answerCallbackQuery", callback_query_id="123") == too_old
            assert await ok(http, standin, "answerCallbackQuery", callback_query_id=query_id, text="Ок") is True
            assert await fails(http, standin, "answerCallbackQuery", callback_query_id=query_id) == too_old
            assert await ok(http, standin, "sendChatAction", chat_id=7, action="typing") is True
            assert await fails(http, standin, "sendChatAction", chat_id=7, action="dancing") == \
                "Bad Request: wrong parameter action in request"
            events = (await control.events(7, min=0))["events"]
            answer = next(e for e in events if e["kind"] == "callback_answer")
            assert (answer["callback_query_id"], answer["text"], answer["show_alert"]) == (query_id, "Ок", False)
            assert events[-1]["kind"] == "chat_action" and events[-1]["action"] == "typing"
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            assert all(a["ts"] <= b["ts"] for a, b in itertools.pairwise(events))

        commands = [{"command": "start", "description": "Начать"}, {"command": "menu", "description": "Меню"}]
        assert await ok(http, standin, "setMyCommands", commands=commands) is True
        assert await ok(http, standin, "getMyCommands") == commands
        assert await ok(http, standin, "getMyCommands", language_code="en") == []
        assert await fails(http, standin, "setMyCommands", commands=[{"command": "Bad Cmd", "description": "x"}]) \
            == "Bad Request: BOT_COMMAND_INVALID"
        assert await ok(http, standin, "deleteMyCommands") is True
        assert await ok(http, standin, "getMyCommands") == []

    run(scenario)


def test_send_photo_upload_file_id_url_and_download():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            await control.send(7, "hi")
            image = png(64, 48)
            form = aiohttp.FormData()
            form.add_field("chat_id", "7")
            form.add_field("caption", "<b>Прогресс</b>")
            form.add_field("parse_mode", "HTML")
            form.add_field("reply_markup", json.dumps(KEYBOARD))
            form.add_field("photo", image, filename="chart.png", content_type="image/png")
            async with http.post(f"{standin.url}/bot{TOKEN}/sendPhoto", data=form) as response:
                message = (await response.json())["result"]
            [size] = message["photo"]
            assert (size["width"], size["height"], size["file_size"]) == (64, 48, len(image))
            assert message["caption"] == "Прогресс" and message["caption_entities"][0]["type"] == "bold"
            assert message["reply_markup"] == KEYBOARD
            assert await control.file_bytes(size["file_id"]) == image

            file = await ok(http, standin, "getFile", file_id=size["file_id"])
            async with http.get(f"{standin.url}/file/bot{TOKEN}/{file['file_path']}") as response:
                assert response.status == 200 and await response.read() == image

            again = await ok(http, standin, "sendPhoto", chat_id=7, photo=size["file_id"])
            assert again["photo"][0]["file_unique_id"] == size["file_unique_id"]
            by_url = await ok(http, standin, "sendPhoto", chat_id=7,
                              photo=f"{standin.url}/file/bot{TOKEN}/{file['file_path']}")
            assert by_url["photo"][0]["width"] == 64
            assert await fails(http, standin, "sendPhoto", chat_id=7, photo="nonsense") == \
                "Bad Request: wrong file identifier/HTTP URL specified"
            assert await fails(http, standin, "sendPhoto", chat_id=7, photo=size["file_id"], caption="x" * 1025) == \
                "Bad Request: message caption is too long"
            assert await fails(http, standin, "getFile", file_id="nonsense") == "Bad Request: invalid file_id"

    run(scenario)


def test_send_document_multipart_upload_file_id_and_download_as_telegram():
    """sendDocument answers with a Message whose `document` names the file; python-telegram-bot's own
    send_document (multipart) reads that answer into its Document object."""
    from telegram import Bot, InputFile

    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            await control.send(7, "hi")
            data = "\ufeffДата;Вес, кг\r\n01.12.2026;84,5\r\n".encode()
            form = aiohttp.FormData()
            form.add_field("chat_id", "7")
            form.add_field("caption", "<b>Замеры</b>")
            form.add_field("parse_mode", "HTML")
            form.add_field("document", data, filename="kbju-7.csv", content_type="text/csv")
            async with http.post(f"{standin.url}/bot{TOKEN}/sendDocument", data=form) as response:
                message = (await response.json())["result"]
            document = message["document"]
            assert (document["file_name"], document["mime_type"], document["file_size"]) == \
                ("kbju-7.csv", "text/csv", len(data))
            assert message["caption"] == "Замеры" and message["caption_entities"][0]["type"] == "bold"
            assert await control.file_bytes(document["file_id"]) == data
            file = await ok(http, standin, "getFile", file_id=document["file_id"])
            async with http.get(f"{standin.url}/file/bot{TOKEN}/{file['file_path']}") as response:
                assert response.status == 200 and await response.read() == data
            again = await ok(http, standin, "sendDocument", chat_id=7, document=document["file_id"])
            assert again["document"]["file_unique_id"] == document["file_unique_id"]
            assert await fails(http, standin, "sendDocument", chat_id=7) == \
                "Bad Request: there is no document in the request"
            assert await fails(http, standin, "sendDocument", chat_id=7, document="nonsense") == \
                "Bad Request: wrong file identifier/HTTP URL specified"

            bot = Bot(TOKEN, base_url=f"{standin.url}/bot", base_file_url=f"{standin.url}/file/bot")
            async with bot:
                sent = await bot.send_document(7, InputFile(b"%PDF-1.4 report", filename="report.pdf"),
                                               caption="Отчёт")
            assert sent.document.file_name == "report.pdf" and sent.document.mime_type == "application/pdf"
            assert await control.file_bytes(sent.document.file_id) == b"%PDF-1.4 report"
            shown = await control.messages(7)
            assert [m["document"]["file_name"] for m in shown if "document" in m] == \
                ["kbju-7.csv", "kbju-7.csv", "report.pdf"]

    run(scenario)


# --- getUpdates -----------------------------------------------------------------------------------

def test_get_updates_offsets_limit_and_negative_offset():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            ids = [(await control.send(7, f"m{i}"))["update_id"] for i in range(5)]
        assert ids == list(range(ids[0], ids[0] + 5)) and ids[0] > int(time.time()) * 1000
        updates = await ok(http, standin, "getUpdates", limit=2)
        assert [u["update_id"] for u in updates] == ids[:2]
        assert updates[0]["message"]["from"] == {"id": 7, "is_bot": False, "first_name": "Тест",
                                                 "language_code": "ru"}
        updates = await ok(http, standin, "getUpdates", offset=ids[2])  # confirms ids[0], ids[1]
        assert [u["update_id"] for u in updates] == ids[2:]
        assert [u["update_id"] for u in await ok(http, standin, "getUpdates")] == ids[2:]
        assert [u["update_id"] for u in await ok(http, standin, "getUpdates", offset=-1)] == ids[4:]
        assert [u["update_id"] for u in await ok(http, standin, "getUpdates")] == ids[4:]  # the rest forgotten
        assert await ok(http, standin, "getUpdates", offset=ids[4] + 1) == []
        stats = (await control_stats(standin))["updates"]
        assert stats == {"created": 5, "delivered": 5, "pending": 0}
        # allowed_updates sticks until changed; updates of other types are not kept.
        assert await ok(http, standin, "getUpdates", allowed_updates=["callback_query"]) == []
        async with StandinClient(standin.url, TOKEN) as control:
            assert (await control.send(7, "filtered"))["queued"] is False
            assert await ok(http, standin, "getUpdates") == []
            await ok(http, standin, "getUpdates", allowed_updates=[])  # back to the default set
            assert (await control.send(7, "kept"))["queued"] is True
        assert [u["message"]["text"] for u in await ok(http, standin, "getUpdates")] == ["kept"]

    run(scenario)


async def control_stats(standin: BotApiStandin) -> dict:
    async with StandinClient(standin.url) as control:
        return await control.stats()


def test_long_poll_waits_for_timeout_and_wakes_on_a_new_update():
    async def scenario(standin, http):
        started = time.monotonic()
        assert await ok(http, standin, "getUpdates", timeout=0.4) == []
        assert 0.35 <= time.monotonic() - started < 2

        async def later() -> None:
            await asyncio.sleep(0.2)
            async with StandinClient(standin.url, TOKEN) as control:
                await control.send(7, "wake up")

        started = time.monotonic()
        updates, _ = await asyncio.gather(ok(http, standin, "getUpdates", timeout=5), later())
        assert [u["message"]["text"] for u in updates] == ["wake up"]
        assert time.monotonic() - started < 2

    run(scenario)


def test_a_second_concurrent_get_updates_ends_the_waiting_one_with_409_as_telegram_does():
    """telegram-bot-api (Client::abort_long_poll): a call that is going to wait ends the waiting one with 409;
    one that answers at once (timeout 0) leaves it alone. Two live pollers are counted."""
    async def scenario(standin, http):
        first = asyncio.create_task(api(http, standin, "getUpdates", timeout=5))
        await asyncio.sleep(0.2)
        assert await ok(http, standin, "getUpdates", timeout=0) == []
        assert not first.done()  # a call that did not wait ended nothing
        second = asyncio.create_task(api(http, standin, "getUpdates", timeout=1))
        status, body = await first
        assert status == 409 and body["description"] == (
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
        assert (await second)[0] == 200
        assert await polls_ended_live(http, standin) == 1

    run(scenario)


def test_the_long_poll_of_a_client_gone_away_is_not_a_concurrent_poller():
    """A killed bot's long poll stays open at the server until its timeout; the bot that takes over ends
    it without counting two live pollers."""
    async def scenario(standin, http):
        async with aiohttp.ClientSession() as gone:
            task = asyncio.create_task(api(gone, standin, "getUpdates", timeout=5))
            await asyncio.sleep(0.2)
            task.cancel()
        await asyncio.sleep(0.2)
        assert await ok(http, standin, "getUpdates", timeout=0.5) == []
        assert await polls_ended_live(http, standin) == 0

    run(scenario)


# --- webhooks -------------------------------------------------------------------------------------

class Receiver:
    """A bot's webhook endpoint that records deliveries and can be told to fail."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0, answer: dict | None = None) -> None:
        self.answer = answer
        self.fail_first = fail_first
        self.delay = delay
        self.received: list[tuple[dict, str | None]] = []
        self.in_flight: dict[object, int] = {}
        self.max_in_flight = 0
        self.max_per_chat = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        update = await request.json()
        chat = next(iter(v for k, v in update.items() if k != "update_id"))["chat"]["id"]
        self.in_flight[chat] = self.in_flight.get(chat, 0) + 1
        self.max_per_chat = max(self.max_per_chat, self.in_flight[chat])
        self.max_in_flight = max(self.max_in_flight, sum(self.in_flight.values()))
        try:
            await asyncio.sleep(self.delay)
            if self.fail_first > 0:
                self.fail_first -= 1
                return web.Response(status=500)
            self.received.append((update, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
            return web.json_response(self.answer) if self.answer else web.Response(status=200)
        finally:
            self.in_flight[chat] -= 1

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"only {len(self.received)} of {count} updates arrived"
            await asyncio.sleep(0.01)


def test_webhook_push_with_secret_redelivery_and_getupdates_conflict():
    async def scenario(standin, http):
        async with Receiver(fail_first=2) as receiver, StandinClient(standin.url, TOKEN) as control:
            await control.send(7, "before the webhook")  # pending updates are pushed once it is set
            result = await api(http, standin, "setWebhook", url=receiver.url, secret_token="s3cr3t_-X")
            assert result == (200, {"ok": True, "result": True, "description": "Webhook was set"})
            assert await fails(http, standin, "getUpdates", 409) == (
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first")
            await control.send(7, "after")
            await receiver.wait_for(2)
            assert [(u["message"]["text"], secret) for u, secret in receiver.received] == [
                ("before the webhook", "s3cr3t_-X"), ("after", "s3cr3t_-X")]
            info = await ok(http, standin, "getWebhookInfo")
            assert info["url"] == receiver.url and info["pending_update_count"] == 0
            assert info["max_connections"] == 40 and info["has_custom_certificate"] is False
            assert info["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
            assert abs(info["last_error_date"] - time.time()) < 10
            assert await ok(http, standin, "deleteWebhook") is True
            assert await ok(http, standin, "getWebhookInfo") == {
                "url": "", "has_custom_certificate": False, "pending_update_count": 0}
            await control.send(7, "polling again")
            assert [u["message"]["text"] for u in await ok(http, standin, "getUpdates")] == ["polling again"]

    run(scenario)


def test_webhook_keeps_each_chat_in_order_and_respects_max_connections():
    async def scenario(standin, http):
        async with Receiver(delay=0.02) as receiver, StandinClient(standin.url, TOKEN) as control:
            await ok(http, standin, "setWebhook", url=receiver.url, max_connections=2)
            for i in range(4):
                for chat in (1, 2, 3):
                    await control.send(chat, f"{chat}:{i}")
            await receiver.wait_for(12)
            for chat in (1, 2, 3):
                texts = [u["message"]["text"] for u, _ in receiver.received if u["message"]["chat"]["id"] == chat]
                assert texts == [f"{chat}:{i}" for i in range(4)]
            assert receiver.max_per_chat == 1
            assert receiver.max_in_flight == 2  # chats in parallel, never beyond max_connections

    run(scenario)


def test_webhook_is_retried_while_the_bot_is_down():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            await ok(http, standin, "setWebhook", url="http://127.0.0.1:9/hook")  # nothing listens there
            await control.send(7, "lost?")
            await asyncio.sleep(0.3)
            info = await ok(http, standin, "getWebhookInfo")
            assert info["pending_update_count"] == 1 and info["last_error_message"] == "Connection refused"
            async with Receiver() as receiver:
                await ok(http, standin, "setWebhook", url=receiver.url)
                await receiver.wait_for(1)
            assert receiver.received[0][0]["message"]["text"] == "lost?"

    run(scenario)


def test_updates_wait_while_no_bot_fetches_them_then_all_go_to_a_webhook_set_later():
    """The cutover's gap: the old bot stopped polling, PROD not started yet. Telegram keeps the
    updates (24 h); so does the stand-in, in order, until a webhook takes them."""
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            await ok(http, standin, "getUpdates", timeout=0)  # the old bot polled once, then stopped
            sent = [(await control.send(user, f"{user}:{n}"))["update_id"] for n in range(3) for user in (1, 2)]
            await asyncio.sleep(0.5)
            info = await ok(http, standin, "getWebhookInfo")
            assert info["url"] == "" and info["pending_update_count"] == len(sent)
            async with Receiver() as receiver:
                await ok(http, standin, "setWebhook", url=receiver.url)
                await receiver.wait_for(len(sent))
            received = [update for update, _headers in receiver.received]
            assert sorted(u["update_id"] for u in received) == sorted(sent)
            for user in (1, 2):  # each chat's in order
                texts = [u["message"]["text"] for u in received if u["message"]["chat"]["id"] == user]
                assert texts == [f"{user}:{n}" for n in range(3)]
            assert (await ok(http, standin, "getWebhookInfo"))["pending_update_count"] == 0

    run(scenario)


def test_webhook_answer_may_carry_a_bot_api_call():
    async def scenario(standin, http):
        answer = {"method": "sendMessage", "chat_id": 7, "text": "answered in the webhook response"}
        async with Receiver(answer=answer) as receiver, StandinClient(standin.url, TOKEN) as control:
            await ok(http, standin, "setWebhook", url=receiver.url)
            sent = await control.send(7, "hi")
            page = await control.events(7, after=sent["seq"], timeout=5)
            assert page["events"][0]["message"]["text"] == "answered in the webhook response"

    run(scenario)


# --- control API ------------------------------------------------------------------------------------

def test_press_only_what_is_on_screen_unless_not_strict():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            await control.send(7, "hi")
            sent = await ok(http, standin, "sendMessage", chat_id=7, text="?", reply_markup=KEYBOARD)
            mid = sent["message_id"]
            with pytest.raises(StandinError, match="no inline button with callback_data 'maybe'"):
                await control.press(7, mid, "maybe")
            with pytest.raises(StandinError, match="written by the person"):
                await control.press(7, 1, "yes")
            with pytest.raises(StandinError, match="does not exist"):
                await control.press(7, 99, "yes")
            pressed = await control.press(7, mid, "yes")
            [update] = [u for u in await ok(http, standin, "getUpdates") if "callback_query" in u]
            query = update["callback_query"]
            assert query["id"] == pressed["callback_query_id"] and query["data"] == "yes"
            assert query["message"] == sent and query["from"]["id"] == 7 and query["chat_instance"]
            await ok(http, standin, "editMessageText", chat_id=7, message_id=mid, text="? — Да")
            with pytest.raises(StandinError, match="its buttons: none"):
                await control.press(7, mid, "yes")
            assert (await control.press(7, mid, "yes", strict=False))["callback_query_id"]

    run(scenario)


def test_control_api_resolves_the_bot_by_token():
    async def scenario(standin, http):
        async with StandinClient(standin.url) as control:
            with pytest.raises(StandinError, match="no bot is known yet"):
                await control.send(7, "hi")
            await control.register_bot(TOKEN)
            assert (await control.send(7, "hi"))["chat_id"] == 7
            await ok(http, standin, "getMe", token=OTHER_TOKEN)
            with pytest.raises(StandinError, match="2 bots are known"):
                await control.send(7, "hi")
            await StandinClient(standin.url, OTHER_TOKEN, session=http).send(8, "hi other")
            assert await ok(http, standin, "getUpdates", token=OTHER_TOKEN)
            injected = await StandinClient(standin.url, TOKEN, session=http).inject(
                {"message": {"message_id": 50, "date": 1, "text": "raw", "chat": {"id": 9, "type": "private"},
                             "from": {"id": 9, "is_bot": False, "first_name": "Raw"}}})
            [update] = [u for u in await ok(http, standin, "getUpdates") if u["update_id"] == injected["update_id"]]
            assert update["message"]["text"] == "raw"
            assert (await ok(http, standin, "sendMessage", chat_id=9, text="reply"))["message_id"] == 51

    run(scenario)


def test_events_long_poll_returns_once_enough_events_exist():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            await control.send(7, "hi")

            async def bot_replies() -> None:
                await asyncio.sleep(0.1)
                await ok(http, standin, "sendMessage", chat_id=7, text="one")
                await asyncio.sleep(0.1)
                await ok(http, standin, "sendMessage", chat_id=7, text="two")

            page, _ = await asyncio.gather(control.events(7, after=1, min=2, timeout=5), bot_replies())
            assert [e["message"]["text"] for e in page["events"]] == ["one", "two"] and page["last_seq"] == 3
            started = time.monotonic()
            page = await control.events(7, after=3, min=1, timeout=0.3)
            assert page["events"] == [] and time.monotonic() - started >= 0.25

    run(scenario)


# --- faults ---------------------------------------------------------------------------------------

def test_fault_injection():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            await control.send(7, "hi")
            await control.set_faults(rate_429=1.0, retry_after=3, methods=["sendMessage"])
            status, body = await api(http, standin, "sendMessage", chat_id=7, text="x")
            assert (status, body) == (429, {"ok": False, "error_code": 429, "description": "Too Many Requests: "
                                            "retry after 3", "parameters": {"retry_after": 3}})
            assert await ok(http, standin, "getMe")  # other methods unaffected
            await control.set_faults(token=TOKEN, rate_502=1.0)  # the per-bot rule wins over the global one
            assert await fails(http, standin, "getMe", 502) == "Bad Gateway"
            await control.set_faults(token=TOKEN, rate_drop=1.0)
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await api(http, standin, "getMe")
            await control.set_faults(token=TOKEN, rate_drop_after=1.0)  # the call runs, its answer is lost
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await api(http, standin, "sendMessage", chat_id=7, text="sent, but did it?")
            assert (await control.messages(7))[-1]["text"] == "sent, but did it?"
            await control.set_faults(token=TOKEN, delay_ms=150)
            started = time.monotonic()
            await ok(http, standin, "getMe")
            assert time.monotonic() - started >= 0.14
            await control.clear_faults()
            await ok(http, standin, "sendMessage", chat_id=7, text="fine again")

            injected = (await control.stats())["faults"]["injected"]
            assert injected == {"429": 1, "502": 1, "drop": 1, "drop_after": 1, "delay": 1}
            with pytest.raises(StandinError, match="unknown fault settings"):
                await control.set_faults(rate_418=1.0)

    run(scenario)


# --- Person and a real python-telegram-bot Application --------------------------------------------

@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_python_telegram_bot_application_by_polling():
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.error import BadRequest, RetryAfter
    from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Стройное тело", callback_data="goal:v1:lean")]])
        await update.message.reply_text(f"Привет, {update.effective_user.first_name}! Цель?", reply_markup=keyboard)

    async def goal(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer()
        await query.edit_message_text(f"{query.message.text} — {query.data.split(':')[-1]}")
        photo = await context.bot.send_photo(update.effective_chat.id, png(32, 16), caption="График")
        data = await (await context.bot.get_file(photo.photo[-1].file_id)).download_as_bytearray()
        await context.bot.send_message(update.effective_chat.id, f"{len(data)} bytes")

    async def scenario(standin, http):
        app = (ApplicationBuilder().token(TOKEN).base_url(f"{standin.url}/bot")
               .base_file_url(f"{standin.url}/file/bot").build())
        app.add_handler(CommandHandler("start", start))
        app.add_handler(CallbackQueryHandler(goal, pattern=r"^goal:v1:"))
        async with app, StandinClient(standin.url, TOKEN) as control:
            await app.start()
            await app.updater.start_polling(timeout=1)
            try:
                # The raw control API: inject, then read back what the bot sent.
                await control.send(501, "/start", first_name="Ира", username="ira")
                page = await control.events(501, after=1, min=1, timeout=10)
                reply = page["events"][0]["message"]
                assert reply["text"] == "Привет, Ира! Цель?"
                assert reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "goal:v1:lean"

                # The same through Person.
                alice = Person(control, 502, "Алиса")
                [shown] = await alice.say("/start")
                assert alice.buttons(shown["message"]) == [("Стройное тело", "goal:v1:lean")]
                events = await alice.press("goal:v1:lean", expect=2)
                kinds = [e["kind"] for e in events]
                assert kinds.count("edit") == 1 and kinds.count("callback_answer") == 1
                assert alice.message(shown["message_id"])["text"] == "Привет, Алиса! Цель? — lean"
                assert "reply_markup" not in alice.message(shown["message_id"])
                photo = next(e["message"] for e in events if e["kind"] == "message")
                assert photo["caption"] == "График" and photo["photo"][0]["width"] == 32
                assert alice.last_message()["text"] == f"{len(png(32, 16))} bytes"
                assert "Алиса: /start" in alice.transcript()

                with pytest.raises(BadRequest, match="Chat not found"):
                    await app.bot.send_message(999, "nobody")
                await control.set_faults(rate_429=1.0, retry_after=2, methods=["sendMessage"])
                with pytest.raises(RetryAfter, match="Retry in 2"):
                    await app.bot.send_message(502, "flood")
                await control.clear_faults()
            finally:
                await app.updater.stop()
                await app.stop()
        calls = (await control_stats(standin))["methods"]
        assert calls["getMe"] >= 1 and calls["getUpdates"] >= 2 and calls["answerCallbackQuery"] == 1

    run(scenario)


def test_person_counts_only_what_came_after_its_own_step():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            alice = control.person(7, "Алиса", username="alice")
            assert await alice.say("a", expect=0) == []
            await ok(http, standin, "sendMessage", chat_id=7, text="late answer to a")

            async def bot_answers_b() -> None:
                await asyncio.sleep(0.1)
                await ok(http, standin, "sendMessage", chat_id=7, text="answer to b", reply_markup=KEYBOARD)

            events, _ = await asyncio.gather(alice.say("b", timeout=5), bot_answers_b())
            assert [e["message"]["text"] for e in events] == ["answer to b"]
            assert "late answer to a" in alice.transcript()
            shown = alice.last_message()
            assert alice.buttons(shown) == [("Да", "yes"), ("Нет", "no"), ("Сайт", "https://example.com")]

            async def bot_answers_press() -> None:
                await asyncio.sleep(0.1)
                [update] = [u for u in await ok(http, standin, "getUpdates") if "callback_query" in u]
                await ok(http, standin, "answerCallbackQuery", callback_query_id=update["callback_query"]["id"],
                         text="Принято")

            events, _ = await asyncio.gather(alice.press("no", expect=0, timeout=5), bot_answers_press())
            assert [(e["kind"], e["text"]) for e in events] == [("callback_answer", "Принято")]

            async def scheduled() -> None:
                await asyncio.sleep(0.1)
                await ok(http, standin, "sendMessage", chat_id=7, text="reminder")

            events, _ = await asyncio.gather(alice.wait(timeout=5), scheduled())
            assert [e["message"]["text"] for e in events] == ["reminder"]
            me = (await control.messages(7))[0]["from"]
            assert me == {"id": 7, "is_bot": False, "first_name": "Алиса", "username": "alice", "language_code": "ru"}

    run(scenario)


def test_person_timeout_explains_what_happened():
    async def scenario(standin, http):
        async with StandinClient(standin.url, TOKEN) as control:
            bob = control.person(77, "Боб")
            with pytest.raises(TimeoutError) as raised:
                await bob.say("/start", timeout=0.3)
            text = str(raised.value)
            assert "waited 0.3s after saying '/start' for 1 new bot message(s), got 0" in text
            assert "Боб: /start" in text
            with pytest.raises(LookupError, match="no message on screen has a button"):
                await bob.press("anything")

    run(scenario)


def test_module_entry_point_prints_its_url():
    process = subprocess.Popen([sys.executable, "-m", "tgstandin", "--host", "127.0.0.1", "--port", "0"],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")

        async def check() -> None:
            async with aiohttp.ClientSession() as http, http.get(f"{url}/bot{TOKEN}/getMe") as response:
                assert (await response.json())["ok"] is True

        asyncio.run(check())
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_text_that_is_not_unicode_is_refused_whole_and_nothing_is_queued():
    """A lone surrogate (\\ud800, valid JSON, not Unicode) cannot be sent as UTF-8, so Telegram could
    never deliver it: the control API refuses the action before anything is queued or logged, and
    getUpdates keeps working."""
    lone = '"\\ud800"'
    bodies = {
        "send": '{"user_id": 7, "text": ' + lone + "}",
        "send-profile": '{"user_id": 7, "text": "hi", "first_name": ' + lone + "}",
        "update": '{"update": {"message": {"message_id": 1, "date": 1, "text": ' + lone
                  + ', "chat": {"id": 9, "type": "private"}, "from": {"id": 9, "is_bot": false, "first_name": "R"}}}}',
    }

    async def scenario(standin, http):
        async with StandinClient(standin.url) as control:
            await control.register_bot(TOKEN)
        for path, body in bodies.items():
            async with http.post(f"{standin.url}/_standin/{path.split('-')[0]}", data=body.encode(),
                                 headers={"Content-Type": "application/json"}) as response:
                assert response.status == 400, path
                assert "Unicode" in (await response.json())["error"]
        assert await ok(http, standin, "getUpdates") == []
        assert (await control_stats(standin))["updates"]["created"] == 0
        async with StandinClient(standin.url, TOKEN) as control:
            await control.send(7, "after")
        assert [u["message"]["text"] for u in await ok(http, standin, "getUpdates")] == ["after"]
        # The bot's side: a message the Bot API cannot encode is Telegram's 400.
        async with http.post(f"{standin.url}/bot{TOKEN}/sendMessage", data=b'{"chat_id": 7, "text": "\\ud800"}',
                             headers={"Content-Type": "application/json"}) as response:
            assert response.status == 400 and "UTF-8" in (await response.json())["description"]

    run(scenario)
