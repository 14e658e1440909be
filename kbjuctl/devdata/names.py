"""Synthetic people's names and usernames, as the survey stored them.

The survey took one "full name" answer and split it on whitespace: `last_name` is the first word,
`first_name` all the others joined by single spaces, whatever order the person typed. Only letters
(Cyrillic а-я, ё, Latin) and hyphens; every word at least two characters; 3-50 characters in all.
"""

from __future__ import annotations

import random

SURNAMES = (
    ("Иванов", "Иванова"), ("Смирнов", "Смирнова"), ("Кузнецов", "Кузнецова"), ("Попов", "Попова"),
    ("Васильев", "Васильева"), ("Петров", "Петрова"), ("Соколов", "Соколова"), ("Михайлов", "Михайлова"),
    ("Новиков", "Новикова"), ("Фёдоров", "Фёдорова"), ("Морозов", "Морозова"), ("Волков", "Волкова"),
    ("Алексеев", "Алексеева"), ("Лебедев", "Лебедева"), ("Семёнов", "Семёнова"), ("Егоров", "Егорова"),
    ("Павлов", "Павлова"), ("Козлов", "Козлова"), ("Степанов", "Степанова"), ("Николаев", "Николаева"),
    ("Орлов", "Орлова"), ("Андреев", "Андреева"), ("Макаров", "Макарова"), ("Никитин", "Никитина"),
    ("Захаров", "Захарова"), ("Зайцев", "Зайцева"), ("Соловьёв", "Соловьёва"), ("Борисов", "Борисова"),
    ("Яковлев", "Яковлева"), ("Григорьев", "Григорьева"), ("Романов", "Романова"), ("Воробьёв", "Воробьёва"),
    ("Ковалевский", "Ковалевская"), ("Белый", "Белая"), ("Крылов", "Крылова"), ("Гусев", "Гусева"),
    ("Ким", "Ким"), ("Шевченко", "Шевченко"), ("Бондаренко", "Бондаренко"), ("Мельник", "Мельник"),
)
MALE_NAMES = ("Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья", "Кирилл",
              "Михаил", "Никита", "Матвей", "Роман", "Егор", "Иван", "Ярослав", "Тимур", "Олег", "Пётр", "Юрий")
FEMALE_NAMES = ("Анастасия", "Мария", "Анна", "Виктория", "Екатерина", "Наталья", "Елена", "Ольга", "Дарья",
                "Полина", "Алина", "Ксения", "Татьяна", "Юлия", "Ирина", "Светлана", "Алёна", "Софья", "Ева")
PATRONYMICS = (("Александрович", "Александровна"), ("Сергеевич", "Сергеевна"), ("Михайлович", "Михайловна"),
               ("Андреевич", "Андреевна"), ("Игоревич", "Игоревна"), ("Петрович", "Петровна"))
LATIN_SURNAMES = ("Smith", "Ivanov", "Brown", "Muller", "Petrova", "Garcia", "Kowalski", "Novak")
LATIN_MALE = ("John", "Alex", "Mark", "David", "Ivan", "Peter")
LATIN_FEMALE = ("Anna", "Maria", "Kate", "Olga", "Emma", "Sofia")
LATIN_LETTERS = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "",
    "э": "e", "ю": "yu", "я": "ya",
}


def full_name(rng: random.Random, female: bool) -> str:
    """What a person typed as their full name (before the survey split it)."""
    sex = 1 if female else 0
    roll = rng.random()
    if roll < 0.05:
        surname = rng.choice(LATIN_SURNAMES)
        given = rng.choice(LATIN_FEMALE if female else LATIN_MALE)
        words = [surname, given] if rng.random() < 0.6 else [given, surname]
    else:
        surname = rng.choice(SURNAMES)[sex]
        given = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        if roll < 0.07:  # a double given name
            given = f"{given} {rng.choice(FEMALE_NAMES if female else MALE_NAMES)}"
        if roll < 0.20:
            words = [surname, given, rng.choice(PATRONYMICS)[sex]]
        elif roll < 0.72:
            words = [surname, given]
        else:
            words = [given, surname]
    text = " ".join(words)
    case = rng.random()
    if case < 0.07:
        text = text.lower()
    elif case < 0.085:
        text = text.upper()
    return text


def split_name(text: str) -> tuple[str, str]:
    """(first_name, last_name) as the survey stored them: the first word is the last name."""
    words = text.split()
    return " ".join(words[1:]), words[0]


def username(rng: random.Random, name: str) -> str:
    """A Telegram username (5-32 of letters, digits, underscore) made from the person's name."""
    base = "".join(LATIN_LETTERS.get(ch, ch) for ch in name.lower().split()[-1] if ch.isalpha())
    base = "".join(ch for ch in base if ch.isascii() and ch.isalpha()) or "user"
    style = rng.random()
    if style < 0.4:
        text = f"{base}{rng.randrange(1, 10_000)}"
    elif style < 0.7:
        text = f"{base}_{rng.choice(('fit', 'sport', 'life', 'pro', 'msk', 'spb'))}"
    else:
        text = f"{base[:1]}_{base}{rng.randrange(70, 100)}"
    if rng.random() < 0.15:
        text = text.capitalize()
    return text[:32].ljust(5, "x")
