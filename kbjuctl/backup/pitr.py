"""`backup restore --to-time / --to-latest`: a pgBackRest restore into a new (or empty) data directory, the
restored server started on a port of its own until it has replayed to the target and promoted, and the
same content check as a logical restore: every table of every database read row by row and counted
and checksummed (with data checksums on, reading every page also proves its checksum).

The restored server runs with archiving off (it must not push a new timeline into the repository it
came from) and without the original's replication settings; it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kbjuctl.backup import checksums, physical
from kbjuctl.errors import OperationFailed

PROMOTE_TIMEOUT_S = 3600


@dataclass
class RestoredServer:
    pg_data: Path
    port: int
    bin_dir: Path

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
        from kbjuctl.drill.processes import server_account

        account = server_account()
        return subprocess.run([str(self.bin_dir / "pg_ctl"), "-D", str(self.pg_data), *args], capture_output=True,
                              text=True, timeout=timeout_s, check=False, stdin=subprocess.DEVNULL, cwd="/",
                              user=account[0] if account else None, group=account[1] if account else None,
                              extra_groups=[] if account else None, start_new_session=True)

    def start(self) -> None:
        options = " ".join(f"-c {name}={value}" for name, value in {
            "port": self.port, "listen_addresses": "127.0.0.1", "unix_socket_directories": str(self.pg_data),
            "hba_file": str(self.pg_data / "pg_hba.conf"), "ident_file": str(self.pg_data / "pg_ident.conf"),
            "archive_mode": "off", "primary_conninfo": "''", "primary_slot_name": "''", "logging_collector": "off",
            "cluster_name": "kbju-restored"}.items())
        done = self._pg_ctl("-l", str(self.pg_data / "restore.log"), "-w", "-t", str(PROMOTE_TIMEOUT_S), "-o",
                            options, "start", timeout_s=PROMOTE_TIMEOUT_S + 30)
        if done.returncode != 0:
            raise OperationFailed(f"The restored server did not start: {(done.stderr or done.stdout).strip()}\n"
                                  f"{_tail(self.pg_data / 'restore.log')}")

    def wait_promoted(self, timeout_s: float = PROMOTE_TIMEOUT_S) -> None:
        """Until recovery has reached its target and the server accepts writes."""
        import psycopg

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2, autocommit=True) as conn:
                    if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                        return
            except psycopg.Error:
                pass
            time.sleep(0.1)
        raise OperationFailed(f"The restored server did not finish recovery within {timeout_s:.0f} s:\n"
                              f"{_tail(self.pg_data / 'restore.log')}")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class PhysicalRestoreResult:
    pg_data: Path
    port: int
    to_time: datetime | None
    restore_s: float  # pgBackRest copying the backup
    recovery_s: float  # start, WAL replay to the target, promotion
    verify_s: float
    tables: dict[str, dict[str, checksums.TableSum]] = field(default_factory=dict)  # database -> table -> sums
    running: bool = False

    @property
    def rto_s(self) -> float:
        return self.restore_s + self.recovery_s

    def to_json(self) -> dict:
        return {"pg_data": str(self.pg_data), "port": self.port, "running": self.running,
                "to_time": self.to_time.isoformat() if self.to_time else "latest",
                "restore_s": round(self.restore_s, 2), "recovery_s": round(self.recovery_s, 2),
                "verify_s": round(self.verify_s, 2), "rto_s": round(self.rto_s, 2),
                "tables": {db: {n: s.to_json() for n, s in t.items()} for db, t in self.tables.items()},
                "total_rows": sum(s.rows for t in self.tables.values() for s in t.values())}


def all_table_sums(server: RestoredServer) -> dict[str, dict[str, checksums.TableSum]]:
    """Every table of every database (templates excepted), read and checksummed."""
    import psycopg

    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1")]
    sums = {}
    for name in names:
        with psycopg.connect(server.url(name), autocommit=True) as conn:
            sums[name] = checksums.table_sums(conn)
    return sums


def restore(repo: physical.Repository, pg_data: Path, *, to_time: datetime | None, port: int | None = None,
            repo_index: int | None = None, keep_running: bool = False) -> PhysicalRestoreResult:
    from kbjuctl.drill.processes import free_port
    from kbjuctl.drill.tools import pg_bin_dir

    pg_data = pg_data.resolve()
    restore_s = physical.restore_into(repo, pg_data, to_time=to_time, repo_index=repo_index)
    server = RestoredServer(pg_data, port or free_port(), pg_bin_dir())
    started = time.monotonic()
    server.start()
    try:
        server.wait_promoted()
        recovery_s = time.monotonic() - started
        started = time.monotonic()
        tables = all_table_sums(server)
        result = PhysicalRestoreResult(pg_data, server.port, to_time, restore_s, recovery_s,
                                       time.monotonic() - started, tables, running=keep_running)
    finally:
        if not keep_running:
            server.stop()
    return result


def chown_note() -> str:
    return "" if os.geteuid() != 0 else " (owned by the postgres user, as PostgreSQL needs)"
