"""The point-in-time recovery drill: on a drill cluster, a database of N people (users, a measurement a
week for ten weeks, food preferences) gets a full pgBackRest backup; rows are written continuously;
T is noted between two commits; writing goes on; a table is dropped "by mistake". The backup is
restored to T into a new data directory. Verdict: exactly the rows committed up to T and none after,
every other table equal to the source, the dropped table back. Figures: the recovery point gap (how
long the WAL holding T took to reach the archive: what a disaster at T would lose, bounded by
archive_timeout) and the recovery time (restore, replay to T, promotion).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kbjuctl import dburl, localpg, migrations
from kbjuctl.backup import checksums, physical, pitr
from kbjuctl.drill import cluster as drill_cluster
from kbjuctl.drill.tools import pg_bin_dir
from kbjuctl.errors import VerificationFailed

DROPPED = "user_food_preferences"
LEDGER = "drill_ledger"
# N people: a measurement a week for ten weeks each, food preferences for half of them.
SEED_SQL = [
    """INSERT INTO users (telegram_id, first_name, last_name, sex, date_of_birth, created_at)
       SELECT 10000000 + g, 'Имя ' || g, 'Фамилия ' || g, CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END,
              DATE '1960-01-01' + (g % 15000), TIMESTAMPTZ '2025-01-01 00:00:00+00' + g * INTERVAL '1 minute'
       FROM generate_series(1, %(people)s) g""",
    """INSERT INTO user_records (telegram_id, date, weight, waist, neck, hip, height, goal, steps, sport_type,
                                sport_freq, bodyfat, created_at)
       SELECT 10000000 + g, DATE '2025-01-01' + w * 7, 60 + (g % 40) + w * 0.1, 70 + (g % 30), 35, 95, 170,
              'healthy', '5000-8000', 'walking', '3-4', 20.5,
              TIMESTAMPTZ '2025-01-01 00:00:00+00' + w * INTERVAL '7 days'
       FROM generate_series(1, %(people)s) g, generate_series(0, 9) w""",
    """INSERT INTO user_food_preferences (telegram_id, likes_raw, dislikes_raw)
       SELECT 10000000 + g, 'курица, рис', 'лук' FROM generate_series(1, %(people)s) g WHERE g % 2 = 0""",
    "ANALYZE",
]


@dataclass
class PitrReport:
    people: int
    seed_s: float = 0.0
    backup_s: float = 0.0
    rows_before_t: int = 0
    rows_after_t: int = 0
    target: str = ""
    rpo_s: float | None = None
    restore_s: float = 0.0
    recovery_s: float = 0.0
    verify_s: float = 0.0
    problems: list[str] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def rto_s(self) -> float:
        return self.restore_s + self.recovery_s

    def to_json(self) -> dict:
        return {"ok": self.ok, "people": self.people, "target": self.target, "rpo_s": self.rpo_s,
                "rto_s": round(self.rto_s, 2), "restore_s": round(self.restore_s, 2),
                "recovery_s": round(self.recovery_s, 2), "verify_s": round(self.verify_s, 2),
                "seed_s": round(self.seed_s, 2), "backup_s": round(self.backup_s, 2),
                "rows_committed_up_to_t": self.rows_before_t, "rows_committed_after_t": self.rows_after_t,
                "tables": self.tables, "problems": self.problems}


class Writer:
    """One connection inserting numbered rows, committing each; `pause()` holds it between two commits."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acked: list[int] = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="pitr-writer")

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            next_id = 1
            while not self.stop_event.is_set():
                with self.lock:
                    conn.execute(f"INSERT INTO {LEDGER} (id) VALUES (%s)", (next_id,))  # nosec B608  # LEDGER: a constant
                    self.acked.append(next_id)
                next_id += 1
                time.sleep(0.002)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join(30)


def run(cluster_dir: Path | None, work_dir: Path, people: int, progress=None) -> PitrReport:
    say = progress or (lambda _m: None)
    work_dir = work_dir.resolve()
    own = cluster_dir is None
    folder = (work_dir / "cluster") if own else cluster_dir.resolve()
    if own:
        if (folder / drill_cluster.STATE).exists():
            drill_cluster.down(folder, remove=True)
        say(f"Starting a drill cluster in {folder}")
        cluster = drill_cluster.up(folder, progress=say)
    else:
        cluster = drill_cluster.Cluster.load(folder)
    report = PitrReport(people)
    admin = dburl.with_database(cluster.url, "postgres")
    name = localpg.unique_name("kbju_pitr")
    url = localpg.create_database(admin, name)
    restored = work_dir / "restored"
    try:
        _drill(cluster, url, name, restored, report, say)
    finally:
        localpg.drop_database(admin, name)
        if own:
            drill_cluster.down(folder)
        shutil.rmtree(restored, ignore_errors=True)
    return report


def _drill(cluster, url: str, name: str, restored: Path, report: PitrReport, say) -> None:
    import psycopg

    migrations.upgrade(url)
    say(f"Seeding {report.people:,} people")
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in SEED_SQL:
            conn.execute(statement.replace("%(people)s", str(int(report.people))))
        conn.execute(f"CREATE TABLE {LEDGER} (id bigint PRIMARY KEY, written_at timestamptz NOT NULL "
                     "DEFAULT clock_timestamp())")
        source = checksums.table_sums(conn)
    report.seed_s = time.monotonic() - started
    say("Full backup (pgBackRest)")
    _backup, report.backup_s = physical.create(cluster.repository, "full")

    say("Writing rows; noting T; writing on; dropping a table by mistake")
    with Writer(url) as writer, psycopg.connect(url, autocommit=True) as conn:
        time.sleep(2.0)
        with writer.lock:  # between two commits: every row acknowledged so far, none in flight
            target = datetime.now(UTC)
            expected = list(writer.acked)
            lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        report.rpo_s = _archived_within(conn, lsn)
        time.sleep(1.0)
        conn.execute(f"DROP TABLE {DROPPED}")
        time.sleep(0.5)
    report.target = physical.target_text(target)
    report.rows_before_t = len(expected)
    report.rows_after_t = len(writer.acked) - len(expected)
    say(f"Restoring to T = {report.target} into {restored}")
    result = pitr.restore(cluster.repository, restored, to_time=target, keep_running=True)
    server = pitr.RestoredServer(result.pg_data, result.port, pg_bin_dir())
    try:
        with psycopg.connect(server.url(name), autocommit=True) as conn:
            ledger = [row[0] for row in conn.execute(f"SELECT id FROM {LEDGER} ORDER BY id")]  # nosec B608  # a constant
    finally:
        server.stop()
    report.restore_s, report.recovery_s, report.verify_s = result.restore_s, result.recovery_s, result.verify_s
    _judge(report, source, result.tables.get(name, {}), expected, ledger)


def _archived_within(conn, lsn: str, timeout_s: float = 120) -> float | None:
    """Seconds until the WAL segment holding `lsn` is archived (pg_stat_archiver): the window in which a
    disaster would have lost what was committed at T."""
    started = time.monotonic()
    segment = conn.execute("SELECT pg_walfile_name(%s::pg_lsn)", (lsn,)).fetchone()[0]
    while time.monotonic() - started < timeout_s:
        last = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0]
        if last and last[8:] >= segment[8:]:  # same timeline: compare log and segment numbers
            return round(time.monotonic() - started, 2)
        time.sleep(0.05)
    return None


def _judge(report: PitrReport, source: dict, restored: dict, expected: list[int], ledger: list[int]) -> None:
    report.tables = {n: s.rows for n, s in restored.items()}
    for table, want in source.items():
        if table == LEDGER:
            continue
        got = restored.get(table)
        if got is None:
            report.problems.append(f"{table}: missing after the restore")
        elif (got.rows, got.checksum) != (want.rows, want.checksum):
            report.problems.append(f"{table}: {got.rows:,} rows restored, {want.rows:,} at T, or the content differs")
    if ledger != expected:
        missing = sorted(set(expected) - set(ledger))
        extra = sorted(set(ledger) - set(expected))
        report.problems.append(f"{LEDGER}: {len(ledger):,} rows restored, {len(expected):,} committed up to T; "
                               f"{len(missing)} missing (first {missing[:5]}), {len(extra)} committed after T "
                               f"(first {extra[:5]})")


def ensure_ok(report: PitrReport) -> None:
    if not report.ok:
        raise VerificationFailed("The PITR drill failed:\n  " + "\n  ".join(report.problems))


def cores() -> int:
    return os.cpu_count() or 1
