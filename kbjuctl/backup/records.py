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
    return _insert(url, "backup_verifications", INSERT, rows, "monitoring will not see this verification.")


def record_physical_backup(url: str | None, finished_at, label: str, repo_bytes: int, kind: str) -> str:
    """A backup_runs row for one pgBackRest backup; returns a warning ("" when recorded)."""
    return _insert(url, "backup_runs", INSERT_PHYSICAL, [(finished_at, label, repo_bytes, kind)],
                   "monitoring will not see this backup's age (KbjuBackupTooOld).")


def _insert(url: str | None, table: str, sql: str, rows: list[tuple], unseen: str) -> str:
    """The rows inserted into `table`, or a warning saying why not (what monitoring will miss)."""
    if not url:
        return f"Not recorded in {table} (no --database-url): {unseen}"
    try:
        with psycopg.connect(url, connect_timeout=10) as conn, conn.cursor() as cur:
            cur.executemany(sql, rows)
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or ["error"])[0]
        return f"Not recorded in {table} on {dburl.redact(url)}: {first}"
    return ""
