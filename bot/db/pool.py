"""The asyncpg pool and the timed query helpers every repository uses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
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
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.ConnectionFailureError,
    asyncpg.TooManyConnectionsError,
    # A write on a node that is (now) a replica: the primary failed over or was switched over, and this
    # connection still points at the old one. The pool drops its connections (drop_if_demoted) so the
    # next ones reach the new primary (target_session_attrs=read-write in DATABASE_URL).
    asyncpg.ReadOnlySQLTransactionError,
)


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, UNAVAILABLE_ERRORS)


async def drop_if_demoted(pool: asyncpg.Pool, exc: BaseException) -> None:
    """After a read-only error every pooled connection may point at the demoted node: each is closed when
    next released or acquired, and replaced by a connection to whichever node is the primary now."""
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        await pool.expire_connections()


@dataclass(frozen=True, slots=True)
class Query:
    """A named SQL statement: the name labels its timing metric, the text uses $n parameters."""

    name: str
    sql: str
    # None: anything but a plain SELECT counts as a write; True for a SELECT of a function that writes.
    writes: bool | None = None

    def __post_init__(self) -> None:
        if self.writes is None:
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


class DatabaseProbe:
    """Does the database answer? Asked by /healthz on a connection of its own: through the pool it
    waited behind every turn holding a connection, so under load a busy replica reported "database
    unavailable" and a balancer took it out of rotation, then the next one (the rolling-upgrade
    drill saw both replicas out at once). One connection per replica, opened on the first probe and
    again after a failure."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def answers(self, timeout: float = 1.0) -> bool:
        """True when the database answers SELECT 1 within timeout seconds (connecting included)."""
        try:
            async with asyncio.timeout(timeout), self._lock:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(self._url,
                                                       server_settings={"application_name": "kbju-bot-health"})
                return await self._conn.fetchval("SELECT 1") == 1
        except Exception:  # noqa: BLE001 - any failure means "not healthy"
            await self._discard()
            return False

    async def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)


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
    metrics.db_pool_max.set(pool.get_max_size())
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
