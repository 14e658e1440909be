"""People who completed the survey (table users), and people imported from the old bot who may not have."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.db.pool import Connection, Query, fetchrow

# registered: what the survey always leaves behind. People moved from the old bot can lack it: a
# user row whose first measurement was never saved (or was deleted), or whose sex never was.
GET_USER = Query("user_get", """
SELECT telegram_id, username, first_name, last_name, sex, date_of_birth, created_at, updated_at,
       sex IS NOT NULL AND EXISTS (SELECT FROM user_records r WHERE r.telegram_id = u.telegram_id) AS registered
FROM users u WHERE telegram_id = $1
""")

# xmax = 0 tells a fresh insert from an update of an existing row (registration counting).
UPSERT_USER = Query("user_upsert", """
INSERT INTO users (telegram_id, username, first_name, last_name, sex, date_of_birth)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (telegram_id) DO UPDATE SET
    username = EXCLUDED.username,
    first_name = EXCLUDED.first_name,
    last_name = EXCLUDED.last_name,
    sex = EXCLUDED.sex,
    date_of_birth = EXCLUDED.date_of_birth,
    updated_at = now()
RETURNING telegram_id, username, first_name, last_name, sex, date_of_birth, created_at, updated_at,
          (xmax = 0) AS inserted
""")


@dataclass(frozen=True, slots=True)
class User:
    telegram_id: int
    username: str | None
    first_name: str | None
    last_name: str | None
    sex: str | None
    date_of_birth: date | None
    created_at: datetime
    updated_at: datetime
    registered: bool = True  # sex known and at least one measurement (see GET_USER)

    @property
    def full_name(self) -> str:
        """As the person typed it: last name first (the survey's split reversed)."""
        return " ".join(part for part in (self.last_name, self.first_name) if part)


def _user(row) -> User:
    return User(row["telegram_id"], row["username"], row["first_name"], row["last_name"], row["sex"],
                row["date_of_birth"], row["created_at"], row["updated_at"], row.get("registered", True))


async def get_user(conn: Connection, telegram_id: int) -> User | None:
    row = await fetchrow(conn, GET_USER, telegram_id)
    return _user(row) if row else None


async def upsert_user(conn: Connection, telegram_id: int, username: str | None, last_name: str, first_name: str,
                      sex: str, date_of_birth: date) -> tuple[User, bool]:
    """Create or update the person (names as bot.domain.validation.parse_full_name split them);
    returns (user, True when newly created)."""
    row = await fetchrow(conn, UPSERT_USER, telegram_id, username, first_name, last_name, sex, date_of_birth)
    return _user(row), bool(row["inserted"])
