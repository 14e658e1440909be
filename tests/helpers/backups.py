"""Helpers of the backup tests: a realistically filled database, and its per-table sums computed
independently of kbjuctl."""

from __future__ import annotations

import psycopg


def fill_realistic(url: str) -> None:
    with psycopg.connect(url) as conn:
        for statement in FILL:
            conn.execute(statement)



def independent_sums(url: str) -> dict[str, tuple[int, str]]:
    """The test's own fingerprint of each table: md5 of every row's text, in byte order."""
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'Asia/Tokyo'; SET extra_float_digits = 3; SET DateStyle = 'ISO'")
        return {t: conn.execute(f"SELECT count(*), md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text "
                                f"COLLATE \"C\"), '')) FROM {t} x").fetchone() for t in TABLES}


# Plain SQL, so the data does not depend on the code under test: Cyrillic, '' vs NULL, backslashes,
# doubles that only survive with full precision, timestamptz across a DST change.
FILL = [
    """INSERT INTO users (telegram_id, username, first_name, last_name, sex, date_of_birth, created_at, imported_at)
       SELECT g, CASE g % 3 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE 'user_' || g END,
              'Анна Мария ' || g, E'Ив\\\\анова' || g, CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END,
              DATE '1970-01-01' + g, TIMESTAMPTZ '2024-03-31 01:30:00+03' + g * INTERVAL '1 hour 7 min',
              CASE WHEN g % 5 = 0 THEN TIMESTAMPTZ '2025-01-01 00:00:00.123456+00' END
       FROM generate_series(1, 2000) g""",
    """INSERT INTO user_records (telegram_id, date, weight, waist, neck, hip, height, goal, steps, sport_type,
                                sport_freq, bodyfat, legacy_goal, created_at)
       SELECT u, DATE '2025-01-01' + d, 70.30000000000001 + (u % 50), 80.1 + d, 35.7, CASE WHEN d = 1 THEN NULL
              ELSE 95.5 END, 170, CASE WHEN u % 7 = 0 THEN NULL ELSE 'lean' END, '10000+', 'running', '3-4',
              0.1 + 0.2, CASE WHEN u % 7 = 0 THEN E'похудеть \\\\ быстро' END, now()
       FROM generate_series(1, 2000) u, generate_series(1, 3) d""",
    """INSERT INTO user_food_preferences (telegram_id, likes_raw, dislikes_raw)
       SELECT g, E'борщ, "пельмени"\\n' || g, CASE WHEN g % 2 = 0 THEN '' ELSE 'лук' END
       FROM generate_series(1, 1500) g""",
    """INSERT INTO conversations (chat_id, user_id, flow, step, answers)
       SELECT g, g, CASE WHEN g % 2 = 0 THEN 'survey' END, 'weight',
              jsonb_build_object('weight', 70.30000000000001, 'name', 'Иван \\ "Грозный"')
       FROM generate_series(1, 500) g""",
]



TABLES = ("users", "user_records", "user_food_preferences", "conversations", "_yoyo_migration")

