"""Registered people for a local run: written straight into the fresh database before the run.

Each gets two to four measurement rows on past dates (so "progress" draws a real chart) and
a third of them saved food preferences; the same facts go into the journal as `seeded`, so the
consistency check knows what must still be there afterwards.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from loadtests.journal import Journal
from loadtests.people import DISLIKES, LIKES, Person, body_fat, make_person

USER_SQL = """
INSERT INTO users (telegram_id, username, first_name, last_name, sex, date_of_birth)
VALUES (%s, %s, %s, %s, %s, %s)
"""
RECORD_SQL = """
INSERT INTO user_records (telegram_id, date, weight, waist, neck, hip, height, goal, steps, sport_type,
                          sport_freq, bodyfat)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
FOOD_SQL = "INSERT INTO user_food_preferences (telegram_id, likes_raw, dislikes_raw) VALUES (%s, %s, %s)"


def seeded_person(telegram_id: int, seed: int, today: date | None = None) -> tuple[Person, list[dict], dict | None]:
    """The same person, history and food for the same id and seed, in the seeder and in Locust."""
    rng = random.Random(f"{seed}:{telegram_id}")
    today = today or date.today()
    person = make_person(telegram_id, rng, today)
    records = []
    days_back = sorted(rng.sample(range(3, 150), rng.randint(2, 4)), reverse=True)
    for back in days_back:
        body = person.next_body()
        person.body = body
        records.append({"date": (today - timedelta(days=back)).isoformat(), **person.record_fact()})
    food = None
    if rng.random() < 1 / 3:
        food = {"likes": rng.choice(LIKES), "dislikes": rng.choice(DISLIKES)}
    return person, records, food


def seed(database_url: str, ids: range, seed_value: int, journal: Journal) -> int:
    """Insert the registered people with ids in `ids`; returns how many."""
    import psycopg

    users, rows, foods = [], [], []
    for telegram_id in ids:
        person, records, food = seeded_person(telegram_id, seed_value)
        users.append((telegram_id, person.username, person.first_name, person.last_name, person.sex,
                      person.birth_date))
        for r in records:
            rows.append((telegram_id, r["date"], r["weight"], r["waist"], r["neck"], r["hip"], r["height"],
                         r["goal"], r["steps"], r["sport_type"], r["sport_freq"],
                         body_fat(person.sex, r["height"], r["waist"], r["neck"], r["hip"])))
        if food:
            foods.append((telegram_id, food["likes"], food["dislikes"]))
        journal.write(telegram_id, "seeded", user=person.user_fact(), records=records, food=food)
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.executemany(USER_SQL, users)
        cur.executemany(RECORD_SQL, rows)
        cur.executemany(FOOD_SQL, foods)
    return len(users)


def seed_to_folder(database_url: str, ids: range, seed_value: int, folder: Path) -> int:
    journal = Journal(folder / "journal-seed.jsonl")
    try:
        return seed(database_url, ids, seed_value, journal)
    finally:
        journal.close()


# Background people: registered, with a history, never simulated. They make the database as big as a
# real one (`kbjuctl loadtest --seed-people 100000 --seed-records 1000000`) so that a run shows whether
# latency depends on its size. Made by PostgreSQL itself (generate_series): a million rows in seconds.
BACKGROUND_USERS_SQL = """
INSERT INTO users (telegram_id, username, first_name, last_name, sex, date_of_birth, created_at)
SELECT %(first)s + g, 'bg' || g, 'Фон', 'Фонов', CASE WHEN g %% 2 = 0 THEN 'male' ELSE 'female' END,
       date '1960-01-01' + (g %% 15000), now() - make_interval(days => (g %% 900)::int)
FROM generate_series(0, %(people)s - 1) AS g
"""
# Person p gets `each` records (one more for the first `extra`), a week apart, ending this week.
BACKGROUND_RECORDS_SQL = """
INSERT INTO user_records (telegram_id, date, weight, waist, neck, hip, height, goal, steps, sport_type,
                          sport_freq, bodyfat)
SELECT %(first)s + p, current_date - 7 * k - (p %% 7), 55 + (p %% 50) + k * 0.1, 70 + (p %% 40), 32 + (p %% 10),
       CASE WHEN p %% 2 = 1 THEN 90 + (p %% 25) END, 155 + (p %% 40), 'healthy', '5000-8000', 'walking', '1-2',
       CASE WHEN k %% 9 = 4 THEN NULL ELSE 12 + (p %% 25) END
FROM generate_series(0, %(people)s - 1) AS p,
     generate_series(1, %(each)s + CASE WHEN p < %(extra)s THEN 1 ELSE 0 END) AS k
"""
BACKGROUND_CONVERSATIONS_SQL = """
INSERT INTO conversations (chat_id, user_id, version)
SELECT %(first)s + g, %(first)s + g, 1 FROM generate_series(0, %(people)s - 1) AS g
"""


def seed_background(database_url: str, first_id: int, people: int, records: int) -> None:
    """`people` registered people with ids from `first_id` and `records` measurements among them."""
    import psycopg

    if people <= 0:
        return
    each, extra = divmod(max(records, people), people)  # at least one record each: they are registered
    params = {"first": first_id, "people": people, "each": each, "extra": extra}
    with psycopg.connect(database_url) as conn:
        conn.execute(BACKGROUND_USERS_SQL, params)
        conn.execute(BACKGROUND_RECORDS_SQL, params)
        conn.execute(BACKGROUND_CONVERSATIONS_SQL, params)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # statistics and a visibility map, as a long-lived database has
