"""Weekly reminders end to end through the stand-in, with the bot's clock moved instead of waiting a week:
offered, set, changed, turned off; sent once at the local time across two replicas; skipped when
already measured; stopped for a person who blocked the bot, and back when they write again."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from bot import metrics
from bot.clock import Clock
from bot.domain import texts as domain_texts
from tests.helpers.bot_harness import MAN, WOMAN, db_rows, run, survey, texts

MSK = ZoneInfo("Europe/Moscow")
REMINDER = domain_texts.REMINDER_MESSAGE.split("</b>")[0].removeprefix("⏰ <b>")  # "Пора сделать замеры!"


def move(clock: Clock, moment: datetime) -> None:
    """The bot's clock now reads `moment` (and runs on from there)."""
    clock.shift = moment - datetime.now(clock.tz)


async def _db(h, sql, *args):
    return await db_rows(h.database_url, sql, *args)


async def _reminders_seen(h, chat_id: int) -> list[dict]:
    return [m for m in await h.client.messages(chat_id) if m["from"].get("is_bot") and REMINDER in m.get("text", "")]


async def _wait_for(condition, timeout: float = 10.0):
    for _ in range(int(timeout / 0.1)):
        if result := await condition():
            return result
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def _set_reminder(person, day: int, hour: int) -> list[dict]:
    """From the offer or the day question on screen: that day, then that hour (default zone)."""
    await person.press(f"r:v1:day:{day}")
    return await person.press(f"r:v1:hour:{hour}")


def test_offered_after_the_survey_then_set_changed_and_turned_off(database_url):
    async def scenario(h):
        anna = h.person(6001, "Анна")
        events = await survey(anna, WOMAN, reminder=None)
        offer = anna.last_message()
        assert "Напоминать о замерах?" in offer["text"]
        assert [data for _, data in anna.buttons(offer)] == [f"r:v1:day:{d}" for d in range(7)] + ["r:v1:no"]
        assert "Тест пройден" in texts(events)[0]  # the survey's result came first
        events = await anna.press("r:v1:day:0")
        assert "День напоминаний: по понедельникам ✅" in anna.message(offer["message_id"])["text"]
        hours = [data for _, data in anna.buttons(anna.last_message())]
        # Only hours outside the quiet hours (22-8 by default), and another zone.
        assert hours == [f"r:v1:hour:{h}" for h in range(8, 22)] + ["r:v1:zones"]
        assert "Москва (UTC+3)" in texts(events)[0]
        await anna.press("r:v1:zones")
        events = await anna.press("r:v1:zone:yek")
        assert "Екатеринбург (UTC+5)" in texts(events)[0] and "по понедельникам" in texts(events)[0]
        hour_question = anna.last_message()["message_id"]
        events = await anna.press("r:v1:hour:9")
        assert "по понедельникам между 9:00 и 10:00, время — Екатеринбург (UTC+5)" in texts(events)[0]
        assert anna.buttons(anna.last_message())[0][1].startswith("m:v1:")  # the menu again
        [row] = await _db(h, "SELECT weekday, hour, timezone, enabled, slot_at, due_at FROM reminders "
                             "WHERE telegram_id = 6001")
        assert (row["weekday"], row["hour"], row["timezone"], row["enabled"]) == (0, 9, "Asia/Yekaterinburg", True)
        slot = row["slot_at"].astimezone(ZoneInfo("Asia/Yekaterinburg"))
        assert (slot.weekday(), slot.hour, slot.minute) == (0, 9, 0)
        assert row["slot_at"] <= row["due_at"] < row["slot_at"] + timedelta(hours=1)
        # A second tap on the hour (or any old button of the setup) changes nothing.
        events = await anna.press("r:v1:hour:10", message_id=hour_question, strict=False, expect=0)
        assert [e["text"] for e in events if e["kind"] == "callback_answer"] == [domain_texts.OUTDATED_BUTTON]
        assert (await _db(h, "SELECT hour FROM reminders WHERE telegram_id = 6001"))[0]["hour"] == 9

        events = await anna.say("/reminders")
        assert "Напоминания включены" in texts(events)[0] and "9:00–10:00" in texts(events)[0]
        await anna.press("r:v1:change")
        await anna.press("r:v1:day:2")  # the zone chosen before stays
        events = await anna.press("r:v1:hour:19")
        assert "по средам между 19:00 и 20:00, время — Екатеринбург (UTC+5)" in texts(events)[0]
        rows = await _db(h, "SELECT weekday, hour, timezone FROM reminders WHERE telegram_id = 6001")
        assert [tuple(r) for r in rows] == [(2, 19, "Asia/Yekaterinburg")]

        await anna.press("m:v1:remind")
        events = await anna.press("r:v1:off")
        assert "Напоминания выключены" in texts(events)[0]
        assert not (await _db(h, "SELECT enabled FROM reminders WHERE telegram_id = 6001"))[0]["enabled"]
        events = await anna.say("/reminders")
        assert "Напоминания выключены" in texts(events)[0]
        events = await anna.press("r:v1:keep")
        assert anna.buttons(anna.last_message())[0][1].startswith("m:v1:")

        # After a measurement the offer comes again while the reminder is off, and not once it is on.
        for_measure = [("say", "70"), ("say", "32"), ("say", "96"), ("say", "60"), ("press", "s:v1:steps:0-3000"),
                       ("press", "s:v1:sport:none")]

        async def measure() -> list[dict]:
            await anna.press("m:v1:measure")
            for how, value in for_measure:
                await (anna.say(value) if how == "say" else anna.press(value))
            return await anna.press("s:v1:freq:1-2", expect=2)

        events = await measure()
        assert "Замер" in texts(events)[0] and "Напоминать о замерах?" in texts(events)[1]
        await _set_reminder(anna, 4, 8)
        events = await measure()
        assert "Напоминать" not in "".join(texts(events)) and anna.buttons(anna.last_message())[0][1] == "m:v1:data"
        kinds = [r["kind"] for r in await _db(h, "SELECT kind FROM user_events WHERE telegram_id = 6001 "
                                                 "AND kind LIKE 'reminder%' ORDER BY id")]
        assert kinds == ["reminder_set", "reminder_set", "reminder_off", "reminder_set"]
    run(database_url, scenario)


def test_sent_once_at_its_local_time_across_two_replicas_skipped_when_measured_that_week(database_url):
    clock = Clock(MSK)

    async def scenario(h):
        await h.start_bot(clock=clock)
        ivan = h.person(6002, "Иван")
        await survey(ivan, MAN, reminder=None)
        registered_on = clock.today()
        day = (registered_on + timedelta(days=2)).weekday()
        await _set_reminder(ivan, day, 10)
        [row] = await _db(h, "SELECT slot_at, due_at FROM reminders WHERE telegram_id = 6002")
        first_slot, due = row["slot_at"], row["due_at"]
        assert first_slot.astimezone(MSK).date() == registered_on + timedelta(days=2)
        assert first_slot.astimezone(MSK).hour == 10
        async with h.background_replica(clock=clock):
            # The first slot comes 2 days after the survey's measurement: that week is measured already.
            move(clock, due + timedelta(seconds=1))
            await _wait_for(lambda: _db(h, "SELECT 1 FROM reminder_sends WHERE telegram_id = 6002"))
            rows = await _db(h, "SELECT slot_at, outcome FROM reminder_sends WHERE telegram_id = 6002")
            assert [(r["slot_at"], r["outcome"]) for r in rows] == [(first_slot, "measured")]
            [row] = await _db(h, "SELECT slot_at, due_at FROM reminders WHERE telegram_id = 6002")
            assert row["slot_at"] == first_slot + timedelta(days=7)
            # A week later, one minute early: nothing; at its minute: the reminder, once.
            move(clock, row["due_at"] - timedelta(minutes=1))
            await asyncio.sleep(2.5)
            assert await _reminders_seen(h, 6002) == []
            move(clock, row["due_at"] + timedelta(seconds=1))
            [reminder] = await _wait_for(lambda: _reminders_seen(h, 6002))
            await asyncio.sleep(3)  # both replicas' loops ran again meanwhile
            assert len(await _reminders_seen(h, 6002)) == 1
            rows = await _db(h, "SELECT slot_at, outcome FROM reminder_sends WHERE telegram_id = 6002 ORDER BY 1")
            assert [r["outcome"] for r in rows] == ["measured", "sent"]
            assert (await _db(h, "SELECT slot_at FROM reminders WHERE telegram_id = 6002"))[0]["slot_at"] == \
                first_slot + timedelta(days=14)
        assert [data for _, data in ivan.buttons(reminder)] == ["r:v1:measure", "m:v1:remind"]
        # Its button starts «Новые замеры» at once.
        events = await ivan.press("r:v1:measure", message_id=reminder["message_id"])
        assert "Обхват талии" in texts(events)[0]
        kinds = [r["kind"] for r in await _db(h, "SELECT kind FROM user_events WHERE telegram_id = 6002 ORDER BY id")]
        assert kinds[-1] == "reminder_opened"
    run(database_url, scenario, start=False)


def test_many_due_reminders_go_out_exactly_once_with_two_replicas(database_url):
    """40 people due at once, two replicas claiming: each person gets one reminder."""
    clock = Clock(MSK)
    people = list(range(6100, 6140))

    async def scenario(h):
        slot = datetime.combine(clock.today(), datetime.min.time().replace(hour=12), MSK)  # outside quiet hours
        move(clock, slot + timedelta(minutes=30))
        await h.start_bot(clock=clock)
        for person in people:  # the stand-in knows the chat once the person wrote
            await h.client.send(person, "/privacy")
        conn = await asyncpg.connect(h.database_url)
        try:
            for person in people:
                await conn.execute("INSERT INTO users (telegram_id, first_name, sex) VALUES ($1, 'X', 'male')", person)
                await conn.execute(
                    "INSERT INTO user_records (telegram_id, date, weight, waist, neck, height, goal, steps, "
                    "sport_type, sport_freq) VALUES ($1, $2, 80, 90, 40, 180, 'healthy', '0-3000', 'none', '1-2')",
                    person, clock.today() - timedelta(days=20))
                await conn.execute(
                    "INSERT INTO reminders (telegram_id, chat_id, weekday, hour, timezone, slot_at, due_at) "
                    "VALUES ($1, $1, $2, $3, 'Europe/Moscow', $4, $4::timestamptz + interval '1 second')",
                    person, slot.weekday(), slot.hour, slot)
        finally:
            await conn.close()
        async with h.background_replica(clock=clock):
            async def all_sent():
                rows = await _db(h, "SELECT count(*) AS n FROM reminder_sends WHERE outcome = 'sent'")
                return rows[0]["n"] == len(people)
            await _wait_for(all_sent, timeout=20)
            await asyncio.sleep(2)
        for person in people:
            assert len(await _reminders_seen(h, person)) == 1, person
        rows = await _db(h, "SELECT count(DISTINCT slot_at) AS slots, min(slot_at) AS slot FROM reminders")
        assert (rows[0]["slots"], rows[0]["slot"]) == (1, slot + timedelta(days=7))
    run(database_url, scenario, start=False)


def test_a_person_who_blocked_the_bot_gets_no_reminders_nor_funnel_until_they_write_again(database_url):
    clock = Clock(MSK)
    funnel_blocks = metrics.blocked.labels("funnel")._value.get()
    reminder_blocks = metrics.blocked.labels("reminder")._value.get()

    async def scenario(h):
        await h.start_bot(clock=clock, funnel_delay_seconds=3)
        # The funnel: blocked right after the survey, before the invitation is due.
        petr = h.person(6201, "Пётр")
        await survey(petr, MAN)
        await h.client.block(6201)
        await _wait_for(lambda: _db(h, "SELECT 1 FROM conversations WHERE chat_id = 6201 AND blocked_at IS NOT NULL"))
        assert metrics.blocked.labels("funnel")._value.get() - funnel_blocks == 1
        assert (await _db(h, "SELECT status FROM scheduled_jobs WHERE chat_id = 6201"))[0]["status"] == "failed"

        ivan = h.person(6202, "Иван")
        await survey(ivan, MAN, reminder=None)
        # Tomorrow at noon: the first slot is in the survey's week whatever the time now (today's noon
        # may be past, and next week's slot is outside the week the survey measured).
        await _set_reminder(ivan, (clock.today().weekday() + 1) % 7, 12)

        async def week(n: int) -> None:
            """The reminder's slot n weeks after the survey (the first is measured already)."""
            [row] = await _db(h, "SELECT due_at FROM reminders WHERE telegram_id = 6202")
            move(clock, row["due_at"] + timedelta(seconds=1))
            await _wait_for(lambda: _db(h, "SELECT 1 FROM reminder_sends WHERE telegram_id = 6202 "
                                           "HAVING count(*) = $1", n))

        await week(1)  # measured at the survey: nothing sent (and the funnel's invitation went out meanwhile)
        # Blocked only now: blocked before, the funnel's invitation (due 3 s after the survey, and at
        # once when the clock jumps to the first slot) was refused first and the first slot was
        # already "blocked", whichever of the two loops ran first.
        await h.client.block(6202)
        await week(2)  # sent: refused with 403, the chat marked blocked
        assert (await _db(h, "SELECT blocked_at FROM conversations WHERE chat_id = 6202"))[0]["blocked_at"]
        assert metrics.blocked.labels("reminder")._value.get() - reminder_blocks == 1
        sends_before = await _send_calls(h)
        await week(3)  # not even tried
        assert await _send_calls(h) == sends_before
        outcomes = [r["outcome"] for r in await _db(h, "SELECT outcome FROM reminder_sends WHERE telegram_id = 6202 "
                                                       "ORDER BY slot_at")]
        assert outcomes == ["measured", "blocked", "blocked"]
        # Unblocked, the person writes: the mark goes, and the next week's reminder comes.
        await h.client.block(6202, blocked=False)
        await ivan.say("/menu")
        assert (await _db(h, "SELECT blocked_at FROM conversations WHERE chat_id = 6202"))[0]["blocked_at"] is None
        await week(4)  # its row is written before the message goes out: wait for the message
        assert len(await _wait_for(lambda: _reminders_seen(h, 6202))) == 1
    run(database_url, scenario, start=False)


async def _send_calls(h) -> int:
    """sendMessage calls the stand-in has had, refused ones included."""
    return (await h.client.stats())["methods"].get("sendMessage", 0)
