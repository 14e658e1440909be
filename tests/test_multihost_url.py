"""A database URL naming several hosts (the nodes of a Patroni cluster) is accepted everywhere a URL is,
and every client picks the writable one: the bot's asyncpg pool, kbjuctl's psycopg, yoyo and pg_dump."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from bot.config import ConfigError, load_settings
from bot.config_checks import check_database_url, database_hosts
from bot.db.pool import create_pool
from kbjuctl import dburl, migrations

MULTI = "postgresql://bot:s3cret@10.0.0.1:5432,10.0.0.2:5433,[::1]:5434/kbju?target_session_attrs=read-write"


def test_hosts_of_a_multi_host_url():
    assert database_hosts(MULTI) == [("10.0.0.1", 5432), ("10.0.0.2", 5433), ("::1", 5434)]
    assert database_hosts("postgresql://bot@db/kbju") == [("db", None)]
    assert check_database_url(MULTI) == MULTI


@pytest.mark.parametrize("url, message", [
    ("postgresql://bot@h1:5432,h2:99999/kbju?target_session_attrs=read-write", "port"),
    ("postgresql://bot@h1:5432,h2:x/kbju?target_session_attrs=read-write", "port"),
    ("postgresql://bot@h1:5432,h2:5432/kbju", "target_session_attrs=read-write"),
    ("postgresql://bot@h1:5432,h2:5432/kbju?target_session_attrs=any", "target_session_attrs=read-write"),
    ("postgresql://bot@h1:5432,,h2/kbju?target_session_attrs=read-write", "empty host"),
])
def test_bad_multi_host_urls_say_what_is_wrong(url, message):
    with pytest.raises(ValueError, match=message):
        check_database_url(url)


def test_settings_take_a_multi_host_url(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert load_settings(database_url=MULTI).database_url == MULTI
    with pytest.raises(ConfigError) as info:
        load_settings(database_url="postgresql://bot@h1:5432,h2:5432/kbju")
    assert "DATABASE_URL" in str(info.value) and "s3cret" not in str(info.value)


def test_redaction_and_yoyo_form_of_a_multi_host_url():
    assert dburl.redact(MULTI) == MULTI.replace("s3cret", "***")
    assert dburl.database_name(MULTI) == "kbju"
    assert dburl.with_database(MULTI, "other") == MULTI.replace("/kbju?", "/other?")
    yoyo = dburl.to_yoyo(MULTI)
    assert yoyo == ("postgresql+psycopg://bot:s3cret@/kbju?target_session_attrs=read-write"
                    "&host=10.0.0.1%2C10.0.0.2%2C%3A%3A1&port=5432%2C5433%2C5434")


def _multi(database_url: str) -> str:
    """The test database's URL with an unreachable host first: a client must skip it."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(database_url)
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:1,{parts.hostname}:{parts.port}")
    return urlunsplit(parts._replace(netloc=netloc, query="target_session_attrs=read-write"))


def test_every_client_reaches_the_writable_host(database_url):
    url = _multi(database_url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    assert all(state.applied for state in migrations.status(url))

    async def pooled() -> int:
        pool = await create_pool(url, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                return await conn.fetchval("SELECT 1")
        finally:
            await pool.close()

    assert asyncio.run(pooled()) == 1
