"""The drill cluster and what runs on it, bounded: etcd + two Patroni nodes + HAProxy + pgBackRest with a local
and an encrypted S3 repository (moto behind stunnel4); the failover, switchover and PITR drills through the CLI;
physical backups, verification and restores through `kbjuctl backup`. Every process is real and stopped
by pid at the end. Full-size commands are in docs/operations.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from kbjuctl.drill import cluster as drill_cluster
from tests.helpers.bot_harness import ROOT, kbjuctl_env

pytestmark = [pytest.mark.slow,  # starts a cluster: not in a fast run
              pytest.mark.skipif(shutil.which("patroni") is None or shutil.which("etcd") is None,
                                 reason="patroni/etcd-server not installed (scripts/system-deps.sh)")]


def kbjuctl(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "kbjuctl", *args], capture_output=True, text=True, cwd=ROOT,
                          env=kbjuctl_env(), timeout=timeout, check=False)
    print(done.stdout[-3000:], done.stderr[-3000:])
    return done


@pytest.fixture
def server_tmp():
    """A folder the postgres user can enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="kbju-test-restore-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    folder = Path(tempfile.mkdtemp(prefix="kbju-test-cluster-"))
    folder.rmdir()
    try:
        yield drill_cluster.up(folder, nodes=2, haproxy=True, s3=True)
    finally:
        drill_cluster.down(folder, remove=True)


def test_status_shows_a_leader_and_a_synchronous_streaming_replica(cluster):
    status = json.loads(kbjuctl("drill", "cluster", "status", "--dir", str(cluster.folder), "--json").stdout)
    roles = sorted(m["role"] for m in status["members"])
    assert roles == ["leader", "sync_standby"]
    assert [(r["state"], r["sync_state"]) for r in status["replication"]] == [("streaming", "sync")]
    db = json.loads(kbjuctl("db", "status", "--database-url", cluster.url, "--json").stdout)
    assert all(m["applied"] for m in db["migrations"])
    assert sorted(n["role"] for n in db["cluster"]["nodes"]) == ["primary", "replica"]
    assert db["cluster"]["replication"][0]["sync_state"] == "sync"
    with psycopg.connect(cluster.haproxy_url, connect_timeout=5) as conn:  # HAProxy routes by Patroni's /primary
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)


def _drill(cluster, name: str, tmp_path: Path) -> dict:
    done = kbjuctl("drill", name, "--cluster-dir", str(cluster.folder), "--users", "4", "--duration", "10s",
                   "--think", "0.5,1.5", "--report", str(tmp_path / name))
    summary = json.loads((tmp_path / name / "summary.json").read_text())
    checks = {c["name"]: c for c in summary["checks"]}
    assert done.returncode == 0, [c for c in checks.values() if c["gating"] and not c["ok"]]
    return checks


def test_failover_drill_loses_no_acknowledged_write_and_the_old_primary_rejoins(cluster, tmp_path):
    checks = _drill(cluster, "failover", tmp_path)
    print(f"\nfailover ({os.cpu_count()} cores): {checks['the bot answers again after the kill']['detail']}; "
          f"{checks['the primary was killed and the standby promoted']['detail']}")
    assert checks["0 acknowledged writes lost"]["ok"]
    assert "pg_rewind" in checks["the old primary rejoined as a replica (pg_rewind), without manual steps"]["detail"]
    assert checks["consistency: every person's state equals what they entered"]["ok"]


def test_switchover_drill(cluster, tmp_path):
    checks = _drill(cluster, "switchover", tmp_path)
    print(f"\nswitchover: {checks['writes were interrupted only briefly (figure)']['detail']}; "
          f"{checks['the bot answers again after the switchover']['detail']}")
    assert checks["0 acknowledged writes lost"]["ok"] and checks["the old primary follows the new one"]["ok"]


def test_pitr_drill_restores_exactly_the_rows_up_to_t(cluster, server_tmp):
    done = kbjuctl("drill", "pitr", "--cluster-dir", str(cluster.folder), "--people", "500", "--work-dir",
                   str(server_tmp), "--json")
    assert done.returncode == 0
    report = json.loads(done.stdout)
    assert report["ok"] and report["rows_committed_up_to_t"] > 0 and report["rows_committed_after_t"] > 0
    assert report["tables"]["user_food_preferences"] == 250 and report["tables"]["users"] == 500
    print(f"\nPITR (500 people): RPO {report['rpo_s']} s, RTO {report['rto_s']} s")


def test_physical_backups_in_both_repositories_verify_and_restore(cluster, server_tmp):
    conf = str(cluster.pgbackrest_config)
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS restore_probe (v text)")
        conn.execute("INSERT INTO restore_probe VALUES ('до бэкапа')")
    s3 = kbjuctl("backup", "create", "--physical", "--type", "full", "--repo", "2", "--pgbackrest-config", conf,
                 "--json")
    assert s3.returncode == 0 and json.loads(s3.stdout)["repo"] == 2
    before = json.loads(kbjuctl("backup", "list", "--physical", "--pgbackrest-config", conf, "--json").stdout)
    if not any(b["repo"] == 1 and b["type"] == "full" for b in before["backups"]):  # the PITR drill made one
        assert kbjuctl("backup", "create", "--physical", "--repo", "1", "--pgbackrest-config", conf).returncode == 0
    diff = kbjuctl("backup", "create", "--physical", "--type", "diff", "--repo", "1", "--pgbackrest-config", conf,
                   "--database-url", cluster.url, "--json")
    assert diff.returncode == 0 and json.loads(diff.stdout)["type"] == "diff"
    assert json.loads(diff.stdout)["recorded_in_backup_runs"]
    with psycopg.connect(cluster.url) as conn:  # its age is what KbjuBackupTooOld watches, by kind
        assert conn.execute("SELECT path FROM backup_runs WHERE kind = 'diff'").fetchall() == [
            (json.loads(diff.stdout)["label"],)]
    listed = json.loads(kbjuctl("backup", "list", "--physical", "--pgbackrest-config", conf, "--json").stdout)
    assert {(b["repo"], b["type"]) for b in listed["backups"]} >= {(2, "full"), (1, "full"), (1, "diff")}

    verified = kbjuctl("backup", "verify", "--physical", "--pgbackrest-config", conf, "--database-url", cluster.url)
    assert verified.returncode == 0, verified.stderr
    with psycopg.connect(cluster.url) as conn:
        kinds = {r[0] for r in conn.execute("SELECT kind FROM backup_verifications")}
    assert {"full", "diff"} <= kinds

    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("INSERT INTO restore_probe VALUES ('после бэкапа')")
        conn.execute("SELECT pg_switch_wal()")
    restored = kbjuctl("backup", "restore", "--to-latest", "--repo", "2", "--pg-data", str(server_tmp / "from-s3"),
                       "--pgbackrest-config", conf, "--json")
    assert restored.returncode == 0
    result = json.loads(restored.stdout)
    assert result["tables"][cluster.database]["restore_probe"]["rows"] == 2  # the WAL after the backup replayed
    private = kbjuctl("backup", "restore", "--to-latest", "--pg-data", "/root/kbju-restore", "--pgbackrest-config",
                      conf)
    if os.geteuid() == 0:  # PostgreSQL runs as postgres, which cannot enter /root
        assert private.returncode == 2 and "cannot be entered" in private.stderr
    print(f"\nrestore from the encrypted S3 repository to the latest WAL: {result['rto_s']} s")


def test_prune_refuses_to_expire_when_a_kept_backup_is_damaged(cluster, tmp_path):
    conf = str(cluster.pgbackrest_config)
    repo = cluster.folder / "pgbackrest" / "repo" / "backup" / "kbju"
    labels = sorted(p.name for p in repo.iterdir() if p.is_dir() and p.name[0].isdigit())
    victim = next(p for p in (repo / labels[-1] / "pg_data").rglob("*") if p.is_file() and p.stat().st_size > 100)
    saved = victim.read_bytes()
    try:
        victim.write_bytes(saved[:-50] + bytes(50))
        refused = kbjuctl("backup", "prune", "--physical", "--repo", "1", "--pgbackrest-config", conf)
        assert refused.returncode == 1 and "Nothing expired" in refused.stderr
    finally:
        victim.write_bytes(saved)
