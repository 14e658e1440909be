"""Choosing pg_dump/pg_restore: a major the server accepts, a clear list when none fits, and PostgreSQL 16
(the embedded server) backed up with its own pg_dump rather than the system's 15."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from kbjuctl import localpg, migrations
from kbjuctl.backup import create_backup, restore_backup, tools, verify_backup
from kbjuctl.errors import BadInput
from tests.helpers.backups import fill_realistic, independent_sums


def _fake_tool(folder: Path, name: str, version: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n")
    script.chmod(0o755)


def test_no_suitable_pg_dump_lists_the_versions_found(tmp_path):
    _fake_tool(tmp_path / "old", "pg_dump", "9.6.24")
    _fake_tool(tmp_path / "older", "pg_dump", "13.1 (Ubuntu 13.1-1)")
    with pytest.raises(BadInput) as caught:
        tools.pick("pg_dump", 15, "the server is PostgreSQL 15.20", dirs=[tmp_path / "old", tmp_path / "older"])
    message = str(caught.value)
    assert "No pg_dump of PostgreSQL 15 or newer" in message and "the server is PostgreSQL 15.20" in message
    assert f"9 ({tmp_path / 'old' / 'pg_dump'})" in message and "13 (" in message


def test_picks_the_closest_major_at_least_the_servers(tmp_path):
    for major in (14, 17, 16):
        _fake_tool(tmp_path / str(major), "pg_dump", f"{major}.3")
    chosen = tools.pick("pg_dump", 16, "test", dirs=[tmp_path / "14", tmp_path / "17", tmp_path / "16"])
    assert chosen.major == 16 and chosen.path == tmp_path / "16" / "pg_dump"


def test_real_search_finds_the_system_and_embedded_tools():
    majors = {t.major for t in tools.found("pg_dump", tools.search_dirs())}
    assert {15, 16} <= majors
    with pytest.raises(BadInput, match=r"Versions found: .*15 .*16 \("):
        tools.pick("pg_dump", 99, "test")


def test_cli_with_only_an_old_pg_dump_says_so(tmp_path, database_url):
    _fake_tool(tmp_path / "bin", "pg_dump", "9.6.24")
    done = subprocess.run([sys.executable, "-m", "kbjuctl", "backup", "create", "--dir", str(tmp_path / "b"),
                           "--database-url", database_url], capture_output=True, text=True, timeout=60,
                          check=False, env={"PATH": "/usr/bin:/bin", tools.BINDIR_ENV: str(tmp_path / "bin")})
    assert done.returncode == 2
    assert "No pg_dump of PostgreSQL 15 or newer" in done.stderr and "Versions found: 9 (" in done.stderr


@pytest.fixture(scope="module")
def embedded_admin_url(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("pg")
    url = localpg.embedded_admin_url(data_dir)
    yield url
    localpg.stop_embedded(data_dir)
    shutil.rmtree(localpg.real_embedded_dir(data_dir), ignore_errors=True)  # under /tmp, not pytest's folder


def test_embedded_postgres_16_round_trip_uses_its_own_pg_dump(embedded_admin_url, tmp_path):
    source = localpg.create_database(embedded_admin_url, "kbju_src")
    target = localpg.create_database(embedded_admin_url, "kbju_dst")
    migrations.upgrade(source)
    fill_realistic(source)
    created = create_backup(source, tmp_path)
    assert created.manifest.data["server"]["major"] == 16
    assert created.manifest.data["tools"]["pg_dump"]["major"] == 16
    assert verify_backup(created.path, deep=True, database_url=embedded_admin_url).pg_restore["major"] == 16
    restore_backup(created.path, target)
    assert independent_sums(target) == independent_sums(source)


def test_backup_of_15_restores_into_16_with_equal_checksums(database_url, embedded_admin_url, tmp_path):
    fill_realistic(database_url)
    created = create_backup(database_url, tmp_path)
    target = localpg.create_database(embedded_admin_url, "kbju_from15")
    restored = restore_backup(created.path, target)  # compares the server-side checksums: 15 vs 16
    assert restored.pg_restore.major == 16
    assert independent_sums(target) == independent_sums(database_url)


def test_restore_onto_a_new_server_creates_the_group_role_the_grants_name(database_url, tmp_path):
    """Roles belong to the server, not the dump: a fresh server lacks kbju_bot until restore makes it."""
    fill_realistic(database_url)
    created = create_backup(database_url, tmp_path / "backups")
    admin = localpg.embedded_admin_url(tmp_path / "fresh-pg")
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            assert not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'kbju_bot'").fetchone()
        target = localpg.create_database(admin, "kbju_new_server")
        restore_backup(created.path, target)
        assert independent_sums(target) == independent_sums(database_url)
        with psycopg.connect(target) as conn:
            granted = conn.execute("SELECT has_table_privilege('kbju_bot', 'users', 'INSERT')").fetchone()[0]
        assert granted
    finally:
        localpg.stop_embedded(tmp_path / "fresh-pg")
        shutil.rmtree(localpg.real_embedded_dir(tmp_path / "fresh-pg"), ignore_errors=True)
