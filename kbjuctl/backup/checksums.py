"""Per-table row counts and content checksums, computed by the server on any connection.

The same SQL runs on the exported snapshot during `create` and on a restored database during
`verify --deep` / `restore`, so both sides are computed identically. A table's checksum is the
sum of a 64-bit hash of each row's text form: it needs no sort and no big string (string_agg hits
the 1 GB value limit around 13 M rows), the server may compute it with parallel workers, and it
does not depend on physical row order. The text form depends on session settings, which are
fixed here explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from psycopg import Connection, sql

SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
}
ALGORITHM = "count(*) and sum(hashtextextended(row::text, 0)) per table, session settings as listed"

# Every ordinary table of every user schema: nothing is left out silently. Partitioned parents
# (relkind 'p') hold no rows of their own; their partitions are listed as tables.
USER_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname = 'public' DESC, n.nspname, c.relname
"""
_TABLE_SUM = "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM {} AS t"


@dataclass(frozen=True)
class TableSum:
    rows: int
    checksum: str

    def to_json(self) -> dict[str, object]:
        return {"rows": self.rows, "checksum": self.checksum}


def fix_session(conn: Connection) -> None:
    for name, value in SESSION_SETTINGS.items():
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))


def table_name(schema: str, name: str) -> str:
    """The name used in manifests: bare for public, schema-qualified otherwise."""
    return name if schema == "public" else f"{schema}.{name}"


def user_tables(conn: Connection) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute(USER_TABLES).fetchall()]


def table_sums(conn: Connection, on_table: Callable[[str], None] | None = None) -> dict[str, TableSum]:
    """{table: TableSum} for every user table, in the connection's current transaction/snapshot."""
    fix_session(conn)
    sums = {}
    for schema, name in user_tables(conn):
        query = sql.SQL(_TABLE_SUM).format(sql.Identifier(schema, name))
        rows, checksum = conn.execute(query).fetchone()
        sums[table_name(schema, name)] = TableSum(rows, checksum)
        if on_table:
            on_table(table_name(schema, name))
    return sums


def differences(expected: dict[str, dict], actual: dict[str, TableSum]) -> list[str]:
    """What differs between a manifest's tables and a database's, one readable line each."""
    lines = []
    for name in sorted(set(expected) - set(actual)):
        lines.append(f"{name}: in the backup, missing from the database")
    for name in sorted(set(actual) - set(expected)):
        lines.append(f"{name}: in the database ({actual[name].rows:,} rows), not in the backup")
    for name in [n for n in expected if n in actual]:
        want, got = expected[name], actual[name]
        if want["rows"] != got.rows:
            lines.append(f"{name}: {want['rows']:,} rows in the backup, {got.rows:,} in the database")
        elif want["checksum"] != got.checksum:
            lines.append(f"{name}: same row count ({got.rows:,}) but the content checksum differs")
    return lines
