"""Writes an old-bot (DEV) SQLite database of synthetic people: the rows the DEV code would have written.

The bot is modelled as it ran: the main branch from `Window.start` until `Window.fix`, whose
new-measurement flow saved each row under the bot's own user id (one row per calendar day, updated
by every later measurement that day), then the dev tip, which saves under the chat id and copies
height and goal from the person's latest row. Every person is simulated on their own (registration,
the survey row, measurements, food preferences); rows of one person and one day are merged in
memory the way the DEV code's "find the row of this owner and date, else insert" did, and written
in batches, so memory grows with the number of days, not of people.
"""

from __future__ import annotations

import math
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from kbjuctl.devdata import names, schema
from kbjuctl.devdata.schema import ImpossibleBody, dev_body_fat

BATCH = 5_000


@dataclass(frozen=True)
class Window:
    """The bot's life: it went live at `start`, the dev tip replaced main at `fix`, the file is taken at
    `end` (all local dates of a server at UTC+`utc_offset`)."""

    start: date = date(2022, 2, 1)
    fix: date = date(2023, 5, 15)
    end: date = date(2026, 11, 20)
    utc_offset: int = 3

    def check(self) -> Window:
        if not self.start < self.fix <= self.end:
            raise ValueError("expected --start < --fix <= --end")
        if not -12 <= self.utc_offset <= 14:
            raise ValueError("expected --utc-offset between -12 and 14 hours")
        return self

    @property
    def offset(self) -> timedelta:
        return timedelta(hours=self.utc_offset)

    def utc(self, local: datetime) -> datetime:
        return local - self.offset

    def local_day(self, utc: datetime) -> date:
        return (utc + self.offset).date()

    @property
    def first_utc(self) -> datetime:
        return self.utc(datetime.combine(self.start, datetime.min.time()))

    @property
    def last_utc(self) -> datetime:
        return self.utc(datetime.combine(self.end, datetime.max.time()))

    @property
    def fix_utc(self) -> datetime:
        return self.utc(datetime.combine(self.fix, datetime.min.time()))


@dataclass
class Facts:
    """What a generated file holds, counted in the file itself after writing it."""

    path: str
    users: int
    user_records: int
    user_food_preferences: int
    bot_id: int
    bot_id_rows: int  # orphan records of the main branch, all under the bot's id
    orphan_records: int
    placeholder_users: int
    users_without_records: int
    users_without_sex: int
    negative_ids: int
    empty_dislikes: int
    edge_cases: bool
    seed: int

    def to_json(self) -> dict:
        return dict(self.__dict__)


def stamp(moment: datetime) -> str:
    """SQLAlchemy 1.4's DATETIME text on SQLite: naive, always six fraction digits."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass
class Body:
    weight: float
    waist: float
    neck: float
    hip: float | None


@dataclass
class Person:
    telegram_id: int
    female: bool
    registered: datetime  # UTC
    sex: str | None
    height: int
    goal: str
    body: Body
    steps: int  # index into the steps spellings
    sport: str
    freq: int  # index into the frequency spellings
    rows: dict[date, list] = field(default_factory=dict)  # own rows by local date


class Database:
    """The file being written: rows in batches, ids handed out in insertion order with the gaps a
    clean-up script leaves, and the bot-id rows (one per day) kept until the end."""

    def __init__(self, path: Path, rng: random.Random, bot_id: int) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA page_size = 4096")
        self.conn.execute("PRAGMA journal_mode = OFF")  # built once; the file keeps DEV's journal_mode=delete
        self.conn.execute("PRAGMA synchronous = OFF")
        for statement in schema.DDL:
            self.conn.execute(statement)
        self.conn.execute("BEGIN")
        self.rng = rng
        self.bot_id = bot_id
        self.users: list[tuple] = []
        self.records: list[list] = []
        self.food: list[tuple] = []
        self.bot_rows: dict[date, list] = {}
        self.next_record = 1
        self.next_food = 1
        self.taken_ids: set[int] = set()  # users written, and ids reserved for the hand-made pack
        self.user_count = 0

    def record_id(self) -> int:
        if self.rng.random() < 0.004:  # rows a clean-up script deleted: their ids never come back
            self.next_record += self.rng.randint(1, 4)
        self.next_record += 1
        return self.next_record - 1

    def add_user(self, telegram_id: int, username: str | None, first: str | None, last: str | None,
                 sex: str | None, born: date | None, created: datetime) -> None:
        self.taken_ids.add(telegram_id)
        self.user_count += 1
        self.users.append((telegram_id, username, first, last, sex, born and born.isoformat(), stamp(created)))
        if len(self.users) >= BATCH:
            self.flush()

    def add_record(self, row: list) -> None:
        self.records.append(row)
        if len(self.records) >= BATCH:
            self.flush()

    def add_food(self, telegram_id: int, likes: str, dislikes: str, created: datetime) -> None:
        self.food.append((self.next_food, telegram_id, likes, dislikes, stamp(created)))
        self.next_food += 1

    def flush(self) -> None:
        if self.users:
            self.conn.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?)", self.users)
        if self.records:
            self.conn.executemany("INSERT INTO user_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                  [tuple(r) for r in self.records])
        if self.food:
            self.conn.executemany("INSERT INTO user_food_preferences VALUES (?, ?, ?, ?, ?)", self.food)
        self.users, self.records, self.food = [], [], []

    def close(self) -> None:
        self.records.extend(self.bot_rows.values())
        self.flush()
        self.conn.execute("COMMIT")
        self.conn.close()


# --- rows as the DEV code wrote them ------------------------------------------------------------

def survey_row(db: Database, p: Person, day: date) -> list:
    steps = schema.SURVEY_STEPS[p.steps]
    return [db.record_id(), p.telegram_id, day.isoformat(), p.body.weight, p.body.waist, p.body.neck,
            p.body.hip if p.female else None, p.height, p.goal, steps, p.sport, schema.SURVEY_FREQ[p.freq],
            schema.step_multiplier(steps),
            dev_body_fat("female" if p.female else "male", p.height, p.body.waist, p.body.neck, p.body.hip)]


def measure(db: Database, window: Window, p: Person, moment: datetime) -> None:
    """One pass through "new measurements": under the bot's id while main ran, else the person's own
    row of that day (updated when it exists, with height and goal from their latest row)."""
    day = window.local_day(moment)
    b, steps, freq = p.body, schema.MEASURE_STEPS[p.steps], schema.MEASURE_FREQ[p.freq]
    hip = b.hip if p.female else None
    if moment < window.fix_utc:
        row = db.bot_rows.get(day)
        if row is None:
            db.bot_rows[day] = [db.record_id(), db.bot_id, day.isoformat(), b.weight, b.waist, b.neck, hip,
                                schema.BOT_HEIGHT, schema.BOT_GOAL, steps, p.sport, freq, 1.1, None]
        else:  # only values that are not NULL overwrite: a man's entry keeps the morning's hip
            row[3:6], row[9:12] = [b.weight, b.waist, b.neck], [steps, p.sport, freq]
            if hip is not None:
                row[6] = hip
        return
    latest = p.rows[max(p.rows)] if p.rows else None
    height, goal = (latest[7], latest[8]) if latest else (schema.BOT_HEIGHT, schema.BOT_GOAL)
    try:
        bodyfat = None if p.sex is None else dev_body_fat(p.sex, height, b.waist, b.neck, hip)
    except ImpossibleBody:
        return  # the DEV code crashed before saving
    row = p.rows.get(day)
    if row is None:
        p.rows[day] = [db.record_id(), p.telegram_id, day.isoformat(), b.weight, b.waist, b.neck, hip, height,
                       goal, steps, p.sport, freq, 1.1, bodyfat]
    else:
        row[3:6], row[9:14] = [b.weight, b.waist, b.neck], [steps, p.sport, freq, 1.1, bodyfat]
        if hip is not None:
            row[6] = hip


# --- synthetic people ---------------------------------------------------------------------------

def typed(rng: random.Random, value: float, low: float, high: float) -> float:
    """What a person typed, within the survey's bounds: mostly whole numbers or one decimal."""
    value = min(high, max(low, value))
    roll = rng.random()
    if roll < 0.55:
        return float(round(value))
    if roll < 0.97:
        return min(high, max(low, round(value, 1)))
    return min(high, max(low, round(value, rng.randint(2, 4))))


def new_body(rng: random.Random, female: bool, height: int) -> Body:
    bmi = rng.gauss(25.0 if female else 26.5, 4.5)
    weight = min(300.0, max(30.0, bmi * (height / 100) ** 2))
    if female:
        waist = rng.gauss(40 + 0.45 * weight, 5)
        neck = rng.gauss(32, 1.8)
        return Body(weight, waist, neck, rng.gauss(waist + 22, 6))
    return Body(weight, rng.gauss(38 + 0.55 * weight, 5), rng.gauss(40, 2.2), None)


def typed_body(rng: random.Random, body: Body) -> Body:
    return Body(typed(rng, body.weight, 30, 300), typed(rng, body.waist, 50, 200), typed(rng, body.neck, 20, 100),
                None if body.hip is None else typed(rng, body.hip, 50, 200))


def fresh_id(rng: random.Random, db: Database) -> int:
    while True:
        candidate = rng.randrange(100_000, 2**31) if rng.random() < 0.38 else rng.randrange(5_000_000_000,
                                                                                             8_500_000_000)
        if candidate not in db.taken_ids and candidate != db.bot_id:
            return candidate


def registration_time(rng: random.Random, window: Window) -> datetime:
    """Registrations grow over time (a linear density) and peak in the local evening."""
    days = (window.end - window.start).days
    day = window.start + timedelta(days=min(days, int(days * math.sqrt(rng.random()))))
    hour = min(23, max(0, int(rng.gauss(19.5, 3.5))))
    local = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour, seconds=rng.randrange(3600),
                                                                   microseconds=rng.randrange(1_000_000))
    return window.utc(local)


def schedule(rng: random.Random, window: Window, start: datetime) -> list[datetime]:
    """When a person used "new measurements": never (42 %), a few times (27 %), every 1-3 weeks for
    some months (21 %) or every few days for up to 3.5 years (10 %)."""
    roll = rng.random()
    if roll < 0.42:
        moments = []
    elif roll < 0.69:
        moments = [start + timedelta(days=rng.uniform(1, 180)) for _ in range(rng.randint(1, 4))]
    else:
        gap, span = ((7, 21), rng.uniform(30, 365)) if roll < 0.90 else ((2, 6), 60 + 1220 * rng.random() ** 3)
        moments, moment = [], start
        while (moment := moment + timedelta(days=rng.uniform(*gap))) < start + timedelta(days=span):
            moments.append(moment)
    if rng.random() < 0.06:  # again on the day of the survey
        moments.append(start + timedelta(minutes=rng.uniform(5, 90)))
    moments = sorted(m for m in moments if m <= window.last_utc)
    corrected = [m + timedelta(minutes=rng.uniform(2, 30)) for m in moments if rng.random() < 0.04]
    return sorted(m for m in moments + corrected if m <= window.last_utc)


LIKES = ("курица, рыба, творог", "гречка и овощи", "всё, кроме сладкого", "мясо, яйца, сыр", "фрукты и ягоды",
         "паста, рис, картошка", "салаты с авокадо", "Рыба\nОвощи\nКаши", "омлет по утрам 🍳", "суши и роллы")
DISLIKES = ("нет", "нет", "лук", "грибы, печень", "молоко (непереносимость)", "сладкое", "острое 🌶",
            "морепродукты")


def random_person(rng: random.Random, db: Database, window: Window) -> None:
    female = rng.random() < 0.63
    text = names.full_name(rng, female)
    first, last = names.split_name(text)
    registered = registration_time(rng, window)
    local_day = window.local_day(registered)
    age_years = min(120, max(10, int(rng.gauss(34, 11))))
    born = local_day - timedelta(days=age_years * 365 + rng.randrange(300))
    height = min(250, max(100, round(rng.gauss(165 if female else 178, 7))))
    p = Person(fresh_id(rng, db), female, registered, "female" if female else "male", height,
               rng.choices(schema.GOALS, (42, 18, 40))[0], typed_body(rng, new_body(rng, female, height)),
               rng.randrange(5), rng.choice(schema.SPORTS), rng.randrange(4))
    user = names.username(rng, text) if rng.random() < 0.70 else None
    roll = rng.random()
    if roll < 0.003:  # the update adding sex and birth date never happened: no rows either
        db.add_user(p.telegram_id, user, first, last, None, None, registered)
        return
    db.add_user(p.telegram_id, user, first, last, p.sex, born, registered)
    if roll < 0.008:  # the first row failed to save, or a clean-up removed the rows
        return
    p.rows[local_day] = survey_row(db, p, local_day)
    simulate(rng, db, window, p)
    if rng.random() < 0.24:
        db.add_food(p.telegram_id, rng.choice(LIKES), rng.choice(DISLIKES),
                    registered + timedelta(minutes=rng.uniform(3, 600)))


def simulate(rng: random.Random, db: Database, window: Window, p: Person) -> None:
    """The person's measurements after the survey: weight drifts toward a goal-dependent target."""
    target = p.body.weight * {"lean": 0.90, "athletic": 0.96, "healthy": 0.94}.get(p.goal, 1.0)
    weight, waist = p.body.weight, p.body.waist
    for moment in schedule(rng, window, p.registered):
        weight += (target - weight) * 0.05 + rng.gauss(0, 0.6)
        waist += (target - weight) * 0.02 + rng.gauss(0, 0.5)
        p.body = typed_body(rng, Body(weight, waist, p.body.neck + rng.gauss(0, 0.2),
                                      None if p.body.hip is None else p.body.hip + rng.gauss(0, 0.4)))
        if rng.random() < 0.1:
            p.steps, p.sport, p.freq = rng.randrange(5), rng.choice(schema.SPORTS), rng.randrange(4)
        measure(db, window, p, moment)
    for row in p.rows.values():
        db.add_record(row)


def placeholder(rng: random.Random, db: Database, window: Window) -> None:
    """Someone who never took the survey (or a group chat) used "new measurements" under the dev tip:
    a placeholder user for the chat id, then rows with height 170 and goal 'maintain'."""
    moment = window.fix_utc + (window.last_utc - window.fix_utc) * rng.random()
    if rng.random() < 0.3:
        chat_id = -rng.randrange(100_000_000, 999_999_999) if rng.random() < 0.5 \
            else -(10**12 + rng.randrange(10**9, 10**10))
    else:
        chat_id = fresh_id(rng, db)
    if chat_id in db.taken_ids:
        return
    db.add_user(chat_id, None, "Пользователь", "Тестовый", "male", None, moment)
    p = Person(chat_id, False, moment, "male", schema.BOT_HEIGHT, schema.BOT_GOAL,
               typed_body(rng, new_body(rng, False, 178)), rng.randrange(5), rng.choice(schema.SPORTS),
               rng.randrange(4))
    for extra in range(rng.randint(1, 3)):
        measure(db, window, p, min(window.last_utc, moment + timedelta(days=extra * rng.uniform(1, 20))))
    for row in p.rows.values():
        db.add_record(row)


# --- the file ---------------------------------------------------------------------------------

def make_sqlite(path: Path, users: int, seed: int, *, window: Window | None = None, edge_cases: bool = True,
                bot_id: int | None = None, progress: Callable[[int, int], None] | None = None) -> Facts:
    """Write a DEV database of `users` people at `path` (which must not exist) and return its facts."""
    from kbjuctl.devdata import edge

    window = (window or Window()).check()
    rng = random.Random(seed)
    bot_id = bot_id or rng.randrange(5_000_000_000, 8_500_000_000)
    pack = edge.PACK_SIZE if edge_cases else 0
    if users < pack:
        raise ValueError(f"with the edge cases a database holds at least {pack} users (or use --no-edge-cases)")
    db = Database(path, rng, bot_id)
    if edge_cases:
        db.taken_ids.update(edge.PACK_IDS)
    done = 0
    placeholders = round((users - pack) * 0.004)
    # The hand-made people come last: their bot-id days then end as the pack says (the last entry of
    # the day wins), whatever random people measured on the same days.
    while done < users - pack:
        if placeholders and rng.random() < 0.004:
            placeholder(rng, db, window)
            placeholders -= 1
        else:
            random_person(rng, db, window)
        done = db.user_count
        if progress is not None and done % 1000 == 0:
            progress(done, users)
    if edge_cases:
        edge.write_pack(db, window)
    db.close()
    if progress is not None:
        progress(users, users)
    return facts(path, bot_id, edge_cases, seed)


def facts(path: Path, bot_id: int, edge_cases: bool, seed: int) -> Facts:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        def one(sql: str, *args) -> int:
            return conn.execute(sql, args).fetchone()[0]

        owned = "telegram_id IN (SELECT telegram_id FROM users)"
        return Facts(
            path=str(path),
            users=one("SELECT count(*) FROM users"),
            user_records=one("SELECT count(*) FROM user_records"),
            user_food_preferences=one("SELECT count(*) FROM user_food_preferences"),
            bot_id=bot_id,
            bot_id_rows=one("SELECT count(*) FROM user_records WHERE telegram_id = ?", bot_id),
            orphan_records=one(f"SELECT count(*) FROM user_records WHERE NOT {owned}"),  # nosec B608  # a literal
            placeholder_users=one("SELECT count(*) FROM users WHERE first_name = 'Пользователь' "
                                  "AND last_name = 'Тестовый' AND date_of_birth IS NULL"),
            users_without_records=one("SELECT count(*) FROM users WHERE telegram_id NOT IN "
                                      "(SELECT telegram_id FROM user_records)"),
            users_without_sex=one("SELECT count(*) FROM users WHERE sex IS NULL"),
            negative_ids=one("SELECT count(*) FROM users WHERE telegram_id < 0"),
            empty_dislikes=one("SELECT count(*) FROM user_food_preferences WHERE dislikes_raw = ''"),
            edge_cases=edge_cases,
            seed=seed,
        )
    finally:
        conn.close()
