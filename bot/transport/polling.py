"""Our getUpdates loop: fetching goes on while updates are in flight; the acknowledged offset only
moves past a contiguous prefix of finished updates.

The offset of getUpdates is what tells Telegram which updates are done, so it is never moved past
an unfinished update: a crash re-delivers every update that was not finished (the processed_updates
claim makes any finished one that comes back harmless). Telegram answers getUpdates from the offset
on, at most LIMIT updates, so the updates still in flight come back in every answer; only the ones
past the newest already seen are new. Those are turned into Update objects (the rest is only
JSON-decoded) and started at once, chained per chat so that one chat's updates run in order while
different chats run concurrently.

While nothing is in flight the loop long-polls. While updates are in flight a long poll would
return at once (they are still at or past the offset), and every answer re-reads them. So with
many in flight the loop lets them finish down to a few stragglers, at most BUSY_WAIT_SECONDS,
and does not ask at all while LIMIT are in flight (an answer could hold nothing new). With only
stragglers in flight (a chart, a slow Bot API call) it asks again every STRAGGLER_POLL_SECONDS:
re-reading a few updates is cheap, and the updates that arrived behind them must not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.transport import botapi
from bot.transport.updates import ALLOWED_UPDATES, IN_FLIGHT, process, read_update

log = logging.getLogger(__name__)
POLL_TIMEOUT = 10  # seconds getUpdates may hold the connection
LIMIT = 100  # the Bot API's maximum per getUpdates
# Bot.get_updates would build an Update object for every update in an answer, most of them in
# flight already: botapi.call returns the decoded JSON.
BUSY_WAIT_SECONDS = 0.2  # while many updates are in flight: the longest wait before asking for more
STRAGGLERS = 8  # this many in flight or fewer: ask again soon instead of waiting for them
STRAGGLER_POLL_SECONDS = 0.02


def _chat_id(update: Update) -> int | None:
    chat = update.effective_chat
    if chat is not None:
        return chat.id
    user = update.effective_user
    return user.id if user is not None else None


class Pipeline:
    """Updates fetched and not yet acknowledged, in update_id order, and the per-chat chains."""

    def __init__(self, app) -> None:
        self.app = app
        self.inflight: dict[int, asyncio.Task] = {}  # update_id -> task, in fetch (= id) order
        self.chains: dict[int, asyncio.Task] = {}  # chat id -> its newest update's task
        self.newest: int | None = None  # highest update_id taken
        self.running = 0  # taken and not finished
        self.progress = asyncio.Event()  # set when an update finishes

    def offset(self) -> int | None:
        """The getUpdates offset: the oldest unfinished update, or past the newest taken."""
        for update_id, task in self.inflight.items():
            if not task.done():
                return update_id
        return None if self.newest is None else self.newest + 1

    def forget_finished_prefix(self) -> None:
        for update_id in list(self.inflight):
            if not self.inflight[update_id].done():
                break
            del self.inflight[update_id]

    def take(self, raw: list[dict[str, Any]]) -> int:
        """Start the updates of a getUpdates answer not seen before; returns how many."""
        started = 0
        for data in raw:
            update_id = data["update_id"]
            if self.newest is not None and update_id <= self.newest:
                continue  # still in flight (or finished meanwhile): sent again until acknowledged
            self.newest = update_id
            update = read_update(data, self.app.bot)
            if update is None:
                continue  # acknowledged with the next offset: it would come back after every restart
            in_flight = self.app.bot_data.get(IN_FLIGHT)
            if in_flight is not None:  # its age counts from here, queued behind its chat's earlier update too
                in_flight.take(update_id)
            chat_id = _chat_id(update)
            previous = self.chains.get(chat_id) if chat_id is not None else None
            task = asyncio.create_task(self._run(update, previous))
            self.inflight[update_id] = task
            if chat_id is not None:
                self.chains[chat_id] = task
                task.add_done_callback(lambda t, c=chat_id: self._chain_done(c, t))
            task.add_done_callback(self._finished)
            self.running += 1
            started += 1
        return started

    def _finished(self, _task: asyncio.Task) -> None:
        self.running -= 1
        self.progress.set()

    def _chain_done(self, chat_id: int, task: asyncio.Task) -> None:
        if self.chains.get(chat_id) is task:
            del self.chains[chat_id]

    async def _run(self, update: Update, previous: asyncio.Task | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # the chat's earlier update first; its failure is its own
        try:
            await process(self.app, update)
        except Exception:  # process_update reports handler errors itself; this is anything else
            log.exception("update %s failed outside its handlers", update.update_id)

    async def drain(self) -> None:
        if self.inflight:
            await asyncio.wait(list(self.inflight.values()))
        self.forget_finished_prefix()


async def _get_updates(app, offset: int | None, timeout: int) -> list[dict[str, Any]]:
    """getUpdates, JSON-decoded only: most of an answer can be updates already in flight."""
    kwargs: dict[str, Any] = {"timeout": timeout, "limit": LIMIT, "allowed_updates": ALLOWED_UPDATES}
    if offset is not None:
        kwargs["offset"] = offset
    return await botapi.call(app.bot, "getUpdates", kwargs, read_timeout=timeout + 10)


async def _wait_for_any(*aws, timeout: float | None = None) -> None:
    futures = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(futures, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in futures:
            future.cancel()


async def _settle(pipeline: Pipeline, stop: asyncio.Event) -> None:
    """Before asking again while updates run. Every answer re-reads the updates in flight, so
    asking while most of a batch still runs costs more CPU than it saves (burst benchmark: 440 vs
    574 updates/s): wait until at most STRAGGLERS remain, no longer than BUSY_WAIT_SECONDS. Then
    give the stragglers STRAGGLER_POLL_SECONDS: a slow one (a chart) must not hold back the updates
    that arrived behind it (measured: other people's replies took 150 ms instead of 10 while one
    update waited 0.4 s on the Bot API)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_WAIT_SECONDS
    while pipeline.running > STRAGGLERS and not stop.is_set():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        pipeline.progress.clear()
        await _wait_for_any(stop.wait(), pipeline.progress.wait(), timeout=remaining)
    pending = [task for task in pipeline.inflight.values() if not task.done()]
    if pending and not stop.is_set():
        await _wait_for_any(stop.wait(), asyncio.wait(pending), timeout=STRAGGLER_POLL_SECONDS)


async def poll(app, stop: asyncio.Event, confirm_at_end=lambda: True) -> None:
    await app.bot.delete_webhook(drop_pending_updates=False)
    pipeline = Pipeline(app)
    backoff = 0.5
    while not stop.is_set():
        pipeline.forget_finished_prefix()
        busy = bool(pipeline.inflight)
        if len(pipeline.inflight) >= LIMIT:  # an answer could hold nothing new: wait for the prefix
            pipeline.progress.clear()
            await _wait_for_any(stop.wait(), pipeline.progress.wait())
            continue
        if pipeline.running:
            await _settle(pipeline, stop)
            if stop.is_set():
                break
            pipeline.forget_finished_prefix()
            busy = bool(pipeline.inflight)
        fetch = asyncio.ensure_future(_get_updates(app, pipeline.offset(), 0 if busy else POLL_TIMEOUT))
        await _wait_for_any(asyncio.shield(fetch), stop.wait())
        if not fetch.done():  # stop requested during the long poll: nothing fetched is lost
            fetch.cancel()
            break
        try:
            raw = fetch.result()
        except InvalidToken:
            raise
        except RetryAfter as exc:
            retry = exc.retry_after
            await asyncio.sleep(retry.total_seconds() if hasattr(retry, "total_seconds") else retry)
            continue
        except (NetworkError, TimedOut, Conflict) as exc:
            log.warning("getUpdates failed: %s; retrying in %.1f s", exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
            continue
        backoff = 0.5
        pipeline.take(raw)
    # In-flight updates are finished even when a stop arrives meanwhile.
    await pipeline.drain()
    offset = pipeline.offset()
    if offset is not None and confirm_at_end():  # confirm what was finished so a restart does not see it again
        with contextlib.suppress(TelegramError):
            await _get_updates(app, offset, 0)
