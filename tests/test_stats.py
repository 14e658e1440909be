"""The operators' statistics on a fixture with known answers, and the same SQL behind `kbjuctl stats`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo

import jsonschema
import psycopg

from kbjuctl import stats
from tests.helpers.bot_harness import ROOT, kbjuctl_env

MSK = ZoneInfo("Europe/Moscow")
AS_OF = datetime(2026, 11, 30, 12, 0, tzinfo=MSK)  # a Monday
SINCE = date(2026, 11, 1)

FIXTURE = """
INSERT INTO users (telegram_id, first_name, sex, created_at) VALUES
    (1, 'A', 'male', '2026-11-02 10:00+03'), (2, 'B', 'female', '2026-11-03 23:30+03'),
    (3, 'C', 'male', '2026-11-10 09:00+03'), (4, 'D', 'female', '2026-10-20 12:00+03');
INSERT INTO user_records (telegram_id, date, weight, waist, neck, height, goal, steps, sport_type, sport_freq)
SELECT id, day::date, 80, 90, 40, 180, 'healthy', '0-3000', 'none', '1-2'
FROM (VALUES (1, '2026-11-02'), (1, '2026-11-10'), (1, '2026-11-20'), (2, '2026-11-03'), (2, '2026-11-11'),
             (3, '2026-11-10'), (4, '2026-10-20')) AS r (id, day);
INSERT INTO conversations (chat_id, user_id, flow, step, updated_at, blocked_at) VALUES
    (1, 1, NULL, NULL, '2026-11-29 10:00+03', '2026-11-29 11:00+03'),
    (2, 2, NULL, NULL, '2026-11-20 10:00+03', NULL),
    (3, 3, NULL, NULL, '2026-10-25 10:00+03', NULL),
    (5, 5, 'survey', 'weight', '2026-11-30 11:00+03', NULL),
    (6, 6, 'survey', 'height', '2026-11-25 10:00+03', NULL);
INSERT INTO user_events (telegram_id, kind, detail, at) VALUES
    (1, 'survey_started', NULL, '2026-11-02 09:50+03'), (2, 'survey_started', NULL, '2026-11-03 23:00+03'),
    (2, 'survey_started', NULL, '2026-11-03 23:10+03'), (3, 'survey_started', NULL, '2026-11-10 08:50+03'),
    (5, 'survey_started', NULL, '2026-11-30 10:50+03'), (6, 'survey_started', NULL, '2026-11-24 10:00+03'),
    (7, 'survey_started', NULL, '2026-11-12 10:00+03'), (7, 'survey_abandoned', 'birth_date', '2026-11-12 10:01+03'),
    (8, 'survey_started', NULL, '2026-10-12 10:00+03'),
    (1, 'survey_completed', NULL, '2026-11-02 10:00+03'), (2, 'survey_completed', NULL, '2026-11-03 23:30+03'),
    (3, 'survey_completed', NULL, '2026-11-10 09:00+03'),
    (1, 'consult_opened', 'menu', '2026-11-05 10:00+03'), (3, 'consult_opened', 'data', '2026-11-11 10:00+03'),
    (2, 'consult_opened', 'menu', '2026-11-01 10:00+03');
INSERT INTO scheduled_jobs (kind, chat_id, run_at, status, done_at) VALUES
    ('funnel', 1, '2026-11-02 10:01+03', 'done', '2026-11-02 10:01+03'),
    ('funnel', 2, '2026-11-03 23:31+03', 'done', '2026-11-03 23:31+03'),
    ('funnel', 3, '2026-11-10 09:01+03', 'failed', NULL);
INSERT INTO reminders (telegram_id, chat_id, weekday, hour, timezone, enabled, slot_at, due_at) VALUES
    (1, 1, 0, 9, 'Europe/Moscow', true, '2026-11-30 09:00+03', '2026-11-30 09:10+03'),
    (2, 2, 2, 9, 'Europe/Moscow', false, '2026-12-02 09:00+03', '2026-12-02 09:10+03'),
    (3, 3, 1, 9, 'Europe/Moscow', true, '2026-12-01 09:00+03', '2026-12-01 09:10+03');
INSERT INTO reminder_sends (telegram_id, slot_at, outcome, at) VALUES
    (1, '2026-11-16 09:00+03', 'sent', '2026-11-16 09:10+03'),
    (1, '2026-11-23 09:00+03', 'sent', '2026-11-23 09:10+03'),
    (3, '2026-11-17 09:00+03', 'measured', '2026-11-17 09:10+03'),
    (2, '2026-11-18 09:00+03', 'blocked', '2026-11-18 09:10+03'),
    (1, '2026-10-19 09:00+03', 'sent', '2026-10-19 09:10+03');
"""


def _fixture(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(FIXTURE)


def test_every_figure_on_a_fixture_with_known_answers(database_url):
    _fixture(database_url)
    s = stats.collect(database_url, SINCE, "Europe/Moscow", weeks=2, as_of=AS_OF)
    assert s.people == {"registered": 4, "active_7d": 3, "active_30d": 4, "reminders_enabled": 2, "blocked": 1}
    assert s.registrations_daily == [{"day": date(2026, 11, 2), "registrations": 1},
                                     {"day": date(2026, 11, 3), "registrations": 1},
                                     {"day": date(2026, 11, 10), "registrations": 1}]
    assert s.registrations_weekly == [{"week": date(2026, 11, 2), "registrations": 2},
                                      {"week": date(2026, 11, 9), "registrations": 1}]
    # People 1, 2 (twice), 3, 5, 6, 7 started; 1-3 completed; 7 left at birth_date, 6 went silent at height;
    # 5 answered an hour ago.
    assert s.survey == {"started": 6, "completed": 3, "abandoned": 2, "in_progress": 1, "completion": 0.5}
    assert s.survey_abandoned == [{"step": "birth_date", "left_it": 1, "went_silent": 0},
                                  {"step": "height", "left_it": 0, "went_silent": 1}]
    # The funnel reached 1 and 2; 1 opened the consultation after it, 2 only before, 3 never had it.
    assert s.consultation == {"funnel_sent": 2, "consult_opened": 3, "opened_after_funnel": 1, "conversion": 0.5}
    # Sent to 1 on 16.11 (measured 20.11: within the week) and 23.11 (not measured since).
    assert s.reminders == {"registered": 4, "enabled": 2, "sent": 2, "measured_after": 1, "skipped_measured": 1,
                           "blocked": 1, "opt_in": 0.5, "measured_after_share": 0.5}
    assert [(r["cohort"], r["people"], r["week"], r["eligible"], r["retained"], r["share"]) for r in s.retention] == [
        (date(2026, 11, 2), 2, 1, 2, 2, 1.0), (date(2026, 11, 2), 2, 2, 2, 1, 0.5),
        (date(2026, 11, 9), 1, 1, 1, 0, 0.0), (date(2026, 11, 9), 1, 2, 1, 0, 0.0)]
    # A week that has not begun for anyone yet is not counted as lost.
    early = stats.collect(database_url, SINCE, "Europe/Moscow", weeks=2, as_of=datetime(2026, 11, 18, tzinfo=MSK))
    late_cohort = [r for r in early.retention if r["cohort"] == date(2026, 11, 9)]
    assert [(r["week"], r["eligible"], r["share"]) for r in late_cohort] == [(1, 1, 0.0), (2, 0, None)]


def test_the_command_prints_tables_and_json_that_matches_its_schema(database_url):
    _fixture(database_url)

    def kbjuctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kbjuctl", "stats", *args], cwd=ROOT, text=True,
                              env=kbjuctl_env(DATABASE_URL=database_url), capture_output=True, timeout=60, check=False)

    shown = kbjuctl("--since", "2026-11-01")
    assert shown.returncode == 0, shown.stderr
    for title in ("People", "Registrations since 2026-11-01", "Survey abandoned, by step", "Funnel → consultation",
                  "Reminders", "Retention"):
        assert title in shown.stdout, title
    data = json.loads(kbjuctl("--since", "2026-11-01", "--json").stdout)
    schema = json.loads((ROOT / "docs" / "schemas" / "stats.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(data)
    assert data["people"]["registered"] == 4 and data["registrations_weekly"][0] == {"week": "2026-11-02",
                                                                                       "registrations": 2}
    bad = kbjuctl("--since", "01.11.2026")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


def test_the_exporter_login_may_read_the_statistics_but_not_the_people(database_url):
    """The functions are SECURITY DEFINER for pg_monitor: the users dashboard needs no access to personal rows."""
    import secrets

    from kbjuctl import roles
    from tests.helpers.roles import as_role

    login, password = f"kbju_mon_t_{secrets.token_hex(3)}", secrets.token_urlsafe(24)
    roles.ensure_login(database_url, login, password, "pg_monitor")
    try:
        _fixture(database_url)
        with psycopg.connect(as_role(database_url, login, password)) as conn:
            assert conn.execute("SELECT registered FROM kbju_stats_people()").fetchone() == (4,)
            try:
                conn.execute("SELECT count(*) FROM users")
                raise AssertionError("the exporter's login read the users table")
            except psycopg.errors.InsufficientPrivilege:
                pass
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{login}"')
            conn.execute(f'DROP ROLE "{login}"')
