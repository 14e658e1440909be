"""The hand-made people every generated database holds (unless --no-edge-cases): each stands for a value
or a history the DEV code could write that random people would rarely or never produce.

They are written after the random people, so the bot-id days they stage end as staged (the last
entry of a day wins in a main-branch row).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from kbjuctl.devdata.generator import Body, Database, Person, Window, measure, survey_row

TEST_USER = 285835433  # the id the DEV test-data script hard-codes

# Free texts of food preferences: every kind of character a person or a copy-paste can send.
FOOD_TEXTS = (
    ("'; DROP TABLE users; --", "Robert'); DELETE FROM user_records;--"),
    ("«ёлочки», „лапки“, \"прямые\", 'одинарные', `обратные`", "апостроф: д'Артаньян"),
    ("C:\\Users\\Маша\\еда.txt и \\n как два знака", "в конце обратная косая \\"),
    ("первая строка\n\\.\nпосле точки", "до\n\\N\nпосле"),
    ("**жирный** _курсив_ <b>тег</b> <script>alert(1)</script> &amp;", "[ссылка](http://example.org)"),
    ("семья 👨\u200d👩\u200d👧\u200d👦 флаг 🇷🇺 кожа 👍🏽 клавиша 1️⃣", "не ем 🐟"),
    ("عربي 中文 한국어 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈", "日本語は食べない"),
    ("100% белок, 50_50", "%_%"),
    ("строка\n\nпосле пустой\n\n\nи ещё", ""),
    ("a;b|c\"d", "null"),
    ("NULL и null", "None"),
    ("разрыв\u2028строки и\u200bневидимый пробел", "\ufeffс меткой порядка байт"),
    ("неразрывный\u00a0пробел внутри, ё и е\u0308 (разложенная)", "ㅤ\u3164хангыль-заполнитель ⠀"),
    (("длинный: " + "овощи, фрукты, крупы; " * 200)[:4095] + "!", "нет"),  # Telegram's longest message
)


@dataclass
class Edge:
    """One hand-made person; `measurements` are (moment UTC, body) passes through new measurements."""

    telegram_id: int
    name: str
    female: bool
    registered: datetime
    born: date | None
    height: int = 170
    body: Body = field(default_factory=lambda: Body(70.0, 80.0, 36.0, None))
    goal: str = "healthy"
    steps: int = 1
    sport: str = "walking"
    freq: int = 1
    username: str | None = None
    sex: str | None = "auto"
    survey: bool = True
    measurements: tuple[tuple[datetime, Body], ...] = ()
    food: tuple[str, str] | None = None


def _local(window: Window, day: date, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return window.utc(datetime.combine(day, time(hour, minute, second, micro)))


def pack(window: Window, rng: random.Random) -> list[Edge]:
    start, fix, end = window.start, window.fix, window.end
    mid = fix + (end - fix) / 2
    leap = date(2024, 2, 29) if fix + timedelta(days=9) <= date(2024, 2, 29) <= end else mid
    reg = _local(window, mid, 12)
    woman, man = Body(62.0, 74.0, 32.0, 98.0), Body(88.0, 96.0, 41.0, None)
    people = [
        # Validation bounds, and body fat clamped to exactly 0.0 and 100.0.
        Edge(4321, "Малова Лия", True, reg, date(1990, 5, 5), height=100,
             body=Body(30.0, 50.0, 20.0, 50.0), username="liya5"),
        Edge(2147483647, "Большов Глеб", False, reg + timedelta(hours=1), date(1985, 3, 3), height=250,
             body=Body(300.0, 200.0, 100.0, None), username="A" * 32),
        Edge(2147483648, "Широкова Ада", True, reg + timedelta(hours=2), date(1980, 1, 1), height=160,
             body=Body(120.0, 150.0, 40.0, 200.0), username="ADA_BIG"),
        Edge(9999999999, "Полнова Ия", True, reg + timedelta(hours=3), date(1975, 7, 7), height=100,
             body=Body(150.0, 200.0, 20.0, 200.0)),  # 163.205·log(380) − 97.684·2 − 78.387 > 100: 100.0
        Edge(1000001, "Тонкий Лев", False, reg + timedelta(hours=4), date(1999, 9, 9), height=250,
             body=Body(60.0, 50.0, 49.0, None)),  # log(1) = 0: below zero, clamped to 0.0
        # Ages exactly 10 and 120 on the (local) day of registration; born on 29 February.
        Edge(1000002, "Юная Соня", True, _local(window, mid, 15), None),  # born: set to the day, 10 years back
        Edge(1000003, "Старый Фома", False, _local(window, mid, 16), None),  # and 120 years back
        Edge(1000004, "Високосная Вера", True, _local(window, mid, 17), date(2000, 2, 29)),
        # Usernames: five characters, upper case; names of every shape the validator let through.
        Edge(1000005, "Петров Иван Сергеевич", False, reg + timedelta(days=1), date(1988, 8, 8), username="ivanp"),
        Edge(1000006, "Smith John", False, reg + timedelta(days=1, hours=1), date(1991, 1, 2), username="JOHN_SMITH"),
        Edge(1000007, "Smith Анна", True, reg + timedelta(days=1, hours=2), date(1992, 2, 3)),
        Edge(1000008, "Ёлкина Алёна", True, reg + timedelta(days=1, hours=3), date(1993, 3, 4)),
        Edge(1000009, "Римская-Корсакова Анна-Мария", True, reg + timedelta(days=1, hours=4), date(1994, 4, 5)),
        Edge(1000010, "иванова мария", True, reg + timedelta(days=1, hours=5), date(1995, 5, 6)),
        Edge(1000011, "ПЕТРОВА ОЛЬГА", True, reg + timedelta(days=1, hours=6), date(1996, 6, 7)),
        Edge(1000012, "  Мария    Иванова  ", True, reg + timedelta(days=1, hours=7), date(1997, 7, 8)),
        Edge(1000013, "Ян Ли", False, reg + timedelta(days=1, hours=8), date(1998, 8, 9)),
        Edge(1000014, "Константинопольская Александра-Виктория Степановна", True,
             reg + timedelta(days=1, hours=9), date(1989, 9, 10)),  # exactly 50 characters
        Edge(1000015, "Null Null", False, reg + timedelta(days=1, hours=10), date(1987, 10, 11)),
        Edge(1000016, "Drop Table Users", False, reg + timedelta(days=1, hours=11), date(1986, 11, 12)),
        Edge(1000017, "Ким --", False, reg + timedelta(days=1, hours=12), date(1985, 12, 13)),
        # Times: 22:30 UTC (its row is dated the next local day), a .000000 fraction, the launch day
        # just after local midnight, the last day's last microsecond.
        Edge(1000018, "Поздняя Нина", True, datetime.combine(mid, time(22, 30, 0, 123456)), date(1990, 1, 15)),
        Edge(1000019, "Круглов Борис", False, datetime.combine(mid, time(10, 0, 0, 0)), date(1984, 2, 16)),
        Edge(1000020, "Первая Ирина", True, _local(window, start, 0, 0, 5, 1), date(1983, 3, 17)),
        Edge(1000021, "Последний Олег", False, _local(window, end, 23, 59, 59, 999999), date(1982, 4, 18)),
        # The update adding sex and birth date never came; a complete user whose row is gone.
        Edge(1000022, "Прерванный Тимур", False, reg + timedelta(days=2), None, sex=None, survey=False),
        Edge(1000023, "Безрядная Майя", True, reg + timedelta(days=2, hours=1), date(1981, 5, 19), survey=False),
        # A survey row overwritten by new measurements 25 minutes later (the measurement flow's
        # spellings over the survey's), and a measurement corrected the same day.
        Edge(1000024, "Спешная Кира", True, reg + timedelta(days=3), date(1992, 6, 20), steps=4, freq=3,
             measurements=((reg + timedelta(days=3, minutes=25), Body(61.5, 73.0, 31.0, 97.0)),)),
        Edge(1000025, "Точный Марк", False, reg + timedelta(days=4), date(1991, 7, 21),
             measurements=((reg + timedelta(days=20), Body(86.0, 94.0, 40.0, None)),
                           (reg + timedelta(days=20, minutes=12), Body(85.5, 94.0, 40.0, None)))),
        # Many decimals, as typed and as float arithmetic left them.
        Edge(1000026, "Дробная Ева", True, reg + timedelta(days=5), date(1994, 8, 22),
             body=Body(72.123456789, 80.5, 33.3, 101.25),
             measurements=((reg + timedelta(days=40), Body(70.30000000000001, 79.0, 33.0, 100.0)),)),
        # A measurement dated 29 February 2024 (under the dev tip, when the window has that day).
        Edge(1000027, "Февральская Аня", True, _local(window, leap - timedelta(days=9), 18), date(1995, 9, 23),
             measurements=((_local(window, leap, 19), Body(60.0, 70.0, 31.0, 95.0)),)),
    ]
    # Two people measuring weekly for 3.5 years, their first weeks in the bot-id era.
    for i, (tid, name, female) in enumerate(((1000028, "Упорная Дарья", True), (1000029, "Верный Антон", False))):
        first = window.fix_utc - timedelta(weeks=10, hours=i)
        body = woman if female else man
        weeks = [(first + timedelta(weeks=w, hours=1), Body(body.weight - w * 0.05, body.waist - w * 0.03,
                                                             body.neck, body.hip)) for w in range(1, 183)]
        people.append(Edge(tid, name, female, first, date(1980 + i, 10, 24), body=body,
                           measurements=tuple(m for m in weeks if m[0] <= window.last_utc)))
    # A bot-id day: a woman in the morning, a man in the evening (her hip stays under his numbers);
    # the next day the other way round.
    day = fix - timedelta(days=30)
    people.append(Edge(1000030, "Утренняя Зоя", True, _local(window, day - timedelta(days=60), 20),
                       date(1990, 11, 25), body=woman,
                       measurements=((_local(window, day, 8), Body(61.0, 73.0, 32.0, 97.5)),
                                     (_local(window, day + timedelta(days=1), 21), Body(61.2, 73.1, 32.0, 97.0)))))
    people.append(Edge(1000031, "Вечерний Яков", False, _local(window, day - timedelta(days=61), 20),
                       date(1989, 12, 26), body=man,
                       measurements=((_local(window, day, 20), Body(87.0, 95.0, 41.0, None)),
                                     (_local(window, day + timedelta(days=1), 8), Body(86.8, 95.0, 41.0, None)))))
    people.append(Edge(1000032, "Кухонная Рита", True, reg + timedelta(days=6), date(1993, 1, 27)))
    people.append(Edge(1000033, "Поваров Гена", False, reg + timedelta(days=6, hours=2), date(1992, 2, 28)))
    # Food preferences of every kind of text, spread over the pack (one empty dislike among them).
    with_food = [p for p in people if p.survey and p.sex is not None][:len(FOOD_TEXTS)]
    for person, texts in zip(with_food, FOOD_TEXTS, strict=False):
        person.food = texts
    return people


PACK_IDS = (4321, 2147483647, 2147483648, 9999999999, *range(1000001, 1000034), TEST_USER)
PACK_SIZE = len(PACK_IDS)


def _age_day(born_year_from: date, years: int) -> date:
    try:
        return born_year_from.replace(year=born_year_from.year - years)
    except ValueError:  # 29 February in a year that has none
        return born_year_from.replace(year=born_year_from.year - years, day=28)


def write_pack(db: Database, window: Window) -> None:
    """Every hand-made person; their measurements applied in time order across people, so that a
    bot-id day shared by two of them ends as staged."""
    rng = random.Random(db.rng.random())
    people, passes = [], []
    for edge in pack(window, rng):
        person = _register(db, window, edge)
        if person is not None:
            people.append(person)
            passes.extend((moment, len(people) - 1, body) for moment, body in edge.measurements)
    for moment, index, body in sorted(passes, key=lambda item: (item[0], item[1])):
        person = people[index]
        person.body = body
        person.steps, person.freq = (person.steps + 1) % 5, (person.freq + 1) % 4
        measure(db, window, person, moment)
    for person in people:
        for row in person.rows.values():
            db.add_record(row)
    _test_script(db, window)


def _register(db: Database, window: Window, e: Edge) -> Person | None:
    """The user row, the survey row and the food preferences; the Person for later measurements."""
    words = e.name.split()
    first, last = " ".join(words[1:]), words[0]
    sex = ("female" if e.female else "male") if e.sex == "auto" else e.sex
    day = window.local_day(e.registered)
    born = e.born
    if e.telegram_id == 1000002:  # exactly 10 on the day of registration
        born = _age_day(day, 10)
    elif e.telegram_id == 1000003:  # exactly 120
        born = _age_day(day, 120)
    db.add_user(e.telegram_id, e.username, first, last, sex, born if sex else None, e.registered)
    if not e.survey:
        return None
    p = Person(e.telegram_id, e.female, e.registered, sex, e.height, e.goal, e.body, e.steps, e.sport, e.freq)
    p.rows[day] = survey_row(db, p, day)
    if e.food is not None:
        db.add_food(e.telegram_id, e.food[0], e.food[1], e.registered + timedelta(minutes=30))
    return p


def _test_script(db: Database, window: Window) -> None:
    """The DEV test-data script: run once and cleaned up the same evening (its four row ids never
    appear), then run twice twelve days apart; rows back-dated 90/60/30/0 days, sport_freq 3/4/5,
    multiplier 1.2 next to 8000-10000 steps."""
    first_run = window.fix + (window.end - window.fix) / 3
    db.next_record += 4  # the first run's rows, deleted by its clean-up
    runs = (first_run + timedelta(days=5), first_run + timedelta(days=17))
    created = _local(window, runs[0], 14)
    db.add_user(TEST_USER, "test_user", "Тестовый", "Пользователь", "male", date(1990, 1, 1), created)
    values = ((85.0, 95.0, 42.0, 22.5, "3"), (82.0, 92.0, 41.5, 21.0, "4"), (79.0, 89.0, 41.0, 19.5, "5"),
              (76.0, 86.0, 40.5, 18.0, "5"))
    for run in runs:
        for back, (weight, waist, neck, bodyfat, freq) in zip((90, 60, 30, 0), values, strict=True):
            db.add_record([db.record_id(), TEST_USER, (run - timedelta(days=back)).isoformat(), weight, waist, neck,
                           None, 180, "lean", "8000-10000", "running", freq, 1.2, bodyfat])


__all__ = ["PACK_IDS", "PACK_SIZE", "TEST_USER", "write_pack"]
