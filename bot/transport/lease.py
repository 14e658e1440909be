"""The polling lease: of several polling processes on one token and one database, exactly one calls
getUpdates. The lease is a session advisory lock held on a dedicated connection (not the pool's), so
it lives exactly as long as that session: a leader that is SIGKILLed, or whose connection PostgreSQL
ends, loses it at once, and a standby, which tries for it every RETRY_SECONDS, takes over.

The leader stops polling as soon as its lock connection is gone (asyncpg reports the closed connection
at once; a connection that silently stops answering is caught by a check every CHECK_SECONDS): another
process may hold the lease by then, and Telegram allows one getUpdates at a time. Its long poll in
flight is cut (the getUpdates HTTP client is closed), and a new leader waits TAKEOVER_GRACE_SECONDS
before its first getUpdates, so that a previous leader has noticed and stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg

from bot import metrics
from bot.db.pool import UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0  # a standby asks for the lease this often
CHECK_SECONDS = 1.0  # the leader checks its lock connection this often
CHECK_TIMEOUT = 2.0  # ...and gives up on an answer after this long
TAKEOVER_GRACE_SECONDS = 0.5
LOCK_CLASS = 0x6B626A75  # "kbju": the first key of the two-key advisory lock; the second is the bot's id

TRY_LOCK = "SELECT pg_try_advisory_lock($1, $2)"
STILL_HELD = """
SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
               AND classid = $1::int::oid AND objid = $2::int::oid AND granted)
"""


def lock_key(token: str) -> int:
    """The second lock key: the bot's numeric id (the token's prefix), so bots on one database do not
    share a lease, folded into PostgreSQL's int4."""
    return int(token.split(":", 1)[0]) % 2**31


class PollingLease:
    def __init__(self, database_url: str, token: str, connect_timeout: float = 5.0) -> None:
        self.database_url = database_url
        self.key = (LOCK_CLASS, lock_key(token))
        self.connect_timeout = connect_timeout
        self.conn: asyncpg.Connection | None = None
        self.lost = asyncio.Event()

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url, timeout=self.connect_timeout,
                                     server_settings={"application_name": "kbju-bot-lease"})

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait (as a standby) until this process holds the lease; False when stop came first."""
        announced = False
        while not stop.is_set():
            try:
                if self.conn is None or self.conn.is_closed():
                    self.conn = await self._connect()
                if await self.conn.fetchval(TRY_LOCK, *self.key):
                    self.lost = asyncio.Event()
                    self.conn.add_termination_listener(lambda _conn, lost=self.lost: lost.set())
                    metrics.polling_leader.set(1)
                    log.info("polling lease acquired: this process polls getUpdates")
                    return True
                if not announced:
                    log.info("polling lease held by another process: standing by")
                    announced = True
            except UNAVAILABLE_ERRORS as exc:
                log.warning("polling lease: database unavailable (%s); retrying", type(exc).__name__)
                await self._drop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_SECONDS)
        return False

    async def watch(self, stop: asyncio.Event) -> None:
        """Returns once the lease is lost (the connection is gone or no longer holds the lock) or stop is set."""
        while not stop.is_set():
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.lost.wait())]
            await asyncio.wait(waits, timeout=CHECK_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()
            if stop.is_set():
                return
            try:
                if self.lost.is_set() or self.conn is None or self.conn.is_closed():
                    raise ConnectionError("lock connection closed")
                async with asyncio.timeout(CHECK_TIMEOUT):
                    if await self.conn.fetchval(STILL_HELD, *self.key):
                        continue
                raise ConnectionError("lock no longer held")
            except (*UNAVAILABLE_ERRORS, ConnectionError) as exc:
                metrics.polling_leader.set(0)
                log.warning("polling lease lost (%s): polling stops", exc if isinstance(exc, ConnectionError)
                            else type(exc).__name__)
                await self._drop()
                return

    async def _drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.terminate()

    async def release(self) -> None:
        """Give the lease up (closing the session releases the lock) on a clean stop."""
        metrics.polling_leader.set(0)
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)


@contextlib.asynccontextmanager
async def leader_stop(lease: PollingLease, stop: asyncio.Event) -> AsyncIterator[asyncio.Event]:
    """An event set when stop is set or the lease is lost: what the polling loop runs until."""
    until = asyncio.Event()

    async def watch() -> None:
        await lease.watch(stop)
        until.set()

    watcher = asyncio.create_task(watch(), name="kbju-lease-watch")
    try:
        yield until
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def poll_as_leader(app, lease: PollingLease, stop: asyncio.Event) -> None:
    """Stand by until this process holds the lease, poll while it does, stand by again if it is lost."""
    from bot.transport import polling

    try:
        while not stop.is_set():
            if not await lease.acquire(stop):
                return
            async with leader_stop(lease, stop) as until:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(until.wait(), TAKEOVER_GRACE_SECONDS)
                # Lost lease: the new leader acknowledges what this one finished (no getUpdates from here).
                await polling.poll(app, until, confirm_at_end=lambda: stop.is_set())
            if not stop.is_set():
                await _cut_long_poll(app)
    finally:
        await lease.release()


async def _cut_long_poll(app) -> None:
    """Close the getUpdates HTTP client (its connection with it): a long poll abandoned by a cancelled call
    would otherwise stay open at the server until its timeout, beside the new leader's."""
    request = app.bot_data.get("requests", (None, None))[1]
    if request is not None:
        await request.shutdown()
        await request.initialize()
