"""Schema migrations: the sql/ folder applied and rolled back with yoyo-migrations."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kbjuctl import dburl
from kbjuctl.errors import BadInput, OperationFailed

LOCK_TIMEOUT_S = 30


def sql_dir() -> Path:
    """The migrations folder: $KBJU_SQL_DIR, else sql/ beside the packages (repo or image)."""
    env = os.environ.get("KBJU_SQL_DIR")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[1] / "sql", Path.cwd() / "sql"]
    for path in candidates:
        if (path / "0001.initial.sql").is_file():
            return path
    raise BadInput("Cannot find the sql/ migrations folder; set KBJU_SQL_DIR to its path.")


@dataclass(frozen=True)
class MigrationState:
    id: str
    applied: bool
    applied_at: datetime | None  # aware, UTC

    def to_json(self) -> dict:
        return {"id": self.id, "applied": self.applied,
                "applied_at": self.applied_at.isoformat() if self.applied_at else None}


@contextmanager
def _backend(url: str) -> Iterator[object]:
    import psycopg
    from yoyo import get_backend

    try:
        backend = get_backend(dburl.to_yoyo(url))
    except psycopg.Error as exc:
        raise BadInput(f"Cannot connect to {dburl.redact(url)}: {dburl.mask(_first_line(exc), url)}") from None
    try:
        yield backend
    finally:
        with suppress(psycopg.Error):
            backend.connection.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _migrations():
    from yoyo import read_migrations

    return read_migrations(str(sql_dir()))


@contextmanager
def _locked(backend) -> Iterator[None]:
    from yoyo.exceptions import LockTimeout

    try:
        with backend.lock(timeout=LOCK_TIMEOUT_S):
            yield
    except LockTimeout:
        raise OperationFailed(
            f"The migration lock is still held after {LOCK_TIMEOUT_S} s. Another `kbjuctl db upgrade` "
            "may be running; if none is (a crashed run left its lock behind), break it with "
            "`kbjuctl db break-lock` and run the command again."
        ) from None


def status(url: str) -> list[MigrationState]:
    with _backend(url) as backend:
        migrations = _migrations()
        applied = _applied_at(backend)
        return [MigrationState(m.id, m.id in applied, applied.get(m.id)) for m in migrations]


def _applied_at(backend) -> dict[str, datetime]:
    import psycopg

    table = backend.migration_table
    try:
        cursor = backend.execute(f"SELECT migration_id, applied_at_utc FROM {table}")  # nosec B608  # yoyo's own table name
        return {row[0]: row[1].replace(tzinfo=UTC) for row in cursor.fetchall()}  # yoyo writes naive UTC
    except psycopg.errors.UndefinedTable:  # a database that never saw a migration
        backend.rollback()
        return {}


# Whether this login could apply migrations at all. Asked first, because yoyo reads a refused INSERT
# into its lock table as "the lock is held" and waits out its whole timeout.
_CAN_MIGRATE = """
SELECT has_schema_privilege('public', 'CREATE')
   AND (to_regclass('public.yoyo_lock') IS NULL OR has_table_privilege('public.yoyo_lock', 'INSERT'))
"""


def can_migrate(url: str) -> bool:
    with _backend(url) as backend:
        allowed = bool(backend.execute(_CAN_MIGRATE).fetchone()[0])
        backend.rollback()
        return allowed


def upgrade(url: str) -> list[str]:
    """Apply every pending migration; returns their ids (empty: already up to date)."""
    with _backend(url) as backend, _locked(backend):
        pending = backend.to_apply(_migrations())
        backend.apply_migrations(pending)
        return [m.id for m in pending]


def pending(url: str) -> list[str]:
    """The ids `upgrade` would apply now, oldest first."""
    return [m.id for m in status(url) if not m.applied]


def downgrade_plan(url: str, steps: int | None) -> list[MigrationState]:
    """What `downgrade(url, steps)` would roll back now, newest first."""
    applied = [m for m in reversed(status(url)) if m.applied]
    return applied if steps is None else applied[:steps]


def downgrade(url: str, steps: int | None, expected: list[str] | None = None) -> list[str]:
    """Roll back the newest `steps` applied migrations (None: all); returns their ids, newest first.
    `expected`: the ids a person agreed to roll back; if the database changed since, nothing is done."""
    with _backend(url) as backend, _locked(backend):
        applied = backend.to_rollback(_migrations())  # newest first
        chosen = applied if steps is None else applied[:steps]
        if expected is not None and [m.id for m in chosen] != expected:
            raise OperationFailed("The applied migrations changed since the plan was shown (another upgrade or "
                                  "downgrade ran): nothing was rolled back. Run the command again.")
        backend.rollback_migrations(chosen)
        return [m.id for m in chosen]


@dataclass(frozen=True)
class Lock:
    pid: int  # of the process that took it, on the machine where it ran
    since: datetime | None  # aware, UTC

    def to_json(self) -> dict:
        return {"pid": self.pid, "since": self.since.isoformat() if self.since else None}


def lock_holder(url: str) -> Lock | None:
    """The migration lock as yoyo holds it (its table yoyo_lock), or None when nobody holds it."""
    import psycopg

    with _backend(url) as backend:
        try:
            row = backend.execute(f"SELECT pid, ctime FROM {backend.lock_table_quoted}").fetchone()  # nosec B608  # yoyo's lock table
        except psycopg.errors.UndefinedTable:  # no migration ever ran here
            backend.rollback()
            return None
        backend.rollback()
    return None if row is None else Lock(row[0], row[1].replace(tzinfo=UTC) if row[1] else None)


def break_lock(url: str) -> Lock | None:
    """Remove the migration lock; returns what it was (None: there was none)."""
    held = lock_holder(url)
    if held is not None:
        with _backend(url) as backend:
            backend.break_lock()
    return held


def current_version(url: str) -> str | None:
    """The id of the newest applied migration, or None for an empty database."""
    applied = [m for m in status(url) if m.applied]
    return applied[-1].id if applied else None
