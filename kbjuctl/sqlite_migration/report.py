"""What a migration run found and did: counts, quarantine, unmapped values, mismatches, timings."""

from __future__ import annotations

import pickle
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from kbjuctl.sqlite_migration.mapping import REASONS, Reject, Unmapped, original_json
from kbjuctl.sqlite_migration.source import TABLES, columns

EXAMPLES = 5
MAX_MISMATCH_EXAMPLES = 20

# status -> exit code (3: verified, but something was quarantined or left unmapped)
MIGRATED = "migrated"
ALREADY_MIGRATED = "already_migrated"
DRY_RUN = "dry_run"
VERIFICATION_FAILED = "verification_failed"


class Progress(Protocol):
    """Where the service reports rows as it goes (the CLI draws rich bars; tests pass nothing)."""

    def start(self, task: str, total: int) -> None: ...

    def advance(self, task: str, rows: int) -> None: ...


class NoProgress:
    def start(self, task: str, total: int) -> None:
        pass

    def advance(self, task: str, rows: int) -> None:
        pass


@dataclass
class TableCounts:
    source: int = 0
    migrated: int = 0
    quarantined: int = 0

    @property
    def accounted(self) -> bool:
        return self.source == self.migrated + self.quarantined


@dataclass
class MigrationReport:
    status: str
    source_path: str
    source_sha256: str
    source_bytes: int
    target: str | None
    on_conflict: str
    dry_run: bool
    run_id: int | None = None
    imported_at: str | None = None
    counts: dict[str, TableCounts] = field(default_factory=lambda: {t: TableCounts() for t in TABLES})
    target_rows_before: dict[str, int] | None = None
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[dict[str, Any]] = field(default_factory=list)
    mismatch_count: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    message: str = ""

    @property
    def quarantined(self) -> int:
        return sum(c.quarantined for c in self.counts.values())

    @property
    def exit_code(self) -> int:
        if self.status == VERIFICATION_FAILED:
            return 1
        return 3 if self.quarantined or self.unmapped else 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["quarantined_total"] = self.quarantined
        data["unmapped_total"] = sum(u["count"] for u in self.unmapped)
        data["exit_code"] = self.exit_code
        return data


class QuarantineBuffer:
    """Rejected rows, kept in order until they can be COPY'd (after the table's own COPY).

    Memory stays flat: beyond `spill_at` rows they go to a temporary file.
    """

    def __init__(self, spill_at: int = 10_000):
        self.by_reason: Counter[tuple[str, str]] = Counter()
        self.examples: dict[tuple[str, str], list[int]] = {}
        self.first_text: dict[tuple[str, str], str] = {}
        self._rows: list[tuple] = []
        self._spill_at = spill_at
        self._file = None
        self._spilled = 0

    def add(self, table: str, source_id: int, reject: Reject, row: tuple) -> None:
        key = (table, reject.code)
        self.by_reason[key] += 1
        examples = self.examples.setdefault(key, [])
        if len(examples) < EXAMPLES:
            examples.append(source_id)
            self.first_text.setdefault(key, reject.text)
        self._rows.append((table, source_id, reject.code, reject.text, original_json(columns(table), row)))
        if len(self._rows) >= self._spill_at:
            self._spill()

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._file.seek(0, 2)
        pickle.dump(self._rows, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._spilled += 1
        self._rows = []

    def rows(self):
        """Every buffered row, in the order added (source order per table); can be read again."""
        if self._file is not None:
            self._file.seek(0)
            for _ in range(self._spilled):
                yield from pickle.load(self._file)  # nosec B301  # our own spill file, written above
        yield from list(self._rows)

    def originals(self, table: str):
        """(source id, original row JSON as sent) of one table's quarantined rows, in source-id order."""
        for row_table, source_id, _, _, original in self.rows():
            if row_table == table:
                yield source_id, original

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file, self._spilled = None, 0
        self._rows = []

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"table": table, "reason_code": code, "meaning": REASONS[code], "count": count,
             "example_source_ids": self.examples[(table, code)], "example_reason": self.first_text[(table, code)]}
            for (table, code), count in sorted(self.by_reason.items())
        ]


def unmapped_summary(unmapped: Unmapped) -> list[dict[str, Any]]:
    return [
        {"table": table, "column": column, "value": value, "count": count,
         "example_source_ids": unmapped.example_ids[(table, column, value)]}
        for (table, column, value), count in sorted(unmapped.counts.items())
    ]
