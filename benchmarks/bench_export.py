"""Benchmark of /export's report: the one-page PDF (what the bot sends) against the same page as a PNG.

Renders the report of a person with a year of weekly measurements with matplotlib, as the report
worker does (bot.report.render_pdf), and the same figure as a PNG at 150 dpi (readable when zoomed
on a phone), each `--repeat` times in this process after one warm-up; the CSV alongside. Prints
CPU time per file (median and lowest), file sizes and the cores. Usage:
  python benchmarks/bench_export.py [--repeat 20] [--weeks 52]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import report as report_module  # noqa: E402
from bot.chart_image import render_progress_chart  # noqa: E402
from bot.domain import export  # noqa: E402


def person_data(weeks: int) -> dict:
    start = date(2026, 1, 5)
    records = [{"id": i, "date": (start + timedelta(weeks=i)).isoformat(), "weight": 92 - 0.25 * i,
                "waist": 100 - 0.2 * i, "neck": 42, "hip": None, "height": 180, "bodyfat": 28 - 0.1 * i,
                "goal": "lean", "steps": "8000-10000", "sport_type": "running", "sport_freq": "3-4",
                "legacy_goal": None, "legacy_steps": None, "legacy_sport_type": None, "legacy_sport_freq": None}
               for i in range(weeks)]
    return {"users": [{"telegram_id": 1, "last_name": "Иванов", "first_name": "Иван", "sex": "male",
                       "date_of_birth": "1990-06-15", "created_at": "2026-01-05T09:00:00+03:00"}],
            "user_records": records}


def png_page(report: export.Report, chart: bytes) -> bytes:
    """The same page as the PDF, saved as a PNG instead (the alternative the PDF was chosen over)."""
    import matplotlib.pyplot as plt

    original = plt.Figure.savefig

    def as_png(fig, out, **kwargs):
        kwargs.update(format="png", dpi=150)
        kwargs.pop("metadata", None)
        return original(fig, out, **kwargs)

    plt.Figure.savefig = as_png
    try:
        return report_module.render_pdf(report, chart)
    finally:
        plt.Figure.savefig = original


def timed(fn, repeat: int) -> tuple[list[float], bytes]:
    fn()  # warm-up: imports, fonts
    times, result = [], b""
    for _ in range(repeat):
        started = time.process_time()
        result = fn()
        times.append(time.process_time() - started)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--weeks", type=int, default=52)
    args = parser.parse_args()
    started = time.perf_counter()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401 - the import a fresh report worker pays once

    import_s = time.perf_counter() - started
    data = person_data(args.weeks)
    rows = export.measurements(data)
    report = export.report(export.person(data), rows, date(2026, 12, 31), "ИП Иванова А. А.")
    chart = render_progress_chart(report.chart)
    results = {
        "chart (PNG, bot.chart_image)": timed(lambda: render_progress_chart(report.chart), args.repeat),
        "report as PDF (sent)": timed(lambda: report_module.render_pdf(report, chart), args.repeat),
        "report as PNG, 150 dpi": timed(lambda: png_page(report, chart), args.repeat),
        "CSV": timed(lambda: export.csv_bytes(rows), args.repeat),
    }
    print(f"machine: {platform.machine()}, os.cpu_count() = {os.cpu_count()}, Python {platform.python_version()}, "
          f"matplotlib {matplotlib.__version__}")
    print(f"{args.weeks} weekly measurements; {args.repeat} renders each; CPU time of this process")
    print(f"matplotlib import (once per report worker): {import_s:.2f} s")
    for name, (times, content) in results.items():
        print(f"{name:24} median {statistics.median(times) * 1000:7.1f} ms, lowest {min(times) * 1000:7.1f} ms, "
              f"{len(content) / 1024:7.1f} KiB")
    pdf = results["report as PDF (sent)"][1]
    assert pdf.startswith(b"%PDF") and io.BytesIO(pdf).getbuffer().nbytes > 0


if __name__ == "__main__":
    main()
