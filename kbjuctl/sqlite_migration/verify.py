"""Verification: every source row against what PostgreSQL now holds, inside the load's transaction.

Two ways, one verdict:

- verify_loaded (after a load): the load kept, per chunk of source ids, the sha256 of the mapped
  rows exactly as handed to COPY (digest.py); PostgreSQL computes the same digests from the
  stored table with its own binary send functions (stored_digests: during the load, right after
  each range's COPY, unless a trigger or rule could change rows later). Quarantined rows are read back and compared
  with the source rows' originals. Source rows (counted in the source) must equal migrated +
  quarantined (both counted in PostgreSQL). A chunk whose digest differs is compared row by row
  (below), which names the rows and columns; if that finds no difference the chunk still fails:
  the stored bytes differ from the values sent (say -0.0 stored as 0.0, equal in Python).
- verify (a rerun of a migrated file, and the row-by-row pass over a differing chunk): a separate
  read path from the load: the source is read again with plain `SELECT *` (no join, no duplicate
  detection), PostgreSQL through server-side cursors ordered by source id, and the three ordered
  streams (source rows, migrated rows, quarantined rows) are merged row by row. Each source row
  must be in exactly one of the two: a migrated row equal, column by column, to the mapping of the
  source row, or a quarantined row whose stored original equals the source row.

Memory stays flat either way (one chunk or one batch of each stream at a time).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from kbjuctl.sqlite_migration.digest import INT8_MAX, INT8_MIN, TARGET_KEY, RangeDigests, digest_sql
from kbjuctl.sqlite_migration.mapping import (
    TARGET_COLUMNS,
    FoodMapper,
    RecordMapper,
    Reject,
    Unmapped,
    UserMapper,
    _json_value,
    shape,
)
from kbjuctl.sqlite_migration.report import MAX_MISMATCH_EXAMPLES, NoProgress, Progress, TableCounts
from kbjuctl.sqlite_migration.source import SOURCE_KEY, TABLES, SourceReader, columns

SQL_TARGET = {
    table: f"SELECT {', '.join(cols)} FROM {table} WHERE imported_at = $1 "  # nosec B608  # names: constants of mapping
           f"AND {TARGET_KEY[table]} BETWEEN $2 AND $3 ORDER BY {TARGET_KEY[table]}"
    for table, cols in TARGET_COLUMNS.items()
}
SQL_QUARANTINED = """
SELECT source_id, original_row::text FROM migration_quarantine
WHERE run_id = $1 AND source_table = $2 AND source_id BETWEEN $3 AND $4 ORDER BY source_id
"""
SQL_SOURCE = {table: f"SELECT * FROM {table} WHERE {SOURCE_KEY[table]} BETWEEN ? AND ? ORDER BY {SOURCE_KEY[table]}"  # nosec B608  # names: constants
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
    """Row by row over the whole of every table (the caller's transaction sees the uncommitted load)."""
    progress = progress or NoProgress()
    result = Verification()
    mappers = _mappers(result.unmapped)
    for table in TABLES:
        counts = result.counts[table] = TableCounts()
        task = f"verify {table}"
        progress.start(task, source.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # nosec B608  # table: one of TABLES
        await _verify_range(conn, source, result, counts, mappers[table], table, INT8_MIN, INT8_MAX,
                            run_id=run_id, imported_at=imported_at, batch_size=batch_size,
                            advance=lambda n, task=task: progress.advance(task, n))
    return result


def _mappers(unmapped: Unmapped) -> dict:
    return {"users": UserMapper(), "user_records": RecordMapper(unmapped), "user_food_preferences": FoodMapper()}


async def _verify_range(conn, source: SourceReader, result: Verification, counts: TableCounts, mapper,
                        table: str, low: int, high: int, *, run_id: int, imported_at: datetime,
                        batch_size: int, advance=None) -> None:
    """Merge source rows, migrated rows and quarantined rows with source ids in [low, high]."""
    # Walk the source-id indexes instead of sorting a million rows before the first one arrives.
    await conn.execute("SET LOCAL enable_sort = off")
    migrated = _Stream(await conn.cursor(SQL_TARGET[table], imported_at, low, high), batch_size)
    quarantined = _Stream(await conn.cursor(SQL_QUARANTINED, run_id, table, low, high), batch_size)
    await conn.execute("SET LOCAL enable_sort = on")  # not in a finally: see digest_planning
    map_row, cols = mapper.map, columns(table)
    k = TARGET_COLUMNS[table].index(TARGET_KEY[table])
    for batch in source.batches_of(SQL_SOURCE[table], batch_size, (low, high)):
        for row in batch:
            counts.source += 1
            key = row[0]
            q = await quarantined.peek()
            while q is not None and q[0] < key:
                quarantined.take()
                result.mismatch(table, q[0], "quarantined row has no source row", target=_json_shape(q[1]))
                q = await quarantined.peek()
            if q is not None and q[0] == key:
                quarantined.take()
                counts.quarantined += 1
                if json.loads(q[1]) != {c: _json_value(v) for c, v in zip(cols, row, strict=True)}:
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
        if advance is not None:
            advance(len(batch))
    while (extra := await migrated.peek()) is not None:
        migrated.take()
        counts.migrated += 1
        result.mismatch(table, extra[k], "row in the target has no source row", target=_show(extra))
    while (extra := await quarantined.peek()) is not None:
        quarantined.take()
        result.mismatch(table, extra[0], "quarantined row has no source row", target=_json_shape(extra[1]))


SQL_QUARANTINE_ALL = """
SELECT source_id, original_row::text FROM migration_quarantine
WHERE run_id = $1 AND source_table = $2 ORDER BY source_id
"""


@asynccontextmanager
async def digest_planning(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """Plans for stored_digests: each chunk's rows in source-id order straight off the index (see
    digest_sql), not sorted again. Set once around a series of them; back on afterwards, since the
    restore's foreign-key validation plans with sorts."""
    await conn.execute("SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off; SET LOCAL jit = off")
    yield
    # Not in a finally: after an error the transaction is aborted and rolls back (taking these
    # settings with it); a statement sent now would only replace that error with "current
    # transaction is aborted".
    await conn.execute("SET LOCAL enable_sort = on; SET LOCAL enable_bitmapscan = on")


async def stored_digests(conn: asyncpg.Connection, part: RangeDigests, imported_at: datetime) -> list:
    """PostgreSQL's (chunk number, rows, digest) of the stored rows of one range's chunks (inside
    digest_planning)."""
    return await conn.fetch(digest_sql(part.table), imported_at, part.first_ids, part.high)


async def verify_loaded(conn: asyncpg.Connection, source: SourceReader, *, run_id: int, imported_at: datetime,
                        batch_size: int, source_counts: dict[str, int], digests: dict[str, list[RangeDigests]],
                        stored: dict[str, list[list]],
                        quarantined: dict[str, Iterable[tuple[int, str]]],
                        timings: dict[str, float] | None = None) -> Verification:
    """After a load: PostgreSQL's chunk digests against the load's, quarantine row by row.

    `stored` holds PostgreSQL's digests of the ranges already asked during the load (parallel to
    `digests`); the others are asked here.
    """
    result = Verification()
    timings = {} if timings is None else timings
    for table in TABLES:
        started = time.perf_counter()
        counts = result.counts[table] = TableCounts(source=source_counts[table])
        differing: list[tuple[int, int]] = []
        async with digest_planning(conn):
            for i, part in enumerate(digests[table]):
                found = stored[table][i] if i < len(stored[table]) else await stored_digests(conn, part, imported_at)
                for chunk, (number, rows, digest) in enumerate(found):
                    assert number == chunk + 1  # one result row per chunk, in order
                    counts.migrated += rows
                    if rows != part.counts[chunk] or digest != part.digests[chunk]:
                        differing.append(part.range_of(chunk))
        timings[f"verify {table} digests"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        counts.quarantined = await _compare_quarantine(conn, result, table, run_id, quarantined[table],
                                                       batch_size)
        timings[f"verify {table} quarantine"] = round(time.perf_counter() - started, 3)
        if differing or not counts.accounted:
            # Name the rows: compare the differing chunks (all of the table if only the counts differ).
            started = time.perf_counter()
            mappers = _mappers(Unmapped())
            for low, high in differing or [(INT8_MIN, INT8_MAX)]:
                before = result.mismatch_count
                await _verify_range(conn, source, result, TableCounts(), mappers[table], table, low, high,
                                    run_id=run_id, imported_at=imported_at, batch_size=batch_size)
                if result.mismatch_count == before and differing:
                    # Equal as Python values, different as stored bytes (e.g. -0.0 stored as 0.0): a
                    # difference all the same.
                    result.mismatch(table, low, "stored values differ in binary form from the rows sent "
                                    "(chunk digest), though they compare equal once decoded",
                                    source_ids=f"{low}..{high}")
            timings[f"verify {table} rows of differing chunks"] = round(time.perf_counter() - started, 3)
    return result


async def _compare_quarantine(conn, result: Verification, table: str, run_id: int,
                              ours: Iterable[tuple[int, str]], batch_size: int) -> int:
    """Stored quarantine rows of a table against the ones the load sent (source id, original JSON)."""
    stored = _Stream(await conn.cursor(SQL_QUARANTINE_ALL, run_id, table), batch_size)
    count = 0
    for source_id, original in ours:
        q = await stored.peek()
        while q is not None and q[0] < source_id:
            stored.take()
            count += 1
            result.mismatch(table, q[0], "quarantined row has no source row", target=_json_shape(q[1]))
            q = await stored.peek()
        if q is None or q[0] != source_id:
            result.mismatch(table, source_id, "source row neither migrated nor quarantined",
                            source=_json_shape(original))
            continue
        stored.take()
        count += 1
        if json.loads(q[1]) != json.loads(original):
            result.mismatch(table, source_id, "quarantined row differs from the source row",
                            source=_json_shape(original), target=_json_shape(q[1]))
    while (extra := await stored.peek()) is not None:
        stored.take()
        count += 1
        result.mismatch(table, extra[0], "quarantined row has no source row", target=_json_shape(extra[1]))
    return count


def _differences(table: str, expected: tuple, actual: tuple) -> dict[str, dict[str, str]]:
    """The columns that differ, each with the shape of both values (never the values: the report
    is read and kept by operators; the rows are in the source and the target, by id)."""
    return {
        column: {"expected": shape(e), "target": shape(a)}
        for column, e, a in zip(TARGET_COLUMNS[table], expected, actual, strict=True)
        if e != a or type(e) is not type(a)
    }


def _json_shape(text: str) -> str:
    return f"the original row as JSON ({len(text)} characters)"


def _show(row) -> str:
    return f"a row of {len(row)} columns"
