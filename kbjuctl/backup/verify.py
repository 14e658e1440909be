"""`backup verify`: the archive's checksum, pg_restore reading it, and with --deep a scratch restore compared."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from kbjuctl import dburl, localpg
from kbjuctl.backup import layout
from kbjuctl.backup.archive import Backup, archive_problems, open_backup, plaintext, unreadable
from kbjuctl.backup.db import connect, server_version
from kbjuctl.backup.progress import NoProgress, Progress
from kbjuctl.backup.restore import compare_with_manifest, pick_pg_restore, run_pg_restore
from kbjuctl.errors import BadInput, VerificationFailed


@dataclass
class VerifyResult:
    path: Path
    deep: bool
    ok: bool
    problems: list[str]
    seconds: float
    tables: dict[str, dict] = field(default_factory=dict)
    pg_restore: dict | None = None
    warning: str = ""

    def to_json(self) -> dict:
        return {"path": str(self.path), "deep": self.deep, "ok": self.ok, "problems": self.problems,
                "tables": self.tables, "pg_restore": self.pg_restore, "seconds": round(self.seconds, 3),
                "warning": self.warning}


def verify_backup(path: Path, *, deep: bool = False, identity: Path | None = None,
                  database_url: str | None = None, progress: Progress | None = None) -> VerifyResult:
    """Check a backup; raises VerificationFailed (after recording it) when anything differs."""
    progress = progress or NoProgress()
    started = time.monotonic()
    if deep and not database_url:
        raise BadInput("--deep restores into a scratch database: pass --database-url (or set DATABASE_URL) "
                       "for the server to create it on.")
    backup = open_backup(path)
    if backup.encrypted and identity is None:
        raise BadInput(f"{backup.archive.name} is encrypted: pass --identity FILE to verify what it holds.")
    progress.start("sha256", None)
    problems = archive_problems(backup)
    progress.finish("sha256")
    result = VerifyResult(backup.folder, deep, not problems, problems, 0.0)
    if not problems:
        _read_and_restore(backup, result, identity, database_url if deep else None, progress)
    result.seconds = time.monotonic() - started
    result.warning = _record(backup, result)
    if not result.ok:
        raise VerificationFailed(f"The backup {backup.folder} does NOT verify:\n  " + "\n  ".join(result.problems))
    return result


def _read_and_restore(backup: Backup, result: VerifyResult, identity: Path | None, server_url: str | None,
                      progress: Progress) -> None:
    if server_url:
        with connect(server_url, autocommit=True) as conn:
            version, major = server_version(conn)
    else:
        version, major = "(none: no restore)", 0
    pg_restore = pick_pg_restore(backup, major, version)
    result.pg_restore = pg_restore.to_json()
    with plaintext(backup, identity) as archive:
        progress.start("pg_restore read", None)
        problem = unreadable(pg_restore, archive, whole=server_url is None)
        progress.finish("pg_restore read")
        if problem:
            result.ok, result.problems = False, [problem]
            return
        if server_url:
            _scratch_restore(pg_restore, archive, backup, result, server_url, progress)


def _scratch_restore(pg_restore, archive: Path, backup: Backup, result: VerifyResult, server_url: str,
                     progress: Progress) -> None:
    name = localpg.unique_name("kbju_verify")
    try:
        scratch = localpg.create_database(server_url, name)
    except psycopg.Error as exc:
        raise BadInput(f"Cannot create the scratch database {name} on {dburl.redact(server_url)}: "
                       f"{dburl.mask(str(exc), server_url)}") from None
    try:
        progress.start("pg_restore", None)
        run_pg_restore(pg_restore, archive, scratch, single_transaction=False, jobs=os.cpu_count() or 1)
        progress.finish("pg_restore")
        sums, diffs = compare_with_manifest(scratch, backup, progress)
        result.tables = {n: s.to_json() for n, s in sums.items()}
        result.ok, result.problems = not diffs, diffs
    finally:
        localpg.drop_database(server_url, name)


def _record(backup: Backup, result: VerifyResult) -> str:
    """verification.json beside the backup (the manifest is never changed); a warning if not writable."""
    sidecar = {"verified_at": datetime.now(UTC).isoformat(), "ok": result.ok, "deep": result.deep,
               "archive_sha256": backup.manifest.archive["sha256"], "problems": result.problems,
               "pg_restore": result.pg_restore}
    tmp = backup.folder / f".{layout.VERIFICATION}.tmp"
    try:
        layout.write_json(tmp, sidecar)
        os.replace(tmp, backup.folder / layout.VERIFICATION)
        return ""
    except OSError as exc:
        return f"Could not record the result in {backup.folder / layout.VERIFICATION}: {exc.strerror}."
