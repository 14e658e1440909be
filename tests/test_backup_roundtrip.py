"""backup create -> verify --deep -> restore on realistic data, compared by the test's own SQL; concurrent
writes during a backup; an encrypted round trip."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pyrage
import pytest

from kbjuctl import localpg
from kbjuctl.backup import create_backup, list_backups, restore_backup, verify_backup
from kbjuctl.errors import BadInput
from tests.helpers.backups import fill_realistic, independent_sums


@pytest.fixture
def scratch_url(pg_admin_url):
    name = localpg.unique_name("kbju_bkt")
    yield localpg.create_database(pg_admin_url, name)
    localpg.drop_database(pg_admin_url, name)


def test_round_trip_restores_exactly_the_data(database_url, scratch_url, pg_admin_url, tmp_path):
    fill_realistic(database_url)
    with psycopg.connect(database_url) as conn:  # json and point have no hash function: the text form is used
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body json, spot point)")
        conn.execute("""INSERT INTO notes VALUES (1, '{"a": 1.10}', '(1.5,2)'), (2, NULL, NULL)""")
    created = create_backup(database_url, tmp_path)
    assert created.manifest.tables["notes"] == {"rows": 2, "checksum": created.manifest.tables["notes"]["checksum"],
                                                "method": "text"}
    assert created.manifest.tables["users"]["method"] == "record"
    assert created.manifest.tables["users"]["rows"] == 2000
    assert created.manifest.tables["user_records"]["rows"] == 6000
    assert created.recorded and created.path.parent == tmp_path

    deep = verify_backup(created.path, deep=True, database_url=pg_admin_url)
    assert deep.ok and deep.tables["user_food_preferences"]["rows"] == 1500
    assert list_backups(tmp_path).backups[0].verified == "deep"

    restored = restore_backup(created.path, scratch_url)
    assert sum(t.rows for t in restored.tables.values()) == created.manifest.total_rows
    assert independent_sums(scratch_url) == independent_sums(database_url)


def test_backup_during_concurrent_writes_still_verifies(database_url, pg_admin_url, tmp_path):
    fill_realistic(database_url)
    stop, written = threading.Event(), [0]

    def writer() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            n = 100_000
            while not stop.is_set():
                n += 1
                conn.execute("INSERT INTO users (telegram_id, first_name) VALUES (%s, 'Пётр')", (n,))
                conn.execute("UPDATE user_records SET weight = weight + 0.1 WHERE telegram_id = %s", (n % 2000,))
                written[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 20:  # writes are flowing before the snapshot is taken
            stop.wait(0.01)
        created = create_backup(database_url, tmp_path)
        before_stop = written[0]
    finally:
        stop.set()
        thread.join()
    with psycopg.connect(database_url) as conn:
        users_now = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    assert before_stop > 20 and users_now > created.manifest.tables["users"]["rows"]
    assert verify_backup(created.path, deep=True, database_url=pg_admin_url).ok


def _identity(tmp_path: Path, name: str) -> tuple[Path, str]:
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path / name
    path.write_text(f"# created by the test\n{identity}\n")
    return path, str(identity.to_public())


def test_encrypted_round_trip_and_wrong_identity(database_url, scratch_url, pg_admin_url, tmp_path):
    fill_realistic(database_url)
    key, recipient = _identity(tmp_path, "key.txt")
    wrong, _ = _identity(tmp_path, "other.txt")
    created = create_backup(database_url, tmp_path / "b", encrypt_to=recipient)
    archive = created.path / "dump.pgcustom.age"
    assert archive.is_file() and not (created.path / "dump.pgcustom").exists()
    assert "Анна".encode() not in archive.read_bytes() and created.manifest.archive["recipients"] == [recipient]

    with pytest.raises(BadInput, match="none of its keys can decrypt"):
        verify_backup(created.path, deep=True, identity=wrong, database_url=pg_admin_url)
    with pytest.raises(BadInput, match="--identity"):
        restore_backup(created.path, scratch_url)
    with pytest.raises(BadInput, match="none of its keys"):
        restore_backup(created.path, scratch_url, identity=wrong)
    with psycopg.connect(scratch_url) as conn:  # untouched by the refused restores
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0

    assert verify_backup(created.path, deep=True, identity=key, database_url=pg_admin_url).ok
    restore_backup(created.path, scratch_url, identity=key)
    assert independent_sums(scratch_url) == independent_sums(database_url)
