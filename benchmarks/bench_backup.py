"""Benchmark: `backup create` (manifest + checksums) vs bare `pg_dump -Fc`, and `backup restore`
(verify, restore, compare) vs bare `pg_restore`, on a database of ~1,000,000 records.

    .venv/bin/python benchmarks/bench_backup.py [--users 100000] [--runs 3] [--admin-url URL]

The database is filled with generate_series INSERTs shaped like user_records (about 10 records
per user, ~24k food rows). Every figure is measured in the same run; prints min / median seconds,
the ratios (target <= 1.3x), the core count and the anchors.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from kbjuctl import localpg, migrations
from kbjuctl.backup import create_backup, restore_backup, tools, verify_backup

ANCHORS = ("anchors (2 cores, PG 15, 1.15 M rows): pg_dump -Fc 4.4 s; pg_restore 2.2 s (-j 2: 1.75 s); "
           "count + md5(string_agg) over the 3 tables 2.3-2.5 s")
FILL = [
    """INSERT INTO users (telegram_id, username, first_name, last_name, sex, date_of_birth, created_at)
       SELECT g, 'user_' || g, 'Анна ' || g, 'Иванова', CASE WHEN g %% 2 = 0 THEN 'female' ELSE 'male' END,
              DATE '1970-01-01' + g %% 15000, TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * INTERVAL '1 minute'
       FROM generate_series(1, %(users)s) g""",
    """INSERT INTO user_records (telegram_id, date, weight, waist, neck, hip, height, goal, steps, sport_type,
                                sport_freq, bodyfat, created_at, updated_at)
       SELECT u, DATE '2024-01-01' + d, 60 + (u %% 40) + d * 0.1, 70 + (u %% 30) + 0.30000000000000004, 35.5,
              CASE WHEN u %% 2 = 0 THEN 95 + (d %% 5) END, 150 + u %% 50, 'healthy', '5000-8000', 'walking',
              '3-4', 10 + (u %% 20) + 0.1 * d, TIMESTAMPTZ '2024-01-01 00:00:00+00' + d * INTERVAL '1 day',
              now()
       FROM generate_series(1, %(users)s) u, generate_series(1, 10) d""",
    """INSERT INTO user_food_preferences (telegram_id, likes_raw, dislikes_raw)
       SELECT g, 'борщ, пельмени ' || g, CASE WHEN g %% 3 = 0 THEN '' ELSE 'лук' END
       FROM generate_series(1, %(users)s, 4) g""",
]


def timed(seconds: list[float], fn, *args, **kwargs):
    """Call fn, append its wall time to seconds, return its result."""
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds.append(time.perf_counter() - started)
    return result


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def fmt(values: list[float]) -> str:
    return f"{min(values):6.2f} / {statistics.median(values):6.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--admin-url", default=localpg.SYSTEM_ADMIN_URL)
    args = parser.parse_args()
    admin = args.admin_url
    work = Path(tempfile.mkdtemp(prefix="kbju-bench-backup-"))
    source_name = localpg.unique_name("kbju_bench_src")
    source = localpg.create_database(admin, source_name)
    scratch: list[str] = []
    try:
        migrations.upgrade(source)
        started = time.perf_counter()
        with psycopg.connect(source) as conn:
            for statement in FILL:
                conn.execute(statement, {"users": args.users})
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            rows = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # nosec B608  # table names are literals of this loop
                       for t in ("users", "user_records", "user_food_preferences"))
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
            major = conn.execute("SHOW server_version_num").fetchone()[0]
        print(f"filled {rows:,} rows ({size}) in {time.perf_counter() - started:.1f} s")
        pg_dump = tools.pick("pg_dump", int(major) // 10000, "benchmark")
        pg_restore = tools.pick("pg_restore", int(major) // 10000, "benchmark")

        bare_dump, ours_dump, bare_restore, ours_restore, deep_verify = [], [], [], [], []
        archive = work / "bare.pgcustom"
        for i in range(args.runs):
            timed(bare_dump, run, [str(pg_dump.path), "-Fc", f"--file={archive}", f"--dbname={source}"])
            backup_path = timed(ours_dump, create_backup, source, work / "backups").path

            name = localpg.unique_name(f"kbju_bench_bare{i}")
            scratch.append(name)
            target = localpg.create_database(admin, name)
            timed(bare_restore, run, [str(pg_restore.path), f"--dbname={target}", str(archive)])

            name = localpg.unique_name(f"kbju_bench_ours{i}")
            scratch.append(name)
            target = localpg.create_database(admin, name)
            timed(ours_restore, restore_backup, backup_path, target)
            timed(deep_verify, verify_backup, backup_path, deep=True, database_url=admin)
            for name in scratch:
                localpg.drop_database(admin, name)
            scratch.clear()

        print(f"\nmachine: {os.cpu_count()} cores, {platform.platform()}, server {major}, "
              f"pg_dump {pg_dump.version}; {args.runs} runs, min / median")
        print(f"  bare pg_dump -Fc                      {fmt(bare_dump)}   "
              f"({archive.stat().st_size / 2**20:.1f} MiB archive)")
        print(f"  backup create (manifest, checksums)   {fmt(ours_dump)}   "
              f"ratio {min(ours_dump) / min(bare_dump):.2f}x / "
              f"{statistics.median(ours_dump) / statistics.median(bare_dump):.2f}x")
        print(f"  bare pg_restore                       {fmt(bare_restore)}")
        print(f"  backup restore (verify+restore+compare) {fmt(ours_restore)} "
              f"ratio {min(ours_restore) / min(bare_restore):.2f}x / "
              f"{statistics.median(ours_restore) / statistics.median(bare_restore):.2f}x")
        print(f"  backup verify --deep (scratch, -j {os.cpu_count()})   {fmt(deep_verify)}   "
              f"ratio to bare pg_restore {min(deep_verify) / min(bare_restore):.2f}x")
        print(f"  target: <= 1.3x.  {ANCHORS}")
    finally:
        for name in scratch:
            localpg.drop_database(admin, name)
        localpg.drop_database(admin, source_name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
