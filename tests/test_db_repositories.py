"""Every repository query against a real migrated database: values in, dataclasses out."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import asyncpg
import pytest

from bot.db import conversations, food, jobs, records, stats, updates, users
from bot.db.pool import create_pool, ping
from bot.db.records import Measurement

pytestmark = pytest.mark.both_pg_majors  # tests/conftest.py: PostgreSQL 15 and 16

MAN = Measurement(weight=85, waist=95, neck=42, hip=None, height=180, goal="healthy", steps="8000-10000",
                  sport_type="running", sport_freq="3-4", bodyfat=27.1)


def run(coro):
    return asyncio.run(coro)


async def in_rollback(url, fn):
    """fn(conn) inside a transaction that is rolled back: the shared database stays as migrated."""
    pool = await create_pool(url, min_size=1, max_size=1)  # the bot's own connection set-up (jsonb codecs)
    try:
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                return await fn(conn)
            finally:
                await transaction.rollback()
    finally:
        await pool.close()


async def _with_conn(url, fn):
    pool = await create_pool(url, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            return await fn(conn)
    finally:
        await pool.close()


def test_user_upsert_stores_both_names_and_reports_creation(rollback_database_url):
    async def body(conn):
        user, created = await users.upsert_user(conn, 1, "ivan", "Иванов", "Иван Петрович", "male", date(1990, 5, 1))
        assert created and user.last_name == "Иванов" and user.first_name == "Иван Петрович"
        assert user.full_name == "Иванов Иван Петрович"
        again, created = await users.upsert_user(conn, 1, None, "Петров", "Пётр", "male", date(1991, 1, 1))
        assert not created and again.last_name == "Петров" and again.username is None
        assert (await users.get_user(conn, 1)).date_of_birth == date(1991, 1, 1)
        assert await users.get_user(conn, 2) is None
    run(in_rollback(rollback_database_url, body))


def test_record_upsert_keeps_one_row_per_day(rollback_database_url):
    async def body(conn):
        await users.upsert_user(conn, 1, None, "Иванов", "Иван", "male", date(1990, 1, 1))
        first = await records.upsert_record(conn, 1, date(2024, 1, 1), MAN)
        again = await records.upsert_record(conn, 1, date(2024, 1, 1), Measurement(
            **{**_fields(MAN), "weight": 80.5}))
        assert again.id == first.id and again.weight == 80.5
        later = await records.upsert_record(conn, 1, date(2024, 2, 1), MAN)
        assert later.id != first.id
        assert [r.date for r in await records.list_records(conn, 1)] == [date(2024, 1, 1), date(2024, 2, 1)]
        assert (await records.latest_record(conn, 1)).id == later.id
        assert await records.latest_record(conn, 2) is None
        changed = await records.set_goal(conn, later.id, "lean")
        assert changed.goal == "lean"
    run(in_rollback(rollback_database_url, body))


def _fields(m: Measurement) -> dict:
    return {name: getattr(m, name) for name in m.__slots__}


CHECKS = [
    ("goal", "skinny"), ("steps", "10000-plus"), ("sport_type", "chess"), ("sport_freq", "1"),
    ("weight", 29.9), ("weight", 300.1), ("waist", 49), ("waist", 201), ("neck", 19), ("neck", 101),
    ("hip", 49), ("hip", 201), ("height", 99), ("height", 251), ("bodyfat", 100.1), ("bodyfat", -0.1),
]


@pytest.mark.parametrize(("column", "value"), CHECKS)
def test_check_constraints_reject_out_of_domain_values(rollback_database_url, column, value):
    async def body(conn):
        await users.upsert_user(conn, 1, None, "Иванов", "Иван", "male", date(1990, 1, 1))
        bad = Measurement(**{**_fields(MAN), column: value})
        with pytest.raises(asyncpg.CheckViolationError):
            await records.upsert_record(conn, 1, date(2024, 1, 1), bad)
    run(in_rollback(rollback_database_url, body))


def test_bodyfat_100_is_accepted_and_sex_is_checked(rollback_database_url):
    async def body(conn):
        await users.upsert_user(conn, 1, None, "Иванов", "Иван", "male", date(1990, 1, 1))
        saved = await records.upsert_record(conn, 1, date(2024, 1, 1),
                                            Measurement(**{**_fields(MAN), "bodyfat": 100.0}))
        assert saved.bodyfat == 100.0
        with pytest.raises(asyncpg.CheckViolationError):
            await users.upsert_user(conn, 2, None, "Иванов", "Иван", "other", date(1990, 1, 1))
    run(in_rollback(rollback_database_url, body))


def test_food_preferences_upsert(rollback_database_url):
    async def body(conn):
        await users.upsert_user(conn, 1, None, "Иванов", "Иван", "male", date(1990, 1, 1))
        assert await food.get_food(conn, 1) is None
        saved = await food.upsert_food(conn, 1, "курица, рис", "")
        assert saved.dislikes == ""
        updated = await food.upsert_food(conn, 1, "рыба и овощи", "лук")
        assert (await food.get_food(conn, 1)) == updated
        assert updated.likes == "рыба и овощи"
        assert await conn.fetchval("SELECT count(*) FROM user_food_preferences") == 1
    run(in_rollback(rollback_database_url, body))


def test_claim_and_lock_runs_an_update_once_and_versions_the_state(rollback_database_url):
    async def body(conn):
        async with conn.transaction():
            conv = await conversations.claim_and_lock(conn, 100, 7, 7)
            assert conv.idle and conv.answers == {} and conv.version == 0
            version = await conversations.save(conn, 7, "survey", "birth_date", {"full_name": "Иванов Иван"})
            assert version == 1
        async with conn.transaction():
            assert await conversations.claim_and_lock(conn, 100, 7, 7) is None  # same update again
        assert await updates.is_processed(conn, 100)
        async with conn.transaction():
            conv = await conversations.claim_and_lock(conn, 101, 7, 7)
            assert (conv.flow, conv.step, conv.answers) == ("survey", "birth_date", {"full_name": "Иванов Иван"})
            await conversations.reset(conn, 7)
        assert (await conversations.get(conn, 7)).idle
    run(in_rollback(rollback_database_url, body))


def test_a_rolled_back_update_is_not_marked_processed(rollback_database_url):
    async def body(conn):
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await conversations.claim_and_lock(conn, 5, 7, 7)
                raise RuntimeError("crash")
        assert not await updates.is_processed(conn, 5)
    run(in_rollback(rollback_database_url, body))


def test_a_second_transaction_waits_for_the_conversation_lock(database_url):
    async def body():
        pool = await create_pool(database_url, min_size=2, max_size=2)
        order = []
        try:
            async with pool.acquire() as a, pool.acquire() as b:
                tx = a.transaction()
                await tx.start()
                await conversations.claim_and_lock(a, 1, 7, 7)

                async def second():
                    async with b.transaction():
                        conv = await conversations.claim_and_lock(b, 2, 7, 7)
                        order.append(("b", conv.step))

                task = asyncio.create_task(second())
                await asyncio.sleep(0.2)
                assert not task.done()  # blocked on the row lock
                await conversations.save(a, 7, "survey", "sex", {})
                order.append(("a", "committed"))
                await tx.commit()
                await task
            assert order == [("a", "committed"), ("b", "sex")]  # b saw a's committed state
        finally:
            await pool.close()
    run(body())


def test_prune_forgets_only_old_update_ids(rollback_database_url):
    async def body(conn):
        await conn.execute("INSERT INTO processed_updates (update_id, processed_at) VALUES "
                           "(1, now() - interval '8 days'), (2, now())")
        assert await updates.prune(conn) == 1
        assert not await updates.is_processed(conn, 1) and await updates.is_processed(conn, 2)
    run(in_rollback(rollback_database_url, body))


def test_jobs_are_scheduled_once_per_dedupe_key_and_claimed_when_due(rollback_database_url):
    async def body(conn):
        job_id = await jobs.schedule(conn, "funnel", 7, 0, {"x": 1}, dedupe_key="funnel:7")
        assert job_id and await jobs.schedule(conn, "funnel", 7, 0, dedupe_key="funnel:7") is None
        await jobs.schedule(conn, "funnel", 8, 3600, dedupe_key="funnel:8")
        claimed = await jobs.claim_due(conn, 10, lease_seconds=60)
        assert [(j.id, j.chat_id, j.payload, j.attempts) for j in claimed] == [(job_id, 7, {"x": 1}, 1)]
        assert await jobs.claim_due(conn, 10) == []  # leased
        await jobs.mark_done(conn, job_id)
        assert await jobs.get_status(conn, job_id) == "done"
    run(in_rollback(rollback_database_url, body))


def test_an_expired_lease_or_a_failure_makes_a_job_claimable_again(rollback_database_url):
    async def body(conn):
        job_id = await jobs.schedule(conn, "funnel", 7, 0)
        await jobs.claim_due(conn, 10, lease_seconds=60)
        await conn.execute("UPDATE scheduled_jobs SET locked_until = now() - interval '1 second'")
        (again,) = await jobs.claim_due(conn, 10)
        assert again.id == job_id and again.attempts == 2
        await jobs.mark_failed(conn, job_id, "network down")
        assert await jobs.get_status(conn, job_id) == "pending"
        assert await jobs.claim_due(conn, 10) == []  # backed off
        await jobs.mark_failed(conn, job_id, "still down", max_attempts=2)
        assert await jobs.get_status(conn, job_id) == "failed"
    run(in_rollback(rollback_database_url, body))


def test_two_connections_claim_disjoint_jobs_with_skip_locked(database_url):
    async def body():
        pool = await create_pool(database_url, min_size=2, max_size=2)
        try:
            async with pool.acquire() as setup:
                for chat in range(10):
                    await jobs.schedule(setup, "funnel", chat, 0)
            async with pool.acquire() as a, pool.acquire() as b:
                tx = a.transaction()
                await tx.start()
                first = await jobs.claim_due(a, 4)  # rows stay locked until commit
                async with b.transaction():
                    second = await jobs.claim_due(b, 10)  # does not wait: skips the locked rows
                await tx.commit()
            assert len(first) == 4 and len(second) == 6
            assert not {j.id for j in first} & {j.id for j in second}
        finally:
            await pool.close()
    run(body())


def test_stats_count_active_chats_survey_steps_goals_and_jobs(rollback_database_url):
    async def body(conn):
        await users.upsert_user(conn, 1, None, "Иванов", "Иван", "male", date(1990, 1, 1))
        await records.upsert_record(conn, 1, date(2024, 1, 1), MAN)
        await records.upsert_record(conn, 1, date(2024, 2, 1), Measurement(**{**_fields(MAN), "goal": "lean"}))
        async with conn.transaction():
            await conversations.lock(conn, 1, 1)
            await conversations.lock(conn, 2, 2)
            await conversations.save(conn, 2, "survey", "height", {})
        await conn.execute("UPDATE conversations SET updated_at = now() - interval '2 days' WHERE chat_id = 1")
        await jobs.schedule(conn, "funnel", 1, 0)
        await conn.execute("UPDATE scheduled_jobs SET run_at = now() - interval '5 minutes'")
        s = await stats.collect(conn)
        assert (s.active_5m, s.active_24h, s.active_30d) == (1, 1, 2)
        assert s.survey_steps == {"height": 1} and s.goals == {"lean": 1}
        assert (s.jobs_pending, s.jobs_overdue) == (1, 1)
    run(in_rollback(rollback_database_url, body))


def test_ping_tells_a_live_database_from_a_dead_one(database_url):
    async def body():
        pool = await create_pool(database_url, min_size=1, max_size=1)
        try:
            assert await ping(pool)
        finally:
            await pool.close()
        dead = await create_pool("postgresql://nobody@127.0.0.1:1/none", min_size=0, max_size=1)
        try:
            assert not await ping(dead, timeout=1.0)
        finally:
            await dead.close()
    run(body())


def test_stats_report_the_newest_backup_of_each_kind_or_none(rollback_database_url):
    async def body(conn):
        assert (await stats.collect(conn)).last_backup == {}
        for day in (2, 1):  # what the previous release writes: no kind, so logical
            await conn.execute("INSERT INTO backup_runs (finished_at, path, size_bytes, total_rows, archive_sha256) "
                               "VALUES ($1, '/b', 0, 0, $2)", datetime(2024, 5, day, tzinfo=UTC), "a" * 64)
        await conn.execute("INSERT INTO backup_runs (finished_at, path, size_bytes, total_rows, kind) "
                           "VALUES ($1, '20240503-010000F', 5, 0, 'full')", datetime(2024, 5, 3, tzinfo=UTC))
        assert (await stats.collect(conn)).last_backup == {"logical": datetime(2024, 5, 2, tzinfo=UTC).timestamp(),
                                                           "full": datetime(2024, 5, 3, tzinfo=UTC).timestamp()}
    run(in_rollback(rollback_database_url, body))


def test_a_logical_backup_row_still_needs_its_checksum(rollback_database_url):
    async def body(conn):
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO backup_runs (finished_at, path, size_bytes, total_rows) "
                               "VALUES (now(), '/b', 0, 0)")
    run(in_rollback(rollback_database_url, body))


def test_read_then_commit_turn_runs_an_update_once_and_versions_the_state(rollback_database_url):
    async def body(conn):
        conv = await conversations.read(conn, 100, 7, 7)
        assert conv.idle and conv.answers == {} and conv.version == 0  # no row yet
        assert await conversations.commit_turn(conn, 100, conv, ("survey", "birth_date", {"full_name": "Иванов Иван"}))
        assert await conversations.read(conn, 100, 7, 7) is None  # the same update again: handled
        assert await updates.is_processed(conn, 100)
        conv = await conversations.read(conn, 101, 7, 7)
        assert (conv.flow, conv.step, conv.answers, conv.version) == (
            "survey", "birth_date", {"full_name": "Иванов Иван"}, 1)
        assert await conversations.commit_turn(conn, 101, conv, None)  # state kept, version still bumped
        kept = await conversations.read(conn, 102, 7, 7)
        assert (kept.step, kept.answers, kept.version) == ("birth_date", {"full_name": "Иванов Иван"}, 2)
    run(in_rollback(rollback_database_url, body))


def test_commit_turn_loses_to_a_turn_that_wrote_after_its_read_and_records_nothing(rollback_database_url):
    async def body(conn):
        for first in (True, False):  # a chat without a row yet, and one with a row
            chat = 7 if first else 8
            if not first:
                await conversations.commit_turn(conn, 10, await conversations.read(conn, 10, chat, chat),
                                                ("survey", "full_name", {}))
            mine = await conversations.read(conn, 1 + chat * 100, chat, chat)
            other = await conversations.read(conn, 2 + chat * 100, chat, chat)
            assert await conversations.commit_turn(conn, 2 + chat * 100, other, ("survey", "sex", {"a": 1}))
            assert not await conversations.commit_turn(conn, 1 + chat * 100, mine, ("survey", "height", {"b": 2}))
            assert not await updates.is_processed(conn, 1 + chat * 100)  # free to be run again
            again = await conversations.read(conn, 1 + chat * 100, chat, chat)
            assert (again.step, again.answers) == ("sex", {"a": 1})  # the winner's state, not mixed
    run(in_rollback(rollback_database_url, body))


def test_a_turn_connection_reads_without_a_transaction_and_opens_one_at_the_first_write(database_url):
    from bot.db.pool import TurnConnection

    async def body(conn):
        unit = TurnConnection(conn)
        assert await users.get_user(unit, 42) is None
        assert not unit.in_transaction and not conn.is_in_transaction()
        await users.upsert_user(unit, 42, "ivan", "Иванов", "Иван", "male", date(1990, 6, 15))
        assert unit.in_transaction and conn.is_in_transaction()
        await unit.rollback()  # a lost commit_turn: the turn's writes go with it
        assert not conn.is_in_transaction()
        assert await users.get_user(conn, 42) is None
        await users.upsert_user(unit, 42, "ivan", "Иванов", "Иван", "male", date(1990, 6, 15))
        await unit.commit()
        assert (await users.get_user(conn, 42)).first_name == "Иван"
    run(_with_conn(database_url, body))
