"""Menu flows end to end: my data, measurements, progress, goal, food, guards, double taps."""

from __future__ import annotations

import asyncio

import asyncpg

from bot.domain import texts as domain_texts
from tests.helpers.bot_harness import MAN, WOMAN, run, survey, texts


async def _db(h, sql, *args):
    conn = await asyncpg.connect(h.database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def test_not_registered_person_is_sent_to_start(database_url):
    async def scenario(h):
        stranger = h.person(2001)
        await stranger.say("/start")
        await h.client.inject({"callback_query": {
            "id": "q1", "from": {"id": 2001, "is_bot": False, "first_name": "X"}, "chat_instance": "1",
            "data": "m:v1:data", "message": stranger.last_message()}})
        events = await stranger.wait()
        assert "/start" in texts(events)[0]
        events = await stranger.say("привет")
        assert "/start" in texts(events)[0]
        events = await stranger.say("/menu")
        assert "/start" in texts(events)[0]
    run(database_url, scenario)


def test_registered_person_sees_data_and_already_registered(database_url):
    async def scenario(h):
        ivan = h.person(2002)
        await survey(ivan, MAN)
        events = await ivan.say("/start")
        assert "Вы уже прошли тест" in texts(events)[0]
        events = await ivan.press("m:v1:data")  # the data and the menu: one message
        assert "Процент жира: 27,1%" in texts(events)[0] and "Иванов Иван" in texts(events)[0]
        assert ivan.buttons(ivan.last_message())
        events = await ivan.say("просто текст")
        assert ivan.buttons(ivan.last_message())
        events = await ivan.say("/data")
        assert events[-1]["message"].get("photo") and ivan.buttons(ivan.last_message())[0][1].startswith("https://")
    run(database_url, scenario)


def test_same_day_measurements_update_one_record_and_progress_needs_two_days(database_url):
    async def scenario(h):
        ivan = h.person(2003)
        await survey(ivan, MAN)
        for weight in ("84", "83,5"):
            await ivan.press("m:v1:measure")
            for value in ("94", "42", weight):
                await ivan.say(value)
            for step in ("steps", "sport"):
                await ivan.press(f"s:v1:{step}:{MAN[step]}")
            events = await ivan.press("s:v1:freq:daily", expect=2)  # the record, and the reminder offer
            assert f"Вес: {weight} кг" in texts(events)[0] and ivan.buttons(ivan.last_message())
        rows = await _db(h, "SELECT weight, sport_freq, height, goal FROM user_records WHERE telegram_id = 2003")
        assert [tuple(r) for r in rows] == [(83.5, "daily", 180, "healthy")]
        events = await ivan.press("m:v1:progress")
        assert "хотя бы два замера" in texts(events)[0] and ivan.buttons(ivan.last_message())
        # An earlier day, as if measured a month ago: now there is progress and a chart.
        await _db(h, "INSERT INTO user_records (telegram_id, date, weight, waist, neck, height, goal, steps, "
                     "sport_type, sport_freq, bodyfat) VALUES (2003, current_date - 40, 90, 100, 42, 180, "
                     "'healthy', '0-3000', 'none', '1-2', 30)")
        # The weekly averages, then the chart with the progress text as its caption and the menu as its buttons.
        events = await ivan.press("m:v1:progress", expect=2, timeout=30)
        weekly, chart = [e["message"] for e in events if e["kind"] == "message"]
        assert "По неделям" in weekly["text"]
        assert chart.get("photo") and "минус 6,5 кг" in chart["caption"] and "вес и процент жира" in chart["caption"]
        assert ivan.buttons(chart)
    run(database_url, scenario)


def test_goal_change_recomputes_and_lean_is_refused_below_7_percent(database_url):
    async def scenario(h):
        ivan = h.person(2004)
        await survey(ivan, MAN)
        await ivan.press("m:v1:goal")
        events = await ivan.press("g:v1:athletic")
        assert "2931 ккал" in texts(events)[0]  # 2791.8 x 1.05
        await _db(h, "UPDATE user_records SET waist = 60, neck = 42 WHERE telegram_id = 2004")  # ~ 4 %
        await ivan.press("m:v1:goal")
        events = await ivan.press("g:v1:lean")
        assert "не ниже 7%" in texts(events)[0] and ivan.buttons(ivan.last_message())
        events = await ivan.press("g:v1:healthy")
        rows = await _db(h, "SELECT goal FROM user_records WHERE telegram_id = 2004")
        assert rows[0]["goal"] == "healthy"
    run(database_url, scenario)


def test_food_preferences_create_show_edit_and_cancel(database_url):
    async def scenario(h):
        anna = h.person(2005)
        await survey(anna, WOMAN)
        await anna.press("m:v1:food")
        events = await anna.say("рыба")
        assert "5 символов" in texts(events)[0]
        await anna.say("рыба, овощи, творог")
        events = await anna.say("-")
        assert texts(events)[0] == domain_texts.FOOD_SAVED and anna.buttons(anna.last_message())
        rows = await _db(h, "SELECT likes_raw, dislikes_raw FROM user_food_preferences")
        assert [tuple(r) for r in rows] == [("рыба, овощи, творог", "")]
        events = await anna.press("m:v1:food")
        assert "рыба" in texts(events)[0]
        await anna.press("f:v1:edit")
        await anna.say("курица и рис")
        await anna.say("лук")
        rows = await _db(h, "SELECT likes_raw, dislikes_raw FROM user_food_preferences")
        assert [tuple(r) for r in rows] == [("курица и рис", "лук")]
        await anna.press("m:v1:food")
        events = await anna.press("f:v1:cancel")
        assert anna.buttons(anna.last_message())
        await anna.press("m:v1:food")
        await anna.press("f:v1:edit")
        events = await anna.say("/cancel", expect=2)
        assert "отменено" in texts(events)[0].lower()
        rows = await _db(h, "SELECT likes_raw FROM user_food_preferences")
        assert rows[0]["likes_raw"] == "курица и рис"
    run(database_url, scenario)


def test_double_tap_on_an_answer_is_handled_once(database_url):
    async def scenario(h):
        person = h.person(2006)
        await survey(person, MAN, upto="sex")
        question = person.last_message()["message_id"]
        first = await h.client.press(2006, question, "s:v1:sex:male")
        second = await h.client.press(2006, question, "s:v1:sex:female", strict=False)
        events = await person.wait(expect=1)
        wanted = {first["callback_query_id"], second["callback_query_id"]}
        for _ in range(100):  # both presses are answered (the outdated one with a toast)
            await person.sync()
            if wanted <= {e["callback_query_id"] for e in person.seen if e["kind"] == "callback_answer"}:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(person.transcript(last=10))
        assert sum(1 for e in person.seen if e["kind"] == "message") == 5  # welcome, name, birth date, sex, height
        rows = await _db(h, "SELECT step, answers->>'sex' AS sex FROM conversations WHERE chat_id = 2006")
        assert (rows[0]["step"], rows[0]["sex"]) == ("height", "male")
        assert "рост" in texts(events)[0].lower()
    run(database_url, scenario)


def test_old_forged_or_misplaced_buttons_get_the_outdated_toast_and_change_nothing(database_url):
    """Pre-domain callback formats, unknown codes and a goal-change button during the survey."""
    async def scenario(h):
        person = h.person(2007)
        await survey(person, MAN, upto="sex")
        question = person.last_message()["message_id"]
        presses = [await h.client.press(2007, question, data, strict=False)
                   for data in ("sex:v1:male", "s:v1:sex:robot", "menu:v1:data", "g:v1:lean", "s:v1:steps:0-3000")]
        wanted = {p["callback_query_id"] for p in presses}
        for _ in range(100):
            await person.sync()
            answers = {e["callback_query_id"]: e["text"] for e in person.seen if e["kind"] == "callback_answer"}
            if wanted <= set(answers):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(person.transcript(last=10))
        assert {answers[q] for q in wanted} == {domain_texts.OUTDATED_BUTTON}
        assert sum(1 for e in person.seen if e["kind"] == "message") == 4  # welcome, name, birth date, sex
        rows = await _db(h, "SELECT step, answers FROM conversations WHERE chat_id = 2007")
        assert rows[0]["step"] == "sex" and '"sex"' not in rows[0]["answers"]
    run(database_url, scenario)
