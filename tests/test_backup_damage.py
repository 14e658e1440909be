"""A damaged or tampered backup is refused by verify and restore, and the restore target stays untouched."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from kbjuctl import localpg, migrations
from kbjuctl.backup import create_backup, restore_backup, verify_backup
from kbjuctl.errors import BadInput, VerificationFailed
from tests.helpers.backups import fill_realistic, independent_sums


@pytest.fixture(scope="module")
def source_url(pg_admin_url, migrated_template):
    name = localpg.unique_name("kbju_bks")
    url = localpg.create_database(pg_admin_url, name, template=migrated_template)
    fill_realistic(url)
    yield url
    localpg.drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def pristine(source_url, tmp_path_factory) -> Path:
    return create_backup(source_url, tmp_path_factory.mktemp("pristine")).path


@pytest.fixture
def copy(pristine, tmp_path) -> Path:
    """A private copy of the module's backup, free to damage."""
    return Path(shutil.copytree(pristine, tmp_path / pristine.name))


@pytest.fixture
def filled_target(database_url) -> str:
    """A restore target that already holds data (restored into with --force)."""
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO users (telegram_id, first_name) VALUES (42, 'Стоит на месте')")
    return database_url


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])


@pytest.mark.parametrize("damage, message", [(_flip_byte, "sha256 is"), (_truncate, "truncated")])
def test_damaged_archive_fails_verify_and_restore_leaves_target_alone(copy, filled_target, damage, message):
    damage(copy / "dump.pgcustom")
    with pytest.raises(VerificationFailed, match=message):
        verify_backup(copy)
    before = independent_sums(filled_target)
    with pytest.raises(VerificationFailed, match=message):
        restore_backup(copy, filled_target, force=True)
    assert independent_sums(filled_target) == before
    assert json.loads((copy / "verification.json").read_text())["ok"] is False


def test_edited_manifest_is_detected(copy):
    manifest = copy / "manifest.json"
    data = json.loads(manifest.read_text())
    data["tables"]["users"]["rows"] += 1
    data["total_rows"] += 1
    manifest.write_text(json.dumps(data))
    with pytest.raises(VerificationFailed, match="changed after the backup was made"):
        verify_backup(copy)


def _rewrite_users_checksum(copy: Path) -> None:
    """The manifest says another users checksum, and SHA256SUMS agrees with the new manifest."""
    manifest = copy / "manifest.json"
    data = json.loads(manifest.read_text())
    data["tables"]["users"]["checksum"] = "12345"
    manifest.write_text(json.dumps(data))
    sums = (copy / "SHA256SUMS").read_text().splitlines()
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    (copy / "SHA256SUMS").write_text("\n".join(f"{digest}  manifest.json" if s.endswith(" manifest.json") else s
                                               for s in sums) + "\n")


def test_manifest_rewritten_with_matching_sums_is_caught_by_the_deep_check(copy, pg_admin_url):
    _rewrite_users_checksum(copy)
    assert verify_backup(copy).ok  # the archive itself is intact
    with pytest.raises(VerificationFailed, match="users: same row count .* checksum differs"):
        verify_backup(copy, deep=True, database_url=pg_admin_url)


@pytest.mark.parametrize("remove, error", [("manifest.json", BadInput), ("SHA256SUMS", BadInput),
                                           ("dump.pgcustom", VerificationFailed)])
def test_missing_file_is_a_clear_failure(copy, remove, error):
    (copy / remove).unlink()
    with pytest.raises(error, match="missing"):
        verify_backup(copy)


def test_garbage_manifest_is_a_clear_failure(copy):
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(VerificationFailed, match="not valid JSON"):
        verify_backup(copy)


def test_refuses_a_target_with_data_without_force(pristine, filled_target, source_url):
    before = independent_sums(filled_target)
    with pytest.raises(BadInput, match="--force"):
        restore_backup(pristine, filled_target)
    assert independent_sums(filled_target) == before
    restore_backup(pristine, filled_target, force=True)
    assert independent_sums(filled_target) == independent_sums(source_url)


def test_force_into_a_database_with_other_tables_changes_nothing_and_says_so(pristine, filled_target):
    """Another database's backup restored with --force over a target that has a table the backup
    lacks: the restored data would be a mix of both, so the whole restore is rolled back."""
    with psycopg.connect(filled_target) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO notes VALUES (1, 'kept')")
    before = independent_sums(filled_target)
    done = subprocess.run([sys.executable, "-m", "kbjuctl", "backup", "restore", str(pristine), "--force", "--yes",
                           "--database-url", filled_target], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    message = " ".join(done.stderr.split())
    assert "notes: in the database (1 rows), not in the backup" in message
    assert "rolled back" in message and "holds what it held before" in message
    assert independent_sums(filled_target) == before


def test_restored_data_that_differs_from_the_manifest_is_rolled_back(copy, empty_database_url):
    _rewrite_users_checksum(copy)
    with pytest.raises(VerificationFailed, match=r"users: same row count .* checksum differs(.|\n)*rolled back"):
        restore_backup(copy, empty_database_url)
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0


def test_missing_target_database_is_bad_input(pristine, pg_admin_url):
    from kbjuctl import dburl

    with pytest.raises(BadInput, match="does not exist"):
        restore_backup(pristine, dburl.with_database(pg_admin_url, "kbju_no_such_db"))


def test_missing_backup_folder_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="No backup"):
        verify_backup(tmp_path / "nope")


def test_restored_database_carries_the_schema_version_of_the_backup(pristine, empty_database_url):
    restore_backup(pristine, empty_database_url)
    assert migrations.current_version(empty_database_url) == migrations.status(empty_database_url)[-1].id


def test_failed_pg_dump_leaves_no_backup_behind(source_url, tmp_path, monkeypatch):
    from kbjuctl.backup import list_backups, tools
    from kbjuctl.errors import OperationFailed

    fake = tmp_path / "bin" / "pg_dump"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && { echo 'pg_dump (PostgreSQL) 99.0'; exit 0; }\n"
                    "for a; do case $a in --file=*) printf 'PGDMP half' > \"${a#--file=}\";; esac; done\n"
                    "echo 'pg_dump: error: connection lost' >&2; exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv(tools.BINDIR_ENV, str(fake.parent))
    with pytest.raises(OperationFailed, match="connection lost"):
        create_backup(source_url, tmp_path / "b")
    assert list((tmp_path / "b").iterdir()) == [] and list_backups(tmp_path / "b").backups == []


def test_a_connection_lost_mid_restore_leaves_the_target_as_it_was_and_says_so(pristine, filled_target):
    """The restore's session is terminated while it waits for a lock: psql loses its connection, the
    server rolls back, and restore finds out from the target itself which way it went."""
    import threading
    import time

    before = independent_sums(filled_target)
    done: dict[str, object] = {}
    with psycopg.connect(filled_target) as blocker:
        blocker.execute("LOCK TABLE users IN ACCESS SHARE MODE")  # reads pass, --clean's DROP TABLE waits

        def restore() -> None:
            try:
                restore_backup(pristine, filled_target, force=True)
            except Exception as exc:  # noqa: BLE001 - examined below
                done["error"] = exc

        worker = threading.Thread(target=restore)
        worker.start()
        with psycopg.connect(filled_target, autocommit=True) as admin:
            for _ in range(200):
                waiting = admin.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'psql' "
                                        "AND wait_event_type = 'Lock' AND datname = current_database()").fetchall()
                if waiting:
                    break
                time.sleep(0.05)
            assert waiting, "the restore never waited for the lock"
            admin.execute("SELECT pg_terminate_backend(%s)", (waiting[0][0],))
        blocker.rollback()
        worker.join(60)
    error = done.get("error")
    assert type(error).__name__ == "OperationFailed", error
    assert "lost during the restore" in str(error) and "holds what it held before" in str(error)
    assert independent_sums(filled_target) == before
