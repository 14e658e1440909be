"""kbjuctl backup as an operator runs it: exit codes, the path as the last line, --json, list and prune."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from kbjuctl.backup import list_backups, prune_backups
from kbjuctl.backup.listing import BackupEntry
from kbjuctl.backup.prune import plan
from tests.helpers.backups import fill_realistic, independent_sums


def kbjuctl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbjuctl", "backup", *args], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, **(env or {})})


def test_create_verify_restore_through_the_cli(database_url, empty_database_url, pg_admin_url, tmp_path):
    fill_realistic(database_url)
    created = kbjuctl("create", "--dir", str(tmp_path), "--database-url", database_url)
    assert created.returncode == 0, created.stderr
    path = Path(created.stdout.strip().splitlines()[-1])
    assert path.is_dir() and path.parent == tmp_path and (path / "manifest.json").is_file()

    verified = kbjuctl("verify", str(path), "--deep", "--database-url", pg_admin_url, "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True

    restored = kbjuctl("restore", str(path), "--database-url", empty_database_url)
    assert restored.returncode == 0, restored.stderr
    assert independent_sums(empty_database_url) == independent_sums(database_url)

    again = kbjuctl("restore", str(path), "--database-url", empty_database_url)
    assert again.returncode == 2 and "--force" in again.stderr

    data = bytearray((path / "dump.pgcustom").read_bytes())
    data[-5] ^= 0xFF
    (path / "dump.pgcustom").write_bytes(bytes(data))
    broken = kbjuctl("verify", str(path))
    assert broken.returncode == 1 and "does NOT verify" in broken.stderr and "sha256" in broken.stderr
    refused = kbjuctl("restore", str(path), "--database-url", empty_database_url, "--force")
    assert refused.returncode == 1 and "damaged" in refused.stderr

    listed = kbjuctl("list", "--dir", str(tmp_path), "--json")
    assert json.loads(listed.stdout)["backups"][0]["verified"] == "FAILED"


def test_create_json_and_backup_runs_row(database_url, tmp_path):
    created = kbjuctl("create", "--dir", str(tmp_path), "--database-url", database_url, "--json")
    assert created.returncode == 0, created.stderr
    report = json.loads(created.stdout)
    assert report["recorded_in_backup_runs"] is True and report["tables"]["users"]["rows"] == 0
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT path, archive_sha256, total_rows FROM backup_runs").fetchone()
    assert row == (report["path"], report["sha256"], report["total_rows"])


def test_bad_input_exit_codes(tmp_path, pg_admin_url):
    assert kbjuctl("verify", str(tmp_path / "missing")).returncode == 2
    no_url = kbjuctl("create", "--dir", str(tmp_path), env={"DATABASE_URL": ""})
    assert no_url.returncode == 2 and "--database-url" in no_url.stderr
    bad_key = kbjuctl("create", "--dir", str(tmp_path), "--database-url", pg_admin_url, "--encrypt-to", "age1nope")
    assert bad_key.returncode == 2 and "recipient" in bad_key.stderr
    assert not any(tmp_path.iterdir())


def _entry(name: str, verified: str = "no") -> BackupEntry:
    day = name[5:9] + "-" + name[9:11] + "-" + name[11:13]
    return BackupEntry(name, name, f"{day}T{name[14:16]}:00:00+00:00", 1, 1, "0003", False, verified, None,
                       intact=True)


def test_prune_plan_keeps_last_daily_and_newest_verified():
    backups = [_entry("kbju-20261120T010000Z", "deep"), _entry("kbju-20261121T010000Z"),
               _entry("kbju-20261122T010000Z"), _entry("kbju-20261122T130000Z", "FAILED"),
               _entry("kbju-20261123T010000Z"), _entry("kbju-20261123T130000Z")]
    keep = plan(backups, keep_last=1, keep_daily=2)
    assert keep == {"kbju-20261123T130000Z": ["among the last 1", "newest of day 20261123"],
                    "kbju-20261122T130000Z": ["newest of day 20261122"],
                    "kbju-20261120T010000Z": ["newest verified"]}


def test_prune_deletes_only_what_it_must_and_cleans_leftovers(database_url, pg_admin_url, tmp_path):
    from kbjuctl.backup import create_backup, verify_backup

    first = create_backup(database_url, tmp_path).path.rename(tmp_path / "kbju-20000101T000000Z")
    verified = create_backup(database_url, tmp_path).path
    verify_backup(verified)
    verified = verified.rename(tmp_path / "kbju-20500101T000000Z")
    second = create_backup(database_url, tmp_path).path.rename(tmp_path / "kbju-20990101T000000Z")  # unverified
    (tmp_path / ".tmp-kbju-20261125T000000Z-1").mkdir()  # an interrupted backup, nobody writing it

    dry = kbjuctl("prune", "--dir", str(tmp_path), "--keep-last", "1", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["delete"] == [str(first)] and first.exists()
    result = prune_backups(tmp_path, keep_last=1)
    assert result.keep == {second.name: ["among the last 1"], verified.name: ["newest verified"]}
    assert not first.exists() and not (tmp_path / ".tmp-kbju-20261125T000000Z-1").exists()
    assert [b.name for b in list_backups(tmp_path).backups] == [verified.name, second.name]


def _corrupt(folder: Path) -> None:
    archive = folder / "dump.pgcustom"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))


def test_prune_rechecks_what_it_keeps_and_never_deletes_the_last_intact_backup(database_url, tmp_path):
    """A backup verified once and damaged since must not be what prune keeps in place of intact ones."""
    from kbjuctl.backup import create_backup, verify_backup

    older = create_backup(database_url, tmp_path).path.rename(tmp_path / "kbju-20000101T000000Z")
    intact = create_backup(database_url, tmp_path).path.rename(tmp_path / "kbju-20500101T000000Z")
    newest = create_backup(database_url, tmp_path).path
    verify_backup(newest)
    newest = newest.rename(tmp_path / "kbju-20990101T000000Z")
    _corrupt(newest)  # after its "verified" note was written

    listed = {b.name: b for b in list_backups(tmp_path).backups}
    assert listed[newest.name].verified == "DAMAGED" and not listed[newest.name].verified_ok
    assert listed[intact.name].intact and listed[older.name].intact

    result = prune_backups(tmp_path, keep_last=1)
    assert result.keep == {newest.name: ["among the last 1"], intact.name: ["newest intact (re-checked)"]}
    assert intact.exists() and not older.exists()
    cli = kbjuctl("list", "--dir", str(tmp_path), "--json")
    assert [(b["name"], b["verified"]) for b in json.loads(cli.stdout)["backups"]] == [
        (intact.name, "no"), (newest.name, "DAMAGED")]


def test_prune_skips_symlinks_with_a_warning_and_never_follows_them_out_of_the_folder(database_url, tmp_path):
    """A link in the backup folder (an operator's shortcut, or planted) is nobody's backup: prune and
    list name it and leave it alone, and what it points to outside the folder is never touched."""
    from kbjuctl.backup import create_backup

    backups, outside = tmp_path / "backups", tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "precious.txt").write_text("not a backup")
    old = create_backup(database_url, backups).path.rename(backups / "kbju-20000101T000000Z")
    new = create_backup(database_url, backups).path
    (backups / "kbju-19990101T000000Z").symlink_to(outside, target_is_directory=True)
    (backups / ".tmp-kbju-19990101T000000Z-1").symlink_to(outside, target_is_directory=True)
    (backups / "kbju-19980101T000000Z").symlink_to(tmp_path / "dangling")

    listed = kbjuctl("list", "--dir", str(backups))
    assert listed.returncode == 0, listed.stderr
    assert "kbju-19990101T000000Z" in listed.stderr and "symbolic link" in listed.stderr
    pruned = kbjuctl("prune", "--dir", str(backups), "--keep-last", "1", "--yes", "--json")
    assert pruned.returncode == 0, pruned.stderr
    report = json.loads(pruned.stdout)
    assert report["delete"] == [str(old)] and not old.exists() and new.exists()
    assert sorted(Path(p).name for p in report["skipped"]) == [
        ".tmp-kbju-19990101T000000Z-1", "kbju-19980101T000000Z", "kbju-19990101T000000Z"]
    assert "symbolic link" in pruned.stderr
    assert (outside / "precious.txt").read_text() == "not a backup"
    assert (backups / "kbju-19990101T000000Z").is_symlink() and (backups / ".tmp-kbju-19990101T000000Z-1").is_symlink()


def test_create_takes_its_recipient_from_backup_encrypt_to_and_plaintext_only_when_asked(database_url, tmp_path):
    """What the compose backup service runs: `kbjuctl backup create` with BACKUP_ENCRYPT_TO set."""
    import pyrage

    recipient = str(pyrage.x25519.Identity.generate().to_public())
    encrypted = kbjuctl("create", "--dir", str(tmp_path / "a"), "--database-url", database_url, "--json",
                        env={"BACKUP_ENCRYPT_TO": recipient})
    assert encrypted.returncode == 0, encrypted.stderr
    assert json.loads(encrypted.stdout)["encrypted"] is True
    plain = kbjuctl("create", "--dir", str(tmp_path / "b"), "--database-url", database_url, "--json",
                    env={"BACKUP_ENCRYPT_TO": "plaintext"})
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["encrypted"] is False and "unencrypted" in plain.stderr
