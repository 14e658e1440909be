"""migrate-from-sqlite as an operator runs it: exit codes, bad input, tampering, SIGKILL and rerun."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

TABLES = ("users", "user_records", "user_food_preferences", "migration_runs", "migration_quarantine")


def kbjuctl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbjuctl", "migrate-from-sqlite", *args], check=False,
                          capture_output=True,
                          text=True, timeout=timeout)


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def test_exit_3_with_report_then_verified_rerun(small, small_facts, database_url, tmp_path):
    report_path = tmp_path / "report.json"
    first = kbjuctl(str(small), "--database-url", database_url, "--report", str(report_path))
    assert first.returncode == 3, first.stderr
    report = json.loads(report_path.read_text())
    f = small_facts
    assert report["counts"]["user_records"] == {"source": f.user_records, "migrated": f.user_records - f.orphan_records,
                                                "quarantined": f.orphan_records}
    assert report["quarantine"][0]["reason_code"] == "orphan_record"
    assert report["unmapped"][0]["value"] == "4" and report["timings_s"]["total"] > 0
    again = kbjuctl(str(small), "--database-url", database_url)
    assert again.returncode == 3 and "Already migrated, verified" in again.stdout


def _not_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    path.write_text("hello, not a database\n" * 10)
    return path


def _other_schema(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (telegram_id INTEGER PRIMARY KEY, name TEXT)")
    return path


def _extra_column(small: Path) -> Path:
    with sqlite3.connect(small) as conn:
        conn.execute("ALTER TABLE user_records ADD COLUMN note TEXT")
    return small


def _no_users(small: Path) -> Path:
    with sqlite3.connect(small) as conn:
        conn.executescript("DELETE FROM users; DELETE FROM user_records; DELETE FROM user_food_preferences;")
    return small


def _no_primary_key(small: Path) -> Path:
    # Same column names and types, but users.telegram_id is no longer the primary key: a file
    # create_all() never wrote, whose ids may repeat (one does here).
    with sqlite3.connect(small) as conn:
        conn.executescript("""
        ALTER TABLE users RENAME TO old_users;
        CREATE TABLE users (telegram_id INTEGER, username VARCHAR, first_name VARCHAR, last_name VARCHAR,
                            sex VARCHAR, date_of_birth DATE, created_at DATETIME);
        INSERT INTO users SELECT * FROM old_users;
        INSERT INTO users SELECT * FROM old_users WHERE telegram_id = 4321;
        DROP TABLE old_users;
        """)
    return small


def _hot_journal(small: Path) -> Path:
    # The writer dies in the middle of a transaction (the DEV bot's process died): the file comes
    # with a hot journal that only a writer may roll back.
    subprocess.run([sys.executable, "-c", f"""if True:
        import os, sqlite3
        conn = sqlite3.connect({str(small)!r}, isolation_level=None)
        conn.execute("PRAGMA cache_size = 1")
        conn.execute("BEGIN")
        conn.execute("UPDATE user_records SET weight = weight + 1")
        os._exit(0)
        """], check=True)
    assert Path(f"{small}-journal").exists()
    return small


def _corrupt(small: Path) -> Path:
    data = bytearray(small.read_bytes())
    data[4096:4096 * 8] = b"\xff" * (4096 * 7)
    small.write_bytes(bytes(data))
    return small


@pytest.mark.parametrize("make, message", [
    (lambda tmp, small: tmp / "missing.db", "no such file"),
    (lambda tmp, small: _not_sqlite(tmp), "not a SQLite database"),
    (lambda tmp, small: _other_schema(tmp), "not a DEV KBJU bot database"),
    (lambda tmp, small: _extra_column(small), "differ from the DEV schema"),
    (lambda tmp, small: _no_users(small), "nothing to migrate"),
    (lambda tmp, small: _corrupt(small), "corrupt"),
    (lambda tmp, small: _no_primary_key(small), "differ from the DEV schema"),
    (lambda tmp, small: _hot_journal(small), "hot journal"),
])
def test_bad_source_exits_2_with_a_message(make, message, tmp_path, small, database_url):
    result = kbjuctl(str(make(tmp_path, small)), "--database-url", database_url)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not any(_counts(database_url).values())


def test_locked_source_exits_2(small, database_url):
    writer = sqlite3.connect(small, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        result = kbjuctl(str(small), "--database-url", database_url)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.returncode == 2 and "locked" in result.stderr and "Traceback" not in result.stderr


def test_bad_targets_exit_2(small, empty_database_url):
    unmigrated = kbjuctl(str(small), "--database-url", empty_database_url)
    assert unmigrated.returncode == 2 and "kbjuctl db upgrade" in unmigrated.stderr
    unreachable = kbjuctl(str(small), "--database-url", "postgresql://postgres@127.0.0.1:1/none")
    assert unreachable.returncode == 2 and "Cannot connect" in unreachable.stderr
    assert "Traceback" not in unmigrated.stderr + unreachable.stderr


def test_older_schema_exits_2(small, empty_database_url):
    from kbjuctl import migrations

    migrations.upgrade(empty_database_url)
    # Roll back the newest migrations until 0002 (the bookkeeping this command needs) is gone;
    # later migrations (0003, 0004, ...) come off first.
    while "0002.migration-bookkeeping" not in migrations.downgrade(empty_database_url, 1):
        pass
    result = kbjuctl(str(small), "--database-url", empty_database_url)
    assert result.returncode == 2 and "older schema" in result.stderr


def test_postgresql_refusing_a_row_is_named_in_the_message(small, database_url):
    # The first error, not "current transaction is aborted" from a statement sent after it.
    with psycopg.connect(database_url) as conn:
        conn.execute("ALTER TABLE users ADD CONSTRAINT not_4321 CHECK (telegram_id <> 4321)")
    result = kbjuctl(str(small), "--database-url", database_url)
    assert result.returncode == 1, result.stderr
    assert "not_4321" in result.stderr and "Traceback" not in result.stderr
    assert not any(_counts(database_url).values())


def test_a_value_altered_on_the_way_in_fails_verification_and_changes_nothing(small, database_url, tmp_path):
    import sqlite3

    with sqlite3.connect(small) as source:  # a record of a registered person, well inside the file
        (victim,) = source.execute("SELECT min(id) FROM user_records WHERE id >= 300 AND telegram_id IN "
                                   "(SELECT telegram_id FROM users)").fetchone()
    with psycopg.connect(database_url) as conn:
        conn.execute(f"""
            CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.legacy_source_id = {victim} THEN NEW.weight := NEW.weight + 0.000001; END IF;
            RETURN NEW; END $$;
            CREATE TRIGGER tamper BEFORE INSERT ON user_records FOR EACH ROW EXECUTE FUNCTION tamper();
        """)
    report_path = tmp_path / "r.json"
    result = kbjuctl(str(small), "--database-url", database_url, "--report", str(report_path))
    assert result.returncode == 1, result.stderr
    assert "Verification failed" in result.stderr and str(victim) in result.stderr
    mismatch = json.loads(report_path.read_text())["mismatches"][0]
    assert mismatch["source_id"] == victim and "weight" in mismatch["columns"]
    assert not any(_counts(database_url).values())


def test_sigkill_during_the_load_leaves_nothing_and_a_rerun_completes(medium, medium_facts, database_url):
    name = database_url.rsplit("/", 1)[1]
    proc = subprocess.Popen([sys.executable, "-m", "kbjuctl", "migrate-from-sqlite", str(medium),
                             "--database-url", database_url, "--batch-size", "50"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    with psycopg.connect(database_url, autocommit=True) as watch:
        while time.monotonic() < deadline:
            copying = watch.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
                                    "query LIKE 'COPY%%user_records%%' AND state = 'active'", (name,)).fetchone()[0]
            if copying:
                break
            time.sleep(0.005)
        else:
            pytest.fail("the load never started")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        while watch.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                            "pg_backend_pid()", (name,)).fetchone()[0]:
            time.sleep(0.05)
    assert not any(_counts(database_url).values())
    rerun = kbjuctl(str(medium), "--database-url", database_url)
    assert rerun.returncode == 3, rerun.stderr
    assert _counts(database_url)["user_records"] == medium_facts.user_records - medium_facts.bot_id_rows
