"""The PostgreSQL side: connecting, checking the schema version, conflicts, run bookkeeping."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from kbjuctl import dburl
from kbjuctl.errors import BadInput

REQUIRED_MIGRATION = "0002.migration-bookkeeping"
YOYO_TABLE = "_yoyo_migration"
CONNECT_TIMEOUT_S = 10
# Two migrations into one database at once would each pass the conflict check.
ADVISORY_LOCK_KEY = 0x6B626A75_6D696772  # "kbjumigr"
LOOKUP_BATCH = 10_000

# Binary COPY and the server's UTC session: timestamptz values travel as instants, never
# reinterpreted in a session TimeZone (pgloader's Europe/Moscow bug), floats as IEEE doubles.
SERVER_SETTINGS = {"timezone": "UTC", "application_name": "kbjuctl migrate-from-sqlite"}

SQL_APPLIED_MIGRATIONS = f"SELECT migration_id FROM {YOYO_TABLE}"  # nosec B608  # yoyo's table name, a constant
SQL_TARGET_COUNTS = """
SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM user_records),
       (SELECT count(*) FROM user_food_preferences)
"""
SQL_EXISTING_USERS = "SELECT telegram_id FROM users WHERE telegram_id = ANY($1::bigint[])"
SQL_EXISTING_RECORDS = "SELECT legacy_source_id FROM user_records WHERE legacy_source_id = ANY($1::bigint[])"
SQL_EXISTING_FOOD = (
    "SELECT legacy_source_id FROM user_food_preferences WHERE legacy_source_id = ANY($1::bigint[])"
)
SQL_VERIFIED_RUN = """
SELECT id, imported_at, counts FROM migration_runs
WHERE source_sha256 = $1 AND status = 'verified' ORDER BY id DESC LIMIT 1
"""
SQL_INSERT_RUN = """
INSERT INTO migration_runs (source_path, source_sha256, source_bytes, imported_at, status, on_conflict,
                            tool_version)
VALUES ($1, $2, $3, $4, 'loading', $5, $6) RETURNING id
"""
SQL_FINISH_RUN = """
UPDATE migration_runs SET status = 'verified', counts = $2::jsonb, finished_at = clock_timestamp()
WHERE id = $1
"""
# What the load suspends and restores, read from the catalog so it comes back exactly as declared:
# the foreign keys into users, user_records' primary key (unless a foreign key points at it) and its
# other UNIQUE constraints. user_records' UNIQUE (legacy_source_id) stays: the verification reads
# each loaded range back by source id during the load, and its keys arrive in order (appends to the
# index's right edge). On 1M records the primary key cost the COPY 0.5 s, its rebuild 0.18 s.
SQL_SUSPENDED_CONSTRAINTS = """
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE (contype = 'f' AND conrelid IN ('user_records'::regclass, 'user_food_preferences'::regclass))
   OR (contype = 'p' AND conrelid = 'user_records'::regclass
       AND NOT EXISTS (SELECT FROM pg_constraint AS r WHERE r.contype = 'f' AND r.confrelid = 'user_records'::regclass))
   OR (contype = 'u' AND conrelid = 'user_records'::regclass
       AND conkey <> ARRAY[(SELECT attnum FROM pg_attribute
                            WHERE attrelid = 'user_records'::regclass AND attname = 'legacy_source_id')])
ORDER BY contype, 1, 2
"""
# Anything besides COPY that could change a row after it was read back: user triggers and rules.
SQL_HAS_REWRITERS = """
SELECT EXISTS (SELECT FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = ANY($1::regclass[]))
    OR EXISTS (SELECT FROM pg_rewrite WHERE ev_class = ANY($1::regclass[]))
"""
SQL_SUSPENDED_INDEXES = """
SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index
WHERE indrelid = 'user_records'::regclass AND NOT indisprimary
  AND indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE conrelid = 'user_records'::regclass)
ORDER BY 1
"""
QUARANTINE_COLUMNS = ("run_id", "source_table", "source_id", "reason_code", "reason", "original_row",
                      "imported_at")


async def connect(url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S, server_settings=SERVER_SETTINGS)
    except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise BadInput(f"Cannot connect to the target {dburl.redact(url)}: "
                       f"{dburl.mask(_first_line(exc), url)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


async def check_schema(conn: asyncpg.Connection, url: str) -> None:
    """BadInput unless the target has this tool's schema (all migrations up to REQUIRED_MIGRATION)."""
    if await conn.fetchval("SELECT to_regclass($1)", YOYO_TABLE) is None:
        raise BadInput(
            f"The target {dburl.redact(url)} has no KBJU schema (no migrations applied). "
            "Run `kbjuctl db upgrade` on it first. Nothing was written."
        )
    applied = {r[0] for r in await conn.fetch(SQL_APPLIED_MIGRATIONS)}
    if REQUIRED_MIGRATION not in applied:
        newest = max(applied) if applied else "none"
        raise BadInput(
            f"The target {dburl.redact(url)} has an older schema (newest migration: {newest}); this kbjuctl "
            f"needs {REQUIRED_MIGRATION}. Run `kbjuctl db upgrade` first. Nothing was written."
        )


async def lock(conn: asyncpg.Connection) -> None:
    """Held until the transaction ends; a second migration into the same database waits."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK_KEY)


async def target_counts(conn: asyncpg.Connection) -> dict[str, int]:
    users, records, food = await conn.fetchrow(SQL_TARGET_COUNTS)
    return {"users": users, "user_records": records, "user_food_preferences": food}


async def existing(conn: asyncpg.Connection, table: str, source_ids: Iterable[int]) -> set[int]:
    """Which of these source ids the target already holds (users by id, others by legacy_source_id)."""
    sql = {"users": SQL_EXISTING_USERS, "user_records": SQL_EXISTING_RECORDS,
           "user_food_preferences": SQL_EXISTING_FOOD}[table]
    ids = [i for i in source_ids if i is not None]
    found: set[int] = set()
    for start in range(0, len(ids), LOOKUP_BATCH):
        found.update(r[0] for r in await conn.fetch(sql, ids[start:start + LOOKUP_BATCH]))
    return found


async def verified_run(conn: asyncpg.Connection, sha256: str):
    return await conn.fetchrow(SQL_VERIFIED_RUN, sha256)


async def start_run(conn: asyncpg.Connection, *, path: str, sha256: str, size: int, imported_at: datetime,
                    on_conflict: str, tool_version: str) -> int:
    return await conn.fetchval(SQL_INSERT_RUN, path, sha256, size, imported_at, on_conflict, tool_version)


async def finish_run(conn: asyncpg.Connection, run_id: int, counts: dict) -> None:
    await conn.execute(SQL_FINISH_RUN, run_id, json.dumps(counts))


async def has_rewriters(conn: asyncpg.Connection, tables) -> bool:
    """True if a trigger or rule on these tables could change rows after their COPY."""
    return await conn.fetchval(SQL_HAS_REWRITERS, list(tables))


async def copy_payload(conn: asyncpg.Connection, table: str, columns: tuple[str, ...], payload: bytearray) -> int:
    """COPY ready binary data (signature, rows, trailer) into a table; returns the rows written."""
    # A memoryview: asyncpg would take bytes for a file name.
    status = await conn.copy_to_table(table, source=memoryview(payload), columns=list(columns), format="binary")
    return int(status.split()[-1])


async def copy_rows(conn: asyncpg.Connection, table: str, columns: tuple[str, ...], records) -> int:
    """Binary COPY (no text escaping: backslashes, `\\.` lines and '' vs NULL arrive as they are)."""
    status = await conn.copy_records_to_table(table, records=records, columns=list(columns))
    return int(status.split()[-1])


@dataclass(frozen=True)
class Suspended:
    constraints: list[tuple[str, str, str]]  # (table, name, definition)
    indexes: list[tuple[str, str]]  # (name, CREATE INDEX statement)


async def suspend_constraints(conn: asyncpg.Connection) -> Suspended:
    """Drop the foreign keys and user_records' primary key and secondary indexes for the load
    (caller's transaction).

    Maintained row by row they cost more than the COPY itself (a lookup and a row lock on users
    per record for the foreign key, four index insertions); rebuilt afterwards they cost one join
    and one sort each. Both happen inside the migration's transaction: a crash or a rollback
    brings them back untouched. Meanwhile the tables are locked (ACCESS EXCLUSIVE).
    """
    constraints = [tuple(r) for r in await conn.fetch(SQL_SUSPENDED_CONSTRAINTS)]
    indexes = [tuple(r) for r in await conn.fetch(SQL_SUSPENDED_INDEXES)]
    for table, name, _ in constraints:
        await conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        await conn.execute(f"DROP INDEX {name}")
    return Suspended(constraints, indexes)


async def restore_constraints(conn: asyncpg.Connection, suspended: Suspended) -> None:
    await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for _, statement in suspended.indexes:
        await conn.execute(statement)
    for table, name, definition in sorted(suspended.constraints, key=lambda c: "FOREIGN KEY" in c[2]):
        await conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


SQL_COLUMN_DEFAULT = """
SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute AS a
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1::regclass AND a.attname = 'imported_at'
"""


async def default_imported_at(conn: asyncpg.Connection, tables, imported_at: datetime) -> dict[str, str | None]:
    """Make the run's time the imported_at DEFAULT of these tables for the load (caller's transaction).

    COPY then leaves the column out: encoding the same timestamptz in every row was ~40 % of the
    client's COPY encoding work. Returns the previous defaults for restore_defaults; a rollback or a
    crash restores them anyway. The verification compares every stored imported_at with the run's.
    """
    previous = {table: await conn.fetchval(SQL_COLUMN_DEFAULT, table) for table in tables}
    literal = imported_at.isoformat()
    if not all(c.isdigit() or c in "-:.+T" for c in literal):  # it goes into DDL text
        raise ValueError(f"unexpected timestamp text {literal!r}")
    for table in tables:
        await conn.execute(f"ALTER TABLE {table} ALTER COLUMN imported_at SET DEFAULT '{literal}'::timestamptz")
    return previous


async def restore_defaults(conn: asyncpg.Connection, previous: dict[str, str | None]) -> None:
    for table, expression in previous.items():
        if expression is None:
            await conn.execute(f"ALTER TABLE {table} ALTER COLUMN imported_at DROP DEFAULT")
        else:
            await conn.execute(f"ALTER TABLE {table} ALTER COLUMN imported_at SET DEFAULT {expression}")
