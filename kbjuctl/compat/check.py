"""Does every statement of a catalogue still prepare on a database's schema?

PREPARE parses and plans a statement against the schema (every table, column, type and function
it names) without running it, so a statement that a migration broke fails here with PostgreSQL's
own message. The session is read-only and nothing is left behind (DEALLOCATE after each one).
"""

from __future__ import annotations

from dataclasses import dataclass

from kbjuctl import dburl
from kbjuctl.compat.catalogue import Catalogue, Statement
from kbjuctl.errors import BadInput


@dataclass(frozen=True)
class Broken:
    statement: Statement
    error: str

    def __str__(self) -> str:
        return f"{self.statement.label}: {self.error}"


def check(database_url: str, catalogue: Catalogue) -> list[Broken]:
    """The statements of `catalogue` that do not prepare on the database (empty: all do)."""
    import psycopg

    try:
        conn = psycopg.connect(database_url, autocommit=True, options="-c default_transaction_read_only=on")
    except psycopg.Error as exc:
        raise BadInput(f"Cannot connect to {dburl.redact(database_url)}: {str(exc).strip().splitlines()[0]}") from None
    broken: list[Broken] = []
    with conn:
        for statement in catalogue.statements:
            try:
                conn.execute(f"PREPARE kbju_compat AS {statement.sql}")  # noqa: S608 - our own catalogued SQL
            except psycopg.Error as exc:
                broken.append(Broken(statement, _message(exc)))
                continue
            conn.execute("DEALLOCATE kbju_compat")
    return broken


def _message(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
    return primary
