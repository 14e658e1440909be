"""The old-bot database generator (kbjuctl.devdata): the exact DEV schema, every quirk the DEV code
wrote, the same bytes for the same arguments, and `kbjuctl dev make-sqlite` around it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from kbjuctl.devdata import Window, make_sqlite, schema
from kbjuctl.devdata.edge import PACK_SIZE, TEST_USER
from tests.helpers.bot_harness import kbjuctl_env

ROOT = Path(__file__).resolve().parents[1]


def rows(path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute(sql, args).fetchall()


def one(path, sql: str, *args):
    return rows(path, sql, *args)[0][0]


def test_the_schema_is_the_dev_bots_text_byte_for_byte(small_facts):
    stored = [r[0] for r in rows(small_facts.path, "SELECT sql FROM sqlite_master ORDER BY rowid")]
    assert stored == list(schema.DDL)
    assert stored[0].startswith("CREATE TABLE users (\n\ttelegram_id INTEGER NOT NULL, \n")
    assert one(small_facts.path, "PRAGMA journal_mode") == "delete"
    assert one(small_facts.path, "PRAGMA page_size") == 4096 and one(small_facts.path, "PRAGMA user_version") == 0
    assert one(small_facts.path, "PRAGMA integrity_check") == "ok"


def test_the_same_arguments_give_the_same_bytes_and_another_seed_other_people(tmp_path):
    a, b, c = (make_sqlite(tmp_path / name, 80, seed) for name, seed in (("a.db", 5), ("b.db", 5), ("c.db", 6)))
    digest = {f.path: hashlib.sha256(Path(f.path).read_bytes()).hexdigest() for f in (a, b, c)}
    assert digest[a.path] == digest[b.path] != digest[c.path]


def test_the_small_databases_facts_for_its_fixed_seed(small_facts):
    """Pinned: a change of the generator that drops or adds rows of a kind shows here."""
    got = {k: v for k, v in small_facts.to_json().items() if k != "path"}
    assert got == {"users": 60, "user_records": 776, "user_food_preferences": 17, "bot_id": 6942955373,
                   "bot_id_rows": 14, "orphan_records": 14, "placeholder_users": 0, "users_without_records": 2,
                   "users_without_sex": 1, "negative_ids": 0, "empty_dislikes": 1, "edge_cases": True, "seed": 11}


def test_the_medium_database_is_a_realistic_crowd(medium_facts):
    f = medium_facts
    assert f.users == 5000 and 8 <= f.user_records / f.users <= 13
    assert f.placeholder_users >= 5 and f.negative_ids >= 1 and f.bot_id_rows >= 100
    per_person = "SELECT count(*) FROM (SELECT telegram_id FROM user_records GROUP BY 1 HAVING count(*) {})"
    with_many, only_survey = one(f.path, per_person.format("> 100")), one(f.path, per_person.format("= 1"))
    assert with_many >= 20 and 0.3 <= only_survey / f.users <= 0.6


# Each quirk the old code wrote, as a query that counts its rows in the small database.
QUIRKS = {
    "orphan rows under the bot's id, height 170, goal maintain, no body fat":
        "SELECT count(*) FROM user_records WHERE telegram_id NOT IN (SELECT telegram_id FROM users) "
        "AND height = 170 AND goal = 'maintain' AND bodyfat IS NULL",
    "a bot-id row with a woman's hip under a man's numbers (the last entry of the day)":
        "SELECT count(*) FROM user_records WHERE telegram_id NOT IN (SELECT telegram_id FROM users) "
        "AND hip IS NOT NULL AND weight = 87.0",
    "survey spellings 10000-plus and Ежедневно": "SELECT count(*) FROM user_records WHERE steps = '10000-plus' "
                                                 "OR sport_freq = 'Ежедневно'",
    "measurement spellings": "SELECT count(*) FROM user_records WHERE steps IN ('0', '3000', '5000', '8000', '10000')"
                             " AND sport_freq IN ('1', '3', '5', 'daily')",
    "multiplier 1.1 for 10000-plus": "SELECT count(*) FROM user_records WHERE steps = '10000-plus' "
                                     "AND step_multiplier = 1.1",
    "a survey row overwritten the same day (survey goal, measurement spellings, 1.1)":
        "SELECT count(*) FROM user_records r JOIN users u USING (telegram_id) WHERE u.telegram_id = 1000024 "
        "AND r.steps NOT LIKE '%-%' AND r.goal IN ('healthy', 'athletic', 'lean')",
    "the test script's sport_freq 4 and multiplier 1.2": "SELECT count(*) FROM user_records WHERE sport_freq = '4' "
                                                         "AND step_multiplier = 1.2 AND steps = '8000-10000'",
    "a row dated the day after its user's created_at (22:30 UTC)":
        "SELECT count(*) FROM users u JOIN user_records r USING (telegram_id) WHERE u.created_at LIKE '% 22:30:%' "
        "AND r.date = date(u.created_at, '+1 day')",
    "a created_at with .000000": "SELECT count(*) FROM users WHERE created_at LIKE '%.000000'",
    "six fraction digits everywhere": "SELECT count(*) = (SELECT count(*) FROM users) FROM users "
                                      "WHERE length(created_at) = 26",
    "a user with neither sex nor birth date": "SELECT count(*) FROM users WHERE sex IS NULL AND date_of_birth IS NULL",
    "a registered user without rows": "SELECT count(*) FROM users WHERE sex IS NOT NULL AND telegram_id NOT IN "
                                      "(SELECT telegram_id FROM user_records)",
    "ids beyond 32 bits": "SELECT count(*) FROM users WHERE telegram_id IN (2147483648, 9999999999)",
    "a row on 29 February 2024": "SELECT count(*) FROM user_records WHERE date = '2024-02-29'",
    "born on 29 February": "SELECT count(*) FROM users WHERE date_of_birth LIKE '%-02-29'",
    "body fat clamped to 0.0 and 100.0": "SELECT count(DISTINCT bodyfat) FROM user_records WHERE bodyfat IN (0, 100)",
    "weights with many decimals": "SELECT count(*) FROM user_records WHERE weight IN (72.123456789, 70.30000000000001)",
    "'' and NULL kept apart: an empty dislike": "SELECT count(*) FROM user_food_preferences WHERE dislikes_raw = ''",
    "COPY's \\. and \\N lines": "SELECT count(*) FROM user_food_preferences WHERE likes_raw LIKE '%' || char(10) || "
                                "'\\.' || char(10) || '%' OR dislikes_raw LIKE '%' || char(10) || '\\N' || "
                                "char(10) || '%'",
    "a 4096-character text": "SELECT count(*) FROM user_food_preferences WHERE length(likes_raw) = 4096",
    "names: 'Null Null', 'Drop Table Users', a word of hyphens, ё": "SELECT count(*) FROM users WHERE "
        "(first_name, last_name) IN (('Null', 'Null'), ('Table Users', 'Drop'), ('--', 'Ким'), ('Алёна', 'Ёлкина'))",
    "a whole name of exactly 50 characters": "SELECT count(*) FROM users WHERE length(first_name) + 1 "
                                             "+ length(last_name) = 50",
    "usernames of 5 and 32 characters": "SELECT count(*) FROM users WHERE length(username) IN (5, 32)",
}


@pytest.mark.parametrize("quirk", list(QUIRKS))
def test_every_quirk_of_the_old_code_is_in_the_small_database(small_facts, quirk):
    assert one(small_facts.path, QUIRKS[quirk]) >= 1, quirk


def test_ids_have_gaps_and_say_nothing_about_dates(small_facts):
    ids = [r[0] for r in rows(small_facts.path, "SELECT id FROM user_records ORDER BY id")]
    assert ids[-1] - ids[0] + 1 > len(ids)  # gaps
    dates = [r[0] for r in rows(small_facts.path, "SELECT date FROM user_records WHERE telegram_id = ? ORDER BY id",
                               TEST_USER)]
    assert len(dates) == 8 and dates != sorted(dates)  # two script runs interleave


def test_body_fat_recomputes_exactly_for_survey_and_dev_tip_rows(medium_facts):
    checked = 0
    for sex, height, waist, neck, hip, bodyfat in rows(medium_facts.path, """
            SELECT u.sex, r.height, r.waist, r.neck, r.hip, r.bodyfat
            FROM user_records r JOIN users u USING (telegram_id)
            WHERE r.bodyfat IS NOT NULL AND u.telegram_id <> ?""", TEST_USER):
        assert schema.dev_body_fat(sex, height, waist, neck, hip) == bodyfat
        checked += 1
    assert checked > 10_000


def test_every_name_passes_the_old_validator(medium_facts):
    import re

    word = re.compile(r"[а-яА-ЯёЁa-zA-Z-]{2,}")
    for first, last in rows(medium_facts.path, "SELECT first_name, last_name FROM users WHERE sex IS NOT NULL"):
        words = [last, *first.split()]
        assert all(word.fullmatch(w) for w in words) and 3 <= len(" ".join(words)) <= 50, (first, last)


def test_no_edge_cases_and_a_window_of_ones_own(tmp_path):
    f = make_sqlite(tmp_path / "w.db", 300, 1, edge_cases=False,
                    window=Window(start=Window().start.replace(year=2025), fix=Window().fix.replace(year=2025),
                                  end=Window().end))
    assert f.users == 300 and not f.edge_cases
    assert one(f.path, "SELECT count(*) FROM users WHERE telegram_id = ?", TEST_USER) == 0
    assert one(f.path, "SELECT min(created_at) FROM users") >= "2025-01-31"
    with pytest.raises(ValueError, match="at least"):
        make_sqlite(tmp_path / "tiny.db", PACK_SIZE - 1, 1)


def kbjuctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbjuctl", "dev", "make-sqlite", *args], capture_output=True,
                          text=True, timeout=120, env=kbjuctl_env(), cwd=ROOT, check=False)


@pytest.mark.slow  # starts kbjuctl or another program
def test_the_command_writes_reports_refuses_to_overwrite_and_checks_its_input(tmp_path):
    out = tmp_path / "kbju_bot.db"
    made = kbjuctl(str(out), "--users", "50", "--seed", "3", "--json")
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    jsonschema.validate(report, json.loads((ROOT / "docs/schemas/dev-make-sqlite.schema.json").read_text()))
    assert report["users"] == 50 and report["path"] == str(out) and out.is_file()
    assert not list(tmp_path.glob(".*partial"))
    before = out.read_bytes()
    again = kbjuctl(str(out), "--users", "50")
    assert again.returncode == 2 and "--force" in again.stderr and out.read_bytes() == before
    dry = kbjuctl(str(tmp_path / "other.db"), "--dry-run")
    assert dry.returncode == 0 and not (tmp_path / "other.db").exists()
    for bad in (["--start", "2022-13-01"], ["--start", "2026-01-01", "--fix", "2025-01-01"], ["--users", "0"],
                ["--users", "10"]):
        refused = kbjuctl(str(tmp_path / "bad.db"), *bad)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, (bad, refused.stderr)
        assert not (tmp_path / "bad.db").exists()
    forced = kbjuctl(str(out), "--users", "50", "--seed", "3", "--force")
    assert forced.returncode == 0 and out.read_bytes() == before  # same arguments, same bytes
