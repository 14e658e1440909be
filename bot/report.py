"""The one-page PDF report of /export and `kbjuctl users export`: matplotlib's PDF backend in a worker.

A report is an A4 page of text (bot.domain.export.Report) with the person's progress chart (the
PNG bot.charts draws for «Прогресс», placed as an image). PDF rather than a PNG page: measured by
benchmarks/bench_export.py, the PDF takes less CPU than a readable PNG of the same page and is a
quarter of its size, and its text stays text (searchable, sharp when printed). Rendering takes a
few hundred milliseconds of CPU, so it runs in a process of its own, started at the first export
(matplotlib's import takes about a second there) and never on the event loop; a kbjuctl command
calls `render_pdf` directly.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

# The chart worker's rules, shared: end with the bot even after SIGKILL; leave Ctrl-C to the bot.
from bot.charts import _worker_ignores_ctrl_c
from bot.domain.export import Report
from bot.procutil import die_with_parent

log = logging.getLogger(__name__)
A4_INCHES = (8.27, 11.69)
# The page's font (DejaVu Sans, matplotlib's own) has no emoji: they are left out of the PDF.
_NO_GLYPH = re.compile("[\u2600-\u27bf\ufe0f\U0001f000-\U0001faff]")


def _plain(text: str) -> str:
    return _NO_GLYPH.sub("", text).strip()


def render_pdf(report: Report, chart_png: bytes | None) -> bytes:
    """The report as a one-page A4 PDF (runs in the worker, or directly in a command)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=A4_INCHES)
    try:
        left, y = 0.07, 0.955
        fig.text(left, y, _plain(report.title), fontsize=15, weight="bold", va="top")
        y -= 0.045
        for heading, lines in report.sections:
            fig.text(left, y, heading, fontsize=11, weight="bold", va="top", color="#2e5e8c")
            y -= 0.022
            for line in lines:
                wrapped = _wrap(_plain(line), 105)
                fig.text(left + 0.01, y, wrapped, fontsize=9, va="top", linespacing=1.3)
                y -= 0.017 * (wrapped.count("\n") + 1)
            y -= 0.01
        chart_height = 0.25
        if chart_png is not None:
            ax = fig.add_axes((left, y - chart_height, 0.86, chart_height))
            ax.imshow(mpimg.imread(io.BytesIO(chart_png), format="png"))
            ax.set_axis_off()
            y -= chart_height + 0.015
        if report.history:
            fig.text(left, y, "Замеры", fontsize=11, weight="bold", va="top", color="#2e5e8c")
            y -= 0.02
            height = 0.0165 * (len(report.history) + 1)
            ax = fig.add_axes((left, y - height, 0.86, height))
            ax.set_axis_off()
            table = ax.table(cellText=[list(row) for row in report.history], colLabels=list(report.history_columns),
                             loc="upper center", cellLoc="center")
            table.auto_set_font_size(False)
            table.set_fontsize(8)
            table.scale(1, 1.0)
            y -= height + 0.01
            if report.history_note:
                fig.text(left, y, _plain(report.history_note), fontsize=8, va="top", style="italic")
        fig.text(left, 0.03, _plain(report.footer), fontsize=7.5, color="#666666")
        out = io.BytesIO()
        fig.savefig(out, format="pdf", metadata={"Title": _plain(report.title), "Creator": "KBJU Bot"})
        return out.getvalue()
    finally:
        plt.close(fig)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


class ReportRenderer:
    """One worker process for reports, started at the first one; closed by bot.app.close_resources."""

    def __init__(self) -> None:
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: forking a process that runs an event loop and threads is unsafe.
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=die_with_parent, initargs=(os.getpid(),))
        return self._executor

    async def pdf(self, report: Report, chart_png: bytes | None) -> bytes:
        executor = self._pool()
        loop = asyncio.get_running_loop()
        try:
            with _worker_ignores_ctrl_c():
                future = loop.run_in_executor(executor, render_pdf, report, chart_png)
            return await future
        except BrokenProcessPool:  # the worker died (OOM killer, a kill by hand): a new one
            log.warning("the report worker process died; starting a new one")
            if self._executor is executor:
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            with _worker_ignores_ctrl_c():
                future = loop.run_in_executor(self._pool(), render_pdf, report, chart_png)
            return await future

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
