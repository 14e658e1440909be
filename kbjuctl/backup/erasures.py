"""The erasures ledger beside the backups: erasures survive a restore of an older backup.

A backup taken before someone was erased still holds their data, and a restore replaces the
database's own ledger (table `erasures`) with the backup's older one. So the ledger is also kept
as a file in the backup folder's parent, BACKUP_DIR/erasures.jsonl, one JSON object per line:
`users erase` appends to it, `backup create` copies the database's ledger into it, and `backup
restore` first takes in the target database's ledger (when it has one), then, after the restore,
erases again everyone whose erasure is newer than the backup's snapshot, and writes those entries
back into the restored database's ledger.

An erasure older than the snapshot is already in the backup (the person's rows were gone when it
was taken); re-applying it could delete a person who came back and registered afresh after it.
The ledger holds Telegram IDs and times only: the minimum needed to honour an erasure later.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

LEDGER = "erasures.jsonl"
HAS_TABLE = "SELECT to_regclass('public.erasures') IS NOT NULL"
ALL = "SELECT telegram_id, erased_at, source FROM erasures ORDER BY erased_at"
ERASE_AGAIN = "SELECT coalesce(sum(row_count), 0) FROM kbju_erase_person(%s)"
RECORD = """
INSERT INTO erasures (telegram_id, erased_at, source) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING
"""


@dataclass(frozen=True)
class Erasure:
    telegram_id: int
    erased_at: datetime  # aware
    source: str

    @property
    def key(self) -> tuple[int, datetime]:
        return self.telegram_id, self.erased_at

    def to_json(self) -> dict:
        return {"telegram_id": self.telegram_id, "erased_at": self.erased_at.isoformat(), "source": self.source}

    @classmethod
    def from_json(cls, data: dict) -> Erasure:
        return cls(int(data["telegram_id"]), datetime.fromisoformat(data["erased_at"]), str(data["source"]))


def ledger_path(backup_dir: Path) -> Path:
    return backup_dir / LEDGER


def read_ledger(backup_dir: Path) -> list[Erasure]:
    path = ledger_path(backup_dir)
    if not path.is_file():
        return []
    return [Erasure.from_json(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def merge_into_ledger(backup_dir: Path, entries: list[Erasure]) -> int:
    """Append the entries the file does not have yet (fsynced); how many were added."""
    known = {e.key for e in read_ledger(backup_dir)}
    new = [e for e in entries if e.key not in known]
    if not new:
        return 0
    path = ledger_path(backup_dir)
    with path.open("a", encoding="utf-8") as ledger:
        for entry in new:
            ledger.write(json.dumps(entry.to_json(), sort_keys=True) + "\n")
        ledger.flush()
        os.fsync(ledger.fileno())
    path.chmod(0o600)
    return len(new)


def from_database(conn) -> list[Erasure]:
    """The database's own ledger (none for a database without the table)."""
    if not conn.execute(HAS_TABLE).fetchone()[0]:
        return []
    return [Erasure(*row) for row in conn.execute(ALL).fetchall()]


def reapply(conn, entries: list[Erasure], snapshot: datetime) -> list[int]:
    """Inside the caller's transaction: erase again everyone erased after `snapshot` and record those
    erasures in the database's ledger; the Telegram IDs of whom rows were removed."""
    erased = []
    for entry in sorted(entries, key=lambda e: e.erased_at):
        if entry.erased_at <= snapshot:
            continue
        if conn.execute(ERASE_AGAIN, (entry.telegram_id,)).fetchone()[0]:
            erased.append(entry.telegram_id)
        conn.execute(RECORD, (entry.telegram_id, entry.erased_at, entry.source))
    return sorted(set(erased))
