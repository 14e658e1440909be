"""One person's data, for requests that reach the operators by other channels than the bot.

`export_person` is the subject access request: everything stored about a Telegram ID (the
database's `kbju_person_data`, the same query the bot's /export reads) as data.json, with the
same CSV and one-page PDF the person gets from /export. `erase_person` is the right to be
forgotten: the database's `kbju_erase_person`, as the bot's /delete_me, in one transaction,
recorded in the erasures ledger (in the database, and beside the backups when BACKUP_DIR exists,
so that a restore of an older backup erases the person again: docs/backup.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from kbjuctl.backup import erasures
from kbjuctl.backup.db import connect
from kbjuctl.errors import BadInput, KbjuctlError

PERSON_DATA = "SELECT kbju_person_data(%s)"
PERSON_ROWS = "SELECT table_name, row_count FROM kbju_person_rows(%s)"
ERASE = "SELECT table_name, row_count FROM kbju_erase_person(%s, 'kbjuctl')"
LEDGER_ENTRY = "SELECT telegram_id, erased_at, source FROM erasures WHERE telegram_id = %s ORDER BY erased_at DESC " \
               "LIMIT 1"
TELEGRAM_ID_MAX = 2**63 - 1


class NothingStored(KbjuctlError):
    """No row of any table belongs to the Telegram ID."""

    exit_code = 1


def check_telegram_id(value: int) -> int:
    if not 0 < value <= TELEGRAM_ID_MAX:
        raise BadInput(f"{value} is not a Telegram ID: expected a positive whole number, as the bot stores it.")
    return value


@dataclass
class ExportResult:
    telegram_id: int
    folder: Path
    files: list[str]  # names inside folder
    tables: dict[str, int]  # rows per table in data.json

    def to_json(self) -> dict:
        return {"telegram_id": self.telegram_id, "folder": str(self.folder), "files": self.files,
                "tables": self.tables, "total_rows": sum(self.tables.values())}


def export_person(url: str, telegram_id: int, folder: Path, today: date, operator: str | None = None) -> ExportResult:
    """Write data.json (every table's rows), and the measurements' CSV and PDF report when there are
    any, into `folder` (created; it must not hold files already)."""
    from bot.domain import export

    check_telegram_id(telegram_id)
    with connect(url) as conn:
        data = conn.execute(PERSON_DATA, (telegram_id,)).fetchone()[0]
    tables = {name: len(rows) for name, rows in data.items() if isinstance(rows, list)}
    if not any(tables.values()):
        raise NothingStored(f"Nothing is stored about Telegram ID {telegram_id}: no table has a row of it.")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BadInput(f"{folder} exists and is not an empty folder: choose a new one with --out "
                       "(an export never overwrites files).")
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # personal data: the operator's eyes only
    files = {"data.json": json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode()}
    who, rows = export.person(data), export.measurements(data)
    if rows:
        stem = export.file_stem(telegram_id, today)
        files[f"{stem}.csv"] = export.csv_bytes(rows)
        if who is not None:
            files[f"{stem}.pdf"] = _report_pdf(export.report(who, rows, today, operator))
    for name, content in files.items():
        path = folder / name
        path.write_bytes(content)
        path.chmod(0o600)
    return ExportResult(telegram_id, folder, list(files), tables)


def _report_pdf(report) -> bytes:
    from bot.chart_image import render_progress_chart
    from bot.report import render_pdf

    chart = render_progress_chart(report.chart) if len(report.chart) > 1 else None
    return render_pdf(report, chart)


@dataclass
class EraseResult:
    telegram_id: int
    rows: dict[str, int]  # removed (or, for a dry run, that would be) per table
    dry_run: bool = False
    ledger: dict[str, Any] = field(default_factory=dict)  # the erasures row written
    ledger_file: str | None = None  # the copy beside the backups, when BACKUP_DIR exists

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def to_json(self) -> dict:
        return {"telegram_id": self.telegram_id, "dry_run": self.dry_run, "rows": self.rows,
                "total_rows": self.total, "ledger": self.ledger, "ledger_file": self.ledger_file}


Approve = Callable[[str, list[str]], None]


def erase_person(url: str, telegram_id: int, *, dry_run: bool = False, approve: Approve | None = None,
                 backup_dir: Path | None = None) -> EraseResult:
    """Delete every row of the person in one transaction (after `approve`, which raises to stop);
    dry_run: count them, delete nothing."""
    check_telegram_id(telegram_id)
    with connect(url) as conn, conn.transaction():
        planned = {name: count for name, count in conn.execute(PERSON_ROWS, (telegram_id,)).fetchall()}
        if not any(planned.values()):
            raise NothingStored(f"Nothing is stored about Telegram ID {telegram_id}: there is nothing to erase.")
        if dry_run:
            return EraseResult(telegram_id, planned, dry_run=True)
        if approve is not None:
            approve(f"Erase everything stored about Telegram ID {telegram_id} ({sum(planned.values())} rows); "
                    "this cannot be undone:", [f"{name}: {count}" for name, count in planned.items() if count])
        removed = {name: count for name, count in conn.execute(ERASE, (telegram_id,)).fetchall()}
        telegram, erased_at, source = conn.execute(LEDGER_ENTRY, (telegram_id,)).fetchone()
    entry = erasures.Erasure(telegram, erased_at, source)
    ledger_file = None
    if backup_dir is not None and backup_dir.is_dir():
        erasures.merge_into_ledger(backup_dir, [entry])
        ledger_file = str(erasures.ledger_path(backup_dir))
    return EraseResult(telegram_id, removed, ledger=entry.to_json(), ledger_file=ledger_file)
