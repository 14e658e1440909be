"""Reading the DEV SQLite file: read-only, one read transaction, exact schema check, row batches."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import quote

from kbjuctl.errors import BadInput

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 2000

# The DEV schema exactly as SQLAlchemy 1.4 created it: (column, declared type), in order.
DEV_SCHEMA: dict[str, tuple[tuple[str, str], ...]] = {
    "users": (
        ("telegram_id", "INTEGER"), ("username", "VARCHAR"), ("first_name", "VARCHAR"),
        ("last_name", "VARCHAR"), ("sex", "VARCHAR"), ("date_of_birth", "DATE"), ("created_at", "DATETIME"),
    ),
    "user_records": (
        ("id", "INTEGER"), ("telegram_id", "INTEGER"), ("date", "DATE"), ("weight", "FLOAT"),
        ("waist", "FLOAT"), ("neck", "FLOAT"), ("hip", "FLOAT"), ("height", "INTEGER"), ("goal", "VARCHAR"),
        ("steps", "VARCHAR"), ("sport_type", "VARCHAR"), ("sport_freq", "VARCHAR"),
        ("step_multiplier", "FLOAT"), ("bodyfat", "FLOAT"),
    ),
    "user_food_preferences": (
        ("id", "INTEGER"), ("telegram_id", "INTEGER"), ("likes_raw", "TEXT"), ("dislikes_raw", "TEXT"),
        ("created_at", "DATETIME"),
    ),
}
TABLES = tuple(DEV_SCHEMA)
SOURCE_KEY = {"users": "telegram_id", "user_records": "id", "user_food_preferences": "id"}
# Rows per unit of the load's work (pipeline.py). 10k on 1M records, 2 cores: 6.5 s total, against
# 6.7 s with 5k or 25k and 7.2 s with 50k (coarser units leave the worker or PostgreSQL waiting).
RANGE_ROWS = 10_000


def columns(table: str) -> tuple[str, ...]:
    return tuple(name for name, _ in DEV_SCHEMA[table])


# One key range [?, ?] of a table (the load's unit of work, pipeline.py). It names its columns and
# orders by the rowid, so rows come back in source-id order straight off the table b-tree (no sort,
# no temporary storage). A plain scan: whether a row's user exists is answered once per distinct
# owner (orphan_owners), not by a join per row (the join was ~40 % of reading user_records).
SELECT_RANGE = {
    table: f"SELECT {', '.join(columns(table))} FROM {table} WHERE {SOURCE_KEY[table]} BETWEEN ? AND ? "  # nosec B608  # names: constants of mapping
           f"ORDER BY {SOURCE_KEY[table]}"
    for table in DEV_SCHEMA
}

# Later rows of one (user, date) and of one user's food preferences. The DEV bot looked rows up
# with `.first()`, i.e. the lowest id, and kept updating that one: the lowest id is kept.
SELECT_DUPLICATE_RECORD_IDS = """
SELECT r.id FROM user_records AS r
JOIN (SELECT telegram_id, date, min(id) AS kept FROM user_records
      GROUP BY telegram_id, date HAVING count(*) > 1) AS d
  ON d.telegram_id IS r.telegram_id AND d.date IS r.date
WHERE r.id <> d.kept
"""
SELECT_DUPLICATE_FOOD_IDS = """
SELECT f.id FROM user_food_preferences AS f
JOIN (SELECT telegram_id, min(id) AS kept FROM user_food_preferences
      GROUP BY telegram_id HAVING count(*) > 1) AS d
  ON d.telegram_id IS f.telegram_id
WHERE f.id <> d.kept
"""


@dataclass(frozen=True)
class SourceFacts:
    path: Path
    size: int
    counts: dict[str, int]


def _read_uri(path: Path) -> str:
    # mode=ro: SQLite itself refuses every write. Not immutable=1: locks are still taken, so a DEV
    # bot writing at the same time cannot change the file under our read transaction.
    return "file:" + quote(str(path.resolve())) + "?mode=ro"


def open_snapshot_reader(path: Path) -> sqlite3.Connection:
    """Another read-only connection, inside a read transaction that has taken its SHARED lock.

    It sees what an open SourceReader sees only if the file is in rollback-journal mode (the
    reader's SHARED lock keeps writers from committing); callers check SourceReader.wal first.
    """
    conn = sqlite3.connect(_read_uri(path), uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def check_is_sqlite_file(path: Path) -> None:
    if not path.exists():
        raise BadInput(f"{path}: no such file.")
    if not path.is_file():
        raise BadInput(f"{path}: not a file.")
    try:
        with path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror}).") from None
    if header != SQLITE_HEADER:
        what = "an empty file" if not header else "not a SQLite database (wrong file header)"
        raise BadInput(f"{path}: {what}.")


def sqlite_problem(path: Path, exc: sqlite3.Error) -> BadInput:
    """A clear BadInput for an error raised while opening or reading the source."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return BadInput(
            f"{path}: the database is locked by another process (a writer holds it) and stayed locked for "
            f"{BUSY_TIMEOUT_MS / 1000:g} s. Stop the DEV bot, or copy the file, and run the command again."
        )
    if getattr(exc, "sqlite_errorname", None) == "SQLITE_READONLY_ROLLBACK":
        return BadInput(
            f"{path}: has a hot journal ({path.name}-journal beside it): a writer stopped in the middle of a "
            "transaction, and only a writer may roll that back, while this command opens the file read-only. "
            "Open the file once with the DEV bot or `sqlite3` (which rolls the journal back), then run the "
            "command again. Nothing was written."
        )
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return BadInput(f"{path}: the SQLite file is corrupt ({text}). Nothing was written.")
    return BadInput(f"{path}: cannot read the SQLite file ({text}). Nothing was written.")


class SourceReader:
    """The source file opened read-only, inside one read transaction until close().

    While the transaction is open SQLite holds a SHARED lock: a writer cannot commit, so every
    read (the load and the verification's second read) sees the same snapshot.
    """

    def __init__(self, path: Path):
        check_is_sqlite_file(path)
        self.path = path
        self._checks: dict[tuple[str, str], Future] = {}
        self._range_rows = RANGE_ROWS
        self._executor: ThreadPoolExecutor | None = None
        try:
            self.conn = sqlite3.connect(_read_uri(path), uri=True, isolation_level=None,
                                        timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        except sqlite3.Error as exc:
            raise sqlite_problem(path, exc) from None
        try:
            self.conn.execute("BEGIN")
            # The first read takes the SHARED lock; a writer holding EXCLUSIVE makes it wait, then fail.
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            self._check_schema()
        except sqlite3.Error as exc:
            self.close()
            raise sqlite_problem(path, exc) from None
        except BadInput:
            self.close()
            raise

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # the second connection closes before ours
            self._executor = None
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_schema(self) -> None:
        present = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in TABLES if t not in present]
        if missing:
            raise BadInput(
                f"{self.path}: not a DEV KBJU bot database: table(s) {', '.join(missing)} missing "
                f"(found: {', '.join(sorted(present)) or 'no tables'})."
            )
        problems = []
        for table in TABLES:
            # The key matters as much as the names and types: the migration reads each table in key
            # order and relies on the key being unique and never NULL, as the DEV primary keys are.
            expected = tuple((name, type_, int(name == SOURCE_KEY[table]), int(name == SOURCE_KEY[table]))
                             for name, type_ in DEV_SCHEMA[table])
            found = tuple((r[1], r[2], r[3], r[5]) for r in self.conn.execute(f"PRAGMA table_info({table})"))
            if found != expected:
                problems.append(
                    f"{table}: expected columns {_describe(expected)}, found {_describe(found)}"
                )
        if problems:
            raise BadInput(
                f"{self.path}: the tables differ from the DEV schema (SQLAlchemy 1.4, models/tables.py), "
                "so its values cannot be trusted to mean what this migration assumes:\n  " + "\n  ".join(problems)
            )

    def facts(self) -> SourceFacts:
        counts = {t: self.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # nosec B608  # t: one of TABLES
        return SourceFacts(self.path, self.path.stat().st_size, counts)

    def sha256(self) -> str:
        """The file's content hash, read while our SHARED lock keeps writers out."""
        digest = hashlib.sha256()
        with self.path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    def start_row_checks(self, range_rows: int = RANGE_ROWS) -> None:
        """Start finding the owned tables' orphan owners, duplicate ids and key ranges on two more
        connections, in two threads.

        The orphan and duplicate queries sort whole tables inside SQLite, which releases the GIL
        meanwhile, so they run on the other core while the users table loads. The records'
        duplicates (the longest, ~0.75 s on 1M records) get a thread of their own; the rest share
        the second. Those connections must see our snapshot: in rollback-journal mode they do, since
        our SHARED lock keeps every writer from committing. In WAL mode a writer can commit in
        between, so the checks wait and run on our own connection; likewise if another connection
        cannot get its lock (a writer queued for the file).
        """
        self._range_rows = range_rows
        if not self._checks and not self.wal:
            self._executor = ThreadPoolExecutor(max_workers=len(_CHECK_GROUPS), thread_name_prefix="sqlite-checks")
            self._checks = {key: future for group in _CHECK_GROUPS
                            for future in [self._executor.submit(_row_checks, self.path, group, range_rows)]
                            for key in group}

    @property
    def wal(self) -> bool:
        """In WAL mode another connection may see a newer snapshot than ours."""
        journal = self._guarded(lambda: self.conn.execute("PRAGMA journal_mode").fetchone()[0])
        return str(journal).lower() == "wal"

    def key_boundaries(self, table: str) -> list[int]:
        """Keys that split the table into runs of range_rows rows (the first key not among them)."""
        if table != "users":
            return self._checked("boundaries", table)
        return self._guarded(lambda: _row_check(self.conn, "boundaries", table, self._range_rows))

    def orphan_owners(self, table: str) -> set:
        """telegram_ids (NULL included) that rows of this table carry but no user has."""
        return self._checked("orphans", table)

    def duplicate_ids(self, table: str) -> set[int]:
        """Ids of the later rows of one user's date (records) or of one user (food preferences)."""
        return self._checked("duplicates", table)

    def _checked(self, kind: str, table: str):
        future = self._checks.get((kind, table))
        if future is not None:
            try:
                return future.result()[kind, table]
            except sqlite3.Error:
                self._checks = {}  # another connection could not read: ours answers below
        return self._guarded(lambda: _row_check(self.conn, kind, table, self._range_rows))

    def batches_of(self, sql: str, batch_size: int, params: tuple = ()) -> Iterator[list[tuple]]:
        try:
            cursor = self.conn.execute(sql, params)
            while rows := cursor.fetchmany(batch_size):
                yield rows
        except sqlite3.Error as exc:
            raise sqlite_problem(self.path, exc) from None

    def _guarded(self, read):
        try:
            return read()
        except sqlite3.Error as exc:
            raise sqlite_problem(self.path, exc) from None


def _row_check(conn: sqlite3.Connection, kind: str, table: str, range_rows: int):
    if kind == "boundaries":
        return _boundaries(conn, table, range_rows)
    if kind == "orphans":
        sql = f"SELECT telegram_id FROM {table} EXCEPT SELECT telegram_id FROM users"  # nosec B608  # table: one of TABLES
    else:
        sql = SELECT_DUPLICATE_RECORD_IDS if table == "user_records" else SELECT_DUPLICATE_FOOD_IDS
    return {row[0] for row in conn.execute(sql)}


def _boundaries(conn: sqlite3.Connection, table: str, range_rows: int) -> list[int]:
    """Every range_rows-th key (the 1st not among them), stepping along the key (the rowid).

    Each step skips range_rows entries of the table b-tree from the previous boundary: 14 ms on 1M
    records, where numbering every row with a window function took 370 ms.
    """
    key = SOURCE_KEY[table]
    step = f"SELECT {key} FROM {table} WHERE {key} >= ? ORDER BY {key} LIMIT 1 OFFSET ?"  # nosec B608  # key, table: constants
    after = f"SELECT {key} FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT 1"  # nosec B608  # key, table: constants
    found: list[int] = []
    row = conn.execute(f"SELECT min({key}) FROM {table}").fetchone()  # nosec B608  # key, table: constants
    while row is not None and row[0] is not None:
        row = conn.execute(step, (row[0], range_rows)).fetchone()
        if row is None:
            break
        if found and row[0] <= found[-1]:  # only in a file whose keys repeat: keep going forward
            row = conn.execute(after, (found[-1],)).fetchone()
            if row is None:
                break
        found.append(row[0])
    return found


# The row checks of the owned tables, in groups of about equal time, one thread each.
_CHECK_GROUPS = (
    (("duplicates", "user_records"),),
    (("orphans", "user_records"), ("boundaries", "user_records"), ("orphans", "user_food_preferences"),
     ("duplicates", "user_food_preferences"), ("boundaries", "user_food_preferences")),
)


def _row_checks(path: Path, group, range_rows: int) -> dict[tuple[str, str], set]:
    """Some row checks, in one read transaction of a connection of their own."""
    conn = open_snapshot_reader(path)
    try:
        return {(kind, table): _row_check(conn, kind, table, range_rows) for kind, table in group}
    finally:
        try:
            conn.execute("ROLLBACK")
        finally:
            conn.close()


def _describe(cols) -> str:
    """(name, declared type, notnull, pk) columns as the DDL would spell them."""
    return "(" + ", ".join(f"{name} {type_}" + (" NOT NULL" if notnull else "") + (" PRIMARY KEY" if pk else "")
                           for name, type_, notnull, pk in cols) + ")"
