"""Moving the DEV bot's SQLite database into PostgreSQL: read, map, COPY, quarantine, verify, report."""

from kbjuctl.sqlite_migration.report import MigrationReport, Progress
from kbjuctl.sqlite_migration.service import MigrationOptions, OnConflict, migrate_from_sqlite

__all__ = ["MigrationOptions", "MigrationReport", "OnConflict", "Progress", "migrate_from_sqlite"]
