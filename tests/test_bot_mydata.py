"""A person's rights end to end through the stand-in: /privacy, /export (the files read back and compared
with the database), /delete_me (every row of the person gone, nothing of anyone else; a double tap and
an old button erase nothing twice and fail nowhere), and a fresh start afterwards."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.domain import export
from bot.domain import texts as domain_texts
from tests.helpers.bot_harness import MAN, WOMAN, db_rows, run, survey, texts

MSK = ZoneInfo("Europe/Moscow")
OPERATOR = "ИП Петрова А. А."


async def _db(h, sql, *args):
    return await db_rows(h.database_url, sql, *args)


async def _funnel_came(h, person) -> None:
    """The funnel's invitation (a photo, sent by itself once due: the clock moved past it) is in the chat,
    and the person has seen it, so it cannot land among the messages a later step waits for."""
    for _ in range(100):
        if any(m.get("photo") for m in await h.client.messages(person.chat_id)):
            await person.sync()
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the funnel's invitation never came")


async def _measure(person, waist: str, neck: str, weight: str, hip: str | None = None) -> None:
    await person.press("m:v1:measure")
    for value in (waist, neck, *([hip] if hip else []), weight):
        await person.say(value)
    await person.press("s:v1:steps:5000-8000")
    await person.press("s:v1:sport:running")
    await person.press("s:v1:freq:3-4", expect=2)
    if any(data == "r:v1:no" for _, data in person.buttons(person.last_message())):
        await person.press("r:v1:no")


def test_privacy_notice_names_the_operator_at_start_and_any_time(database_url):
    async def scenario(h):
        stranger = h.person(7001, "Гость")
        events = await stranger.say("/start")
        assert OPERATOR in texts(events)[0] and "/delete_me" in texts(events)[0] and "/export" in texts(events)[0]
        events = await stranger.say("/privacy")
        assert OPERATOR in texts(events)[0] and "privacy@example.org" in texts(events)[0]
        assert "Что хранится" in texts(events)[0]
    run(database_url, scenario, operator_name=OPERATOR, privacy_contact="privacy@example.org")


def test_export_sends_the_csv_and_a_one_page_pdf_that_match_the_database(database_url):
    clock = Clock(MSK)

    async def scenario(h):
        await h.start_bot(clock=clock, operator_name=OPERATOR)
        anna = h.person(7002, "Анна")
        await survey(anna, WOMAN)
        start = clock.today()
        later = ((8, ("69,5", "32", "95,5", "60,1")), (15, ("69", "31,5", "95", "59,7")))
        for days, (waist, neck, hip, weight) in later:
            clock.move_to(start + timedelta(days=days))
            await _measure(anna, waist, neck, weight, hip)
        await _funnel_came(h, anna)
        events = await anna.press("m:v1:data", expect=2)
        my_data = next(e["message"] for e in events if e["kind"] == "message")
        assert [data for _, data in anna.buttons(my_data)] == ["d:v1:export", "d:v1:privacy", "d:v1:erase"]
        events = await anna.press("d:v1:export", expect=3, timeout=60)
        documents = [e["message"] for e in events if e["kind"] == "message" and "document" in e["message"]]
        assert [d["document"]["file_name"].rsplit(".", 1)[1] for d in documents] == ["csv", "pdf"]
        assert "3 записи" in documents[0]["caption"]
        assert texts(events)[-1] == domain_texts.EXPORT_DONE
        csv_bytes = await h.client.file_bytes(documents[0]["document"]["file_id"])
        rows = export.parse_csv(csv_bytes)
        stored = await _db(h, "SELECT date, weight, waist, neck, hip, height, bodyfat FROM user_records "
                              "WHERE telegram_id = 7002 ORDER BY date")
        assert len(rows) == len(stored) == 3
        for row, db in zip(rows, stored, strict=True):
            assert row["Дата"] == db["date"].strftime("%d.%m.%Y")
            for column, field in (("Вес, кг", "weight"), ("Талия, см", "waist"), ("Шея, см", "neck"),
                                  ("Бёдра, см", "hip"), ("Жир, %", "bodyfat")):
                assert export.parse_number(row[column]) == round(db[field], 2), (column, row, db)
            assert int(row["Рост, см"]) == db["height"]
        assert rows[0]["Цель"] == "Спортивное тело" and rows[0]["Спорт"] == "Йога / пилатес"
        pdf = await h.client.file_bytes(documents[1]["document"]["file_id"])
        assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
        assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1  # one page
        assert len(re.findall(rb"/Subtype\s*/Image", pdf)) == 1  # the progress chart
        assert documents[1]["document"]["mime_type"] == "application/pdf"
        kinds = [r["kind"] for r in await _db(h, "SELECT kind FROM user_events WHERE telegram_id = 7002")]
        assert kinds.count("export") == 1
        # Someone not registered gets nothing but the way to register.
        events = await h.person(7003).say("/export")
        assert "/start" in texts(events)[0]
    run(database_url, scenario, start=False)


async def _rows_holding(h, person: int) -> dict[str, int]:
    """Every row of every table that holds `person` in any integer column or any JSON value."""
    columns = await _db(h, """
        SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = 'public' AND data_type IN ('bigint', 'integer', 'jsonb')
          AND table_name NOT LIKE '%yoyo%' AND table_name <> 'erasures'""")
    found = {}
    for c in columns:
        table, column = c["table_name"], c["column_name"]
        if c["data_type"] == "jsonb":
            sql = f'SELECT count(*) AS n FROM "{table}" WHERE "{column}"::text ~ $1'
            args = (rf"(^|\D){person}(\D|$)",)
        else:
            sql = f'SELECT count(*) AS n FROM "{table}" WHERE "{column}" = $1'
            args = (person,)
        n = (await _db(h, sql, *args))[0]["n"]
        if n:
            found[f"{table}.{column}"] = n
    return found


def test_delete_me_removes_every_row_of_the_person_and_nothing_of_anyone_else(database_url):
    async def scenario(h):
        ivan, anna = h.person(7101, "Иван"), h.person(7102, "Анна")
        for person, answers in ((ivan, MAN), (anna, WOMAN)):
            await survey(person, answers, reminder=None)
            await person.press("r:v1:day:1")
            await person.press("r:v1:hour:9")
            await person.press("m:v1:food")
            await person.say("рыба, овощи, творог")
            await person.say("-")
            await person.press("m:v1:consult")
        await _db(h, "INSERT INTO reminder_sends (telegram_id, slot_at, outcome, at) "
                     "SELECT id, now() - interval '7 days', 'sent', now() FROM unnest(ARRAY[7101, 7102]) AS id")
        before_ivan, before_anna = await _rows_holding(h, 7101), await _rows_holding(h, 7102)
        for table in ("users.telegram_id", "user_records.telegram_id", "user_food_preferences.telegram_id",
                      "reminders.telegram_id", "reminder_sends.telegram_id", "user_events.telegram_id",
                      "conversations.chat_id", "scheduled_jobs.chat_id"):
            assert before_ivan.get(table), (table, before_ivan)

        events = await ivan.say("/delete_me")
        assert "Удалить всё?" in texts(events)[0]
        confirmation = ivan.last_message()["message_id"]
        # "No" first: nothing is deleted, and the question is no longer pending.
        events = await ivan.press("d:v1:erase_no")
        assert domain_texts.ERASE_KEPT in texts(events)[0]
        assert (await _db(h, "SELECT count(*) AS n FROM user_records WHERE telegram_id = 7101"))[0]["n"] == 1
        events = await ivan.press("d:v1:erase_yes", message_id=confirmation, strict=False, expect=0)
        assert [e["text"] for e in events if e["kind"] == "callback_answer"] == [domain_texts.OUTDATED_BUTTON]
        assert (await _db(h, "SELECT count(*) AS n FROM users WHERE telegram_id = 7101"))[0]["n"] == 1

        await ivan.press("m:v1:data", expect=2)
        events = await ivan.press("d:v1:erase")
        question = ivan.last_message()["message_id"]
        events = await ivan.press("d:v1:erase_yes")
        assert "все ваши данные удалены" in texts(events)[0] and "14 дней" in texts(events)[0]
        assert await _rows_holding(h, 7101) == {}
        assert await _rows_holding(h, 7102) == before_anna  # nothing of anyone else
        [ledger] = await _db(h, "SELECT telegram_id, source FROM erasures")
        assert tuple(ledger) == (7101, "bot")

        # A double tap, and the same button pressed again later: nothing deleted twice, no error, and
        # nothing of the chat stored again.
        for _ in range(2):
            events = await ivan.press("d:v1:erase_yes", message_id=question, strict=False, expect=0)
            assert [e["text"] for e in events if e["kind"] == "callback_answer"] == [domain_texts.ERASE_ALREADY]
        assert await _rows_holding(h, 7101) == {}
        assert len(await _db(h, "SELECT 1 FROM erasures")) == 1

        # /start begins as for a new person.
        events = await ivan.say("/start")
        assert "Пройти тест" in str(ivan.buttons(ivan.last_message())) and "С возвращением" not in texts(events)[0]
        await survey(ivan, MAN)
        assert (await _db(h, "SELECT count(*) AS n FROM user_records WHERE telegram_id = 7101"))[0]["n"] == 1
    run(database_url, scenario)
