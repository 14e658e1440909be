"""`kbjuctl migrate-from-sqlite`: options in, the migration service called, progress and summary drawn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from kbjuctl.console import err, out, print_json
from kbjuctl.errors import VerificationFailed
from kbjuctl.options import DatabaseUrl, JsonOutput, require_database_url
from kbjuctl.sqlite_migration import MigrationOptions, MigrationReport, OnConflict
from kbjuctl.sqlite_migration import migrate_from_sqlite as run_migration


class _RowsPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="cyan")


class _RichProgress:
    """The service's Progress drawn as one rich bar per table and verification pass."""

    def __init__(self, bars: Progress):
        self._bars, self._tasks = bars, {}

    def start(self, task: str, total: int) -> None:
        self._tasks[task] = self._bars.add_task(task, total=total)

    def advance(self, task: str, rows: int) -> None:
        self._bars.advance(self._tasks[task], rows)


def migrate_from_sqlite(
    sqlite_path: Annotated[Path, typer.Argument(help="The DEV bot's SQLite file (kbju_bot.db); opened read-only.",
                                                show_default=False)],
    database_url: DatabaseUrl = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do everything but write; report what would be "
                                          "migrated and quarantined.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows read per batch.")] = 10_000,
    report_file: Annotated[Path | None, typer.Option("--report", help="Also write the report as JSON here.",
                                                     show_default=False)] = None,
    on_conflict: Annotated[OnConflict, typer.Option("--on-conflict", help="fail: stop if the target already "
                                                    "holds data; skip: keep existing rows, quarantine the source's "
                                                    "copies.")] = OnConflict.FAIL,
    as_json: JsonOutput = False,
) -> None:
    """Move a DEV SQLite database into PostgreSQL, verified row by row, in one transaction.

    Exit codes: 0 migrated and verified; 3 migrated and verified, but rows were quarantined or values
    left unmapped (see the report); 1 verification failed (the target is unchanged); 2 bad input.
    """
    url = database_url if (dry_run and not database_url) else require_database_url(database_url)
    options = MigrationOptions(sqlite_path, url, dry_run=dry_run, batch_size=batch_size,
                               on_conflict=on_conflict.value)
    bars = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), _RowsPerSecond(),
                    TimeElapsedColumn(), console=err, transient=False, disable=as_json)
    with bars:
        report = run_migration(options, _RichProgress(bars))
    if report_file is not None:
        report_file.write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print_json(report.to_json())
    else:
        _render(report)
    if report.exit_code == 1:
        examples = "\n".join(f"  {m['table']} {m['source_id']}: {m['kind']}"
                             + (f" {m['columns']}" if "columns" in m else "") for m in report.mismatches[:5])
        raise VerificationFailed(f"{report.message}\n{examples}")
    if report.exit_code == 3:
        raise typer.Exit(3)  # not an error: verified, with quarantined rows or unmapped values


def _render(report: MigrationReport) -> None:
    title = {"migrated": "Migrated and verified", "already_migrated": "Already migrated, verified",
             "dry_run": "Dry run (nothing written)", "verification_failed": "Verification FAILED (rolled back)"}
    table = Table(title=f"{title[report.status]}: {report.source_path}")
    for column in ("table", "source rows", "migrated" if not report.dry_run else "would migrate",
                   "quarantined" if not report.dry_run else "would quarantine"):
        table.add_column(column, justify="right" if column != "table" else "left")
    for name, counts in report.counts.items():
        table.add_row(name, f"{counts.source:,}", f"{counts.migrated:,}", f"{counts.quarantined:,}")
    out.print(table)
    if report.quarantine:
        reasons = Table(title="Quarantine (migration_quarantine)")
        for column in ("table", "reason", "rows", "example source ids"):
            reasons.add_column(column)
        for q in report.quarantine:
            reasons.add_row(q["table"], q["reason_code"], f"{q['count']:,}",
                            ", ".join(map(str, q["example_source_ids"])))
        out.print(reasons)
    if report.unmapped:
        unmapped = Table(title="Values with no canonical equivalent (kept in legacy_* columns)")
        for column in ("table", "column", "value", "rows", "example source ids"):
            unmapped.add_column(column)
        for u in report.unmapped:
            unmapped.add_row(u["table"], u["column"], repr(u["value"]), f"{u['count']:,}",
                             ", ".join(map(str, u["example_source_ids"])))
        out.print(unmapped)
    if report.message:
        out.print(report.message)
    out.print(f"Total {report.timings_s.get('total', 0):.2f} s.")
