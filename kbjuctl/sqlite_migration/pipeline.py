"""The load's per-row work, one key range of one table at a time, in worker processes.

Reading a DEV row, mapping it, encoding it for COPY and for the verification's digest costs about
4 µs of Python per row: in the main process that kept one core busy while PostgreSQL, on the other,
mostly waited. Here worker processes take key ranges of a table (source.RANGE_ROWS rows each) and
return each range ready to load: the binary COPY payload (encoded by psycopg's C encoder), the
range's chunk digests (digest.py, our own encoder: the two encoders are independent, so a wrong
encoding shows up in the verification), and the rows it rejected. The main process streams the
payloads to PostgreSQL in key order and asks PostgreSQL for the digests of what it stored while
the workers map the next ranges.

Each worker reads through its own read-only connection inside a read transaction. That sees the
main connection's snapshot only in rollback-journal mode, where the main connection's SHARED lock
keeps every writer from committing; a WAL-mode file is mapped in the main process instead.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sqlite3
import sys
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from types import ModuleType

from bot.procutil import die_with_parent
from kbjuctl.sqlite_migration.digest import INT8_MAX, INT8_MIN, RangeDigester, RangeDigests, RowEncoders
from kbjuctl.sqlite_migration.mapping import (
    TARGET_COLUMNS,
    FoodMapper,
    RecordMapper,
    Reject,
    Unmapped,
    UserMapper,
)
from kbjuctl.sqlite_migration.source import SELECT_RANGE, open_snapshot_reader

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"

INT8, INT4, TEXT, FLOAT8, DATE, TIMESTAMPTZ = 20, 23, 25, 701, 1082, 1184
# The PostgreSQL type of every column COPY writes (mapping.TARGET_COLUMNS order, sql/0001).
COLUMN_OIDS: dict[str, tuple[int, ...]] = {
    "users": (INT8, TEXT, TEXT, TEXT, TEXT, DATE, TIMESTAMPTZ),
    "user_records": (INT8, DATE, FLOAT8, FLOAT8, FLOAT8, FLOAT8, INT4, TEXT, TEXT, TEXT, TEXT, FLOAT8, INT8,
                     TEXT, TEXT, TEXT, TEXT, FLOAT8),
    "user_food_preferences": (INT8, TEXT, TEXT, TIMESTAMPTZ, INT8),
}
assert all(len(COLUMN_OIDS[t]) == len(TARGET_COLUMNS[t]) for t in TARGET_COLUMNS)


@dataclass(frozen=True)
class RangeTask:
    """One key range [low, high] of one table, with what decides which of its rows are rejected."""

    table: str
    low: int
    high: int
    imported_at: datetime
    batch_size: int
    encode: bool  # False: a dry run only counts
    orphans: frozenset = frozenset()  # owners no user has (owned tables)
    excluded_owners: dict[int, str] = field(default_factory=dict)  # user id -> reason for its rows
    duplicates: frozenset = frozenset()  # source ids of later duplicates within the range
    existing: frozenset = frozenset()  # source ids within the range the target already holds


@dataclass
class RangeResult:
    table: str
    rows: int  # source rows read
    accepted: int  # rows in the payload
    payload: bytearray  # binary COPY data, signature and trailer included; empty when nothing to write
    digests: RangeDigests
    rejected: list[tuple[int, Reject, tuple]]  # (source id, reason, the source row), in key order
    unmapped: Unmapped


@cache
def _binary_copy():
    """psycopg's row encoder for binary COPY (C-accelerated with psycopg[binary]) and its Transformer
    class. Imported on first use: the main process maps only a WAL-mode source (psycopg is 50 ms of
    kbjuctl's start)."""
    from psycopg.adapt import Transformer

    try:
        from psycopg._copy_base import format_row_binary
    except ImportError:  # pragma: no cover - psycopg < 3.2 kept it here
        from psycopg.copy import format_row_binary  # type: ignore[attr-defined,no-redef]
    return format_row_binary, Transformer


def map_range(task: RangeTask, conn: sqlite3.Connection) -> RangeResult:
    """Read, check, map and encode the rows of one key range."""
    from psycopg.pq import Format

    format_row_binary, Transformer = _binary_copy()
    unmapped = Unmapped()
    map_row = {"users": UserMapper().map, "user_records": RecordMapper(unmapped).map,
               "user_food_preferences": FoodMapper().map}[task.table]
    digester = RangeDigester(task.table, RowEncoders(task.imported_at), task.low, task.high)
    transformer = Transformer()
    transformer.set_dumper_types(COLUMN_OIDS[task.table], Format.BINARY)
    payload = bytearray(COPY_SIGNATURE)
    rejected: list[tuple[int, Reject, tuple]] = []
    owned = task.table != "users"
    orphan = "orphan_record" if task.table == "user_records" else "orphan_food"
    duplicate = "duplicate_record_date" if task.table == "user_records" else "duplicate_food"
    orphans, excluded, duplicates, existing = task.orphans, task.excluded_owners, task.duplicates, task.existing
    rows = accepted_rows = 0
    cursor = conn.execute(SELECT_RANGE[task.table], (task.low, task.high))
    while batch := cursor.fetchmany(task.batch_size):
        rows += len(batch)
        accepted: list[tuple] = []
        append = accepted.append
        for row in batch:
            try:
                if owned:
                    if orphans and row[1] in orphans:
                        raise Reject(orphan, f"telegram_id {row[1]!r}")
                    if excluded and row[1] in excluded:
                        raise Reject(excluded[row[1]], f"telegram_id {row[1]!r}")
                    if duplicates and row[0] in duplicates:
                        raise Reject(duplicate, f"telegram_id {row[1]!r}")
                if existing and row[0] in existing:
                    raise Reject("exists_in_target", f"source id {row[0]!r}")
                append(map_row(row))
            except Reject as reject:
                # Without its traceback: that would keep this frame (and its payload) alive in a
                # reference cycle, and the collector is off.
                rejected.append((row[0], reject.with_traceback(None), row))
        accepted_rows += len(accepted)
        digester.add_batch(accepted)
        if task.encode:
            for mapped in accepted:
                format_row_binary(mapped, transformer, payload)
    payload += COPY_TRAILER
    return RangeResult(task.table, rows, accepted_rows,
                       payload if task.encode and accepted_rows else bytearray(),
                       digester.finish(), rejected, unmapped)


# --- worker processes -------------------------------------------------------------------------

_worker_conn: sqlite3.Connection | None = None


def _start_worker(path: str, parent_pid: int) -> None:
    global _worker_conn
    die_with_parent(parent_pid)  # even on SIGKILL, and a parent killed while this worker imported
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    gc.disable()  # millions of short-lived tuples, no cycles
    _binary_copy()
    _worker_conn = open_snapshot_reader(Path(path))


def _map_in_worker(task: RangeTask) -> RangeResult:
    assert _worker_conn is not None
    return map_range(task, _worker_conn)


def worker_count() -> int:
    """Processes that map while the main process loads: one per core beyond the one PostgreSQL and
    the main process share, at least one, at most two. On 2 cores one worker beat two (6.7 s
    against 6.9 s on 1M records, 80 MB less): the main process and PostgreSQL need the other core."""
    return max(1, min(2, (os.cpu_count() or 1) - 1))


@contextmanager
def _main_left_alone() -> Iterator[None]:
    """Spawn workers that do not run the main script again.

    A spawned process imports the parent's main script unless the parent runs as `python -m
    package` (multiprocessing.spawn.get_preparation_data). The `kbjuctl` console script imports the
    whole CLI, 0.3 s before a worker could map its first range; the workers need none of it (their
    functions live in this module). While they start, __main__ is a bare module here.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class RangeRunner:
    """Maps key ranges in worker processes (or in this process: `processes=0`), results in order."""

    def __init__(self, path: Path, conn: sqlite3.Connection, processes: int):
        self._conn = conn
        self._pool: ProcessPoolExecutor | None = None
        if processes > 0:
            with _main_left_alone():
                self._pool = ProcessPoolExecutor(processes, mp_context=get_context("spawn"),
                                                 initializer=_start_worker, initargs=(str(path), os.getpid()))
                for _ in range(processes):  # start them now: they import while the target is checked
                    self._pool.submit(os.getpid)
        self._ahead = processes + 1

    async def map(self, tasks: Iterable[RangeTask]) -> AsyncIterator[RangeResult]:
        """Results in task order, the workers mapping up to one range per worker ahead."""
        if self._pool is None:
            for task in tasks:
                yield map_range(task, self._conn)
            return
        pending: deque[Future] = deque()
        queue = iter(tasks)
        for task in queue:
            pending.append(self._pool.submit(_map_in_worker, task))
            if len(pending) >= self._ahead:
                break
        while pending:
            result = await asyncio.wrap_future(pending.popleft())
            task = next(queue, None)
            if task is not None:
                pending.append(self._pool.submit(_map_in_worker, task))
            yield result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def key_ranges(boundaries: list[int]) -> list[tuple[int, int]]:
    """Ranges covering every key: (-2**63, b1 - 1), (b1, b2 - 1), ..., (bn, 2**63 - 1)."""
    starts = [INT8_MIN] + [b for b in boundaries if b > INT8_MIN]
    return [(low, (starts[i + 1] - 1) if i + 1 < len(starts) else INT8_MAX) for i, low in enumerate(starts)]
