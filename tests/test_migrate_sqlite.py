"""migrate-from-sqlite through its service function: counts, edge cases, quarantine, reruns, conflicts.

The expected values here are computed independently from the source with plain sqlite3 and a
mapping written out again in the test, never with the command's own verifier.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from kbjuctl.errors import BadInput
from kbjuctl.sqlite_migration import MigrationOptions, migrate_from_sqlite

STEPS = {"0": "0-3000", "3000": "3000-5000", "5000": "5000-8000", "8000": "8000-10000", "10000": "10000+",
         "10000-plus": "10000+", "0-3000": "0-3000", "3000-5000": "3000-5000", "5000-8000": "5000-8000",
         "8000-10000": "8000-10000"}
FREQ = {"1": "1-2", "3": "3-4", "5": "5-6", "daily": "daily", "Ежедневно": "daily"}
GOAL = {"maintain": "healthy", "healthy": "healthy", "athletic": "athletic", "lean": "lean"}


def _src(path: Path, sql: str, *args):
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, args).fetchall()


def _pg(url: str, sql: str, *args):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def _ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def test_small_is_migrated_exactly_and_the_source_is_untouched(small, small_facts, database_url):
    before = (hashlib.sha256(small.read_bytes()).hexdigest(), small.stat().st_mtime_ns)
    report = migrate_from_sqlite(MigrationOptions(small, database_url))
    assert (hashlib.sha256(small.read_bytes()).hexdigest(), small.stat().st_mtime_ns) == before
    assert report.status == "migrated" and report.exit_code == 3 and report.mismatch_count == 0

    facts = small_facts
    orphans = _src(small, "SELECT count(*) FROM user_records WHERE telegram_id NOT IN (SELECT telegram_id FROM users)")
    assert orphans == [(facts.orphan_records,)] and facts.orphan_records == facts.bot_id_rows > 0
    for table in ("users", "user_records", "user_food_preferences"):
        assert report.counts[table].source == getattr(facts, table)
    kept = facts.user_records - facts.orphan_records
    assert report.counts["user_records"].quarantined == facts.orphan_records
    assert report.counts["user_records"].migrated == kept
    assert _pg(database_url, "SELECT count(*) FROM user_records") == [(kept,)]
    assert _pg(database_url, "SELECT reason_code, count(*) FROM migration_quarantine GROUP BY 1") == [
        ("orphan_record", facts.orphan_records)]
    # imported_at: the run's time in every row; the load's temporary column DEFAULT is gone again
    for table in ("users", "user_records", "user_food_preferences"):
        assert _pg(database_url, f"SELECT count(*) FROM {table} WHERE imported_at IS DISTINCT FROM "
                                 "(SELECT imported_at FROM migration_runs)") == [(0,)]
    assert _pg(database_url, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'imported_at' "
                             "AND column_default IS NOT NULL") == [(0,)]

    # Independent comparison, row by row, every column.
    users = {r[0]: r for r in _pg(database_url, "SELECT telegram_id, username, first_name, last_name, sex, "
                                                "date_of_birth, created_at FROM users")}
    for tid, username, first, last, sex, dob, created in _src(small, "SELECT * FROM users"):
        assert users[tid] == (tid, username, first, last, sex, dob and date.fromisoformat(dob), _ts(created))
    records = {r[0]: r[1:] for r in _pg(database_url, """
        SELECT legacy_source_id, telegram_id, date, weight, waist, neck, hip, height, goal, steps, sport_type,
               sport_freq, bodyfat, legacy_goal, legacy_steps, legacy_sport_type, legacy_sport_freq,
               legacy_step_multiplier FROM user_records""")}
    owners = {r[0] for r in _src(small, "SELECT telegram_id FROM users")}
    for (rid, tid, day, weight, waist, neck, hip, height, goal, steps, stype, freq, mult,
         bodyfat) in _src(small, "SELECT * FROM user_records"):
        if tid not in owners:
            assert rid not in records
            continue
        assert records[rid] == (tid, date.fromisoformat(day), weight, waist, neck, hip, height, GOAL[goal],
                                STEPS[steps], stype, FREQ.get(freq), bodyfat, goal, steps, stype, freq, mult)
    food = {r[0]: r[1:] for r in _pg(database_url, "SELECT legacy_source_id, telegram_id, likes_raw, "
                                                   "dislikes_raw, created_at FROM user_food_preferences")}
    for fid, tid, likes, dislikes, created in _src(small, "SELECT * FROM user_food_preferences"):
        assert food[fid] == (tid, likes, dislikes, _ts(created))


def test_small_edge_cases_survive(small, database_url):
    migrate_from_sqlite(MigrationOptions(small, database_url))
    ids = {r[0] for r in _pg(database_url, "SELECT telegram_id FROM users")}
    assert {4321, 2147483647, 2147483648, 9999999999, 285835433} <= ids
    names = {(r[0], r[1]) for r in _pg(database_url, "SELECT first_name, last_name FROM users")}
    assert ("Null", "Null") in names
    assert any("Drop" in f + ln and "Users" in f + ln for f, ln in names)
    assert max(len(f) + 1 + len(ln) for f, ln in names) == 50
    weights = {r[0] for r in _pg(database_url, "SELECT weight FROM user_records")}
    assert 72.123456789 in weights and 70.30000000000001 in weights
    # text as stored, byte for byte; '' stays '' (not NULL)
    src = dict(_src(small, "SELECT id, likes_raw || '|' || dislikes_raw FROM user_food_preferences"))
    dst = dict(_pg(database_url,
                   "SELECT legacy_source_id, likes_raw || '|' || dislikes_raw FROM user_food_preferences"))
    assert src == dst
    texts = "".join(src.values())
    for needle in ("\n\\.\n", "\n\\N\n", "C:\\Users", "\u200d"):
        assert needle in texts
    assert _pg(database_url, "SELECT count(*) FROM user_food_preferences WHERE dislikes_raw = ''") == [(1,)]
    assert _pg(database_url, "SELECT max(length(likes_raw)) FROM user_food_preferences") == [(4096,)]
    # sport_freq '4' (test script): row kept, canonical NULL, original beside it
    assert _pg(database_url, "SELECT count(*) FROM user_records WHERE sport_freq IS NULL AND "
                             "legacy_sport_freq = '4'") == [(2,)]
    # created_at 22:30 UTC stays 22:30 UTC whatever the server's zone; the row is dated the next day
    late = _pg(database_url, "SELECT u.created_at, min(r.date) FROM users u JOIN user_records r USING "
                             "(telegram_id) WHERE extract(hour FROM u.created_at AT TIME ZONE 'UTC') = 22 AND "
                             "extract(minute FROM u.created_at AT TIME ZONE 'UTC') = 30 GROUP BY 1")
    assert late
    assert any(day.toordinal() == created.astimezone(UTC).date().toordinal() + 1 for created, day in late)
    # a quarantined row keeps its REALs exactly, as JSON numbers
    row = _pg(database_url, "SELECT original_row FROM migration_quarantine LIMIT 1")[0][0]
    source = _src(small, "SELECT weight FROM user_records WHERE id = ?", row["id"])[0][0]
    assert row["weight"] == source and row["telegram_id"] not in ids


def _inject_bad_rows(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript("""
        INSERT INTO users VALUES (-1001234567890, NULL, 'Пользователь', 'Тестовый', 'male', NULL,
                                  '2024-01-01 10:00:00.000000');
        INSERT INTO users VALUES (777000111, 'odd', 'Odd', 'Sex', 'robot', NULL, '2024-01-01 10:00:00.000000');
        INSERT INTO user_records VALUES (10001, -1001234567890, '2024-01-02', 80.0, 90.0, 40.0, NULL, 170,
                                         'maintain', '5000', 'running', 'daily', 1.1, 20.0);
        INSERT INTO user_records VALUES (10002, -1001234567890, '2024-01-02', 81.0, 90.0, 40.0, NULL, 170,
                                         'maintain', '5000', 'running', 'daily', 1.1, 20.0);
        INSERT INTO user_records VALUES (10003, -1001234567890, '2024-02-30', 80.0, 90.0, 40.0, NULL, 170,
                                         'maintain', '5000', 'running', 'daily', 1.1, 20.0);
        INSERT INTO user_records VALUES (10004, -1001234567890, '2024-01-04', 500.0, 90.0, 40.0, NULL, 170,
                                         'maintain', '5000', 'running', 'daily', 1.1, 20.0);
        INSERT INTO user_records VALUES (10005, -1001234567890, '2024-01-05', NULL, 90.0, 40.0, NULL, 170,
                                         'maintain', '5000', 'running', 'daily', 1.1, 20.0);
        INSERT INTO user_records VALUES (10006, 777000111, '2024-01-05', 80.0, 90.0, 40.0, NULL, 170,
                                         'lean', '5000', 'running', 'daily', 1.1, 20.0);
        INSERT INTO user_food_preferences VALUES (1001, 4321, 'вторая строка', '', '2024-01-01 10:00:00.000000');
        INSERT INTO user_food_preferences VALUES (1002, 123, 'сирота еда', 'нет', '2024-01-01 10:00:00.000000');
        """)


def test_rows_postgresql_cannot_hold_are_quarantined_with_reasons(small, database_url):
    _inject_bad_rows(small)
    report = migrate_from_sqlite(MigrationOptions(small, database_url))
    assert report.status == "migrated" and report.exit_code == 3
    got = {(r[0], r[1]): r[2] for r in _pg(database_url, "SELECT source_table, source_id, reason_code "
                                                         "FROM migration_quarantine")}
    assert got[("users", 777000111)] == "invalid_value"
    assert got[("user_records", 10002)] == "duplicate_record_date"
    assert got[("user_records", 10003)] == "invalid_date"
    assert got[("user_records", 10004)] == "out_of_range"
    assert got[("user_records", 10005)] == "missing_value"
    assert got[("user_records", 10006)] == "owner_quarantined"
    assert got[("user_food_preferences", 1001)] == "duplicate_food"
    assert got[("user_food_preferences", 1002)] == "orphan_food"
    # the placeholder user (negative chat id) and its first row are migrated; maintain -> healthy
    assert _pg(database_url, "SELECT goal, legacy_goal, steps, sport_freq FROM user_records "
                             "WHERE legacy_source_id = 10001") == [("healthy", "maintain", "5000-8000", "daily")]
    for table in report.counts.values():
        assert table.source == table.migrated + table.quarantined


def test_rerun_of_the_same_file_is_a_verified_no_op(small, small_facts, database_url):
    first = migrate_from_sqlite(MigrationOptions(small, database_url))
    second = migrate_from_sqlite(MigrationOptions(small, database_url))
    assert second.status == "already_migrated" and second.mismatch_count == 0
    assert second.exit_code == first.exit_code == 3
    assert "Already migrated, verified" in second.message
    assert _pg(database_url, "SELECT count(*) FROM migration_runs") == [(1,)]
    kept = small_facts.user_records - small_facts.orphan_records
    assert _pg(database_url, "SELECT count(*) FROM user_records") == [(kept,)]


SQL_SCHEMA_OBJECTS = """
SELECT conrelid::regclass::text, conname, contype, convalidated, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid IN ('users'::regclass, 'user_records'::regclass, 'user_food_preferences'::regclass)
UNION ALL
SELECT indrelid::regclass::text, indexrelid::regclass::text, 'index', indisvalid, pg_get_indexdef(indexrelid)
FROM pg_index WHERE indrelid IN ('users'::regclass, 'user_records'::regclass, 'user_food_preferences'::regclass)
ORDER BY 1, 2, 3
"""


def test_the_constraints_and_indexes_the_load_suspends_come_back_as_declared(small, database_url):
    before = _pg(database_url, SQL_SCHEMA_OBJECTS)
    assert ("user_records", "user_records_pkey", "p", True, "PRIMARY KEY (id)") in before
    report = migrate_from_sqlite(MigrationOptions(small, database_url))
    assert report.status == "migrated"
    assert _pg(database_url, SQL_SCHEMA_OBJECTS) == before
    # ... and they hold: a second record of one user on one day, or an id twice, is refused.
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("INSERT INTO user_records (id, telegram_id, date, weight, waist, neck, height, goal, steps, "
                     "sport_type, sport_freq) SELECT id, telegram_id, date + 1000, weight, waist, neck, height, "
                     "'healthy', steps, sport_type, sport_freq FROM user_records WHERE steps IS NOT NULL LIMIT 1")


def test_dry_run_writes_nothing(small, small_facts, database_url):
    report = migrate_from_sqlite(MigrationOptions(small, database_url, dry_run=True))
    assert report.status == "dry_run"
    assert report.counts["user_records"].migrated == small_facts.user_records - small_facts.orphan_records
    assert report.counts["user_records"].quarantined == small_facts.orphan_records
    for table in ("users", "user_records", "user_food_preferences", "migration_runs", "migration_quarantine"):
        assert _pg(database_url, f"SELECT count(*) FROM {table}") == [(0,)]


def test_conflict_policy_fail_then_skip(small, database_url):
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO users (telegram_id, first_name) VALUES (4321, 'PROD'), (1, 'other')")
    with pytest.raises(BadInput, match="already holds data"):
        migrate_from_sqlite(MigrationOptions(small, database_url))
    assert _pg(database_url, "SELECT count(*) FROM users") == [(2,)]
    report = migrate_from_sqlite(MigrationOptions(small, database_url, on_conflict="skip"))
    assert report.status == "migrated"
    assert _pg(database_url, "SELECT first_name FROM users WHERE telegram_id = 4321") == [("PROD",)]
    reasons = dict(_pg(database_url, "SELECT reason_code, count(*) FROM migration_quarantine "
                                     "WHERE source_table <> 'user_records' OR reason_code <> 'orphan_record' "
                                     "GROUP BY 1"))
    assert reasons["exists_in_target"] == 1
    own_rows = _src(small, "SELECT count(*) FROM user_records WHERE telegram_id = 4321")[0][0]
    assert reasons.get("owner_skipped", 0) == own_rows + 1  # records + the food row of user 4321
    assert _pg(database_url, "SELECT count(*) FROM users") == [(61,)]


def test_medium_counts_and_the_bot_id_rows(medium, medium_facts, database_url):
    f = medium_facts
    report = migrate_from_sqlite(MigrationOptions(medium, database_url, batch_size=3000))
    assert report.mismatch_count == 0
    assert {t: (c.source, c.migrated, c.quarantined) for t, c in report.counts.items()} == {
        "users": (f.users, f.users, 0), "user_records": (f.user_records, f.user_records - f.bot_id_rows, f.bot_id_rows),
        "user_food_preferences": (f.user_food_preferences, f.user_food_preferences, 0)}
    bot = _pg(database_url, "SELECT DISTINCT original_row->>'telegram_id', reason_code FROM migration_quarantine")
    assert bot == [(str(f.bot_id), "orphan_record")]
    assert json.loads(json.dumps(report.to_json()))["exit_code"] == 3


def test_digest_encoding_is_postgresqls_record_send(database_url):
    """The load's row digests must be byte for byte what PostgreSQL computes from stored values,
    including NULLs, -0.0, infinity, '' and non-BMP text; checked here against record_send itself."""
    import asyncio

    import asyncpg

    from kbjuctl.sqlite_migration.digest import DIGEST_COLUMNS, RowEncoders
    from kbjuctl.sqlite_migration.mapping import TARGET_COLUMNS

    types = {20: "bigint", 23: "integer", 25: "text", 701: "float8", 1082: "date", 1184: "timestamptz"}
    run = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    rows = {
        "users": [(9999999999, None, "Ян", "Ли-😀\u200d", "female", date(2024, 2, 29),
                   datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
                  (-1001234567890, "x", "", None, None, None, datetime(2022, 2, 1, tzinfo=UTC))],
        "user_records": [(1, date(1999, 1, 1), 72.123456789, -0.0, 1e300, None, 250, "healthy", None, "yoga",
                          "daily", 100.0, 5, "maintain", "10000-plus", "yoga", "Ежедневно", float("inf")),
                         (2, date(2024, 2, 29), 70.30000000000001, 50.0, 20.0, 55.5, 100, None, "0-3000", None,
                          None, None, 6, "", "0", "x", "4", None)],
        "user_food_preferences": [(4321, "a\n\\.\n\\N\nC:\\Users\\ \U0001f468\u200d\U0001f469", "",
                                   datetime(2023, 8, 24, 9, 0, tzinfo=UTC), 7)],
    }

    async def check() -> None:
        conn = await asyncpg.connect(database_url, server_settings={"timezone": "Europe/Moscow"})
        try:
            encoders = RowEncoders(run)  # imported_at: not in the mapped rows, the run's time
            for table, table_rows in rows.items():
                casts = ", ".join(f"${n + 1}::{types[oid]}" for n, (_, oid) in enumerate(DIGEST_COLUMNS[table]))
                for row in table_rows:
                    values = dict(zip(TARGET_COLUMNS[table], row, strict=True), imported_at=run)
                    stored = await conn.fetchval(f"SELECT record_send(ROW({casts}))",
                                                 *(values[c] for c, _ in DIGEST_COLUMNS[table]))
                    assert encoders.encoder(table)(row) == stored, (table, row)
        finally:
            await conn.close()

    asyncio.run(check())


def test_a_text_altered_on_the_way_in_fails_verification(small, database_url):
    """'' stored as ' ' in one food row: its chunk's digest differs, the row comparison names it."""
    with psycopg.connect(database_url) as conn:
        conn.execute("""
            CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.dislikes_raw = '' THEN NEW.dislikes_raw := ' '; END IF; RETURN NEW; END $$;
            CREATE TRIGGER tamper BEFORE INSERT ON user_food_preferences FOR EACH ROW EXECUTE FUNCTION tamper();
        """)
    report = migrate_from_sqlite(MigrationOptions(small, database_url))
    assert report.status == "verification_failed" and report.exit_code == 1
    empty = _src(small, "SELECT id FROM user_food_preferences WHERE dislikes_raw = ''")
    assert [(m["source_id"], list(m["columns"])) for m in report.mismatches] == [(empty[0][0], ["dislikes_raw"])]
    for table in ("users", "user_records", "user_food_preferences", "migration_runs", "migration_quarantine"):
        assert _pg(database_url, f"SELECT count(*) FROM {table}") == [(0,)]


def test_a_double_equal_in_python_but_not_in_bits_fails_verification(small, database_url):
    """bodyfat 0.0 stored as -0.0: equal once decoded (-0.0 == 0.0), different bytes: still a failure."""
    assert _src(small, "SELECT count(*) FROM user_records WHERE bodyfat = 0.0")[0][0] > 0
    with psycopg.connect(database_url) as conn:
        conn.execute("""
            CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.bodyfat = 0 THEN NEW.bodyfat := '-0'::float8; END IF; RETURN NEW; END $$;
            CREATE TRIGGER tamper BEFORE INSERT ON user_records FOR EACH ROW EXECUTE FUNCTION tamper();
        """)
    report = migrate_from_sqlite(MigrationOptions(small, database_url))
    assert report.status == "verification_failed" and report.exit_code == 1
    assert "binary form" in report.mismatches[0]["kind"]
    assert _pg(database_url, "SELECT count(*) FROM user_records") == [(0,)]


def _target_rows(url: str) -> dict[str, list]:
    return {
        "users": _pg(url, "SELECT telegram_id, username, first_name, last_name, sex, date_of_birth, created_at "
                          "FROM users ORDER BY 1"),
        "user_records": _pg(url, "SELECT legacy_source_id, telegram_id, date, weight, waist, neck, hip, height, goal, "
                                 "steps, sport_type, sport_freq, bodyfat, legacy_goal, legacy_steps, "
                                 "legacy_sport_type, legacy_sport_freq, legacy_step_multiplier "
                                 "FROM user_records ORDER BY 1"),
        "user_food_preferences": _pg(url, "SELECT legacy_source_id, telegram_id, likes_raw, dislikes_raw, created_at "
                                          "FROM user_food_preferences ORDER BY 1"),
        "migration_quarantine": _pg(url, "SELECT source_table, source_id, reason_code, reason, original_row::text "
                                         "FROM migration_quarantine ORDER BY 1, 2"),
    }


def test_many_small_ranges_and_a_wal_source_load_the_same_rows(small, small_facts, tmp_path, database_url,
                                                                pg_admin_url):
    """The load's unit of work (a key range mapped by a worker process) must not change the result:
    ranges of 37 rows in batches of 5 (chunks and ranges cut everywhere) against the defaults, and a
    WAL-mode copy of the file (mapped in the main process) against both."""
    from kbjuctl import localpg, migrations

    wal = tmp_path / "wal.db"
    shutil.copy(small, wal)
    with sqlite3.connect(wal) as conn:
        assert conn.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    results = []
    for path, options in ((small, {}), (small, {"range_rows": 37, "batch_size": 5}), (wal, {"range_rows": 37})):
        name = localpg.unique_name("kbju_ranges")
        url = localpg.create_database(pg_admin_url, name)
        try:
            migrations.upgrade(url)
            report = migrate_from_sqlite(MigrationOptions(path, url, **options))
            assert report.status == "migrated" and report.mismatch_count == 0, report.mismatches
            results.append((_target_rows(url), {t: vars(c) for t, c in report.counts.items()},
                            report.quarantine, report.unmapped))
        finally:
            localpg.drop_database(pg_admin_url, name)
    assert results[1] == results[0]
    assert results[2] == results[0]
    assert len(results[0][0]["user_records"]) == small_facts.user_records - small_facts.orphan_records
