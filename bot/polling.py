"""Our getUpdates loop: a batch is handled completely before its offset is acknowledged.

PTB's Updater confirms an update as soon as it is fetched; here the next getUpdates (which is
what tells Telegram the previous batch is done) is only sent after every update of the batch
was processed, so a crash re-delivers whatever was not finished.
"""

from __future__ import annotations

import asyncio
import logging

from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.app import POLL_TIMEOUT

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "callback_query"]


async def poll(app, stop: asyncio.Event) -> None:
    await app.bot.delete_webhook(drop_pending_updates=False)
    offset: int | None = None
    backoff = 0.5
    while not stop.is_set():
        fetch = asyncio.ensure_future(app.bot.get_updates(
            offset=offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES,
            read_timeout=POLL_TIMEOUT + 10))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not fetch.done():  # stop requested during the long poll: nothing fetched is lost
            fetch.cancel()
            break
        try:
            batch = fetch.result()
        except InvalidToken:
            raise
        except RetryAfter as exc:
            await asyncio.sleep(exc.retry_after.total_seconds() if hasattr(exc.retry_after, "total_seconds")
                                else exc.retry_after)
            continue
        except (NetworkError, TimedOut, Conflict) as exc:
            log.warning("getUpdates failed: %s; retrying in %.1f s", exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
            continue
        backoff = 0.5
        if not batch:
            continue
        # In-flight updates are finished even when a stop arrives meanwhile.
        await asyncio.gather(*(app.process_update(update) for update in batch), return_exceptions=True)
        offset = batch[-1].update_id + 1
    if offset is not None:  # confirm the last batch so a restart does not see it again
        try:
            await app.bot.get_updates(offset=offset, timeout=0, limit=1, allowed_updates=ALLOWED_UPDATES)
        except TelegramError:
            pass
