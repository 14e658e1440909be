"""migrate_from_sqlite: the whole run, DEV SQLite file in, verified PostgreSQL rows out (no Typer here).

One PostgreSQL transaction holds the run: bookkeeping row, COPY of the three tables, quarantine,
read-back verification, and the run marked verified. Any failure (a mismatch, an error, SIGKILL)
rolls all of it back, so the target is exactly as before and a rerun starts clean.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import asyncpg

from kbjuctl import dburl
from kbjuctl.errors import BadInput, OperationFailed
from kbjuctl.sqlite_migration import pipeline, target
from kbjuctl.sqlite_migration.digest import RangeDigests
from kbjuctl.sqlite_migration.mapping import TARGET_COLUMNS, Unmapped
from kbjuctl.sqlite_migration.report import (
    ALREADY_MIGRATED,
    DRY_RUN,
    MIGRATED,
    VERIFICATION_FAILED,
    MigrationReport,
    NoProgress,
    Progress,
    QuarantineBuffer,
    unmapped_summary,
)
from kbjuctl.sqlite_migration.source import RANGE_ROWS, TABLES, SourceReader, sqlite_problem
from kbjuctl.sqlite_migration.verify import digest_planning, stored_digests, verify, verify_loaded


class OnConflict(StrEnum):
    """What a non-empty target means: FAIL stops before writing; SKIP keeps the rows it holds and
    quarantines the source's copies."""

    FAIL = "fail"
    SKIP = "skip"


ON_CONFLICT = tuple(OnConflict)
TOOL_VERSION = "kbjuctl migrate-from-sqlite 1"
SQL_QUARANTINE_SUMMARY = """
SELECT source_table, reason_code, count(*), (array_agg(source_id ORDER BY source_id))[1:5], min(reason)
FROM migration_quarantine WHERE run_id = $1 GROUP BY 1, 2 ORDER BY 1, 2
"""


@dataclass(frozen=True)
class MigrationOptions:
    source_path: Path
    database_url: str | None  # None only for a dry run that looks at the source alone
    dry_run: bool = False
    batch_size: int = 10_000
    on_conflict: str = "fail"
    range_rows: int = RANGE_ROWS  # rows per unit of work of the load's worker processes


class _Rollback(Exception):
    pass


@dataclass
class _Run:
    """One migration run: what its steps share. `conn` is None for a dry run on the source alone;
    `imported_at`, `run_id` and `existing` are known once the target was looked at."""

    options: MigrationOptions
    source: SourceReader
    runner: pipeline.RangeRunner
    report: MigrationReport
    progress: Progress
    conn: asyncpg.Connection | None = None
    imported_at: datetime | None = None
    run_id: int | None = None
    existing: dict[str, set[int]] = field(default_factory=dict)  # source rows the target already holds

    @property
    def writes(self) -> bool:
        return self.conn is not None and not self.options.dry_run


def migrate_from_sqlite(options: MigrationOptions, progress: Progress | None = None) -> MigrationReport:
    """Run the migration; returns the report (status verification_failed: nothing was changed)."""
    if options.on_conflict not in ON_CONFLICT:
        raise BadInput(f"--on-conflict must be one of {', '.join(ON_CONFLICT)}, not {options.on_conflict!r}.")
    if options.batch_size < 1:
        raise BadInput("--batch-size must be at least 1.")
    if options.range_rows < 1:
        raise BadInput("range_rows must be at least 1.")
    if options.database_url is None and not options.dry_run:
        raise BadInput("No database given: pass --database-url postgresql://user@host:5432/db or set DATABASE_URL.")
    return asyncio.run(_migrate(options, progress or NoProgress()))


async def _migrate(options: MigrationOptions, progress: Progress) -> MigrationReport:
    try:
        return await _migrate_source(options, progress)
    except sqlite3.Error as exc:  # anywhere in the run (a corrupt page deep in a table): nothing was kept
        raise sqlite_problem(options.source_path, exc) from None


async def _migrate_source(options: MigrationOptions, progress: Progress) -> MigrationReport:
    started = time.perf_counter()
    with SourceReader(options.source_path) as source:
        facts = source.facts()
        if facts.counts["users"] == 0:
            raise BadInput(
                f"{options.source_path}: nothing to migrate: the source has no users "
                f"({facts.counts['user_records']} records, {facts.counts['user_food_preferences']} food rows). "
                "Is this the DEV bot's kbju_bot.db?"
            )
        report = MigrationReport(
            status=DRY_RUN if options.dry_run else MIGRATED, source_path=str(options.source_path),
            source_sha256=source.sha256(), source_bytes=facts.size,
            target=dburl.redact(options.database_url) if options.database_url else None,
            on_conflict=options.on_conflict, dry_run=options.dry_run,
        )
        for table in TABLES:
            report.counts[table].source = facts.counts[table]
        report.timings_s["read_source_facts"] = round(time.perf_counter() - started, 3)
        with _runner(source) as runner:
            run = _Run(options, source, runner, report, progress)
            if options.database_url is None:
                run.imported_at = datetime.now().astimezone()
                (await _load_all(run)).close()
                report.message = "Dry run on the source alone (no target given): conflicts were not checked."
            else:
                await _run_against_target(run)
    report.timings_s["total"] = round(time.perf_counter() - started, 3)
    return report


async def _run_against_target(run: _Run) -> None:
    run.conn = conn = await target.connect(run.options.database_url)
    try:
        await target.check_schema(conn, run.options.database_url)
        try:
            async with conn.transaction():
                await target.lock(conn)
                done = await target.verified_run(conn, run.report.source_sha256)
                if done is not None:
                    await _verify_existing_run(run, done)
                else:
                    await _new_run(run)
        except _Rollback:
            pass
    except asyncpg.PostgresError as exc:
        raise OperationFailed(
            f"PostgreSQL refused the migration ({type(exc).__name__}: {exc}). "
            "The transaction was rolled back: the target is unchanged."
        ) from None
    finally:
        await conn.close()


async def _new_run(run: _Run) -> None:
    conn, source, report, options = run.conn, run.source, run.report, run.options
    source.start_row_checks(options.range_rows)  # in threads, while the target is prepared
    before = report.target_rows_before = await target.target_counts(conn)
    if any(before.values()):
        run.existing = await _existing_source_rows(conn, source, options.batch_size)
        if options.on_conflict == "fail":
            overlap = sum(len(ids) for ids in run.existing.values())
            raise BadInput(
                f"The target already holds data ({before['users']} users, {before['user_records']} records, "
                f"{before['user_food_preferences']} food rows; {overlap} of them are rows of this source) "
                "and --on-conflict is fail. Nothing was written. Use --on-conflict skip to keep the "
                "existing rows and migrate the rest, or migrate into an empty database."
            )
    imported_at = run.imported_at = await conn.fetchval("SELECT now()")
    report.imported_at = imported_at.isoformat()
    if options.dry_run:
        (await _load_all(run)).close()
        raise _Rollback
    run_id = run.run_id = report.run_id = await target.start_run(
        conn, path=str(options.source_path.resolve()), sha256=report.source_sha256,
        size=report.source_bytes, imported_at=imported_at, on_conflict=options.on_conflict,
        tool_version=TOOL_VERSION)
    suspended = await target.suspend_constraints(conn)
    defaults = await target.default_imported_at(conn, TABLES, imported_at)
    loaded = await _load_all(run)
    await target.restore_defaults(conn, defaults)
    try:
        started = time.perf_counter()
        await target.restore_constraints(conn, suspended)
        report.timings_s["restore indexes and foreign keys"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        check = await verify_loaded(
            conn, source, run_id=run_id, imported_at=imported_at, batch_size=options.batch_size,
            source_counts={t: c.source for t, c in report.counts.items()}, digests=loaded.digests,
            stored=loaded.stored,
            quarantined={t: loaded.quarantine.originals(t) for t in TABLES}, timings=report.timings_s)
        report.timings_s["verify"] = round(time.perf_counter() - started, 3)
    finally:
        loaded.close()
    _apply_verification(report, check)
    if report.status == VERIFICATION_FAILED:
        raise _Rollback
    await target.finish_run(conn, run_id, _counts_json(report))


async def _verify_existing_run(run: _Run, done) -> None:
    """The same file was migrated and verified before: verify again, write nothing."""
    conn, source, report, options = run.conn, run.source, run.report, run.options
    report.status = ALREADY_MIGRATED
    report.run_id, imported_at = done["id"], done["imported_at"]
    report.imported_at = imported_at.isoformat()
    started = time.perf_counter()
    check = await verify(conn, source, run_id=report.run_id, imported_at=imported_at,
                         batch_size=options.batch_size, progress=run.progress)
    report.timings_s["verify"] = round(time.perf_counter() - started, 3)
    report.quarantine = [
        {"table": t, "reason_code": code, "count": n, "example_source_ids": list(ids), "example_reason": reason}
        for t, code, n, ids, reason in await conn.fetch(SQL_QUARANTINE_SUMMARY, report.run_id)
    ]
    report.unmapped = unmapped_summary(check.unmapped)
    _apply_verification(report, check)
    report.message = (
        "Already migrated, verified: this file was imported by run "
        f"{report.run_id} at {report.imported_at}; nothing was written."
        if report.status == ALREADY_MIGRATED else
        f"This file was imported by run {report.run_id}, but the target no longer matches it."
    )
    raise _Rollback  # nothing to keep; the verification only read


def _apply_verification(report: MigrationReport, check) -> None:
    for table, counts in check.counts.items():
        report.counts[table].migrated = counts.migrated
        report.counts[table].quarantined = counts.quarantined
    report.mismatch_count, report.mismatches = check.mismatch_count, check.mismatches
    unaccounted = [t for t, c in check.counts.items() if not c.accounted]
    if not check.ok:
        report.status = VERIFICATION_FAILED
        report.message = (
            f"Verification failed: {check.mismatch_count} mismatching row(s)"
            + (f"; source rows != migrated + quarantined in {', '.join(unaccounted)}" if unaccounted else "")
            + ". The transaction was rolled back: the target is unchanged."
        )


def _counts_json(report: MigrationReport) -> dict:
    return {t: {"source": c.source, "migrated": c.migrated, "quarantined": c.quarantined}
            for t, c in report.counts.items()}


async def _existing_source_rows(conn, source: SourceReader, batch_size: int) -> dict[str, set[int]]:
    """Source rows the (non-empty) target already holds: users by telegram_id, others by source id."""
    found: dict[str, set[int]] = {}
    for table in TABLES:
        ids: set[int] = set()
        for batch in source.batches_of(f"SELECT {'telegram_id' if table == 'users' else 'id'} FROM {table}",  # nosec B608  # table: one of TABLES
                                       max(batch_size, 10_000)):
            ids |= await target.existing(conn, table, (row[0] for row in batch))
        found[table] = ids
    return found


@dataclass
class _Loaded:
    """What the load keeps for the verification: the ranges' chunk digests, PostgreSQL's digests of
    the ranges it already read back, the quarantined rows."""

    digests: dict[str, list[RangeDigests]]
    stored: dict[str, list[list]]
    quarantine: QuarantineBuffer

    def close(self) -> None:
        self.quarantine.close()


@contextmanager
def _runner(source: SourceReader) -> Iterator[pipeline.RangeRunner]:
    """Worker processes for the load, started early: they import while the target is checked.
    A WAL-mode source is mapped in this process (another connection could see a newer snapshot)."""
    runner = pipeline.RangeRunner(source.path, source.conn, 0 if source.wal else pipeline.worker_count())
    try:
        yield runner
    finally:
        runner.close()


async def _load_all(run: _Run) -> _Loaded:
    """COPY the three tables and their quarantine (no target or a dry run: only count)."""
    run.source.start_row_checks(run.options.range_rows)  # on another core while the users load (if not yet)
    # The load makes millions of short-lived tuples and no reference cycles: the cyclic collector
    # would only walk them (~5 % of the load's time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return await _load_tables(run)
    finally:
        if collecting:
            gc.enable()


async def _load_tables(run: _Run) -> _Loaded:
    conn, report, progress, imported_at = run.conn, run.report, run.progress, run.imported_at
    quarantine = QuarantineBuffer()
    unmapped = Unmapped()
    excluded_owners: dict[int, str] = {}  # user id -> reason code for that user's rows
    write = run.writes
    # PostgreSQL reads each range back right after its COPY unless a trigger or rule could still
    # change its rows later in the load; then all of it is read back after the load.
    read_back_now = write and not await target.has_rewriters(conn, TABLES)
    digests: dict[str, list[RangeDigests]] = {table: [] for table in TABLES}
    stored: dict[str, list[list]] = {table: [] for table in TABLES}
    async with digest_planning(conn) if read_back_now else nullcontext():
        for table in TABLES:
            started = time.perf_counter()
            counts = report.counts[table]
            progress.start(table, counts.source)
            async for result in run.runner.map(_tasks(run, table, excluded_owners)):
                for source_id, reject, row in result.rejected:
                    quarantine.add(table, source_id, reject, row)
                    if table == "users":
                        excluded_owners[source_id] = (
                            "owner_skipped" if reject.code == "exists_in_target" else "owner_quarantined")
                unmapped.merge(result.unmapped)
                if write and result.payload:
                    written = await target.copy_payload(conn, table, TARGET_COLUMNS[table], result.payload)
                    if written != result.accepted:
                        raise OperationFailed(f"COPY into {table} wrote {written} rows of {result.accepted}; "
                                              "the transaction was rolled back: the target is unchanged.")
                if read_back_now:  # a range with nothing loaded too: PostgreSQL must hold nothing there
                    stored[table].append(await stored_digests(conn, result.digests, imported_at))
                digests[table].append(result.digests)
                counts.migrated += result.accepted
                progress.advance(table, result.rows)
            counts.quarantined = sum(n for (t, _), n in quarantine.by_reason.items() if t == table)
            report.timings_s[f"load {table}"] = round(time.perf_counter() - started, 3)
    report.quarantine = quarantine.summary()
    report.unmapped = unmapped_summary(unmapped)
    started = time.perf_counter()
    if write:
        await target.copy_rows(conn, "migration_quarantine", target.QUARANTINE_COLUMNS,
                               ((run.run_id, t, sid, code, text, original, imported_at)
                                for t, sid, code, text, original in quarantine.rows()))
    report.timings_s["load quarantine"] = round(time.perf_counter() - started, 3)
    return _Loaded(digests, stored, quarantine)


def _tasks(run: _Run, table: str, excluded_owners: dict[int, str]) -> Iterator[pipeline.RangeTask]:
    """The table's key ranges as units of work, each with the rejections that concern it."""
    source = run.source
    owned = table != "users"
    orphans = frozenset(source.orphan_owners(table)) if owned else frozenset()
    duplicates = sorted(source.duplicate_ids(table)) if owned else []
    existing_ids = sorted(run.existing.get(table, ()))
    excluded = dict(excluded_owners) if owned else {}
    for low, high in pipeline.key_ranges(source.key_boundaries(table)):
        yield pipeline.RangeTask(
            table, low, high, run.imported_at, run.options.batch_size, run.writes, orphans, excluded,
            frozenset(_within(duplicates, low, high)), frozenset(_within(existing_ids, low, high)))


def _within(ordered: list[int], low: int, high: int) -> list[int]:
    return ordered[bisect_left(ordered, low):bisect_right(ordered, high)]
