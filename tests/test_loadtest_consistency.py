"""The consistency checker finds what a load run got wrong in PostgreSQL, on a real database."""

from __future__ import annotations

import random
from pathlib import Path

import psycopg
import pytest

from loadtests import consistency, seed
from loadtests.journal import Journal
from loadtests.people import make_person

BASE = 4_000_000_000_000


@pytest.fixture
def seeded(database_url: str, tmp_path: Path) -> tuple[str, Path]:
    assert seed.seed_to_folder(database_url, range(BASE, BASE + 6), 7, tmp_path) == 6
    return database_url, tmp_path


def _journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal-test-1.jsonl")


def test_untouched_seed_is_consistent(seeded):
    url, folder = seeded
    report = consistency.check(url, folder.glob("journal-*.jsonl"))
    assert report.ok, report.as_dict()
    assert report.people == 6 and report.facts == 6


def test_a_corrupted_row_is_found(seeded):
    url, folder = seeded
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE user_records SET weight = weight + 0.5 WHERE id = (SELECT min(id) FROM user_records)")
    report = consistency.check(url, folder.glob("journal-*.jsonl"))
    assert not report.ok
    assert len(report.mismatches) == 1 and "weight" in report.mismatches[0].what


def _register(url: str, person, record_date: str = "2030-01-01") -> None:
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO users (telegram_id, first_name, last_name, sex, date_of_birth) "
                      "VALUES (%s, %s, %s, %s, %s)",
                      (person.telegram_id, person.first_name, person.last_name, person.sex, person.birth_date))
        r = person.record_fact()
        conn.execute("INSERT INTO user_records (telegram_id, date, weight, waist, neck, hip, height, goal, steps, "
                     "sport_type, sport_freq) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                     (person.telegram_id, record_date, r["weight"], r["waist"], r["neck"], r["hip"], r["height"],
                      r["goal"], r["steps"], r["sport_type"], r["sport_freq"]))


def test_a_registration_a_doubled_record_and_a_stuck_conversation(database_url, tmp_path):
    person = make_person(BASE + 100, random.Random(1))
    _register(database_url, person)
    journal = _journal(tmp_path)
    journal.write(person.telegram_id, "registered", user=person.user_fact(), record=person.record_fact())
    journal.close()
    assert consistency.check(database_url, [journal.path]).ok

    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO conversations (chat_id, user_id, flow, step) VALUES (%s, %s, 'measure', 'neck')",
                     (person.telegram_id, person.telegram_id))
    report = consistency.check(database_url, [journal.path])
    assert [m.what for m in report.mismatches] == ["conversation (stuck?)"]

    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM conversations")
        conn.execute("INSERT INTO user_records (telegram_id, date, weight, waist, neck, height, goal, steps, "
                     "sport_type, sport_freq) SELECT telegram_id, date + 1, weight, waist, neck, height, goal, steps, "
                     "sport_type, sport_freq FROM user_records WHERE telegram_id = %s", (person.telegram_id,))
    report = consistency.check(database_url, [journal.path])
    assert any("doubled" in m.what for m in report.mismatches), report.as_dict()


def test_an_unanswered_update_is_lost_unless_processed(database_url, tmp_path):
    person = make_person(BASE + 200, random.Random(2))
    journal = _journal(tmp_path)
    then = {"kind": "registered", "user": person.user_fact(), "record": person.record_fact()}
    journal.write(person.telegram_id, "unanswered", update_id=555, flow="survey", step="goal", then=then)
    journal.close()
    report = consistency.check(database_url, [journal.path])
    assert report.lost_updates == [555] and not report.ok

    # Processed (its reply died with the replica): then its effects must be there.
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO processed_updates (update_id) VALUES (555)")
    report = consistency.check(database_url, [journal.path])
    assert not report.lost_updates and report.replies_lost == 1
    assert {m.what for m in report.mismatches} == {"users row", "new record"}
    _register(database_url, person)
    assert consistency.check(database_url, [journal.path]).ok


def test_a_step_still_awaited_when_the_run_ended_is_not_a_lost_reply(database_url, tmp_path):
    person = make_person(BASE + 201, random.Random(3))
    journal = _journal(tmp_path)
    journal.write(person.telegram_id, "unanswered", update_id=556, flow="menu", step="menu:data", then=None,
                  error=consistency.RUN_ENDED)
    journal.close()
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO processed_updates (update_id) VALUES (556)")
    report = consistency.check(database_url, [journal.path])
    assert report.ok and report.replies_lost == 0 and report.in_flight_at_end == 1


def test_food_preferences_must_match_the_last_entry(seeded):
    url, folder = seeded
    journal = _journal(folder)
    journal.write(BASE + 1, "food", food={"likes": "рыба и рис", "dislikes": ""})
    journal.close()
    report = consistency.check(url, folder.glob("journal-*.jsonl"))
    assert [m.what for m in report.mismatches] == ["food preferences"]
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO user_food_preferences (telegram_id, likes_raw, dislikes_raw) VALUES (%s, %s, '') "
                     "ON CONFLICT (telegram_id) DO UPDATE SET likes_raw = excluded.likes_raw, "
                     "dislikes_raw = excluded.dislikes_raw", (BASE + 1, "рыба и рис"))
    assert consistency.check(url, folder.glob("journal-*.jsonl")).ok


def test_a_goal_change_applies_to_the_newest_seeded_record(seeded):
    url, folder = seeded
    person = BASE + 2
    with psycopg.connect(url) as conn:
        old = conn.execute("SELECT goal FROM user_records WHERE telegram_id = %s ORDER BY date DESC LIMIT 1",
                           (person,)).fetchone()[0]
    new = "athletic" if old != "athletic" else "lean"
    journal = _journal(folder)
    journal.write(person, "goal", goal=new)
    journal.close()
    assert [m.what.split()[-1] for m in consistency.check(url, folder.glob("journal-*.jsonl")).mismatches] == ["goal"]
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE user_records SET goal = %s WHERE id = (SELECT id FROM user_records WHERE telegram_id = %s "
                     "ORDER BY date DESC LIMIT 1)", (new, person))
    assert consistency.check(url, folder.glob("journal-*.jsonl")).ok


def test_a_reminder_set_must_be_on_with_its_day_and_hour_and_none_for_the_others(seeded):
    url, folder = seeded
    journal = _journal(folder)
    journal.write(BASE + 3, "reminder", reminder={"weekday": 2, "hour": 19})
    journal.close()
    assert [m.what for m in consistency.check(url, folder.glob("journal-*.jsonl")).mismatches] == ["weekly reminder"]
    with psycopg.connect(url) as conn:
        for person, enabled in ((BASE + 3, True), (BASE + 4, True)):  # BASE + 4 never set one
            conn.execute("INSERT INTO reminders (telegram_id, chat_id, weekday, hour, timezone, enabled, slot_at, "
                         "due_at) VALUES (%s, %s, 2, 19, 'Europe/Moscow', %s, now(), now())", (person, person, enabled))
    report = consistency.check(url, folder.glob("journal-*.jsonl"))
    assert [(m.person, m.what) for m in report.mismatches] == [(BASE + 4, "weekly reminder")]
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE reminders SET enabled = false WHERE telegram_id = %s", (BASE + 4,))
    assert consistency.check(url, folder.glob("journal-*.jsonl")).ok


def test_a_refused_answer_is_complete_with_the_question_again_in_either_releases_shape():
    """0.1.0 refused a text in two messages (why, then the question); later releases in one. A person
    waiting for only the first message left the question to arrive as a 'stray' answer in the
    upgrade drill from 0.1.0."""
    from loadtests.chat import Answer
    from loadtests.journeys import asked_again

    def answer(*texts: str) -> Answer:
        return Answer(1, [{"kind": "message", "message": {"text": text}} for text in texts])

    question = answer("📏 Ваш рост в сантиметрах, целым числом.\nНапример: 172")
    expect = asked_again(question)
    assert expect(answer("Укажите рост в сантиметрах целым числом. Например: 172",
                         "📏 Ваш рост в сантиметрах, целым числом.\nНапример: 172"))
    assert not expect(answer("Укажите рост в сантиметрах целым числом. Например: 172"))  # the question is to come
    assert expect(answer("Укажите рост целым числом.\n\n📏 Ваш рост в сантиметрах, целым числом.\nНапример: 172"))
    assert asked_again(None)(answer("anything"))  # no question known: the first message, as before
