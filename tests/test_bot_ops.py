"""Operations end to end: restarts after SIGKILL, the funnel job, webhook secret, database outage,
token-free logs, two bot instances on one database, and the terminal sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import aiohttp
import asyncpg
import psutil
from telegram import Update

from bot import buildinfo, metrics
from bot.app import build_application, close_resources, open_resources
from bot.config import load_settings
from bot.transport import sender
from kbjuctl import localpg
from tests.helpers.bot_harness import (
    MAN,
    ROOT,
    TOKEN,
    _healthz_once_up,
    bot_settings,
    free_port,
    kbjuctl_env,
    run,
    start_kbjuctl,
    survey,
    texts,
)


def _kbjuctl_run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """`kbjuctl run ARGS` expected to stop by itself (a refused start): its exit code and output."""
    return subprocess.run([sys.executable, "-m", "kbjuctl", "run", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


async def _scalar(url, sql, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def test_sigkill_mid_survey_then_restart_continues_at_the_same_question(database_url, tmp_path):
    """A separate `kbjuctl run` process, killed with SIGKILL; DEBUG logs never show the token."""
    logs = [tmp_path / "first.log", tmp_path / "second.log"]

    async def scenario(h):
        env = kbjuctl_env(BOT_TOKEN=TOKEN, DATABASE_URL=database_url, TELEGRAM_API_URL=h.url,
                          METRICS_PORT="0", LOG_LEVEL="DEBUG", FUNNEL_DELAY_SECONDS="2",
                          BOT_HTTP_BACKEND="httpx")  # httpx logs request URLs (the token) at INFO and DEBUG
        with logs[0].open("wb") as out:
            first = start_kbjuctl(["run"], env, stdout=out, stderr=subprocess.STDOUT)
        try:
            ivan = h.person(3001)
            await survey(ivan, MAN, upto="sex")
            sex_question = ivan.last_message()["message_id"]
        finally:
            helpers = psutil.Process(first.pid).children(recursive=True)  # the chart worker
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        # A bot killed with no chance to clean up leaves no process behind.
        _gone, alive = await asyncio.to_thread(psutil.wait_procs, helpers, 10)
        assert helpers and not alive
        with logs[1].open("wb") as out:
            second = start_kbjuctl(["run"], env, stdout=out, stderr=subprocess.STDOUT)
        try:
            # The keyboard shown before the crash still works, and the answers so far are kept.
            events = await ivan.press("s:v1:sex:male", message_id=sex_question, timeout=20)
            assert "рост" in texts(events)[0].lower()
            for step in ("height", "weight"):
                await ivan.say(MAN[step])
            for step in ("steps", "sport", "freq"):
                await ivan.press(f"s:v1:{step}:{MAN[step]}")
            await ivan.say(MAN["waist"])
            await ivan.say(MAN["neck"])
            events = await ivan.press("s:v1:goal:healthy")
            assert "Иванов Иван" in texts(events)[0] and "2792 ккал" in texts(events)[0]
            second.send_signal(signal.SIGKILL)  # before the funnel is due: it must survive
            second.wait(10)
            third = start_kbjuctl(["run"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                funnel = await ivan.wait(expect=1, timeout=20)
                assert funnel[-1]["message"].get("photo")
                await asyncio.sleep(2.5)  # nothing more arrives: sent once
                assert not [e for e in await ivan.sync() if e["kind"] == "message"]
                assert await _scalar(database_url, "SELECT status FROM scheduled_jobs") == "done"
            finally:
                third.send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(third.wait, 20) == 0  # graceful stop exits 0
        finally:
            if second.poll() is None:
                second.kill()
                second.wait(10)

    run(database_url, scenario, start=False)
    text = "".join(path.read_text(errors="replace") for path in logs)
    assert " DEBUG bot." in text  # the logs really are at DEBUG (other libraries' DEBUG lines are dropped)
    assert TOKEN not in text and TOKEN.split(":")[1] not in text


def test_sigterm_finishes_the_update_in_flight_and_acknowledges_it(database_url):
    """SIGTERM while an update is half answered: its remaining replies are still sent, the process
    exits 0, and the update is acknowledged, so the next bot does not get it again."""
    async def scenario(h):
        env = kbjuctl_env(BOT_TOKEN=TOKEN, DATABASE_URL=database_url, TELEGRAM_API_URL=h.url, METRICS_PORT="0")
        first = start_kbjuctl(["run"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ivan = h.person(3101)
            await survey(ivan, MAN, upto="sex")
            # A press is answered first (answerCallbackQuery), then its question is edited and the
            # next one sent: holding the first call keeps the rest of the update inside the bot.
            await h.client.set_faults(token=TOKEN, delay_ms=1500, methods=["answerCallbackQuery"])
            await h.client.press(ivan.user_id, ivan.last_message()["message_id"], "s:v1:sex:male")
            await asyncio.sleep(0.7)
            first.send_signal(signal.SIGTERM)
            events = await ivan.wait(expect=1, timeout=10)
            assert "рост" in texts(events)[-1].lower()
            assert await asyncio.to_thread(first.wait, 20) == 0
        finally:
            if first.poll() is None:
                first.kill()
        assert (await h.client.stats())["updates"]["pending"] == 0
    run(database_url, scenario, start=False)


def test_run_on_a_database_without_the_schema_applies_it_first(empty_database_url):
    """`kbjuctl run` against a new, empty database: the schema is migrated before the first update
    (else every update would end in the generic apology)."""
    async def scenario(h):
        env = kbjuctl_env(BOT_TOKEN=TOKEN, DATABASE_URL=empty_database_url, TELEGRAM_API_URL=h.url,
                          METRICS_PORT="0")
        bot = start_kbjuctl(["run"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            events = await h.person(3201).say("/start", timeout=30)
            assert "Привет" in texts(events)[0]
        finally:
            bot.terminate()
            assert await asyncio.to_thread(bot.wait, 20) == 0
        assert await _scalar(empty_database_url, "SELECT count(*) FROM conversations") == 1
    run(empty_database_url, scenario, start=False)


def test_run_with_auto_migrate_off_refuses_an_outdated_schema_and_says_what_to_do(empty_database_url):
    env = kbjuctl_env(BOT_TOKEN=TOKEN, DATABASE_URL=empty_database_url, TELEGRAM_API_URL="http://127.0.0.1:9",
                      METRICS_PORT="0", DB_AUTO_MIGRATE="false")
    result = _kbjuctl_run([], env)
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert "pending" in message and "kbjuctl db upgrade" in message and "Traceback" not in message


def test_webhook_rejects_a_missing_or_wrong_secret_and_serves_people(database_url):
    async def scenario(h):
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        await h.start_bot(webhook=True, port=port, webhook_url=url, webhook_secret="s3cret-value")
        forged = {"update_id": 999, "message": {"message_id": 1, "date": int(time.time()), "text": "/start",
                                                "chat": {"id": 5, "type": "private"},
                                                "from": {"id": 5, "is_bot": False, "first_name": "X"}}}
        async with aiohttp.ClientSession() as http:
            assert await _healthz_once_up(http, port) == 200
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(url, json=forged, headers=headers) as r:
                    assert r.status == 403
        assert not await _scalar(database_url, "SELECT count(*) FROM processed_updates")
        ivan = h.person(3002)
        events = await ivan.say("/start")
        assert "Пройти тест" in str(ivan.buttons(ivan.last_message())) and events
        await ivan.press("start:v1")
        await ivan.say(MAN["full_name"])
        assert await _scalar(database_url, "SELECT step FROM conversations WHERE chat_id = 3002") == "birth_date"
    run(database_url, scenario, start=False)


def test_webhook_answers_400_to_a_body_that_is_not_an_update(database_url, caplog):
    """Only Telegram knows the secret, but a proxy or a person testing by hand may post anything:
    a clear 400, nothing written, no traceback in the log, and the bot keeps serving."""
    async def scenario(h):
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        await h.start_bot(webhook=True, port=port, webhook_url=url, webhook_secret="s3cret-value")
        headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-value", "Content-Type": "application/json"}
        bodies = [b"[]", b"null", b'"update"', b"1", b"{}", b'{"update_id": "7"}', b'{"update_id": 7.5}',
                  b"\xff", b"{"]
        async with aiohttp.ClientSession() as http:
            assert await _healthz_once_up(http, port) == 200
            for body in bodies:
                async with http.post(url, data=body, headers=headers) as r:
                    assert (body, r.status) == (body, 400)
                    assert "update" in await r.text()
            # From Telegram (an integer update_id) but of a shape PTB cannot read: a 400 would make
            # Telegram deliver it again and again, so it is acknowledged and skipped.
            async with http.post(url, data=b'{"update_id": 7, "message": 5}', headers=headers) as r:
                assert r.status == 200
        assert not await _scalar(database_url, "SELECT count(*) FROM processed_updates")
        ivan = h.person(3003)
        await ivan.say("/start")
        assert "Пройти тест" in str(ivan.buttons(ivan.last_message()))
    run(database_url, scenario, start=False)
    assert not [r for r in caplog.records if r.exc_info]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("update 7 could not be read (") and "skipped" in errors[0]


def test_a_reply_refused_once_by_a_bot_api_server_error_is_sent_again(database_url):
    """Telegram answers 500/502 now and then. The answer is already committed, so a reply lost to
    one such error would leave the person without the next question; it is retried instead."""
    async def scenario(h):
        ivan = h.person(3004)
        await ivan.say("/start")
        await h.client.set_faults(token=TOKEN, rate_502=1.0, methods=["sendMessage"])
        pressed = asyncio.create_task(ivan.press("start:v1", timeout=15))
        for _ in range(100):  # until the bot's sendMessage was refused once
            if (await h.client.stats())["faults"]["injected"].get("502"):
                break
            await asyncio.sleep(0.02)
        await h.client.clear_faults(token=TOKEN)
        events = await pressed
        assert [t for t in texts(events) if "фамилию и имя" in t]
        await asyncio.sleep(0.3)
        asked = [m for m in await h.client.messages(3004) if "фамилию и имя" in (m.get("text") or "")]
        assert len(asked) == 1
    run(database_url, scenario)


def test_a_reply_lost_to_a_bot_api_outage_is_one_warning_not_a_traceback(database_url, caplog, monkeypatch):
    """When Telegram keeps failing past the retries, that is an outage outside the bot, not a bug:
    one warning line and a metric, no traceback, and the bot serves on when Telegram is back."""
    monkeypatch.setattr(sender, "NETWORK_BACKOFF", (0.05, 0.05, 0.05))

    async def scenario(h):
        ivan = h.person(3005)
        await ivan.say("/start")
        await h.client.set_faults(token=TOKEN, rate_502=1.0, methods=["sendMessage"])
        before = metrics.errors.labels("bot_api")._value.get()
        await h.client.press(3005, ivan.last_message()["message_id"], "start:v1")
        for _ in range(100):
            if metrics.errors.labels("bot_api")._value.get() > before:
                break
            await asyncio.sleep(0.05)
        assert metrics.errors.labels("bot_api")._value.get() == before + 1
        await h.client.clear_faults(token=TOKEN)
        events = await ivan.say("Иванов Иван")  # the lost question was the name: the answer still counts
        assert [t for t in texts(events) if "дата рождения" in t]
    run(database_url, scenario)
    assert not [r for r in caplog.records if r.exc_info]
    lost = [r for r in caplog.records if "Bot API" in r.getMessage()]
    assert len(lost) == 1 and lost[0].levelno == logging.WARNING, [r.getMessage() for r in lost]


class CuttableProxy:
    """A TCP proxy in front of PostgreSQL that the test can cut (all connections dropped, port closed)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()

    async def _serve(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


def test_database_outage_gets_a_try_again_reply_and_the_bot_recovers(database_url):
    from urllib.parse import urlsplit

    parts = urlsplit(database_url)
    proxy = CuttableProxy(parts.port or 5432)

    async def scenario(h):
        await proxy.start()
        proxied = database_url.replace(f":{parts.port or 5432}/", f":{proxy.port}/")
        h.database_url = proxied
        await h.start_bot()
        ivan = h.person(3003)
        await survey(ivan, MAN, upto="birth_date")
        await proxy.cut()
        events = await ivan.say(MAN["birth_date"], timeout=20)
        assert "временно недоступен" in texts(events)[0]
        await proxy.start()  # the database is back on the same address
        events = await ivan.say(MAN["birth_date"], timeout=20)
        assert "пол" in texts(events)[0].lower()
        assert await _scalar(database_url, "SELECT step FROM conversations WHERE chat_id = 3003") == "sex"
    run(database_url, scenario, start=False)


def _raw_update(update_id: int, chat: int, kind: str, value: str) -> dict:
    """An update as Telegram sends it: a text message (a command when it starts with "/") or a press."""
    message = {"message_id": update_id, "date": int(time.time()), "chat": {"id": chat, "type": "private"},
               "from": {"id": chat, "is_bot": False, "first_name": "И"}}
    if kind == "text":
        body = {"update_id": update_id, "message": {**message, "text": value}}
        if value.startswith("/"):
            body["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": len(value)}]
        return body
    return {"update_id": update_id, "callback_query": {
        "id": str(update_id), "from": message["from"], "chat_instance": "1", "data": value,
        "message": {**message, "from": {"id": 1, "is_bot": True, "first_name": "bot"}, "text": "?"}}}


@contextlib.asynccontextmanager
async def _replicas(database_url: str, api_url: str, n: int = 2):
    """n Applications on one database, as n replicas would be; updates are given to them by hand."""
    settings = bot_settings(database_url, api_url)
    apps = [build_application(settings, job_worker=False) for _ in range(n)]
    for app in apps:
        await app.initialize()
        await open_resources(app)
    try:
        yield apps
    finally:
        for app in apps:
            await close_resources(app)
            await app.shutdown()


def test_two_bot_instances_on_the_same_updates_never_double_handle(database_url):
    """Two Applications (as two replicas would) process every update concurrently."""
    async def scenario(h):
        await h.client.send(3004, "hello")  # the chat exists at the stand-in (nobody polls this update)
        async with _replicas(database_url, h.url) as apps:
            update_id = 1000
            steps = [("text", "/start"), ("press", "start:v1"), ("text", MAN["full_name"]),
                     ("text", MAN["birth_date"]), ("press", "s:v1:sex:male"), ("text", MAN["height"])]
            for kind, value in steps:
                update_id += 1
                body = _raw_update(update_id, 3004, kind, value)
                await asyncio.gather(*(app.process_update(Update.de_json(body, app.bot)) for app in apps))
            conv = await _scalar(database_url, "SELECT step || ' ' || answers::text FROM conversations "
                                               "WHERE chat_id = 3004")
            assert conv.startswith("weight ") and '"sex": "male"' in conv and '"height": 180' in conv
            assert await _scalar(database_url, "SELECT count(*) FROM processed_updates") == len(steps)
            messages = [m for m in await h.client.messages(3004) if m["from"].get("is_bot")]
            assert len(messages) == 6  # welcome + one question per step: nothing sent twice
    run(database_url, scenario, start=False)


def test_two_replicas_given_two_messages_of_one_chat_at_once_apply_them_one_after_the_other(database_url):
    """Both turns read the same state; the second to write loses, reads again and answers the next
    question, instead of both answering the same one."""
    from bot import metrics

    def retried() -> float:
        return metrics.turn_conflicts.labels("retried")._value.get()

    async def scenario(h):
        await h.client.send(3005, "hello")
        async with _replicas(database_url, h.url) as apps:
            for update_id, (kind, value) in enumerate([("text", "/start"), ("press", "start:v1")], start=2001):
                await apps[0].process_update(Update.de_json(_raw_update(update_id, 3005, kind, value), apps[0].bot))
            before = len([m for m in await h.client.messages(3005) if m["from"].get("is_bot")])
            conflicts = retried()
            names = ["Иванов Иван", "Петров Пётр"]
            # The race made certain: the test holds the conversation row, so both turns read the same
            # state and then both wait to write it; the test lets go once both are waiting.
            holder = await asyncpg.connect(database_url)
            try:
                hold = holder.transaction()
                await hold.start()
                await holder.execute("SELECT 1 FROM conversations WHERE chat_id = 3005 FOR UPDATE")
                turns = asyncio.gather(*(app.process_update(Update.de_json(
                    _raw_update(2003 + i, 3005, "text", names[i]), app.bot)) for i, app in enumerate(apps)))
                for _ in range(500):
                    waiting = await holder.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                                    "'Lock' AND datname = current_database()")
                    if waiting == 2:
                        break
                    await asyncio.sleep(0.01)
                assert waiting == 2
                await hold.rollback()
                await turns
            finally:
                await holder.close()
            assert retried() == conflicts + 1
            conv = await _scalar(database_url, "SELECT step || ' ' || (answers->>'full_name') FROM conversations "
                                               "WHERE chat_id = 3005")
            assert conv in ("birth_date Иванов Иван", "birth_date Петров Пётр")  # one name, then a bad date
            replies = [m["text"] for m in await h.client.messages(3005) if m["from"].get("is_bot")][before:]
            # The first name answered the name question; the second met the birth-date question and was
            # refused as a date (why, and the question again, in one message), not taken as a second name.
            assert len(replies) == 2 and "дата рождения" in replies[0]
            assert "распознать дату" in replies[1] and replies[1].endswith(replies[0])
            assert await _scalar(database_url, "SELECT count(*) FROM processed_updates") == 4
    run(database_url, scenario, start=False)


def test_a_chat_that_keeps_conflicting_is_handled_under_the_row_lock(database_url, monkeypatch):
    """With no optimistic attempt left, every turn takes the locking path: the survey still works."""
    from bot import metrics, runtime

    monkeypatch.setattr(runtime, "OPTIMISTIC_ATTEMPTS", 0)
    fallbacks = metrics.turn_conflicts.labels("fallback")._value.get()

    async def scenario(h):
        ivan = h.person(3006, "Иван")
        kbju = texts(await survey(ivan, MAN))[-1]
        assert "2792 ккал" in kbju
        # Every update: /start, the test button, 11 answers and "no, thanks" to the reminder offer.
        assert metrics.turn_conflicts.labels("fallback")._value.get() - fallbacks == 14
        assert await _scalar(database_url, "SELECT version FROM conversations WHERE chat_id = 3006") == 14
        assert await _scalar(database_url, "SELECT count(*) FROM user_events WHERE telegram_id = 3006") == 3
    run(database_url, scenario)


def test_sandbox_runs_through_a_pipe(database_url, tmp_path):
    env = kbjuctl_env(DATABASE_URL=database_url)
    proc = start_kbjuctl(["run"], env, cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stdout.read1(4096), b"")),
                              daemon=True)
    reader.start()

    def seen() -> str:
        return b"".join(chunks).decode(errors="replace")

    def send_after(expected: str, line: str, timeout: float = 30.0) -> None:
        """Type the next line only once the sandbox has shown what a person would wait for."""
        deadline = time.monotonic() + timeout
        while expected not in seen():
            assert proc.poll() is None and time.monotonic() < deadline, f"never saw {expected!r}:\n{seen()}"
            time.sleep(0.05)
        proc.stdin.write((line + "\n").encode())
        proc.stdin.flush()

    try:
        send_after("Ctrl-D", "/start")
        send_after("[1] 🚀 Пройти тест", "1")
        send_after("фамилию и имя", "Иванов Иван")
        send_after("дата рождения", "15.06.1990")
        send_after("Укажите ваш пол", "", timeout=30)
        proc.stdin.close()  # end of input ends the sandbox
        proc.wait(timeout=30)
        reader.join(timeout=5)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    text = seen()
    assert proc.returncode == 0, text
    assert "[1] 🚀 Пройти тест" in text and "Укажите ваш пол" in text and "[2] Женский" in text


def test_sandbox_on_the_embedded_postgresql_stops_the_server_it_started(tmp_path):
    """README command 1 with no DATABASE_URL: pgserver's PostgreSQL in .kbju/pg, stopped at the end
    (it used to keep running in the background after the chat was closed)."""
    data_dir = localpg.real_embedded_dir(tmp_path / ".kbju" / "pg")
    proc = start_kbjuctl(["run"], kbjuctl_env(), cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        output, _ = proc.communicate(b"/start\n", timeout=120)  # stdin closes after /start
    finally:
        if proc.poll() is None:
            proc.kill()
    text = output.decode(errors="replace")
    try:
        assert proc.returncode == 0, text
        assert "Starting the embedded PostgreSQL" in text and "Пройти тест" in text
        servers = [p for p in psutil.process_iter(["cmdline"]) if str(data_dir) in " ".join(p.info["cmdline"] or [])]
        assert not servers
    finally:
        localpg.stop_embedded(tmp_path / ".kbju" / "pg")
        shutil.rmtree(data_dir, ignore_errors=True)


def test_time_zone_http_backend_and_send_limits_come_from_settings(database_url):
    """BOT_TIMEZONE, BOT_HTTP_BACKEND and the send limits are read through Settings only; the older
    BOT_MAX_SEND_RATE is read as the bulk budget when BOT_BULK_RATE is not set."""
    from telegram.request import HTTPXRequest

    async def scenario(h):
        settings = bot_settings(database_url, h.url, bot_timezone="Asia/Tokyo", bot_http_backend="httpx",
                                bot_max_send_rate=7, bot_chat_rate=0.5, bot_chat_burst=2)
        app = build_application(settings, job_worker=False)
        await app.initialize()
        await open_resources(app)
        try:
            assert app.bot_data["backend"] == "httpx" and isinstance(app.bot.request.inner, HTTPXRequest)
            assert (app.bot.rate_limiter.chat_rate, app.bot.rate_limiter.chat_burst) == (0.5, 2)
            assert app.bot_data["kbju"].bulk.rate == 7
            assert app.bot_data["kbju"].tz.key == "Asia/Tokyo"
        finally:
            await close_resources(app)
            await app.shutdown()
        default = build_application(load_settings(database_url=database_url, bot_token=TOKEN, telegram_api_url=h.url),
                                    job_worker=False)
        assert default.bot_data["backend"] == "aiohttp"
        assert (default.bot.rate_limiter.chat_rate, default.bot.rate_limiter.chat_burst) == (1.0, 3)
        assert load_settings(bot_max_send_rate=7, bot_bulk_rate=20).bot_bulk_rate == 20
        assert load_settings().bot_bulk_rate == 30
    run(database_url, scenario, start=False)


def test_healthz_is_503_while_the_database_is_down_and_200_when_it_is_back(database_url):
    from urllib.parse import urlsplit

    parts = urlsplit(database_url)
    proxy = CuttableProxy(parts.port or 5432)

    async def scenario(h):
        await proxy.start()
        h.database_url = database_url.replace(f":{parts.port or 5432}/", f":{proxy.port}/")
        port = free_port()
        await h.start_bot(webhook=True, port=port)
        healthz = f"http://127.0.0.1:{port}/healthz"

        async def status() -> int | None:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(healthz) as r:
                    return r.status
            return None

        async def probe(path: str) -> tuple[int, dict]:
            async with http.get(f"http://127.0.0.1:{port}{path}") as r:
                return r.status, await r.json()

        build = {"version": buildinfo.version(), "revision": buildinfo.revision()}

        async def becomes(wanted: int) -> None:
            for _ in range(100):
                if await status() == wanted:
                    return
                await asyncio.sleep(0.1)
            raise AssertionError(f"/healthz never answered {wanted}")

        async with aiohttp.ClientSession() as http:
            await becomes(200)
            assert await probe("/healthz") == (200, {"status": "ok", **build, "database": "ok"})
            await proxy.cut()
            started = time.monotonic()
            assert await probe("/healthz") == (503, {"status": "unavailable", **build, "database": "unavailable"})
            assert time.monotonic() - started < 3  # answered within its 1 s ping budget, not hung
            # Liveness ignores the database: an orchestrator must not restart bots waiting for it.
            assert await probe("/livez") == (200, {"status": "ok", **build})
            await proxy.start()
            await becomes(200)
    run(database_url, scenario, start=False)


def test_run_with_an_unreachable_bot_api_exits_with_a_clear_message(database_url):
    env = kbjuctl_env(BOT_TOKEN=TOKEN, DATABASE_URL=database_url, TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}",
                      METRICS_PORT="0")
    result = _kbjuctl_run([], env)
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert "Cannot reach the Bot API" in message and "TELEGRAM_API_URL" in message
    assert "Traceback" not in message and "Unclosed" not in message and "Unexpected error" not in message
    assert TOKEN.split(":")[1] not in result.stderr + result.stdout


def test_webhook_mode_without_a_url_or_a_secret_is_refused_not_served_behind_an_unknown_secret(database_url):
    # With neither, the bot would answer 403 to every delivery: nobody knows its random secret.
    env = kbjuctl_env(BOT_TOKEN=TOKEN, DATABASE_URL=database_url, TELEGRAM_API_URL="http://127.0.0.1:9",
                      METRICS_PORT="0")
    result = _kbjuctl_run(["--webhook", "--port", str(free_port())], env)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "WEBHOOK_URL" in message and "WEBHOOK_SECRET" in message and "Traceback" not in message
