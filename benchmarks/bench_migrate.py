"""Benchmark: migrate-from-sqlite (verification included) against pgloader on the same large DEV file.

    .venv/bin/python benchmarks/bench_migrate.py [--users 100000] [--skip-pgloader]

Prints rows/s of both, the ratio, our peak RSS (child process, psutil), the core count, and the
anchors' reference figures. The generated file is cached in /tmp/kbju-bench.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil

from kbjuctl import localpg, migrations

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "dev-sqlite"
CACHE = Path("/tmp/kbju-bench")
ANCHORS = "anchors (2 cores): pgloader 9.2-10.3 s (112k-126k rows/s, 525-554 MiB); bare COPY 4.0 s (290k rows/s)"


def source_rows(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                   for t in ("users", "user_records", "user_food_preferences"))


def run_measured(cmd: list[str]) -> tuple[float, int, int]:
    """(seconds, peak RSS bytes of the process tree, exit code)."""
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
    return time.perf_counter() - started, peak, proc.returncode


def ours(path: Path, admin: str) -> tuple[float, int, int]:
    name = localpg.unique_name("kbju_bench")
    url = localpg.create_database(admin, name)
    try:
        migrations.upgrade(url)
        return run_measured([sys.executable, "-m", "kbjuctl", "migrate-from-sqlite", str(path),
                             "--database-url", url])
    finally:
        localpg.drop_database(admin, name)


def pgloader(path: Path, admin: str) -> tuple[float, int, int]:
    name = localpg.unique_name("kbju_pgl")
    url = localpg.create_database(admin, name)
    try:
        return run_measured(["pgloader", f"sqlite://{path}", url])
    finally:
        localpg.drop_database(admin, name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--skip-pgloader", action="store_true")
    args = ap.parse_args()
    CACHE.mkdir(exist_ok=True)
    large = CACHE / f"large-{args.users}.db"
    if not large.exists():
        subprocess.run([sys.executable, str(FIXTURES / "generate_dev_db.py"), str(large), "--users",
                        str(args.users), "--seed", "33", "--quiet"], check=True)
    admin = localpg.SYSTEM_ADMIN_URL
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM")
    print(ANCHORS)
    for label, path in (("medium.db", FIXTURES / "medium.db"), (large.name, large)):
        rows = source_rows(path)
        seconds, rss, code = ours(path, admin)
        print(f"ours     {label:>18}: {rows:>9,} rows in {seconds:6.2f} s = {rows / seconds:>9,.0f} rows/s, "
              f"peak RSS {rss / 2**20:6.1f} MiB, exit {code} (verification included)")
        if label != "medium.db" and not args.skip_pgloader:
            pg_seconds, pg_rss, pg_code = pgloader(path, admin)
            print(f"pgloader {label:>18}: {rows:>9,} rows in {pg_seconds:6.2f} s = {rows / pg_seconds:>9,.0f} rows/s, "
                  f"peak RSS {pg_rss / 2**20:6.1f} MiB, exit {pg_code}")
            print(f"ratio ours/pgloader time: {seconds / pg_seconds:.2f} (below 1: ours faster)")


if __name__ == "__main__":
    main()
