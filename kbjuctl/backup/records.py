"""Rows the backup commands leave in the database for monitoring: successful verifications
(backup_verifications, migration 0020), read by the bot as the "last verified backup" gauges."""

from __future__ import annotations

import psycopg

from kbjuctl import dburl

INSERT = "INSERT INTO backup_verifications (kind, label, deep) VALUES (%s, %s, %s)"


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
