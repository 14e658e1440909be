"""`backup restore`: verify first, restore atomically with pg_restore, then prove the data matches."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from psycopg import sql

from kbjuctl import dburl, roles
from kbjuctl.backup import checksums, erasures, tools, transactional
from kbjuctl.backup.archive import Backup, archive_problems, open_backup, plaintext, unreadable
from kbjuctl.backup.db import connect, server_version
from kbjuctl.backup.progress import NoProgress, Progress
from kbjuctl.errors import BadInput, OperationFailed, VerificationFailed

HAS_ROWS = "SELECT EXISTS (SELECT FROM {})"


@dataclass
class RestoreResult:
    path: Path
    target: str
    tables: dict[str, checksums.TableSum]  # as restored (a dry run: as the manifest has them)
    pg_restore: tools.Tool
    seconds: float
    replaced: list[str] = field(default_factory=list)  # tables the target held before (--force)
    dry_run: bool = False
    reerased: list[int] = field(default_factory=list)  # erased again: their erasure is newer than the backup
    warning: str = ""

    def to_json(self) -> dict:
        return {"path": str(self.path), "target": self.target, "dry_run": self.dry_run,
                "matches_manifest": None if self.dry_run else True,
                "tables": {n: s.to_json() for n, s in self.tables.items()},
                "total_rows": sum(s.rows for s in self.tables.values()),
                "pg_restore": self.pg_restore.to_json(), "replaced_tables": self.replaced,
                "reerased": len(self.reerased), "warning": self.warning, "seconds": round(self.seconds, 3)}


# Called with what a restore over existing tables would replace, before anything is changed; it
# raises to stop the restore (kbjuctl.confirm asks the person).
Approve = Callable[[str, list[str]], None]


def pick_pg_restore(backup: Backup, server_major: int, server_version_text: str) -> tools.Tool:
    """Able to read the archive (major >= pg_dump's) and to write to the server (>= its major)."""
    dump_major = backup.manifest.dump_major
    if dump_major > server_major:
        why = f"the archive was written by pg_dump {dump_major}"
    else:
        why = f"the server is PostgreSQL {server_version_text}"
    return tools.pick("pg_restore", max(dump_major, server_major), why)


def checked_backup(path: Path) -> Backup:
    """The backup, with its manifest and archive proven intact; VerificationFailed says what is not."""
    backup = open_backup(path)
    problems = archive_problems(backup)
    if problems:
        raise VerificationFailed(f"The backup {backup.folder} is damaged:\n  " + "\n  ".join(problems))
    return backup


def ensure_group_roles(url: str) -> None:
    """Create the NOLOGIN group roles the archive's GRANTs name, when the server lacks them (roles
    are not part of a dump: a restore onto a new server would fail on its GRANTs)."""
    with connect(url, autocommit=True) as conn:
        for role in roles.SCHEMA_GROUPS:
            roles.ensure_group_role(conn, role)


def run_pg_restore(pg_restore: tools.Tool, archive: Path, url: str, *, single_transaction: bool,
                   clean: bool = False, jobs: int = 1) -> None:
    ensure_group_roles(url)
    child_url, child_env = dburl.for_child(url)  # the password goes by environment, never on the command line
    command = [str(pg_restore.path), "--exit-on-error", "--no-owner", "--no-password", f"--dbname={child_url}"]
    if single_transaction:
        command.append("--single-transaction")
    elif jobs > 1:
        command.append(f"--jobs={jobs}")
    if clean:
        command += ["--clean", "--if-exists"]
    done = subprocess.run([*command, str(archive)], check=False, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=child_env)
    if done.returncode != 0:
        undone = " It ran in one transaction: the target was left as it was." if single_transaction else ""
        raise OperationFailed(f"pg_restore {pg_restore.version} failed on {dburl.redact(url)}:{undone}\n"
                              f"{dburl.mask(done.stderr.strip()[-2000:], url)}")


def compare_with_manifest(url: str, backup: Backup, progress: Progress) -> tuple[dict, list[str]]:
    with connect(url, autocommit=True) as conn:
        progress.start("checksums", len(checksums.user_tables(conn)))
        methods = {name: t["method"] for name, t in backup.manifest.tables.items()}
        sums = checksums.table_sums(conn, lambda _name: progress.advance("checksums"), methods)
    progress.finish("checksums")
    return sums, checksums.differences(backup.manifest.tables, sums)


def tables_with_rows(conn) -> tuple[list[str], list[str]]:
    """(every user table, those holding at least one row) of the database behind conn."""
    names, filled = [], []
    for schema, name in checksums.user_tables(conn):
        names.append(checksums.table_name(schema, name))
        query = sql.SQL(HAS_ROWS).format(sql.Identifier(schema, name))
        if conn.execute(query).fetchone()[0]:
            filled.append(checksums.table_name(schema, name))
    return names, filled


def restore_backup(path: Path, url: str, *, force: bool = False, identity: Path | None = None,
                   progress: Progress | None = None, dry_run: bool = False,
                   approve: Approve | None = None) -> RestoreResult:
    """Verify the backup, restore it in one transaction, compare every table with the manifest.
    dry_run: every check, nothing restored. approve: asked before tables that exist are replaced."""
    progress = progress or NoProgress()
    started = time.monotonic()
    progress.start("check archive", None)
    backup = checked_backup(path)
    with connect(url, autocommit=True) as conn:
        version, major = server_version(conn)
        existing, filled = tables_with_rows(conn)
        target_erasures = erasures.from_database(conn) if existing else []
    if existing and not force:
        held = f"{len(filled)} of them hold rows ({', '.join(filled[:5])})" if filled else "none holds rows yet"
        raise BadInput(f"The target {dburl.redact(url)} already has {len(existing)} tables ({held}). "
                       "Restore into an empty database, or pass --force to replace what it holds.")
    if target_erasures and not dry_run:  # the target's own ledger, before the restore replaces it
        erasures.merge_into_ledger(backup.folder.parent, target_erasures)
    pg_restore = pick_pg_restore(backup, major, version)
    with plaintext(backup, identity) as archive:
        problem = unreadable(pg_restore, archive, whole=False)
        if problem:
            raise VerificationFailed(f"{problem}\nThe target was not touched.")
        progress.finish("check archive")
        if dry_run:
            planned = {name: checksums.TableSum(t["rows"], t["checksum"], t["method"])
                       for name, t in backup.manifest.tables.items()}
            return RestoreResult(backup.folder, dburl.redact(url), planned, pg_restore, time.monotonic() - started,
                                 existing, dry_run=True)
        if existing and approve is not None:
            approve(f"Replace what {dburl.redact(url)} holds with the backup {backup.folder.name}: the backup's "
                    f"objects replace {len(existing)} existing table(s), their rows are lost:",
                    [f"{name}{' (holds rows)' if name in filled else ''}" for name in existing])
        progress.start("restore + compare", None)
        ensure_group_roles(url)
        sums = transactional.restore(pg_restore, archive, url, backup, clean=bool(existing))
        progress.finish("restore + compare")
    reerased, warning = reapply_erasures(url, backup.folder.parent, datetime.fromisoformat(backup.manifest.created_at))
    return RestoreResult(backup.folder, dburl.redact(url), sums, pg_restore, time.monotonic() - started, existing,
                         reerased=reerased, warning=warning)


HAS_ERASE = "SELECT to_regprocedure('kbju_erase_person(bigint, text)') IS NOT NULL"


def reapply_erasures(url: str, backup_dir: Path, snapshot: datetime, dry_run: bool = False) -> tuple[list[int], str]:
    """Erase again everyone the ledger beside the backups says was erased after `snapshot` (one
    transaction, rolled back for a dry run); (their Telegram IDs, a warning when that cannot be done
    on this schema)."""
    pending = [e for e in erasures.read_ledger(backup_dir) if e.erased_at > snapshot]
    if not pending:
        return [], ""
    with connect(url) as conn:
        if not conn.execute(HAS_ERASE).fetchone()[0]:
            return [], (f"{len(pending)} erasure(s) newer than the backup were NOT re-applied: its schema predates "
                        "erasure (sql/0042). Run `kbjuctl db upgrade`, then `kbjuctl backup reapply-erasures "
                        f"--since {snapshot.isoformat()}` before the bot serves again.")
        erased = erasures.reapply(conn, pending, snapshot)
        if dry_run:
            conn.rollback()
        else:
            conn.commit()
    return erased, ""
