"""The registration survey end to end: the real bot, over HTTP, through the Bot API stand-in."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.helpers.bot_harness import MAN, WOMAN, run, survey, texts


def test_man_gets_the_worked_example_numbers(database_url):
    async def scenario(h):
        ivan = h.person(1001, "Иван", "ivan")
        events = await survey(ivan, MAN)
        [done] = texts(events)  # the summary and the daily targets, in one message with the menu
        summary, kbju = done.split("🍽")
        assert "27,1%" in summary and "Иванов Иван" in summary
        for figure in ("2792 ккал", "187 г", "78 г", "336 г"):
            assert figure in kbju
        assert any(data == "m:v1:progress" for _, data in ivan.buttons(ivan.last_message()))
        conn = await asyncpg.connect(h.database_url)
        try:
            user = await conn.fetchrow("SELECT * FROM users WHERE telegram_id = 1001")
            assert (user["last_name"], user["first_name"], user["sex"], user["username"]) == \
                ("Иванов", "Иван", "male", "ivan")
            record = await conn.fetchrow("SELECT * FROM user_records WHERE telegram_id = 1001")
            assert (record["weight"], record["bodyfat"], record["steps"], record["goal"]) == \
                (85, 27.1, "8000-10000", "healthy")
            assert await conn.fetchval("SELECT flow FROM conversations WHERE chat_id = 1001") is None
            assert await conn.fetchval("SELECT count(*) FROM scheduled_jobs WHERE chat_id = 1001") == 1
        finally:
            await conn.close()
    run(database_url, scenario)


def test_woman_is_asked_her_hip_and_a_pressed_answer_is_shown_in_place(database_url):
    async def scenario(h):
        anna = h.person(1002, "Анна")
        await survey(anna, WOMAN, upto="sex")
        question = anna.last_message()["message_id"]
        await anna.press("s:v1:sex:female")
        edited = anna.message(question)
        assert "Женский" in edited["text"] and not anna.buttons(edited)
        rest = {k: v for k, v in WOMAN.items() if k not in ("full_name", "birth_date", "sex")}
        for step in ("height", "weight"):
            await anna.say(rest[step])
        for step in ("steps", "sport", "freq"):
            await anna.press(f"s:v1:{step}:{rest[step]}")
        await anna.say(rest["waist"])
        events = await anna.say(rest["neck"])
        assert "бёдер" in texts(events)[-1]
        await anna.say(rest["hip"])
        events = await anna.press("s:v1:goal:athletic")
        summary = texts(events)[-1]
        assert "бёдра 96 см" in summary and "Вес: 60,5 кг" in summary
    run(database_url, scenario)


BAD_ANSWERS = [("full_name", "Ив"), ("full_name", "Иванов"), ("full_name", "Ааа Иван"),
               ("birth_date", "31.02.1990"), ("birth_date", "01.01.2100"), ("birth_date", "1990-01-01"),
               ("height", "99"), ("height", "abc"), ("weight", "301"), ("waist", "49"), ("neck", "101")]


def test_invalid_text_at_every_step_is_explained_and_asked_again(database_url):
    async def scenario(h):
        person = h.person(1003)
        await person.say("/start")
        await person.press("start:v1")
        order = ["full_name", "birth_date", "sex", "height", "weight", "steps", "sport", "freq", "waist", "neck"]
        for step in order:
            question = person.last_message()["text"]
            for bad_step, bad in BAD_ANSWERS:
                if bad_step == step:
                    # What was wrong, then the same question, in one message.
                    events = await person.say(bad)
                    [reply] = texts(events)
                    error, again = reply.split("\n\n", 1)
                    assert error and again == question
            if step in ("sex", "steps", "sport", "freq"):
                events = await person.say("что-то")  # text while buttons are pending
                [reply] = texts(events)
                assert "кнопк" in reply and reply.endswith(question)
                assert person.buttons(person.last_message())  # the question's buttons again
                await person.press(f"s:v1:{step}:{MAN[step]}")
            else:
                await person.say(MAN[step])
        conn = await asyncpg.connect(h.database_url)
        try:
            answers = await conn.fetchval("SELECT answers FROM conversations WHERE chat_id = 1003")
        finally:
            await conn.close()
        assert '"full_name": "Иванов Иван"' in answers and '"neck": 42' in answers
    run(database_url, scenario)


def test_waist_not_above_neck_is_re_asked_instead_of_crashing(database_url):
    async def scenario(h):
        person = h.person(1004)
        await survey(person, MAN, upto="waist")
        await person.say("60")
        events = await person.say("60")
        [reply] = texts(events)
        refusal, again = reply.split("\n\n", 1)
        assert "обхват талии должен быть больше обхвата шеи" in refusal and "талии" in again
        await person.say("95")
        await person.say("42")
        events = await person.press("s:v1:goal:healthy")
        assert "27,1%" in texts(events)[0]
    run(database_url, scenario)


def test_cancel_mid_survey_saves_nothing(database_url):
    async def scenario(h):
        person = h.person(1005)
        await survey(person, MAN, upto="weight")
        events = await person.say("/cancel", expect=2)
        assert "отменено" in texts(events)[0].lower()
        events = await person.say("/cancel", expect=2)
        assert "нечего" in texts(events)[0].lower()
        conn = await asyncpg.connect(h.database_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM users") == 0
            assert await conn.fetchval("SELECT flow FROM conversations WHERE chat_id = 1005") is None
        finally:
            await conn.close()
        await asyncio.sleep(0)
    run(database_url, scenario)


def test_a_sticker_instead_of_a_typed_answer_is_explained_and_the_question_asked_again(database_url):
    async def scenario(h):
        person = h.person(1006)
        await survey(person, MAN, upto="height")
        sticker = {"file_id": "CAAC", "file_unique_id": "AgAD", "type": "regular", "width": 512, "height": 512,
                   "is_animated": False, "is_video": False}
        await h.client.inject({"message": {
            "message_id": 900, "date": 1_790_000_000, "chat": {"id": 1006, "type": "private", "first_name": "Тест"},
            "from": {"id": 1006, "is_bot": False, "first_name": "Тест"}, "sticker": sticker}})
        [reply] = texts(await person.wait())
        explanation, again = reply.split("\n\n", 1)
        assert "текст" in explanation and "рост" in again.lower()
        await person.say(MAN["height"])
        events = await person.say(MAN["weight"])
        assert "шаг" in texts(events)[-1].lower()  # the survey went on from where it was
    run(database_url, scenario)
