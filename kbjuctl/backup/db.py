"""Connections for backup work: clear messages for an unreachable or missing database."""

from __future__ import annotations

import psycopg

from kbjuctl import dburl
from kbjuctl.errors import BadInput

# Not part of the row text, but a role's own timeouts must not kill a long checksum or leave the
# snapshot-holding transaction to be terminated while pg_dump still runs.
_TIMEOUTS = "SELECT set_config('statement_timeout', '0', false), " \
            "set_config('idle_in_transaction_session_timeout', '0', false)"
SERVER = "SELECT current_setting('server_version'), current_setting('server_version_num')::int"


def connect(url: str, autocommit: bool = False) -> psycopg.Connection:
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as exc:  # ProgrammingError too: a malformed URL, which libpq may quote back
        text = dburl.mask((str(exc).strip().splitlines() or ["connection failed"])[-1], url)
        if "does not exist" in text:
            raise BadInput(f"The database {dburl.database_name(url)!r} does not exist on "
                           f"{dburl.redact(url)}: {text}") from None
        raise BadInput(f"Cannot connect to {dburl.redact(url)}: {text}") from None
    conn.execute(_TIMEOUTS)
    if not autocommit:
        conn.commit()
    return conn


def server_version(conn: psycopg.Connection) -> tuple[str, int]:
    """(version text, major) of the server behind conn."""
    text, num = conn.execute(SERVER).fetchone()
    return text, num // 10000
