"""Every text renders as valid Telegram HTML, escapes user data, and stays within Telegram's limits."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser

import pytest

from bot.domain import choices, texts
from bot.domain.formulas import LEAN_MIN_BODY_FAT, LeanGoalRefused, check_goal_allowed

HOSTILE = '<b>Ivan</b> & "Ann" <script>alert(1)</script> &amp; </i>'
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                 "tg-spoiler", "blockquote", "span"}


class TelegramHTML(HTMLParser):
    """Checks what Telegram's HTML parse mode checks: known tags, properly nested; collects the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        assert tag in TELEGRAM_TAGS, f"unsupported tag <{tag}>"
        if tag == "a":
            assert [name for name, _ in attrs] == ["href"]
        else:
            assert attrs == []
        self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data):
        self.text.append(data)


def visible(message: str) -> str:
    """The text Telegram shows (and counts), after checking the markup."""
    for entity in re.findall(r"&[^;\s]*;?", message):
        assert entity in ("&lt;", "&gt;", "&amp;", "&quot;") \
            or re.fullmatch(r"&#(x[0-9a-fA-F]+|[0-9]+);", entity), entity
    parser = TelegramHTML()
    parser.feed(message)
    parser.close()
    assert parser.stack == []
    return "".join(parser.text)


def check_message(message: str, limit: int = texts.MESSAGE_LIMIT) -> str:
    assert isinstance(message, str) and message.strip()
    shown = visible(message)
    assert 0 < texts.utf16_len(shown) <= limit
    return shown


# --- Every text ---------------------------------------------------------------------------------------

CONSTANTS = {name: value for name, value in vars(texts).items() if name.isupper() and isinstance(value, str)}


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_constant_is_valid_html(name):
    check_message(CONSTANTS[name])


def rendered_with(name: str, specialist: str = "нашим специалистом") -> dict[str, str]:
    """Every function text, rendered with `name` wherever a person's text goes."""
    born, day1, day2 = date(1990, 3, 5), date(2025, 1, 10), date(2025, 7, 28)
    survey = {
        "birth_date": born, "age": 35, "sex": "female", "height_cm": 165, "weight_kg": 64.25, "steps": "10000+",
        "sport_type": "yoga", "sport_freq": "3-4", "waist_cm": 70, "neck_cm": 32.5, "hip_cm": 96, "goal": "lean",
        "body_fat": 31.4,
    }
    return {
        "welcome": texts.welcome(name, name),
        "welcome_anonymous": texts.welcome(None),
        "privacy": texts.privacy_notice(name, name, 14),
        "privacy_defaults": texts.privacy_notice(None, None, 1),
        "erased": texts.erased(14),
        "export_csv": texts.export_csv_caption(21),
        "reminder_ask_hour": texts.reminder_ask_hour(2, name),
        "reminder_zone": texts.reminder_zone_chosen(name),
        "reminder_set": texts.reminder_set(6, 21, name, day2),
        "reminder_status": texts.reminder_status(0, 9, name, day2),
        "weekly": texts.weekly_stats([(day1, 3, 85.25, 95.0, 27.1), (day2, 1, 84.0, 94.5, None)] * 5, -0.75, -0.5,
                                     None, texts.pace_line("on_track", "lean", -0.75, -0.9)),
        "already_registered": texts.already_registered(name),
        "survey_summary": texts.survey_summary(last_name=name, first_name=name, **survey),
        "kbju": texts.kbju_message("athletic", 2792, 187, 78, 336),
        "funnel_caption": texts.funnel_caption(specialist),
        "consultation": texts.consultation_message(specialist, 'https://t.me/x?a=1&b="2"'),
        "my_data": texts.my_data(
            last_name=name, first_name=name, birth_date=born, sex="male", record_date=day2, height_cm=180,
            steps="8000-10000", sport_type="running", sport_freq="daily", weight_kg=85, waist_cm=95,
            neck_cm=42, hip_cm=None, goal="healthy", body_fat=27.1,
        ),
        "my_data_no_record": texts.my_data(last_name=name, first_name=None, birth_date=None, sex=None),
        "my_data_legacy": texts.my_data(
            last_name=name, first_name=name, birth_date=born, sex="female", record_date=day1, height_cm=170,
            steps=None, sport_type="running", sport_freq=None, weight_kg=70, waist_cm=80, neck_cm=35,
            hip_cm=100, goal="maintain", body_fat=None,
        ),
        "progress": texts.progress_message(
            trend="lost", tier="long", first_date=day1, last_date=day2, first_weight=85, last_weight=80.5,
            first_waist=95, last_waist=90, first_neck=42, last_neck=41,
        ),
        "chart_caption": texts.chart_caption(texts.progress_message(
            trend="fat_loss", tier="medium", first_date=day1, last_date=day2, first_weight=185.5, last_weight=180.5,
            first_waist=195, last_waist=190.5, first_neck=42.5, last_neck=41.5), 1000),
        "measurement_saved": texts.measurement_saved(
            record_date=day2, weight_kg=80.5, waist_cm=90, neck_cm=41, hip_cm=None, steps="0-3000",
            sport_type="none", sport_freq="1-2", body_fat=24.0, updated=True,
        ),
        "goal_prompt": texts.goal_prompt("healthy"),
        "goal_prompt_unknown": texts.goal_prompt(None),
        "goal_changed": texts.goal_changed("lean", 2000, 150, 56, 200),
        "lean_refused": texts.lean_refused(6.9, 7.0),
        "food": texts.food_preferences(name, name),
        "food_no_dislikes": texts.food_preferences(name, ""),
        "recorded_answer": texts.recorded_answer("sport", "strength"),
        "name_bad_length": texts.name_bad_length(3, 50),
        "date_age": texts.date_age_out_of_range(10, 120),
        "likes_short": texts.likes_too_short(5),
        "dislikes_short": texts.dislikes_too_short(3),
        "too_long": texts.text_too_long(4096),
        **{f"number_{field}": texts.number_out_of_range(field, 1, 2) for field in ("height", "weight", "hip")},
        "not_number": texts.number_not_recognized("neck"),
        "not_whole": texts.number_not_whole("height"),
    }


@pytest.mark.parametrize("name", [HOSTILE, "Иванова Анна", "", "😀" * 3000, "<" * 4096, "&" * 5000])
def test_functions_render_escaped_and_within_limits(name):
    for key, message in rendered_with(name, specialist=name or "x").items():
        limit = texts.CAPTION_LIMIT if key in ("funnel_caption", "chart_caption") else texts.MESSAGE_LIMIT
        shown = check_message(message, limit)
        # The hostile text shows up as text, never as markup.
        assert "<script>" not in message, key
        if name == HOSTILE and key in ("welcome", "already_registered", "survey_summary", "my_data", "food",
                                       "privacy", "reminder_set"):
            assert "<script>alert(1)</script>" in shown, key


def test_hostile_specialist_and_url_escaped():
    message = texts.consultation_message(HOSTILE, 'https://t.me/x?a="><b>')
    assert '"><b>' not in message
    shown = check_message(message)
    assert "<script>alert(1)</script>" in shown


def test_longest_food_texts_fit_one_message():
    likes = "я" * 4096
    dislikes = "🍕" * 4096  # two UTF-16 units each
    shown = check_message(texts.food_preferences(likes, dislikes))
    assert "…" in shown


def test_callback_answer_short_enough():
    for toast in (texts.OUTDATED_BUTTON, texts.ERASE_ALREADY):
        assert texts.utf16_len(toast) <= texts.CALLBACK_ANSWER_LIMIT
        assert "<" not in toast  # answerCallbackQuery has no parse mode


def test_button_labels():
    labels = [texts.START_TEST_BUTTON, texts.FUNNEL_BUTTON, texts.CONSULT_BUTTON, texts.FOOD_EDIT_BUTTON,
              texts.FOOD_CANCEL_BUTTON, *texts.MENU_BUTTONS.values(), texts.DATA_EXPORT_BUTTON,
              texts.DATA_ERASE_BUTTON, texts.DATA_PRIVACY_BUTTON, texts.ERASE_YES_BUTTON, texts.ERASE_NO_BUTTON,
              texts.REMINDER_NO_BUTTON, texts.REMINDER_ZONES_BUTTON, texts.REMINDER_CHANGE_BUTTON,
              texts.REMINDER_OFF_BUTTON, texts.REMINDER_KEEP_BUTTON, texts.REMINDER_NOT_NOW_BUTTON,
              texts.REMINDER_MEASURE_BUTTON, texts.REMINDER_SETTINGS_BUTTON]
    labels += [c.label for c in (*choices.WEEKDAYS, *choices.TIMEZONES)]
    labels += [choice.label for choice_set in choices.CHOICE_SETS.values() for choice in choice_set]
    for label in labels:
        assert label.strip() and len(label) <= 40 and "<" not in label and "&" not in label
    assert texts.FUNNEL_BUTTON == "Записаться на консультацию"
    assert tuple(texts.MENU_BUTTONS) == choices.MENU_ACTIONS
    assert [label.split(" ", 1)[1] for label in texts.MENU_BUTTONS.values()] == [
        "Мои данные", "Прогресс", "Новые замеры", "Цель", "Пищевые предпочтения", "Консультация", "Напоминания",
    ]


def test_the_privacy_texts_name_the_operator_and_the_commands():
    short = texts.privacy_short("ИП Петрова А. А.")
    assert "ИП Петрова А. А." in short and "/export" in short and "/delete_me" in short and "/privacy" in short
    assert "ИП Петрова А. А." in texts.welcome("Анна", "ИП Петрова А. А.")
    full = texts.privacy_notice("ИП Петрова А. А.", "privacy@example.org", 14)
    assert "ИП Петрова А. А." in full and "privacy@example.org" in full and "14 дней" in full
    assert texts.DEFAULT_OPERATOR[0].upper() + texts.DEFAULT_OPERATOR[1:] in texts.privacy_notice(None, None, 14)
    assert "Вопросы о ваших данных" not in texts.privacy_notice(None, None, 14)


# --- Content ----------------------------------------------------------------------------------------------


def test_survey_questions_exist():
    for question in (texts.ASK_FULL_NAME, texts.ASK_BIRTH_DATE, texts.ASK_SEX, texts.ASK_HEIGHT, texts.ASK_WEIGHT,
                     texts.ASK_STEPS, texts.ASK_SPORT_TYPE, texts.ASK_SPORT_FREQ, texts.ASK_WAIST, texts.ASK_NECK,
                     texts.ASK_HIP, texts.ASK_GOAL):
        check_message(question)
    assert "пупка" in texts.ASK_WAIST  # says how to measure


def test_recorded_answer():
    assert texts.recorded_answer("sex", "male") == "Пол: <b>Мужской</b> ✅"
    assert "10 000+" in texts.recorded_answer("steps", "10000+")
    assert "<b>—</b>" in texts.recorded_answer("steps", "bogus")
    assert "<b>—</b>" in texts.recorded_answer("bogus", "x")


def test_kbju_message_per_goal():
    advice = {goal: texts.kbju_message(goal, 2792, 187, 78, 336) for goal in choices.GOAL.codes}
    assert len(set(advice.values())) == 3
    for goal, message in advice.items():
        assert "2792 ккал" in message and "187 г" in message and "78 г" in message and "336 г" in message
        assert choices.GOAL.label(goal) in message
    assert "здорового тела" in texts.kbju_message(None, 1, 1, 1, 1)  # unknown goal: the healthy advice


def test_survey_summary_content():
    message = texts.survey_summary(
        last_name="Иванов", first_name="Иван", birth_date=date(1990, 3, 5), age=35, sex="male", height_cm=180,
        weight_kg=85, steps="8000-10000", sport_type="running", sport_freq="3-4", waist_cm=95, neck_cm=42,
        hip_cm=None, goal="healthy", body_fat=27.1,
    )
    for part in ("Иванов Иван", "05.03.1990", "35 лет", "Мужской", "180 см", "85 кг", "8 000 – 10 000", "Бег",
                 "3–4 раза в неделю", "талия 95 см", "шея 42 см", "Здоровое тело", "27,1%"):
        assert part in message, part
    assert "бёдра" not in message


def test_my_data_shows_hip_only_if_present():
    common = {
        "last_name": "Ли", "first_name": "Ян", "birth_date": date(2000, 1, 1), "sex": "female",
        "record_date": date(2025, 1, 1), "height_cm": 160, "steps": "0-3000", "sport_type": "team",
        "sport_freq": "daily", "weight_kg": 55.5, "waist_cm": 66, "neck_cm": 30, "goal": "athletic", "body_fat": 25.0,
    }
    assert "Бёдра: 94 см" in texts.my_data(**common, hip_cm=94)
    assert "Бёдра" not in texts.my_data(**common, hip_cm=None)
    assert "55,5 кг" in texts.my_data(**common, hip_cm=None)


def test_lean_refusal_from_the_domain_error():
    with pytest.raises(LeanGoalRefused) as error:
        check_goal_allowed("lean", 5.0)
    assert error.value.message == texts.lean_refused(5.0, LEAN_MIN_BODY_FAT)
    assert "Спортивное тело" in error.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [(70.5, "70,5"), (180.0, "180"), (180, "180"), (72.123456789, "72,1"), (70.30000000000001, "70,3"),
     (0.0, "0"), (-0.04, "0"), (99.96, "100")],
)
def test_format_number(value, expected):
    assert texts.format_number(value) == expected


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [(90.55, 1, "90,6"), (90.45, 1, "90,5"), (0.05, 1, "0,1"), (0.15, 1, "0,2"), (2.675, 2, "2,68"),
     (1.005, 2, "1,01"), (-90.55, 1, "-90,6"), (99.95, 1, "100"), (90.549, 1, "90,5")],
)
def test_format_number_rounds_half_up_the_decimal_a_person_typed(value, digits, expected):
    """The stored float is the shortest decimal that reads back as it (90.55 is 90.5499999… in
    binary): that decimal is rounded half up, as a person would round it."""
    assert texts.format_number(value, digits) == expected


def test_a_change_is_the_difference_of_the_numbers_shown():
    """90,04 → 90,16 shows as 90 → 90,2: the change shown is +0,2 (not the exact +0,12 → +0,1)."""
    text = texts.progress_message(trend="stable", tier="short", first_date=date(2026, 1, 1),
                                  last_date=date(2026, 1, 8), first_weight=90.04, last_weight=90.16,
                                  first_waist=95.45, last_waist=95.0, first_neck=40.0, last_neck=40.0)
    assert "Вес: 90 → 90,2 кг (+0,2 кг)" in text, text
    assert "Талия: 95,5 → 95 см (−0,5 см)" in text, text


def test_format_change_and_plural():
    assert texts.format_change(-2.5) == "−2,5" and texts.format_change(1) == "+1" and texts.format_change(0.01) == "0"
    forms = [texts.plural(n, "день", "дня", "дней") for n in (1, 2, 5, 11, 12, 14, 21, 22, 25, 101, 111)]
    assert forms == ["день", "дня", "дней", "дней", "дней", "дней", "день", "дня", "дней", "день", "дней"]


def test_format_date_pads():
    assert texts.format_date(date(2024, 2, 29)) == "29.02.2024"
    assert texts.format_date(date(5, 1, 2)) == "02.01.0005"


def test_clip_counts_utf16_and_never_splits_a_character():
    assert texts.clip("abc", 3) == "abc"
    assert texts.clip("abcd", 3) == "ab…"
    clipped = texts.clip("🍕" * 10, 6)
    assert clipped == "🍕🍕…" and texts.utf16_len(clipped) <= 6
