"""A damaged or tampered backup is refused by verify and restore, and the restore target stays untouched."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import psycopg
import pytest

from kbjuctl import localpg, migrations
from kbjuctl.backup import create_backup, restore_backup, verify_backup
from kbjuctl.errors import BadInput, VerificationFailed
from tests.test_backup_roundtrip import fill_realistic, independent_sums


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


def test_manifest_rewritten_with_matching_sums_is_caught_by_the_deep_check(copy, pg_admin_url):
    manifest = copy / "manifest.json"
    data = json.loads(manifest.read_text())
    data["tables"]["users"]["checksum"] = "12345"
    manifest.write_text(json.dumps(data))
    sums = (copy / "SHA256SUMS").read_text().splitlines()
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    (copy / "SHA256SUMS").write_text("\n".join(f"{digest}  manifest.json" if s.endswith(" manifest.json") else s
                                               for s in sums) + "\n")
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


def test_target_with_extra_tables_after_force_fails_loudly(pristine, empty_database_url):
    with psycopg.connect(empty_database_url) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY)")
    with pytest.raises(VerificationFailed, match="notes: in the database"):
        restore_backup(pristine, empty_database_url, force=True)


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
