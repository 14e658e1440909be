"""The asyncpg pool and the timed query helpers every repository uses."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bot import metrics

Connection = asyncpg.Connection
Pool = asyncpg.Pool
Record = asyncpg.Record

# Failures that mean "the database cannot be reached right now", as opposed to a bug or a
# constraint violation: the update is then answered with "try again" and not marked handled.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionRefusedError, ConnectionResetError, ...
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,  # e.g. "connection was closed in the middle of operation"
    # "cannot switch to state 15; another operation is in progress": seen at BEGIN/COMMIT while the
    # server was shutting down (fast shutdown) in the full-size pg-restart load test. The pool
    # terminates such a connection on release, since its reset fails.
    asyncpg.exceptions.InternalClientError,
    asyncpg.AdminShutdownError,
    asyncpg.ConnectionFailureError,
    asyncpg.TooManyConnectionsError,
)


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, UNAVAILABLE_ERRORS)


@dataclass(frozen=True, slots=True)
class Query:
    """A named SQL statement: the name labels its timing metric, the text uses $n parameters."""

    name: str
    sql: str
    writes: bool = field(init=False)  # anything but a plain SELECT counts as a write

    def __post_init__(self) -> None:
        object.__setattr__(self, "writes", not self.sql.lstrip().upper().startswith("SELECT"))


class TurnConnection:
    """One turn's connection: reads run on their own (autocommit); the first write starts the
    transaction that the turn's own end commits or rolls back, so every write of a turn, and the
    conversation state saved with them, lands together or not at all."""

    __slots__ = ("_tx", "conn")

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._tx = None

    @property
    def in_transaction(self) -> bool:
        return self._tx is not None

    async def for_query(self, query: Query) -> asyncpg.Connection:
        if query.writes and self._tx is None:
            self._tx = self.conn.transaction()
            await self._tx.start()
        return self.conn

    async def commit(self) -> None:
        if self._tx is not None:
            tx, self._tx = self._tx, None
            await tx.commit()
            metrics.db_transactions.labels("commit").inc()

    async def rollback(self) -> None:
        if self._tx is not None:
            tx, self._tx = self._tx, None
            await tx.rollback()
            metrics.db_transactions.labels("rollback").inc()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's default reset, a round trip per release ("SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL"): the bot never takes advisory
    locks, opens cursors, LISTENs or SETs anything, and an aborted transaction is rolled back by
    its own context manager (asyncpg still rolls back one left open), so there is nothing to reset."""


async def create_pool(database_url: str, *, min_size: int = 2, max_size: int = 20,
                      statement_timeout_ms: int = 5000, connect_timeout: float = 5.0) -> asyncpg.Pool:
    """A pool whose sessions run in UTC with a statement timeout; jsonb arrives as Python objects."""
    return await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        # The client gives up a little after the server would have cancelled the statement.
        command_timeout=statement_timeout_ms / 1000 + 1,
        timeout=connect_timeout,
        # Idle connections are recycled so a restarted server is reconnected to quickly.
        max_inactive_connection_lifetime=60,
        server_settings={
            "timezone": "UTC",
            "statement_timeout": str(statement_timeout_ms),
            "application_name": "kbju-bot",
        },
        init=_init_connection,
        reset=_keep_session,
    )


async def ping(pool: asyncpg.Pool, timeout: float = 1.0) -> bool:
    """True when the database answers SELECT 1 within timeout seconds."""
    try:
        async with asyncio.timeout(timeout):
            async with pool.acquire() as conn:
                return await conn.fetchval("SELECT 1") == 1
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return False


def record_pool_gauges(pool: asyncpg.Pool) -> None:
    size = pool.get_size()
    idle = pool.get_idle_size()
    metrics.db_pool_connections.labels("size").set(size)
    metrics.db_pool_connections.labels("idle").set(idle)
    metrics.db_pool_connections.labels("in_use").set(size - idle)


Connectable = asyncpg.Connection | TurnConnection


async def _timed(method: str, conn: Connectable, query: Query, args: tuple) -> Any:
    """Run one named statement and observe its latency under the statement's name."""
    if type(conn) is TurnConnection:
        conn = await conn.for_query(query)
    start = time.perf_counter()
    try:
        return await getattr(conn, method)(query.sql, *args)
    finally:
        metrics.db_query_seconds.labels(query.name).observe(time.perf_counter() - start)


async def fetch(conn: Connectable, query: Query, *args: Any) -> list[asyncpg.Record]:
    return await _timed("fetch", conn, query, args)


async def fetchrow(conn: Connectable, query: Query, *args: Any) -> asyncpg.Record | None:
    return await _timed("fetchrow", conn, query, args)


async def fetchval(conn: Connectable, query: Query, *args: Any) -> Any:
    return await _timed("fetchval", conn, query, args)


async def execute(conn: Connectable, query: Query, *args: Any) -> str:
    return await _timed("execute", conn, query, args)
