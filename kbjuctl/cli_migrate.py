"""`kbjuctl migrate-from-sqlite` (placeholder until the migration issue lands)."""

from kbjuctl.errors import OperationFailed


def migrate_from_sqlite() -> None:
    """Move a DEV SQLite database into PostgreSQL (not built yet)."""
    raise OperationFailed("migrate-from-sqlite is not available yet.")
