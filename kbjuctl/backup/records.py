"""Rows the backup commands leave in the database for monitoring: successful verifications
(backup_verifications, migration 0020) and pgBackRest's backups (backup_runs with their kind, migration
0044), read by the bot as the "last verified backup" and "last successful backup" gauges."""

from __future__ import annotations

import psycopg

from kbjuctl import dburl

INSERT = "INSERT INTO backup_verifications (kind, label, deep) VALUES (%s, %s, %s)"
INSERT_PHYSICAL = ("INSERT INTO backup_runs (finished_at, path, size_bytes, total_rows, kind) "
                   "VALUES (%s, %s, %s, 0, %s)")


def record_verifications(url: str | None, rows: list[tuple[str, str, bool]]) -> str:
    """Insert (kind, label, deep) rows; returns a warning ("" when recorded or nothing to record)."""
    if not rows:
        return ""
    if not url:
        return ("Not recorded in backup_verifications (no --database-url): monitoring will not see this "
                "verification.")
    try:
        with psycopg.connect(url, connect_timeout=10) as conn, conn.cursor() as cur:
            cur.executemany(INSERT, rows)
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or ["error"])[0]
        return f"Not recorded in backup_verifications on {dburl.redact(url)}: {first}"
    return ""


def record_physical_backup(url: str | None, finished_at, label: str, repo_bytes: int, kind: str) -> str:
    """A backup_runs row for one pgBackRest backup; returns a warning ("" when recorded)."""
    if not url:
        return ("Not recorded in backup_runs (no --database-url): monitoring will not see this backup's age "
                "(KbjuBackupTooOld).")
    try:
        with psycopg.connect(url, connect_timeout=10) as conn, conn.cursor() as cur:
            cur.execute(INSERT_PHYSICAL, (finished_at, label, repo_bytes, kind))
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or ["error"])[0]
        return f"Not recorded in backup_runs on {dburl.redact(url)}: {first}"
    return ""
