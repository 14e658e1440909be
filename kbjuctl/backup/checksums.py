"""Per-table row counts and content checksums, computed by the server on any connection.

The same SQL runs on the exported snapshot during `create` and on a restored database during
`verify --deep` / `restore`, so both sides are computed identically. A table's checksum is the
sum of a 64-bit hash of each row: it needs no sort and no big string (string_agg hits the 1 GB
value limit around 13 M rows), the server may compute it with parallel workers, and it does not
depend on physical row order. Two row hashes, the one used recorded per table in the manifest:
  record  hash_record_extended(row): each column hashed by its type's own extended hash (the
          functions hash partitioning relies on, so stable across servers and versions); no text
          conversion, about 3x cheaper; PostgreSQL 14+, and every column type must have one.
  text    hashtextextended(row::text): for tables with a column type that has no hash (json,
          point, ...). The text form depends on session settings, which are fixed explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from psycopg import Connection, errors, sql

SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
}
METHODS = {
    "record": "SELECT count(*), coalesce(sum(hash_record_extended(t, 0)), 0)::text FROM {} AS t",
    "text": "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM {} AS t",
}
ALGORITHM = ("per table: count(*) and the sum of a 64-bit hash of every row, "
             "record = hash_record_extended(row, 0), text = hashtextextended(row::text, 0) "
             "under the session settings listed")

# Every ordinary table of every user schema: nothing is left out silently. Partitioned parents
# (relkind 'p') hold no rows of their own; their partitions are listed as tables.
USER_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname = 'public' DESC, n.nspname, c.relname
"""


@dataclass(frozen=True)
class TableSum:
    rows: int
    checksum: str
    method: str

    def to_json(self) -> dict[str, object]:
        return {"rows": self.rows, "checksum": self.checksum, "method": self.method}


def fix_session(conn: Connection) -> None:
    for name, value in SESSION_SETTINGS.items():
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))


def table_name(schema: str, name: str) -> str:
    """The name used in manifests: bare for public, schema-qualified otherwise."""
    return name if schema == "public" else f"{schema}.{name}"


def user_tables(conn: Connection) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute(USER_TABLES).fetchall()]


def table_sums(conn: Connection, on_table: Callable[[str], None] | None = None,
               methods: dict[str, str] | None = None, parallel: bool = True) -> dict[str, TableSum]:
    """{table: TableSum} for every user table, in the connection's current transaction/snapshot.

    `methods` (from a manifest) says which row hash each table must be summed with; a table it
    does not name gets the cheapest that works. `parallel=False` keeps the server's parallel workers
    out of it (while pg_dump runs, they would only compete with it for the same cores).
    """
    fix_session(conn)
    if not parallel:
        conn.execute("SELECT set_config('max_parallel_workers_per_gather', '0', false)")
    sums = {}
    for schema, name in user_tables(conn):
        full = table_name(schema, name)
        sums[full] = _table_sum(conn, sql.Identifier(schema, name), (methods or {}).get(full))
        if on_table:
            on_table(full)
    return sums


def _table_sum(conn: Connection, table: sql.Identifier, method: str | None) -> TableSum:
    if method is None and conn.info.server_version >= 140000:
        try:
            with conn.transaction():  # a savepoint inside the snapshot's transaction
                return _sum_with(conn, table, "record")
        except errors.UndefinedFunction:  # a column type without an extended hash function
            pass
    return _sum_with(conn, table, method or "text")


def _sum_with(conn: Connection, table: sql.Identifier, method: str) -> TableSum:
    rows, checksum = conn.execute(sql.SQL(METHODS[method]).format(table)).fetchone()
    return TableSum(rows, checksum, method)


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
