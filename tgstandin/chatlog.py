"""Everything that happened in one chat, in order, with a long-poll wait for what comes next.

Tests and load tests follow a chat by `seq` (per chat, increasing by 1), so "what did the bot
do after I pressed" is a single long-poll instead of sleeps. Events hold immutable snapshots:
an edit records a new message dict and never changes an older one.
"""

from __future__ import annotations

import asyncio
import time


class ChatLog:
    """Ordered chat events; keeps the newest `cap` of them (seq numbers stay unique)."""

    __slots__ = ("_changed", "base", "cap", "closed", "events")

    def __init__(self, cap: int = 5000) -> None:
        self.events: list[dict] = []
        self.base = 0  # seq of the first kept event minus one
        self.cap = cap
        self.closed = False
        self._changed: asyncio.Future | None = None

    @property
    def last_seq(self) -> int:
        return self.base + len(self.events)

    def append(self, kind: str, **fields: object) -> dict:
        event = {"seq": self.last_seq + 1, "kind": kind, "ts": time.monotonic(), "wall": time.time(), **fields}
        self.events.append(event)
        if len(self.events) > self.cap:
            drop = len(self.events) - self.cap // 2
            del self.events[:drop]
            self.base += drop
        changed = self._changed
        if changed is not None:
            self._changed = None
            if not changed.done():
                changed.set_result(None)
        return event

    def since(self, after: int) -> list[dict]:
        return self.events[max(after - self.base, 0):]

    async def wait(self, after: int, min_count: int, timeout: float) -> list[dict]:
        """Events with seq > after, as soon as there are `min_count` of them or at the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.since(after)
            remaining = deadline - loop.time()
            if len(found) >= min_count or remaining <= 0 or self.closed:
                return found
            if self._changed is None:
                self._changed = loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._changed), remaining)
            except TimeoutError:
                return self.since(after)

    def close(self) -> None:
        """Release every waiter now and from now on (server shutdown)."""
        self.closed = True
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        self._changed = None
