"""Read-back verification: every source row, read again, against what PostgreSQL now holds.

A separate read path from the load: the source is read again with plain `SELECT *` (no join, no
duplicate detection), PostgreSQL is read through server-side cursors ordered by source id, and
the three ordered streams (source rows, migrated rows, quarantined rows) are merged row by row.
Each source row must be in exactly one of the two: a migrated row equal, column by column, to
the mapping of the source row, or a quarantined row whose stored original equals the source row.
Memory stays flat (one batch of each stream at a time); the cost is one pass over each side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from kbjuctl.sqlite_migration.mapping import (
    TARGET_COLUMNS,
    FoodMapper,
    RecordMapper,
    Reject,
    Unmapped,
    UserMapper,
    _json_value,
)
from kbjuctl.sqlite_migration.report import MAX_MISMATCH_EXAMPLES, NoProgress, Progress, TableCounts
from kbjuctl.sqlite_migration.source import TABLES, SourceReader, columns

TARGET_KEY = {"users": "telegram_id", "user_records": "legacy_source_id",
              "user_food_preferences": "legacy_source_id"}
SQL_TARGET = {
    table: f"SELECT {', '.join(cols)} FROM {table} WHERE imported_at = $1 ORDER BY {TARGET_KEY[table]}"
    for table, cols in TARGET_COLUMNS.items()
}
SQL_QUARANTINED = """
SELECT source_id, original_row::text FROM migration_quarantine
WHERE run_id = $1 AND source_table = $2 ORDER BY source_id
"""
SQL_SOURCE = {table: f"SELECT * FROM {table} ORDER BY {'telegram_id' if table == 'users' else 'id'}"
              for table in TABLES}


@dataclass
class Verification:
    counts: dict[str, TableCounts] = field(default_factory=dict)
    mismatch_count: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    unmapped: Unmapped = field(default_factory=Unmapped)

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0 and all(c.accounted for c in self.counts.values())

    def mismatch(self, table: str, source_id, kind: str, **detail) -> None:
        self.mismatch_count += 1
        if len(self.mismatches) < MAX_MISMATCH_EXAMPLES:
            self.mismatches.append({"table": table, "source_id": source_id, "kind": kind, **detail})


class _Stream:
    """A PostgreSQL cursor read a batch at a time, with one row of look-ahead."""

    def __init__(self, cursor, batch_size: int):
        self._cursor, self._batch_size = cursor, batch_size
        self._rows: list = []
        self._pos = 0
        self._done = False

    async def peek(self):
        if self._pos >= len(self._rows) and not self._done:
            self._rows = await self._cursor.fetch(self._batch_size)
            self._pos = 0
            self._done = len(self._rows) < self._batch_size
        return self._rows[self._pos] if self._pos < len(self._rows) else None

    def take(self):
        row = self._rows[self._pos]
        self._pos += 1
        return row


async def verify(conn: asyncpg.Connection, source: SourceReader, *, run_id: int, imported_at: datetime,
                 batch_size: int, progress: Progress | None = None) -> Verification:
    """Compare source and target inside the caller's transaction (so it sees the uncommitted load)."""
    progress = progress or NoProgress()
    result = Verification()
    # Walk the source-id indexes instead of sorting a million rows before the first one arrives.
    await conn.execute("SET LOCAL enable_sort = off")
    mappers = {"users": UserMapper(imported_at), "user_records": RecordMapper(imported_at, result.unmapped),
               "user_food_preferences": FoodMapper(imported_at)}
    for table in TABLES:
        counts = result.counts[table] = TableCounts()
        task = f"verify {table}"
        progress.start(task, source.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        migrated = _Stream(await conn.cursor(SQL_TARGET[table], imported_at), batch_size)
        quarantined = _Stream(await conn.cursor(SQL_QUARANTINED, run_id, table), batch_size)
        map_row, cols = mappers[table].map, columns(table)
        k = TARGET_COLUMNS[table].index(TARGET_KEY[table])
        for batch in source.batches_of(SQL_SOURCE[table], batch_size):
            for row in batch:
                counts.source += 1
                key = row[0]
                q = await quarantined.peek()
                while q is not None and q[0] < key:
                    quarantined.take()
                    result.mismatch(table, q[0], "quarantined row has no source row", target=q[1][:500])
                    q = await quarantined.peek()
                if q is not None and q[0] == key:
                    quarantined.take()
                    counts.quarantined += 1
                    if json.loads(q[1]) != {c: _json_value(v) for c, v in zip(cols, row)}:
                        result.mismatch(table, key, "quarantined row differs from the source row",
                                        source=_show(row), target=q[1])
                    continue
                t = await migrated.peek()
                while t is not None and t[k] < key:
                    migrated.take()
                    counts.migrated += 1
                    result.mismatch(table, t[k], "row in the target has no source row", target=_show(t))
                    t = await migrated.peek()
                if t is None or t[k] != key:
                    result.mismatch(table, key, "source row neither migrated nor quarantined", source=_show(row))
                    continue
                migrated.take()
                counts.migrated += 1
                try:
                    expected = map_row(row)
                except Reject as reject:
                    result.mismatch(table, key, "migrated, but the mapping rejects it", reason=reject.text)
                    continue
                actual = tuple(t)
                if actual != expected:
                    result.mismatch(table, key, "values differ", columns=_differences(table, expected, actual))
            progress.advance(task, len(batch))
        while (extra := await migrated.peek()) is not None:
            migrated.take()
            counts.migrated += 1
            result.mismatch(table, extra[k], "row in the target has no source row", target=_show(extra))
        while (extra := await quarantined.peek()) is not None:
            quarantined.take()
            result.mismatch(table, extra[0], "quarantined row has no source row", target=extra[1][:500])
    return result


def _differences(table: str, expected: tuple, actual: tuple) -> dict[str, dict[str, str]]:
    return {
        column: {"expected": repr(e), "target": repr(a)}
        for column, e, a in zip(TARGET_COLUMNS[table], expected, actual)
        if e != a or type(e) is not type(a)
    }


def _show(row) -> str:
    return repr(tuple(row))[:500]
