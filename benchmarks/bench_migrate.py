"""Benchmark: migrate-from-sqlite (verification included) against pgloader on the same large DEV file.

    .venv/bin/python benchmarks/bench_migrate.py [--users 100000] [--skip-pgloader]

Prints rows/s of both, the ratio, peak RSS (child process tree, psutil), the client's CPU seconds,
the core count and load average (the box is shared: compare the two tools within one run), and the
anchors' reference figures. The generated file is cached in /tmp/kbju-bench.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg

from kbjuctl import localpg, migrations

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path("/tmp/kbju-bench")  # nosec B108  # a benchmark's cache of generated files
ANCHORS = "anchors (2 cores): pgloader 9.2-10.3 s (112k-126k rows/s, 525-554 MiB); bare COPY 4.0 s (290k rows/s)"


def source_rows(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # nosec B608  # table names are literals of this loop
                   for t in ("users", "user_records", "user_food_preferences"))


def run_measured(cmd: list[str]) -> tuple[float, int, int, float]:
    """(seconds, peak RSS bytes of the process tree, exit code, CPU seconds of the process tree)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, peak, proc.returncode, cpu


def checkpoint(admin: str) -> None:
    """Flush what earlier runs left dirty, so neither tool pays for the other's writes."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def ours(path: Path, admin: str) -> tuple[float, int, int, float]:
    name = localpg.unique_name("kbju_bench")
    url = localpg.create_database(admin, name)
    try:
        migrations.upgrade(url)
        checkpoint(admin)
        return run_measured([sys.executable, "-m", "kbjuctl", "migrate-from-sqlite", str(path),
                             "--database-url", url])
    finally:
        localpg.drop_database(admin, name)


def pgloader(path: Path, admin: str) -> tuple[float, int, int, float]:
    name = localpg.unique_name("kbju_pgl")
    url = localpg.create_database(admin, name)
    try:
        checkpoint(admin)
        return run_measured(["pgloader", f"sqlite://{path}", url])
    finally:
        localpg.drop_database(admin, name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--skip-pgloader", action="store_true")
    args = ap.parse_args()
    CACHE.mkdir(exist_ok=True)
    medium, large = CACHE / "medium-5000.db", CACHE / f"large-{args.users}.db"
    for path, users, seed in ((medium, 5000, 22), (large, args.users, 33)):
        if not path.exists():  # the project's own generator (kbjuctl dev make-sqlite), cached
            subprocess.run([sys.executable, "-m", "kbjuctl", "dev", "make-sqlite", str(path), "--users", str(users),
                            "--seed", str(seed)], check=True, cwd=ROOT)
    admin = localpg.SYSTEM_ADMIN_URL
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on the box slows both tools)")
    print(ANCHORS)
    for label, path in (("medium.db", medium), (large.name, large)):
        rows = source_rows(path)
        seconds, rss, code, cpu = ours(path, admin)
        print(f"ours     {label:>18}: {rows:>9,} rows in {seconds:6.2f} s = {rows / seconds:>9,.0f} rows/s, "
              f"peak RSS {rss / 2**20:6.1f} MiB, client CPU {cpu:5.1f} s, exit {code} (verification included)")
        if label != "medium.db" and not args.skip_pgloader:
            pg_seconds, pg_rss, pg_code, pg_cpu = pgloader(path, admin)
            print(f"pgloader {label:>18}: {rows:>9,} rows in {pg_seconds:6.2f} s = {rows / pg_seconds:>9,.0f} rows/s, "
                  f"peak RSS {pg_rss / 2**20:6.1f} MiB, client CPU {pg_cpu:5.1f} s, exit {pg_code}")
            print(f"ratio ours/pgloader time: {seconds / pg_seconds:.2f} (below 1: ours faster)")
        print(f"load average (1/5/15 min) now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
