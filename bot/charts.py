"""Progress charts off the event loop: a pool of worker processes sized to the machine, cached by content.

The image itself is bot.chart_image's (Pillow, ~10-20 ms). Rendering happens in worker processes,
one per core (at most MAX_WORKERS), so a chart costs the event loop nothing and charts asked for at
once are drawn side by side; another person's reply never waits for one. A chart depends only on
its points, so it is cached by them: Progress opened again without a new measurement sends the
same PNG without a render, and identical requests in flight share one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from bot.chart_image import Point, render_progress_chart
from bot.procutil import die_with_parent

log = logging.getLogger(__name__)
MAX_WORKERS = 4  # enough for hundreds of charts a second; each worker holds ~40 MB
CACHE_SIZE = 1024  # charts kept per process (~15 KB each)


def pool_size() -> int:
    """Worker processes for this machine: the cores this process may use, 1..MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


@contextlib.contextmanager
def _worker_ignores_ctrl_c() -> Iterator[None]:
    """Around a submit, which may start the worker: it inherits SIGINT ignored. Ctrl-C in a terminal
    signals the whole foreground process group; the worker must leave its end to the bot (which
    shuts the pool down) instead of dying with a KeyboardInterrupt traceback of its own. Its
    initializer would come too late: a Ctrl-C during the worker's imports still reaches it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _warm(pause: float) -> int:
    """Load Pillow and the fonts in a worker ahead of the first chart; the pause keeps this worker
    busy so that the next warm-up goes to another one."""
    from datetime import date

    render_progress_chart([(date(2000, 1, 1), 70.0, 20.0), (date(2000, 1, 8), 69.5, None)])
    time.sleep(pause)
    return os.getpid()


class ChartRenderer:
    """Owns the worker processes; created by bot.app.open_resources, closed by close_resources."""

    def __init__(self, cache_size: int = CACHE_SIZE, workers: int | None = None) -> None:
        self._executor: ProcessPoolExecutor | None = None
        self._cache: OrderedDict[tuple, asyncio.Future] = OrderedDict()
        self._cache_size = cache_size
        self.workers = workers or pool_size()

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: forking a process that runs an event loop and threads is unsafe.
            self._executor = ProcessPoolExecutor(max_workers=self.workers,
                                                 mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=die_with_parent, initargs=(os.getpid(),))
        return self._executor

    def warm_up(self) -> asyncio.Future:
        """Start every worker and load what it draws with; resolves to their pids."""
        loop = asyncio.get_running_loop()
        pool = self._pool()
        with _worker_ignores_ctrl_c():
            return asyncio.gather(*(loop.run_in_executor(pool, _warm, 0.2) for _ in range(self.workers)))

    async def progress_chart(self, points: Sequence[Point]) -> bytes:
        """PNG of weight and body fat over `points` (day, kg, % or None), in date order."""
        key = tuple(points)
        executor = self._pool()
        try:
            return await self._render(executor, key)
        except BrokenProcessPool:
            # A worker died (the OOM killer, a kill by hand). A broken pool never recovers, so
            # without a new one every later chart would fail until the bot restarts.
            self._replace(executor)
            return await self._render(self._pool(), key)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is broken:  # requests that shared the broken pool replace it once
            log.warning("a chart worker process died; starting new ones")
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def _render(self, executor: ProcessPoolExecutor, key: tuple) -> bytes:
        future = self._cache.get(key)
        if future is None:
            with _worker_ignores_ctrl_c():
                future = asyncio.get_running_loop().run_in_executor(executor, render_progress_chart, key)
            self._cache[key] = future
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        try:
            return await asyncio.shield(future)
        except Exception:
            if self._cache.get(key) is future:  # a failed render is not remembered
                del self._cache[key]
            raise

    def close(self) -> None:
        """Waits for the worker to exit (a render in progress finishes first): a pool whose manager
        thread still runs at interpreter exit races concurrent.futures' exit hook to a closed pipe
        ("OSError: Bad file descriptor" and a traceback in the log)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
