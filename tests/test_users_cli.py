"""`kbjuctl users export/erase` and the erasures that a restore re-applies, through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg

from bot.domain import export
from tests.helpers.bot_harness import ROOT, kbjuctl_env

ANNA, IVAN, OLGA = 8001, 8002, 8003


def kbjuctl(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbjuctl", *args], cwd=ROOT, env=kbjuctl_env(**env), text=True,
                          capture_output=True, timeout=180, check=False, stdin=subprocess.DEVNULL)


def _person(conn, telegram_id: int, name: str, days_ago: list[int]) -> None:
    """A person as the bot leaves them: user, records, food, a reminder, events, a conversation, a job."""
    conn.execute("INSERT INTO users (telegram_id, first_name, last_name, sex, date_of_birth, created_at) "
                 "VALUES (%s, %s, 'Тестова', 'female', '1990-05-01', now() - interval '40 days')", (telegram_id, name))
    for n, ago in enumerate(days_ago):
        conn.execute("INSERT INTO user_records (telegram_id, date, weight, waist, neck, hip, height, goal, steps, "
                     "sport_type, sport_freq, bodyfat) VALUES (%s, current_date - %s, %s, 70, 32, 96, 165, 'lean', "
                     "'5000-8000', 'yoga', '1-2', 25.5)", (telegram_id, ago, 61.5 - n * 0.4))
    conn.execute("INSERT INTO user_food_preferences (telegram_id, likes_raw, dislikes_raw) VALUES (%s, 'рыба', '')",
                 (telegram_id,))
    conn.execute("INSERT INTO reminders (telegram_id, chat_id, weekday, hour, timezone, slot_at, due_at) "
                 "VALUES (%s, %s, 0, 9, 'Europe/Moscow', now(), now())", (telegram_id, telegram_id))
    conn.execute("INSERT INTO user_events (telegram_id, kind, at) VALUES (%s, 'survey_completed', now())",
                 (telegram_id,))
    conn.execute("INSERT INTO conversations (chat_id, user_id) VALUES (%s, %s)", (telegram_id, telegram_id))
    conn.execute("INSERT INTO scheduled_jobs (kind, chat_id, run_at) VALUES ('funnel', %s, now())", (telegram_id,))


def _rows(url: str, telegram_id: int) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {name: n for name, n in conn.execute("SELECT * FROM kbju_person_rows(%s)", (telegram_id,))}


def test_export_writes_everything_stored_and_the_files_the_person_gets(database_url, tmp_path):
    with psycopg.connect(database_url) as conn:
        _person(conn, ANNA, "Анна", [30, 20, 10])
    out = tmp_path / "sar"
    done = kbjuctl("users", "export", str(ANNA), "--out", str(out), "--json", DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["tables"]["user_records"] == 3 and result["tables"]["reminders"] == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(result["files"])
    assert oct(out.stat().st_mode & 0o777) == "0o700"
    data = json.loads((out / "data.json").read_text(encoding="utf-8"))
    assert set(data) >= {"users", "user_records", "user_food_preferences", "reminders", "reminder_sends",
                         "user_events", "conversations", "scheduled_jobs", "migration_quarantine", "erasures"}
    assert data["user_food_preferences"][0]["likes_raw"] == "рыба"
    [csv_file] = out.glob("*.csv")
    rows = export.parse_csv(csv_file.read_bytes())
    assert [export.parse_number(r["Вес, кг"]) for r in rows] == [61.5, 61.1, 60.7]
    [pdf] = out.glob("*.pdf")
    assert pdf.read_bytes().startswith(b"%PDF-")
    # Never over existing files; nothing stored: exit 1 with a message.
    again = kbjuctl("users", "export", str(ANNA), "--out", str(out), DATABASE_URL=database_url)
    assert again.returncode == 2 and "not an empty folder" in again.stderr
    nobody = kbjuctl("users", "export", "999", "--out", str(tmp_path / "x"), DATABASE_URL=database_url)
    assert nobody.returncode == 1 and "Nothing is stored about Telegram ID 999" in nobody.stderr


def test_erase_shows_first_asks_and_removes_one_person_in_one_transaction(database_url, tmp_path):
    with psycopg.connect(database_url) as conn:
        _person(conn, ANNA, "Анна", [3])
        _person(conn, IVAN, "Иван", [5, 1])
    ivan_before = _rows(database_url, IVAN)
    planned = kbjuctl("users", "erase", str(ANNA), "--dry-run", "--json", DATABASE_URL=database_url,
                      BACKUP_DIR=str(tmp_path))
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["rows"]["user_records"] == 1 and _rows(database_url, ANNA)["users"] == 1
    refused = kbjuctl("users", "erase", str(ANNA), DATABASE_URL=database_url)
    assert refused.returncode == 2 and "--yes" in refused.stderr and _rows(database_url, ANNA)["users"] == 1
    done = kbjuctl("users", "erase", str(ANNA), "--yes", DATABASE_URL=database_url, BACKUP_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "Erased: Telegram ID 8001" in done.stdout and "erasures ledger" in done.stdout
    assert not any(_rows(database_url, ANNA).values())
    assert _rows(database_url, IVAN) == ivan_before
    ledger = [json.loads(line) for line in (tmp_path / "erasures.jsonl").read_text().splitlines()]
    assert [(e["telegram_id"], e["source"]) for e in ledger] == [(ANNA, "kbjuctl")]
    twice = kbjuctl("users", "erase", str(ANNA), "--yes", DATABASE_URL=database_url)
    assert twice.returncode == 1 and "nothing to erase" in twice.stderr


def test_a_restore_of_an_older_backup_erases_again_whoever_was_erased_after_it(database_url, tmp_path):
    backups = tmp_path / "backups"
    with psycopg.connect(database_url) as conn:
        for telegram_id, name in ((ANNA, "Анна"), (IVAN, "Иван"), (OLGA, "Ольга")):
            _person(conn, telegram_id, name, [2, 1])
    created = kbjuctl("backup", "create", "--json", DATABASE_URL=database_url, BACKUP_DIR=str(backups))
    assert created.returncode == 0, created.stderr
    backup = json.loads(created.stdout)["path"]
    olga_before = _rows(database_url, OLGA)
    # Anna erased by an operator (ledger in the database and beside the backups), Ivan by /delete_me
    # (the bot writes the database's ledger only).
    assert kbjuctl("users", "erase", str(ANNA), "--yes", DATABASE_URL=database_url,
                   BACKUP_DIR=str(backups)).returncode == 0
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT * FROM kbju_erase_person(%s, 'bot')", (IVAN,))
    restored = kbjuctl("backup", "restore", backup, "--force", "--yes", DATABASE_URL=database_url)
    assert restored.returncode == 0, restored.stderr
    assert "Erasures newer than the backup re-applied: 2 person(s) erased again." in restored.stdout
    assert not any(_rows(database_url, ANNA).values()) and not any(_rows(database_url, IVAN).values())
    assert _rows(database_url, OLGA) == olga_before
    with psycopg.connect(database_url) as conn:
        ledger = conn.execute("SELECT telegram_id, source FROM erasures ORDER BY erased_at").fetchall()
    assert ledger == [(ANNA, "kbjuctl"), (IVAN, "bot")]
    assert {json.loads(line)["telegram_id"] for line in (backups / "erasures.jsonl").read_text().splitlines()} == \
        {ANNA, IVAN}
    # The same again (the ledger is now in the database too): nothing left to erase, and a dry run says so.
    again = kbjuctl("backup", "restore", backup, "--force", "--yes", "--json", DATABASE_URL=database_url)
    assert again.returncode == 0 and json.loads(again.stdout)["reerased"] == 2  # the backup brought them back
    since = json.loads(created.stdout)["created_at"]
    planned = kbjuctl("backup", "reapply-erasures", "--since", since, "--dry-run", "--json",
                      DATABASE_URL=database_url, BACKUP_DIR=str(backups))
    assert planned.returncode == 0 and json.loads(planned.stdout)["reerased"] == 0, planned.stderr


def test_a_new_backup_copies_the_databases_erasures_beside_the_backups(database_url, tmp_path):
    with psycopg.connect(database_url) as conn:
        _person(conn, ANNA, "Анна", [1])
        conn.execute("SELECT * FROM kbju_erase_person(%s, 'bot')", (ANNA,))
    created = kbjuctl("backup", "create", "--json", DATABASE_URL=database_url, BACKUP_DIR=str(tmp_path))
    assert created.returncode == 0 and json.loads(created.stdout)["erasures_copied"] == 1, created.stderr
    assert Path(tmp_path / "erasures.jsonl").read_text().count("\n") == 1
