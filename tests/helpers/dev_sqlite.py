"""A DEV bot SQLite database written by the test itself: the old bot's schema, rows as given.

The schema is the one the old bot's SQLAlchemy models create (docs/migration.md); values go in as
the old bot would have stored them, or as broken as a test needs them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

SCHEMA = (
    "CREATE TABLE users (telegram_id INTEGER NOT NULL, username VARCHAR, first_name VARCHAR, last_name VARCHAR, "
    "sex VARCHAR, date_of_birth DATE, created_at DATETIME, PRIMARY KEY (telegram_id))",
    "CREATE INDEX ix_users_telegram_id ON users (telegram_id)",
    "CREATE TABLE user_records (id INTEGER NOT NULL, telegram_id INTEGER, date DATE, weight FLOAT, waist FLOAT, "
    "neck FLOAT, hip FLOAT, height INTEGER, goal VARCHAR, steps VARCHAR, sport_type VARCHAR, sport_freq VARCHAR, "
    "step_multiplier FLOAT, bodyfat FLOAT, PRIMARY KEY (id), "
    "FOREIGN KEY(telegram_id) REFERENCES users (telegram_id))",
    "CREATE INDEX ix_user_records_id ON user_records (id)",
    "CREATE TABLE user_food_preferences (id INTEGER NOT NULL, telegram_id INTEGER, likes_raw TEXT, "
    "dislikes_raw TEXT, created_at DATETIME, PRIMARY KEY (id), "
    "FOREIGN KEY(telegram_id) REFERENCES users (telegram_id))",
    "CREATE INDEX ix_user_food_preferences_id ON user_food_preferences (id)",
)


def user(telegram_id: int, first_name: object = "Анна", *, username: object = "anna", last_name: object = None,
         sex: object = "female", born: object = "1990-05-01", created: object = "2024-01-02 10:00:00.000000"):
    return (telegram_id, username, first_name, last_name, sex, born, created)


def record(record_id: int, telegram_id: int, *, day: object = "2024-01-02", weight: object = 60.5,
           waist: object = 70.0, neck: object = 32.0, hip: object = 96.0, height: object = 165):
    return (record_id, telegram_id, day, weight, waist, neck, hip, height, "healthy", "5000-8000", "yoga", "3",
            1.3, 25.1)


def food(food_id: int, telegram_id: int, likes: object = "гречка", dislikes: object = "лук"):
    return (food_id, telegram_id, likes, dislikes, "2024-01-02 10:00:00.000000")


def write(path: Path, users: Iterable[tuple], records: Iterable[tuple] = (), foods: Iterable[tuple] = ()) -> Path:
    with sqlite3.connect(path) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
        conn.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?)", users)
        conn.executemany("INSERT INTO user_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", records)
        conn.executemany("INSERT INTO user_food_preferences VALUES (?, ?, ?, ?, ?)", foods)
    conn.close()
    return path
