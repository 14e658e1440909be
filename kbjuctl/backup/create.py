"""`backup create`: pg_dump of an exported snapshot, checksummed in that same snapshot, written atomically."""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import psycopg

from kbjuctl import dburl
from kbjuctl.backup import checksums, crypto, erasures, layout, tools
from kbjuctl.backup.db import connect, server_version
from kbjuctl.backup.manifest import FORMAT, Manifest
from kbjuctl.backup.progress import NoProgress, Progress
from kbjuctl.errors import BadInput, OperationFailed

SNAPSHOT = "SELECT pg_export_snapshot(), now(), current_database()"
HAS_YOYO = "SELECT to_regclass('public._yoyo_migration') IS NOT NULL"
APPLIED_MIGRATIONS = "SELECT migration_id FROM _yoyo_migration ORDER BY applied_at_utc, migration_id"
HAS_BACKUP_RUNS = "SELECT to_regclass('public.backup_runs') IS NOT NULL"
RECORD_RUN = """
INSERT INTO backup_runs (finished_at, path, size_bytes, total_rows, archive_sha256)
VALUES (%s, %s, %s, %s, %s)
"""


@dataclass
class CreateResult:
    path: Path
    manifest: Manifest
    seconds: float
    recorded: bool  # a backup_runs row was written
    warning: str = ""
    erasures_copied: int = 0  # entries of the database's erasures ledger new to the ledger beside the backups

    def to_json(self) -> dict:
        return {"path": str(self.path), "name": self.manifest.name, "created_at": self.manifest.created_at,
                "bytes": self.manifest.archive["bytes"], "total_rows": self.manifest.total_rows,
                "tables": self.manifest.tables, "schema_version": self.manifest.schema_version,
                "encrypted": self.manifest.archive["encrypted"], "sha256": self.manifest.archive["sha256"],
                "seconds": round(self.seconds, 3), "recorded_in_backup_runs": self.recorded,
                "erasures_copied": self.erasures_copied, "warning": self.warning}


# The tables of checksums.USER_TABLES with PostgreSQL's estimate of their rows (-1: never analysed).
ESTIMATED_ROWS = """
SELECT n.nspname, c.relname, greatest(c.reltuples, 0)::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname = 'public' DESC, n.nspname, c.relname
"""


@dataclass
class CreatePlan:
    """What `create_backup` would do (`backup create --dry-run`): everything checked, nothing written."""

    database: str
    backup_dir: Path
    server_version: str
    pg_dump: tools.Tool
    schema_version: str | None
    estimated_rows: dict[str, int]  # per table, PostgreSQL's statistics (not counted)
    recipients: int  # age recipients the archive would be encrypted for; 0: not encrypted

    def to_json(self) -> dict:
        return {"dry_run": True, "database": self.database, "backup_dir": str(self.backup_dir),
                "server_version": self.server_version, "pg_dump": self.pg_dump.to_json(),
                "schema_version": self.schema_version, "estimated_rows": self.estimated_rows,
                "encrypted": bool(self.recipients), "recipients": self.recipients}


def plan_backup(url: str, backup_dir: Path, encrypt_to: str | None = None) -> CreatePlan:
    """Check what a backup needs (recipients, the server, a pg_dump for it, a folder it can write)."""
    to = crypto.recipients(encrypt_to) if encrypt_to else []
    writable = next((p for p in [backup_dir, *backup_dir.absolute().parents] if p.exists()), None)
    if writable is None or not writable.is_dir() or not os.access(writable, os.W_OK | os.X_OK):
        raise BadInput(f"Cannot write backups into {backup_dir}: {writable} is not a writable folder.")
    with connect(url, autocommit=True) as conn:
        version, major = server_version(conn)
        pg_dump = tools.pick("pg_dump", major, f"the server is PostgreSQL {version}")
        migrations = _applied_migrations(conn)
        rows = {checksums.table_name(schema, name): n for schema, name, n in conn.execute(ESTIMATED_ROWS)}
        database = conn.execute("SELECT current_database()").fetchone()[0]
    return CreatePlan(database, backup_dir, version, pg_dump, migrations[-1] if migrations else None, rows, len(to))


def create_backup(url: str, backup_dir: Path, encrypt_to: str | None = None,
                  progress: Progress | None = None) -> CreateResult:
    progress = progress or NoProgress()
    started = time.monotonic()
    to = crypto.recipients(encrypt_to) if encrypt_to else None
    conn = connect(url)
    try:
        version, major = server_version(conn)
        pg_dump = tools.pick("pg_dump", major, f"the server is PostgreSQL {version}")
        conn.commit()
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        snapshot, taken_at, database = conn.execute(SNAPSHOT).fetchone()
        migrations = _applied_migrations(conn)
        with layout.new_backup_folder(backup_dir, taken_at) as (folder, publish):
            archive = folder / (layout.ENCRYPTED_ARCHIVE if to else layout.ARCHIVE)
            sums, plain_sha256, plain_bytes = _dump_and_sum(conn, pg_dump, url, snapshot, archive, to, progress)
            conn.rollback()  # the snapshot is no longer needed once pg_dump is done
            progress.start("fsync", None)
            archive_sha256 = layout.sha256_file(archive)
            plain_sha256 = plain_sha256 or archive_sha256
            data = {
                "format": FORMAT,
                "name": layout.backup_name(taken_at),
                "created_at": taken_at.astimezone(UTC).isoformat(),
                "finished_at": datetime.now(UTC).isoformat(),
                "server": {"version": version, "major": major, "database": database},
                "schema": {"version": migrations[-1] if migrations else None, "migrations": migrations},
                "snapshot": snapshot,
                "checksum": {"algorithm": checksums.ALGORITHM, "session_settings": checksums.SESSION_SETTINGS},
                "tables": {name: s.to_json() for name, s in sums.items()},
                "total_rows": sum(s.rows for s in sums.values()),
                "archive": {"file": archive.name, "format": "pg_dump custom", "bytes": archive.stat().st_size,
                            "sha256": archive_sha256, "encrypted": bool(to),
                            "recipients": [str(r) for r in to] if to else [],
                            "plain_bytes": plain_bytes or archive.stat().st_size, "plain_sha256": plain_sha256},
                "tools": {"pg_dump": pg_dump.to_json(), "kbjuctl": _version("kbju-platform"),
                          "pyrage": _version("pyrage") if to else None, "python": platform.python_version()},
            }
            layout.fsync_file(archive)
            layout.write_json(folder / layout.MANIFEST, data)
            layout.write_sums(folder, {archive.name: archive_sha256})
            final = publish()
            progress.finish("fsync")
    finally:
        conn.close()
    manifest = Manifest(data)
    recorded, warning = _record_run(url, final, manifest)
    with connect(url, autocommit=True) as conn:  # every erasure so far, beside the backups (erasures.py)
        copied = erasures.merge_into_ledger(backup_dir, erasures.from_database(conn))
    return CreateResult(final, manifest, time.monotonic() - started, recorded, warning, copied)


def _applied_migrations(conn: psycopg.Connection) -> list[str]:
    if not conn.execute(HAS_YOYO).fetchone()[0]:
        return []
    return [r[0] for r in conn.execute(APPLIED_MIGRATIONS).fetchall()]


def _dump_and_sum(conn, pg_dump: tools.Tool, url: str, snapshot: str, archive: Path, to: list | None,
                  progress: Progress) -> tuple[dict[str, checksums.TableSum], str | None, int | None]:
    """pg_dump in a child process while this process checksums the same snapshot on conn."""
    child_url, child_env = dburl.for_child(url)  # the password goes by environment, never on the command line
    command = [str(pg_dump.path), "--format=custom", f"--snapshot={snapshot}", "--no-password",
               f"--dbname={child_url}"]
    if not to:
        command.append(f"--file={archive}")
    result: dict[str, object] = {}

    def checksum_tables() -> None:
        try:
            tables = checksums.user_tables(conn)
            progress.start("checksums", len(tables))
            result["sums"] = checksums.table_sums(conn, lambda _name: progress.advance("checksums"), parallel=False)
        except Exception as exc:  # noqa: BLE001 -- reported by the main thread
            result["error"] = exc

    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE if to else subprocess.DEVNULL, stderr=stderr,
                                env=child_env)
        worker = threading.Thread(target=checksum_tables, name="backup-checksums")
        worker.start()
        plain_sha256 = plain_bytes = None
        progress.start("pg_dump", None)
        try:
            if to:
                reader = crypto.encrypt_stream(proc.stdout, archive, to)
                plain_sha256, plain_bytes = reader.sha256.hexdigest(), reader.bytes
                proc.stdout.close()
            else:
                _follow_size(proc, archive, progress)
            returncode = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            worker.join()
        progress.finish("pg_dump")
        if returncode != 0:
            stderr.seek(0)
            text = stderr.read().decode("utf-8", "replace").strip()
            raise OperationFailed(f"pg_dump {pg_dump.version} failed (exit {returncode}) on "
                                  f"{dburl.redact(url)}:\n{dburl.mask(text[-2000:], url)}")
    if "error" in result:
        raise OperationFailed(f"Computing the table checksums failed: {result['error']}") from result["error"]
    return result["sums"], plain_sha256, plain_bytes


def _follow_size(proc: subprocess.Popen, archive: Path, progress: Progress) -> None:
    reported = 0
    while proc.poll() is None:
        time.sleep(0.1)
        size = archive.stat().st_size if archive.exists() else 0
        progress.advance("pg_dump", size - reported)
        reported = size


def _record_run(url: str, path: Path, manifest: Manifest) -> tuple[bool, str]:
    """A backup_runs row for the bot's "last successful backup" gauge; a failure here is a warning."""
    try:
        with connect(url, autocommit=True) as conn:
            if not conn.execute(HAS_BACKUP_RUNS).fetchone()[0]:
                return False, "backup_runs does not exist (migration 0003 not applied): run not recorded."
            conn.execute(RECORD_RUN, (datetime.now(UTC), str(path.resolve()), layout.folder_bytes(path),
                                      manifest.total_rows, manifest.archive["sha256"]))
        return True, ""
    except (psycopg.Error, BadInput) as exc:  # the backup itself is complete and valid
        return False, f"The backup is complete, but recording it in backup_runs failed: {exc}"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
