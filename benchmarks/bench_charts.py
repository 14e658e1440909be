"""Benchmark of the progress chart: the bot's renderer beside the matplotlib chart it replaced.

Prints, for histories of 2, 10 and 300 measurements, the CPU time (this process's, so other
programs on a shared machine inflate it less than wall time) and the wall time per render of
  - bot.chart_image.render_progress_chart (Pillow, weight and body fat, the bot's), and
  - `matplotlib_chart` below: the chart the bot drew before, kept here verbatim as the reference
    (a new matplotlib figure per render, weight only),
then the throughput of bot.charts.ChartRenderer's worker pool (as many distinct charts as asked,
all at once: nothing from the cache), with the machine's core count and load average.
Prints figures only (not a test). Usage:
  python benchmarks/bench_charts.py [--renders 30] [--pool-charts 200] [--save DIR]
--save DIR also writes example charts of 1, 2, 10 and 300 measurements (some without body fat)
as DIR/chart-N.png, to look at.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.chart_image import render_progress_chart  # noqa: E402 - after the sys.path line above
from bot.charts import ChartRenderer, pool_size  # noqa: E402
from bot.domain import texts  # noqa: E402
from bot.domain.progress import chart_label_indices  # noqa: E402


def matplotlib_chart(points: list[tuple[date, float]]) -> bytes:
    """The bot's chart before bot.chart_image (weight only; every point labelled up to 9)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    days = [d for d, _ in points]
    weights = [w for _, w in points]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        ax.plot(days, weights, marker="o", markersize=6 if len(points) <= 30 else 3, color="#2e86de", linewidth=2)
        for index in chart_label_indices(weights, 9):
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


def history(n: int, seed: int = 1, gaps: bool = False) -> list[tuple[date, float, float | None]]:
    """n weekly-ish measurements; with gaps, some without body fat (as imported rows can be)."""
    rng = random.Random(f"{seed}:{n}")
    day, weight, fat = date(2023, 3, 1), 92.0, 28.0
    points = []
    for _ in range(n):
        day += timedelta(days=rng.choice([5, 7, 7, 8, 14]))
        weight = round(weight + rng.uniform(-0.6, 0.45), 1)
        fat = round(max(5.0, fat + rng.uniform(-0.3, 0.22)), 1)
        points.append((day, weight, None if gaps and rng.random() < 0.15 else fat))
    return points


def timed(render, points, renders: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per render, after one warm-up render."""
    render(points)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(renders):
        render(points)
    return ((time.process_time() - cpu) / renders * 1000, (time.perf_counter() - wall) / renders * 1000)


async def pool_throughput(charts: int) -> tuple[int, float, list[float]]:
    renderer = ChartRenderer(cache_size=charts)
    try:
        await renderer.warm_up()
        requests = [history(10, seed=i, gaps=True) for i in range(charts)]
        latencies: list[float] = []

        async def one(points) -> None:
            started = time.perf_counter()
            await renderer.progress_chart(points)
            latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one(p) for p in requests))
        return renderer.workers, time.perf_counter() - started, sorted(latencies)
    finally:
        renderer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=30, help="renders per measurement (default 30)")
    parser.add_argument("--pool-charts", type=int, default=200, help="charts for the pool's throughput")
    parser.add_argument("--save", type=Path, help="write example charts of 1, 2, 10 and 300 measurements here")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, python {platform.python_version()}, os.cpu_count() = {os.cpu_count()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        for n in (1, 2, 10, 300):
            (args.save / f"chart-{n}.png").write_bytes(render_progress_chart(history(n, gaps=n >= 10)))
        print(f"examples: {', '.join(str(args.save / f'chart-{n}.png') for n in (1, 2, 10, 300))}")
    print(f"\nper render, {args.renders} renders each: CPU ms / wall ms")
    print(f"{'points':>7}{'bot (Pillow, 2 panels)':>28}{'before (matplotlib)':>26}{'CPU ratio':>11}")
    for n in (2, 10, 300):
        points = history(n, gaps=True)
        ours = timed(render_progress_chart, points, args.renders)
        before = timed(matplotlib_chart, [(d, w) for d, w, _ in points], max(3, args.renders // 3))
        print(f"{n:>7}{ours[0]:>16.1f} / {ours[1]:>7.1f}{before[0]:>14.1f} / {before[1]:>7.1f}"
              f"{before[0] / ours[0]:>10.1f}x")
    workers, elapsed, latencies = asyncio.run(pool_throughput(args.pool_charts))
    print(f"\npool: {workers} worker(s) (pool_size() = {pool_size()}), {args.pool_charts} distinct 10-point charts "
          f"at once: {args.pool_charts / elapsed:.0f} charts/s; time to each chart p50 "
          f"{latencies[len(latencies) // 2] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
