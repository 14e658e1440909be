"""What a person reads, end to end through the stand-in: refused answers are not shown as chosen,
numbers are rounded the way a person rounds, "no restrictions" reads so, and no reply points at a
command that would not help the person it is sent to."""

from __future__ import annotations

import asyncpg

from bot.domain import texts as domain_texts
from tests.helpers.bot_harness import MAN, run, survey, texts

# A man this lean computes to 0 % body fat: "Сухое тело" (lean) is refused for him.
VERY_LEAN = {**MAN, "waist": "60", "neck": "42"}


def _question_shown(person, message_id: int) -> str:
    return person.message(message_id)["text"]


def test_a_refused_goal_in_the_survey_is_not_shown_as_chosen(database_url):
    async def scenario(h):
        ivan = h.person(5001)
        await survey(ivan, VERY_LEAN, upto="goal")
        question = ivan.last_message()["message_id"]
        events = await ivan.press("s:v1:goal:lean")  # why, and the question again: one message
        edited = _question_shown(ivan, question)
        assert "Сухое тело" in edited and "не подходит" in edited and "✅" not in edited, edited
        assert "не ниже 7%" in texts(events)[0]
        asked_again = ivan.last_message()["message_id"]
        assert asked_again != question and ivan.buttons(ivan.last_message())
        events = await ivan.press("s:v1:goal:healthy", expect=2)
        assert "Цель: Здоровое тело ✅" in _question_shown(ivan, asked_again)
        assert "Тест пройден" in texts(events)[0]
    run(database_url, scenario)


def test_a_refused_goal_change_is_not_shown_as_chosen(database_url):
    async def scenario(h):
        ivan = h.person(5002)
        await survey(ivan, MAN)
        db = await asyncpg.connect(h.database_url)
        try:
            await db.execute("UPDATE user_records SET waist = 60, neck = 42 WHERE telegram_id = 5002")
        finally:
            await db.close()
        await ivan.press("m:v1:goal")
        question = ivan.last_message()["message_id"]
        events = await ivan.press("g:v1:lean")  # why, and the question again: one message
        edited = _question_shown(ivan, question)
        assert "не подходит" in edited and "✅" not in edited, edited
        [asked_again] = [e["message"]["message_id"] for e in events if e["kind"] == "message"]
        events = await ivan.press("g:v1:athletic")
        assert "Цель обновлена" in texts(events)[0]
        assert "Цель: Спортивное тело ✅" in _question_shown(ivan, asked_again)
    run(database_url, scenario)


def test_numbers_are_shown_rounded_half_up_as_stored(database_url):
    async def scenario(h):
        ivan = h.person(5003)
        events = await survey(ivan, {**MAN, "weight": "90,55", "waist": "95,45"})
        summary = texts(events)[0]
        assert "Вес: 90,6 кг" in summary and "талия 95,5 см" in summary, summary
        events = await ivan.press("m:v1:data", expect=2)
        assert "Вес: 90,6 кг" in texts(events)[0] and "Талия: 95,5 см" in texts(events)[0]
    run(database_url, scenario)


def test_no_food_restrictions_read_as_such(database_url):
    async def scenario(h):
        ivan = h.person(5004)
        await survey(ivan, MAN)
        await ivan.press("m:v1:food")
        await ivan.say("рыба, овощи, творог")
        await ivan.say("-")
        events = await ivan.press("m:v1:food")
        shown = texts(events)[0]
        assert "ограничений нет" in shown and "ничего" not in shown, shown
    run(database_url, scenario)


def test_cancel_before_registering_points_at_start_not_at_the_menu(database_url):
    async def scenario(h):
        stranger = h.person(5005)
        events = await stranger.say("/cancel", expect=2)
        assert all("/menu" not in text for text in texts(events)), texts(events)
        assert "/start" in texts(events)[-1]
        await survey(stranger, MAN, upto="weight")
        events = await stranger.say("/cancel", expect=2)
        assert "отменено" in texts(events)[0].lower()
        assert all("/menu" not in text for text in texts(events)), texts(events)
        assert "/start" in texts(events)[-1]
    run(database_url, scenario)


def test_a_registered_person_is_not_told_to_start_again(database_url):
    async def scenario(h):
        ivan = h.person(5006)
        await survey(ivan, MAN)
        events = await ivan.say("что-то непонятное")
        assert all("/start" not in text for text in texts(events)), texts(events)
        assert ivan.buttons(ivan.last_message())  # the menu is right there
        events = await ivan.say("/cancel", expect=2)
        assert all("/start" not in text for text in texts(events)), texts(events)
    run(database_url, scenario)


def test_the_texts_themselves():
    assert "ничего" not in domain_texts.food_preferences("рыба", "")
    assert "/menu" not in domain_texts.CANCELLED and "/menu" not in domain_texts.NOTHING_TO_CANCEL
    assert "/start" not in domain_texts.UNKNOWN_TEXT
