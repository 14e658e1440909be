"""PostgreSQL over TLS with sslmode=verify-full and sslrootcert, for every client the platform runs:
the bot (asyncpg), kbjuctl (psycopg, yoyo), pg_dump / pg_restore / psql of the backups, and
postgres_exporter (Go's lib/pq). The server is the test's own (tests.helpers.pg_tls): it refuses every
connection that is not TLS, and its certificate comes from a CA made in the test; a client given
another CA must refuse the server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import asyncpg
import psycopg
import pytest

from tests.helpers import certs, pg_tls
from tests.helpers.bot_harness import MAN, free_port, kbjuctl_env, run, survey, texts

EXPORTER = shutil.which("prometheus-postgres-exporter") or shutil.which("postgres_exporter")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    with pg_tls.tls_only_server() as (port, authority):
        other = certs.ca(tmp_path_factory.mktemp("other-ca"), "other")
        yield {"port": port, "ca": authority, "other_ca": other}


def url(tls: dict, db: str = "postgres", *, root: Path | None = None, mode: str = "verify-full") -> str:
    return (f"postgresql://postgres@localhost:{tls['port']}/{db}?sslmode={mode}"
            f"&sslrootcert={root or tls['ca'].cert}")


def kbjuctl(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbjuctl", *args], capture_output=True, text=True, timeout=timeout,
                          env=kbjuctl_env(), stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def kbju_db(tls) -> str:
    with psycopg.connect(url(tls), autocommit=True) as conn:
        conn.execute("CREATE DATABASE kbju")
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True
    upgraded = kbjuctl("db", "upgrade", "--database-url", url(tls, "kbju"))
    assert upgraded.returncode == 0, upgraded.stderr
    return url(tls, "kbju")


def test_the_server_refuses_plain_connections_and_clients_refuse_another_ca(tls, kbju_db):
    plain = kbjuctl("db", "status", "--database-url", url(tls, "kbju", mode="disable"))
    assert plain.returncode == 2 and "no encryption" in plain.stderr
    wrong = kbjuctl("db", "status", "--database-url", url(tls, "kbju", root=tls["other_ca"].cert))
    assert wrong.returncode == 2 and "certificate verify failed" in wrong.stderr

    async def asyncpg_with_the_other_ca() -> str:
        try:
            conn = await asyncpg.connect(url(tls, "kbju", root=tls["other_ca"].cert), timeout=10)
        except Exception as exc:  # noqa: BLE001 - the refusal is what is tested
            return f"{type(exc).__name__}: {exc}"
        await conn.close()
        return "connected"

    assert "CERTIFICATE_VERIFY_FAILED" in asyncio.run(asyncpg_with_the_other_ca())


def test_kbjuctl_and_the_backup_tools_over_verify_full(tls, kbju_db, tmp_path):
    status = kbjuctl("db", "status", "--database-url", kbju_db, "--json")
    assert status.returncode == 0 and all(m["applied"] for m in json.loads(status.stdout)["migrations"])
    created = kbjuctl("backup", "create", "--dir", str(tmp_path), "--database-url", kbju_db)
    assert created.returncode == 0, created.stderr
    path = created.stdout.strip().splitlines()[-1]
    deep = kbjuctl("backup", "verify", path, "--deep", "--database-url", url(tls))
    assert deep.returncode == 0, deep.stderr
    with psycopg.connect(url(tls), autocommit=True) as conn:
        conn.execute("CREATE DATABASE kbju_restored")
    restored = kbjuctl("backup", "restore", path, "--database-url", url(tls, "kbju_restored"))
    assert restored.returncode == 0, restored.stderr


def test_the_bot_over_verify_full(tls, kbju_db):
    async def scenario(h):
        events = await survey(h.person(4001), MAN)
        assert any("2792 ккал" in text for text in texts(events)), texts(events)
        conn = await asyncpg.connect(kbju_db)
        try:
            assert await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
            assert await conn.fetchval("SELECT count(*) FROM users WHERE telegram_id = 4001") == 1
        finally:
            await conn.close()
    run(kbju_db, scenario)


@pytest.mark.skipif(EXPORTER is None, reason="prometheus-postgres-exporter missing: ./scripts/system-deps.sh")
def test_postgres_exporter_over_verify_full(tls, kbju_db, tmp_path):
    def pg_up(dsn: str) -> str:
        port = free_port()
        with (tmp_path / f"exporter-{port}.log").open("wb") as log:
            proc = subprocess.Popen([EXPORTER, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                    env={"PATH": os.environ.get("PATH", ""), "DATA_SOURCE_NAME": dsn},
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(100):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                        lines = [line for line in response.read().decode().splitlines() if line.startswith("pg_up ")]
                        if lines:
                            return lines[0]
                except OSError:
                    pass
                time.sleep(0.2)
            raise AssertionError("the exporter never answered")
        finally:
            proc.terminate()
            proc.wait(15)

    assert pg_up(kbju_db) == "pg_up 1"
    assert pg_up(url(tls, "kbju", root=tls["other_ca"].cert)) == "pg_up 0"
