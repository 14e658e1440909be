"""Every typed answer: accepted forms, every bound on both sides, and fuzzing (only InvalidInput escapes)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import DomainError
from bot.domain.validation import (
    FullName,
    InvalidInput,
    parse_birth_date,
    parse_dislikes,
    parse_full_name,
    parse_height,
    parse_hip,
    parse_likes,
    parse_neck,
    parse_waist,
    parse_weight,
)

TODAY = date(2025, 7, 28)


def rejected(parse, text, *args) -> str:
    with pytest.raises(InvalidInput) as error:
        parse(text, *args)
    assert isinstance(error.value, DomainError)
    return error.value.message


# --- Full name -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "last", "first"),
    [
        ("Иванова Анна", "Иванова", "Анна"),
        ("  Иванов   Иван \t Иванович \n", "Иванов", "Иван Иванович"),
        ("Ян Ли", "Ян", "Ли"),
        ("Smith John", "Smith", "John"),
        ("Smith Анна", "Smith", "Анна"),
        ("Римская-Корсакова Анна-Мария", "Римская-Корсакова", "Анна-Мария"),
        ("Ёлкина Алёна", "Ёлкина", "Алёна"),
        ("иванов иван", "иванов", "иван"),
        ("ПЕТРОВ ПЁТР", "ПЕТРОВ", "ПЁТР"),
        ("Null Null", "Null", "Null"),
        ("Drop Table Users", "Drop", "Table Users"),
    ],
)
def test_full_name_accepted(text, last, first):
    assert parse_full_name(text) == FullName(last_name=last, first_name=first)


def test_full_name_length_bounds():
    fifty = "Абвгдеёжзийклмнопрстуфхцчшщъыьэюя " + "Абвгдеёжзийклмно"
    assert len(fifty) == 50
    assert parse_full_name(fifty).first_name == "Абвгдеёжзийклмно"
    assert "от 3 до 50" in rejected(parse_full_name, fifty + "п")
    # The spaces are collapsed before counting.
    assert parse_full_name(fifty.replace(" ", "      ")).last_name == fifty.split()[0]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "два слова"),
        ("   ", "два слова"),
        ("Иван", "два слова"),
        ("Иван 123", "буквы"),
        ("Иван Петров2", "буквы"),
        ("O'Brien John", "буквы"),
        ("Иван П.", "буквы"),
        ("Иван Петров 😀", "буквы"),
        ("Иван --", "буквы"),  # DEV accepted "--"; the spec's rule wants letters
        ("-Иван Петров", "буквы"),
        ("Иван Петров-", "буквы"),
        ("Иван Пе--тров", "буквы"),
        ("Иван П", "двух букв"),
        ("И Петров", "двух букв"),
        ("Ааа Петров", "случайный"),
        ("Иван аА", "случайный"),
        ("Иван Ж-ж", "случайный"),
        ("Ivan Petrov\u200b", "буквы"),
        ("Ivan Pétrov", "буквы"),
    ],
)
def test_full_name_rejected(text, says):
    message = rejected(parse_full_name, text)
    assert says in message and "Например" in message


# --- Birth date ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("05.03.1990", date(1990, 3, 5)),
        ("5.3.1990", date(1990, 3, 5)),
        ("  05.03.1990 ", date(1990, 3, 5)),
        ("05/03/1990", date(1990, 3, 5)),
        ("05-03-1990", date(1990, 3, 5)),
        ("29.02.2000", date(2000, 2, 29)),
    ],
)
def test_birth_date_accepted(text, expected):
    assert parse_birth_date(text, TODAY) == expected


def test_birth_date_age_bounds():
    assert parse_birth_date("28.07.2015", TODAY) == date(2015, 7, 28)  # exactly 10
    assert "от 10 до 120" in rejected(parse_birth_date, "29.07.2015", TODAY)  # 9 until tomorrow
    assert parse_birth_date("29.07.1904", TODAY) == date(1904, 7, 29)  # 120, turning 121 tomorrow
    assert "от 10 до 120" in rejected(parse_birth_date, "28.07.1904", TODAY)  # 121 today


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "ДД.ММ.ГГГГ"),
        ("1990-03-05", "ДД.ММ.ГГГГ"),
        ("05.03.90", "ДД.ММ.ГГГГ"),
        ("05 03 1990", "ДД.ММ.ГГГГ"),
        ("пятое марта", "ДД.ММ.ГГГГ"),
        ("٠٥.٠٣.١٩٩٠", "ДД.ММ.ГГГГ"),  # Arabic-Indic digits
        ("31.02.1990", "нет в календаре"),
        ("29.02.2001", "нет в календаре"),
        ("00.01.1990", "нет в календаре"),
        ("01.13.1990", "нет в календаре"),
        ("01.01.0000", "нет в календаре"),
        ("29.07.2025", "будущем"),
    ],
)
def test_birth_date_rejected(text, says):
    message = rejected(parse_birth_date, text, TODAY)
    assert says in message and "05.03.1990" in message


# --- Numbers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("180", 180), (" 180 ", 180), ("180 см", 180), ("180см", 180),
                                             ("180 СМ.", 180), ("180 cm", 180), ("0180", 180)])
def test_height_accepted(text, value):
    assert parse_height(text) == value and type(parse_height(text)) is int


def test_height_bounds():
    assert parse_height("100") == 100 and parse_height("250") == 250
    for text in ("99", "251", "0", "100000000000000000000000000"):
        assert "от 100 до 250 см" in rejected(parse_height, text)


@pytest.mark.parametrize("text", ["180.5", "180,5", "180.0"])
def test_height_must_be_whole(text):
    assert "целым числом" in rejected(parse_height, text)


@pytest.mark.parametrize(("text", "value"), [("70.5", 70.5), ("70,5", 70.5), ("70", 70.0), (" 70,5 кг ", 70.5),
                                             ("70.5kg", 70.5), ("72.123456789", 72.123456789)])
def test_weight_accepted(text, value):
    assert parse_weight(text) == value


BOUNDS = [
    (parse_weight, 30, 300, "кг"),
    (parse_waist, 50, 200, "см"),
    (parse_neck, 20, 100, "см"),
    (parse_hip, 50, 200, "см"),
]


@pytest.mark.parametrize(("parse", "low", "high", "unit"), BOUNDS)
def test_decimal_bounds_inclusive(parse, low, high, unit):
    assert parse(str(low)) == low and parse(str(high)) == high
    assert parse(f"{low},0") == low and parse(f"{high}.0") == high
    assert parse(f"{low},5") == low + 0.5
    for outside in (f"{low - 1},99", f"{high},01", f"{high + 1}", "0", "0,0"):
        message = rejected(parse, outside)
        assert f"от {low} до {high} {unit}" in message and "Например" in message


@pytest.mark.parametrize(("parse", "low", "high", "unit"), BOUNDS)
@pytest.mark.parametrize(
    "text",
    ["", "  ", "abc", "-70", "+70", "nan", "NaN", "inf", "-inf", "1e2", "70.", ".5", "70,5,5", "70 5",
     "7O", "70 см кг", "٧٠", "７０", "9" * 41, "1" * 10_000, "70\x00", "70\n\n1"],
)
def test_numbers_rejected(parse, low, high, unit, text):
    assert "Например" in rejected(parse, text)


def test_wrong_unit_rejected():
    assert "число" in rejected(parse_weight, "70 см")
    assert "число" in rejected(parse_waist, "80 кг")
    assert "число" in rejected(parse_height, "180 кг")


def test_comma_and_dot_give_the_same_value():
    for parse in (parse_weight, parse_waist, parse_neck, parse_hip):
        assert parse("81,5") == parse("81.5") == 81.5


# --- Food ---------------------------------------------------------------------------------------------


def test_likes():
    assert parse_likes("  курица  ") == "курица"
    assert parse_likes("сыр!!") == "сыр!!"  # exactly 5
    assert "5 символов" in rejected(parse_likes, " сыр! ")
    assert "5 символов" in rejected(parse_likes, "")
    assert parse_likes("я" * 4096) == "я" * 4096
    assert "4096" in rejected(parse_likes, "я" * 4097)
    assert parse_likes("🍕🍕🍕🍕🍕") == "🍕🍕🍕🍕🍕"
    text = "C:\\Users\\\n\n\\.\n\\N\n<b>'\"%_;|"
    assert parse_likes(text) == text


def test_likes_keep_invisible_characters_like_dev():
    # str.strip removes Unicode whitespace only; zero-width space and BOM are kept.
    assert parse_likes("\u00a0\u3000\u2028курица\u200b\ufeff ") == "курица\u200b\ufeff"


def test_dislikes():
    assert parse_dislikes("") == ""
    assert parse_dislikes("   \n ") == ""
    assert parse_dislikes("-") == ""
    assert parse_dislikes(" — ") == ""
    assert parse_dislikes("нет") == "нет"
    assert parse_dislikes("лук") == "лук"
    assert "3 символа" in rejected(parse_dislikes, "ок")
    assert "3 символа" in rejected(parse_dislikes, "--")
    assert parse_dislikes("я" * 4096) == "я" * 4096
    assert "4096" in rejected(parse_dislikes, "я" * 4097)


@pytest.mark.parametrize("parse", [parse_likes, parse_dislikes])
@pytest.mark.parametrize("text", ["курица\x00рыба", "курица\ud800рыба"])
def test_food_text_that_cannot_be_stored(parse, text):
    assert "символы" in rejected(parse, text)


# --- Fuzzing: anything at all parses or raises InvalidInput -------------------------------------------

ALL_PARSERS = [
    parse_full_name,
    lambda text: parse_birth_date(text, TODAY),
    parse_height,
    parse_weight,
    parse_waist,
    parse_neck,
    parse_hip,
    parse_likes,
    parse_dislikes,
]

any_text = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(exclude_categories=())),  # surrogates and control characters too
    st.text(alphabet="0123456789.,/- смкг\u00a0", max_size=30),
    st.text(alphabet="АаЁёZz- -\t", max_size=60),
    st.from_regex(r"\s*[0-9]{1,3}[.,/-][0-9]{1,2}[.,/-]?[0-9]{0,5}\s*(см|кг)?", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(text=any_text)
def test_fuzz_only_invalid_input_escapes(text):
    for parse in ALL_PARSERS:
        try:
            parse(text)
        except InvalidInput as error:
            assert error.message
            assert "<" not in error.message.replace("<i>", "").replace("</i>", "")


@pytest.mark.parametrize(
    "text",
    ["😀" * 5000, "\x00" * 10_000, "a" * 10_000, "1" * 10_000, "\u202e\u0301" * 3000, "\n" * 10_000,
     "1.1.1990" * 1000, "Иван " * 2000],
)
def test_huge_and_odd_inputs(text):
    """Each parser refuses such a text with a short explanation in Russian (never the text itself,
    never another exception) or, for the few it can read, returns a value within its bounds."""
    for parse in ALL_PARSERS:
        try:
            value = parse(text)
        except InvalidInput as error:
            assert error.message and len(error.message) < 500 and text[:50] not in error.message
            assert re.search("[а-яА-Я]", error.message)
        else:
            assert value is not None and len(str(value)) < 100, (parse, value)
