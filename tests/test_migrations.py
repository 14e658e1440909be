"""Schema migrations through kbjuctl: up, down, up again, status, idempotence, lock handling."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import psycopg
import pytest

from kbjuctl import migrations
from kbjuctl.errors import OperationFailed

pytestmark = pytest.mark.both_pg_majors  # tests/conftest.py: PostgreSQL 15 and 16

TABLES = {"users", "user_records", "user_food_preferences", "conversations", "processed_updates",
          "scheduled_jobs"}


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {r[0] for r in rows if not r[0].startswith("_yoyo") and r[0] != "yoyo_lock"}


def kbjuctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbjuctl", *args], check=False, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow  # starts kbjuctl or another program
def test_upgrade_downgrade_all_upgrade_through_the_cli(empty_database_url):
    url = empty_database_url
    first = kbjuctl("db", "upgrade", "--database-url", url)
    assert first.returncode == 0, first.stderr
    assert _tables(url) >= TABLES

    again = kbjuctl("db", "upgrade", "--database-url", url)
    assert again.returncode == 0 and "Already up to date" in again.stdout

    status = kbjuctl("db", "status", "--database-url", url)
    assert status.returncode == 0 and "applied" in status.stdout and "0 pending" in status.stdout

    down = kbjuctl("db", "downgrade", "--all", "--yes", "--database-url", url)
    assert down.returncode == 0, down.stderr
    assert not (TABLES & _tables(url))
    assert "pending" in kbjuctl("db", "status", "--database-url", url).stdout

    up = kbjuctl("db", "upgrade", "--database-url", url)
    assert up.returncode == 0 and _tables(url) >= TABLES


def test_downgrade_steps_rolls_back_only_the_newest(empty_database_url):
    migrations.upgrade(empty_database_url)
    states = migrations.status(empty_database_url)
    rolled = migrations.downgrade(empty_database_url, 1)
    assert rolled == [states[-1].id]
    after = migrations.status(empty_database_url)
    assert [s.applied for s in after] == [True] * (len(states) - 1) + [False]


def test_concurrent_upgrades_apply_each_migration_once(empty_database_url):
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrations.upgrade(empty_database_url)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(s.applied for s in migrations.status(empty_database_url))


@pytest.mark.slow  # starts kbjuctl or another program
def test_a_stale_lock_gives_a_clear_message_and_break_lock_clears_it(empty_database_url, monkeypatch):
    migrations.upgrade(empty_database_url)
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 999999)")
    monkeypatch.setattr(migrations, "LOCK_TIMEOUT_S", 1)
    with pytest.raises(OperationFailed, match="break-lock"):
        migrations.upgrade(empty_database_url)
    result = kbjuctl("db", "break-lock", "--database-url", empty_database_url)
    assert result.returncode == 0, result.stderr
    assert migrations.upgrade(empty_database_url) == []


@pytest.mark.slow  # starts kbjuctl or another program
@pytest.mark.parametrize(
    "args, message",
    [
        (["db", "upgrade", "--database-url", "mysql://x@y/z"], "postgresql://"),
        (["db", "upgrade", "--database-url", "postgresql://postgres@127.0.0.1:1/nowhere"], "Cannot connect"),
        (["db", "downgrade", "--all", "--steps", "2", "--database-url", "postgresql://a@b/c"], "not both"),
    ],
)
def test_bad_cli_input_exits_2_with_a_message(args, message, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = kbjuctl(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # starts kbjuctl or another program
def test_missing_database_url_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = subprocess.run([sys.executable, "-m", "kbjuctl", "db", "status"], check=False, capture_output=True,
                            text=True, timeout=60, env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
                            cwd="/")
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
