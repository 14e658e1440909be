"""Food likes and dislikes (table user_food_preferences): one row per person."""

from __future__ import annotations

from dataclasses import dataclass

from bot.db.pool import Connection, Query, fetchrow

GET_FOOD = Query("food_get", """
SELECT telegram_id, likes_raw, dislikes_raw FROM user_food_preferences WHERE telegram_id = $1
""")

UPSERT_FOOD = Query("food_upsert", """
INSERT INTO user_food_preferences (telegram_id, likes_raw, dislikes_raw) VALUES ($1, $2, $3)
ON CONFLICT (telegram_id) DO UPDATE SET
    likes_raw = EXCLUDED.likes_raw, dislikes_raw = EXCLUDED.dislikes_raw, updated_at = now()
RETURNING telegram_id, likes_raw, dislikes_raw
""")


@dataclass(frozen=True, slots=True)
class FoodPreferences:
    telegram_id: int
    likes: str
    dislikes: str  # '' means nothing disliked


def _food(row) -> FoodPreferences:
    return FoodPreferences(row["telegram_id"], row["likes_raw"], row["dislikes_raw"])


async def get_food(conn: Connection, telegram_id: int) -> FoodPreferences | None:
    row = await fetchrow(conn, GET_FOOD, telegram_id)
    return _food(row) if row else None


async def upsert_food(conn: Connection, telegram_id: int, likes: str, dislikes: str) -> FoodPreferences:
    return _food(await fetchrow(conn, UPSERT_FOOD, telegram_id, likes, dislikes or ""))
