"""Small, direct checks of fixes found by the full-size load tests (each failed before its fix)."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import date

import asyncpg
import psutil

from bot import logging as bot_logging
from bot.charts import ChartRenderer, pool_size
from bot.db.pool import is_unavailable


def test_a_connection_caught_mid_operation_by_a_shutdown_counts_as_unavailable():
    # Seen at BEGIN/COMMIT during PostgreSQL's fast shutdown: the person must get "try again",
    # not the generic apology with a traceback in the log.
    assert is_unavailable(asyncpg.exceptions.InternalClientError(
        "cannot switch to state 15; another operation (2) is in progress"))
    assert not is_unavailable(ValueError("a bug stays a bug"))


def test_asyncpg_reconnect_warnings_keep_one_line_without_a_traceback():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    try:
        bot_logging.setup("INFO", stream=stream)
        try:
            raise ConnectionRefusedError(111, "Connect call failed")
        except ConnectionRefusedError:
            logging.getLogger("asyncpg.pool").warning("Failed to restore the pool connection floor", exc_info=True)
            logging.getLogger("bot.runtime").exception("a real error keeps its traceback")
    finally:
        root.handlers = saved
    text = stream.getvalue()
    pool_line = next(line for line in text.splitlines() if "asyncpg.pool" in line)
    assert "ConnectionRefusedError" in pool_line
    assert text.count("Traceback") == 1  # only the bot's own error


def test_a_chart_is_rendered_once_per_set_of_points_and_the_cache_is_bounded():
    async def scenario() -> None:
        renderer = ChartRenderer(cache_size=2)
        try:
            a = [(date(2026, 1, 1), 80.0, 25.0), (date(2026, 2, 1), 78.5, None)]
            b = [(date(2026, 1, 1), 80.0, 25.0), (date(2026, 3, 1), 77.0, 24.1)]
            c = [(date(2026, 1, 1), 81.0, None), (date(2026, 3, 1), 77.0, None)]
            first, again = await asyncio.gather(renderer.progress_chart(a), renderer.progress_chart(a))
            assert first == again and first.startswith(b"\x89PNG")
            assert len(renderer._cache) == 1  # two requests in flight shared one render
            other = await renderer.progress_chart(b)
            assert other != first
            await renderer.progress_chart(c)
            assert len(renderer._cache) == 2 and tuple(a) not in renderer._cache  # oldest evicted
        finally:
            renderer.close()

    asyncio.run(scenario())


def test_charts_are_drawn_by_one_worker_per_core_and_a_killed_worker_is_replaced():
    # The OOM killer (or an operator) can end a worker; the pool is then broken for good, and
    # without a new one every later Progress would fail until the bot restarts.
    async def scenario() -> None:
        renderer = ChartRenderer()
        try:
            pids = await renderer.warm_up()
            assert len(set(pids)) == renderer.workers == pool_size()
            workers = _chart_workers()
            assert sorted(p.pid for p in workers) == sorted(set(pids))
            workers[0].kill()
            workers[0].wait(10)
            png = await renderer.progress_chart([(date(2026, 1, 1), 80.0, 20.0), (date(2026, 2, 1), 78.5, 19.5)])
            assert png.startswith(b"\x89PNG")
            assert workers[0].pid not in [p.pid for p in _chart_workers()]
        finally:
            renderer.close()

    asyncio.run(scenario())


def _chart_workers() -> list[psutil.Process]:
    """This process's pool workers (spawn also starts a resource tracker, which is not one)."""
    return [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]


def test_closing_the_chart_renderer_ends_its_worker_before_returning():
    # Seen in a bot's log after a graceful stop (the rolling-upgrade drill): with the pool's manager
    # thread still running at interpreter exit, concurrent.futures' exit hook raced it to the wakeup
    # pipe and printed "OSError: [Errno 9] Bad file descriptor" with a traceback.
    async def scenario() -> None:
        renderer = ChartRenderer()
        assert await renderer.warm_up()
        workers = _chart_workers()
        assert len(workers) == renderer.workers  # one per core, MAX_WORKERS at most
        renderer.close()
        assert all(not w.is_running() or w.status() == psutil.STATUS_ZOMBIE for w in workers)

    asyncio.run(scenario())


def test_a_connection_to_a_read_only_node_is_dropped_and_the_person_asked_to_try_again(database_url):
    """After a failover the old primary comes back as a replica: a pooled connection that still points at
    it can read but not write. That is "unavailable" (try again), never the apology for a bug, and the
    pool must let go of such connections so the next turn reaches the new primary."""
    import psycopg

    from bot.domain import texts as bot_texts
    from kbjuctl import dburl
    from tests.helpers.bot_harness import MAN, run, survey, texts

    name = dburl.database_name(database_url)

    def set_read_only(on: bool) -> None:
        with psycopg.connect(database_url, autocommit=True, options="-c default_transaction_read_only=off") as conn:
            conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')
            if on:  # the pool reconnects into read-only sessions, as to a demoted node
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND application_name = 'kbju-bot'", (name,))

    async def scenario(h):
        ivan = h.person(4004)
        await survey(ivan, MAN, upto="birth_date")
        set_read_only(True)
        replies = texts(await ivan.say(MAN["birth_date"], timeout=20))
        while replies == []:  # a turn on a connection the termination cut: answered when it is retried
            replies = texts(await ivan.wait(timeout=20))
        assert replies == [bot_texts.DB_UNAVAILABLE]
        set_read_only(False)  # "the new primary": only a fresh connection sees it
        # A connection the pool opened again while the database was still read-only (its minimum
        # size) may answer one more "try again"; the one after it reaches the writable database.
        for _attempt in range(3):
            replies = texts(await ivan.say(MAN["birth_date"], timeout=20))
            assert bot_texts.GENERIC_ERROR not in replies, replies
            if replies != [bot_texts.DB_UNAVAILABLE]:
                break
        assert "пол" in replies[0].lower(), replies
    run(database_url, scenario, db_pool_min=2, db_pool_max=4)
