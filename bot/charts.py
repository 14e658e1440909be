"""Progress charts: matplotlib (Agg) in a one-worker process pool, off the event loop and its GIL."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import multiprocessing
import os
import signal
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date

from bot.domain import texts
from bot.domain.progress import chart_label_indices
from bot.procutil import die_with_parent

log = logging.getLogger(__name__)


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


def _warm() -> bool:
    """Import matplotlib in the worker ahead of the first chart (the import takes ~1 s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return True


def render_weight_chart(points: list[tuple[date, float]]) -> bytes:
    """PNG of weight over time, points labelled with weight and date (every point while the labels
    fit side by side: bot.domain.progress.chart_label_indices); runs in the worker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    days = [d for d, _ in points]
    weights = [w for _, w in points]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        ax.plot(days, weights, marker="o", markersize=6 if len(points) <= 30 else 3, color="#2e86de", linewidth=2)
        for index in chart_label_indices(weights):
            day, weight = points[index]
            ax.annotate(texts.chart_point_label(weight, day), (day, weight), textcoords="offset points",
                        xytext=(0, 8), ha="center", fontsize=8,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
        ax.set_title(texts.CHART_TITLE)
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d.%m.%y"))
        low, high = min(weights), max(weights)
        pad = max(1.0, (high - low) * 0.25)
        ax.set_ylim(low - pad, high + pad * 1.6)
        fig.autofmt_xdate()
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(fig)


CACHE_SIZE = 512  # charts kept per process (~30-60 KB each)


class ChartRenderer:
    """Owns the worker process; created by bot.app.open_resources, closed by close_resources.

    A chart depends only on its points, so it is cached by them: a person who opens Progress
    again without a new measurement gets the same PNG without queueing behind other renders,
    and identical requests in flight share one render.
    """

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._executor: ProcessPoolExecutor | None = None
        self._cache: OrderedDict[tuple, asyncio.Future] = OrderedDict()
        self._cache_size = cache_size

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: forking a process that runs an event loop and threads is unsafe.
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=die_with_parent, initargs=(os.getpid(),))
        return self._executor

    def warm_up(self) -> asyncio.Future:
        with _worker_ignores_ctrl_c():
            return asyncio.get_running_loop().run_in_executor(self._pool(), _warm)

    async def weight_chart(self, points: list[tuple[date, float]]) -> bytes:
        executor = self._pool()
        try:
            return await self._render(executor, points)
        except BrokenProcessPool:
            # The worker died (the OOM killer, a kill by hand). A broken pool never recovers, so
            # without a new one every later chart would fail until the bot restarts.
            self._replace(executor)
            return await self._render(self._pool(), points)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is broken:  # requests that shared the broken pool replace it once
            log.warning("the chart worker process died; starting a new one")
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def _render(self, executor: ProcessPoolExecutor, points: list[tuple[date, float]]) -> bytes:
        key = tuple(points)
        future = self._cache.get(key)
        if future is None:
            with _worker_ignores_ctrl_c():
                future = asyncio.get_running_loop().run_in_executor(executor, render_weight_chart, points)
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
