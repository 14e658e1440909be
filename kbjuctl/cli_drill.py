"""`kbjuctl drill`: the runbook's risky steps run for real on local processes, each ending in one verdict:
a local Patroni cluster (`drill cluster up|down|status`) and the failover, switchover and PITR drills run
on it; the rolling upgrade and the cutover from the old bot (kbjuctl/cli_drill_release.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kbjuctl import cli_drill_release
from kbjuctl.console import err, out, print_json
from kbjuctl.errors import VerificationFailed
from kbjuctl.options import JsonOutput

app = typer.Typer(help="Drills on real processes, each ending in one verdict: a local Patroni cluster, failover, "
                       "switchover, PITR, rolling upgrade, cutover.",
                  no_args_is_help=True)
cluster_app = typer.Typer(help="A local PostgreSQL 15 cluster: etcd, Patroni nodes in synchronous mode, "
                               "WAL archiving with pgBackRest.", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")
app.command("rolling-upgrade")(cli_drill_release.rolling_upgrade)
app.command("cutover")(cli_drill_release.cutover)

DEFAULT_DIR = Path(os.environ.get("KBJU_DRILL_DIR") or Path(tempfile.gettempdir()) / "kbju-drill-cluster")
PITR_DIR = Path(tempfile.gettempdir()) / "kbju-drill-pitr"
ClusterDir = Annotated[Path, typer.Option("--dir", envvar="KBJU_DRILL_DIR",
                                          help="The cluster's folder.")]


def _say(message: str) -> None:
    err.print(f"[dim]{message}[/]", highlight=False)


@cluster_app.command("up")
def cluster_up(
    folder: ClusterDir = DEFAULT_DIR,
    nodes: Annotated[int, typer.Option("--nodes", min=2, max=3, help="PostgreSQL nodes (2 or 3).")] = 2,
    haproxy: Annotated[bool, typer.Option("--haproxy", help="Also HAProxy routing to the primary by Patroni's "
                                          "REST checks.")] = False,
    s3: Annotated[bool, typer.Option("--s3", help="Also an encrypted S3 repository for pgBackRest (moto behind "
                                     "stunnel4, on this machine).")] = False,
    as_json: JsonOutput = False,
) -> None:
    """Start the cluster in DIR (create it when new) and wait until it is ready; prints its database URL."""
    from kbjuctl.drill import cluster

    started = cluster.up(folder, nodes, haproxy, s3, progress=_say)
    _render_status(cluster.status(started.folder), as_json)


@cluster_app.command("down")
def cluster_down(
    folder: ClusterDir = DEFAULT_DIR,
    remove: Annotated[bool, typer.Option("--remove", help="Also delete the folder (data, WAL archive, "
                                         "backups).")] = False,
) -> None:
    """Stop every process of the cluster in DIR (by pid); its files stay unless --remove."""
    from kbjuctl.drill import cluster

    stopped = cluster.down(folder, remove=remove)
    out.print(f"Stopped: {', '.join(stopped) or 'nothing was running'}." + (f" Removed {folder}." if remove else ""))


@cluster_app.command("status")
def cluster_status(folder: ClusterDir = DEFAULT_DIR, as_json: JsonOutput = False) -> None:
    """Members, roles, timeline and replication lag (Patroni's REST API and pg_stat_replication)."""
    from kbjuctl.drill import cluster

    _render_status(cluster.status(folder), as_json)


def _render_status(status: dict, as_json: bool) -> None:
    if as_json:
        print_json(status)
        return
    table = Table(title=f"Drill cluster in {status['folder']}")
    for column in ("member", "role", "state", "timeline", "replication", "replay lag"):
        table.add_column(column)
    replication = {r["name"]: r for r in status["replication"]}
    for m in status["members"]:
        r = replication.get(m["name"])
        lag = f"{r['replay_lag_bytes'] or 0} bytes" if r else ""
        table.add_row(m["name"], m.get("role", ""), m.get("state", ""), str(m.get("timeline", "")),
                      f"{r['state']} ({r['sync_state']})" if r else "", lag)
    out.print(table)
    dead = [name for name, alive in status["processes"].items() if not alive]
    if dead:
        out.print(f"[yellow]Not running:[/] {', '.join(dead)}")
    out.print(f"DATABASE_URL={status['url']}", highlight=False, soft_wrap=True)
    if status.get("haproxy_url"):
        out.print(f"through HAProxy: {status['haproxy_url']}", highlight=False, soft_wrap=True)
    out.print(f"PGBACKREST_CONFIG={status['pgbackrest_config']}", highlight=False, soft_wrap=True)


def _cluster_drill(fault: str, cluster_dir: Path | None, users: int, duration: str, think: str, report: Path,
                   as_json: bool) -> None:
    from kbjuctl.cli_loadtest import _think, render
    from kbjuctl.loadtest.plan import Plan, parse_duration
    from kbjuctl.loadtest.service import run as run_loadtest

    plan = Plan(users=users, spawn_rate=max(1.0, users / 2), duration_s=parse_duration(duration), fault=fault,
                think_s=_think(think), report_dir=report, cluster_dir=cluster_dir).validate()
    summary = run_loadtest(plan, progress=_say)
    if as_json:
        print_json(summary.as_dict())
    else:
        render(summary)
    if not summary.passed:
        failed = [c.name for c in summary.checks if c.gating and not c.ok]
        raise VerificationFailed(f"The {fault} drill failed: {'; '.join(failed)}. Details: {report / 'summary.json'}")


DrillClusterDir = Annotated[Path | None, typer.Option(
    "--cluster-dir", help="A running drill cluster to use (left running, whole again); default: one started in "
                          "REPORT/cluster for the drill and removed after it.", show_default=False)]
Users = Annotated[int, typer.Option("--users", "-u", help="People using the bot during the drill.")]
Duration = Annotated[str, typer.Option("--duration", "-t", help="Length of the load: 40s, 5m.")]
Think = Annotated[str, typer.Option("--think", help="Seconds between a person's answers, MIN,MAX.")]


@app.command()
def failover(
    cluster_dir: DrillClusterDir = None,
    users: Users = 20,
    duration: Duration = "60s",
    think: Think = "1,3",
    report: Annotated[Path, typer.Option("--report", help="Folder for the report and logs.")] = Path("drill-failover"),
    as_json: JsonOutput = False,
) -> None:
    """The primary's machine dies mid-load (SIGSTOP, then SIGKILL). Verdict: the standby is promoted, every
    acknowledged write survives, nothing is written twice, conversations are intact, the old primary
    rejoins through pg_rewind; prints the time from the kill to the bot's first real answer."""
    _cluster_drill("primary-failover", cluster_dir, users, duration, think, report, as_json)


@app.command()
def switchover(
    cluster_dir: DrillClusterDir = None,
    users: Users = 20,
    duration: Duration = "60s",
    think: Think = "1,3",
    report: Annotated[Path, typer.Option("--report", help="Folder for the report and logs.")]
    = Path("drill-switchover"),
    as_json: JsonOutput = False,
) -> None:
    """A maintenance switchover mid-load (`patronictl switchover`), judged like the failover drill."""
    _cluster_drill("primary-switchover", cluster_dir, users, duration, think, report, as_json)


@app.command()
def pitr(
    cluster_dir: DrillClusterDir = None,
    people: Annotated[int, typer.Option("--people", min=1, help="People in the database (the fixture is "
                                        "100,000: a measurement a week for ten weeks each).")] = 100_000,
    work_dir: Annotated[Path, typer.Option("--work-dir", help="Folder for the restored data directory (and the "
                                           "drill's own cluster when --cluster-dir is not given).")]
    = PITR_DIR,
    as_json: JsonOutput = False,
) -> None:
    """Point-in-time recovery: full backup; rows written continuously; T noted; writing goes on; a table is
    dropped by mistake; restore to T. Verdict: exactly the rows committed up to T, every table verified;
    prints the recovery point gap (RPO) and the recovery time (RTO)."""
    from kbjuctl.drill import pitr as pitr_drill

    report = pitr_drill.run(cluster_dir, work_dir, people, progress=_say)
    if as_json:
        print_json(report.to_json())
    else:
        table = Table(title=f"PITR drill, {report.people:,} people, restored to T = {report.target}")
        table.add_column("table")
        table.add_column("rows restored", justify="right")
        for name, rows in report.tables.items():
            table.add_row(name, f"{rows:,}")
        out.print(table)
        out.print(f"rows committed up to T: {report.rows_before_t:,}, after T: {report.rows_after_t:,}; "
                  f"seed {report.seed_s:.1f} s, full backup {report.backup_s:.1f} s", highlight=False)
        out.print(f"RPO: the WAL holding T was archived {report.rpo_s} s after T (archive_timeout bounds it); "
                  f"RTO: {report.rto_s:.1f} s (pgBackRest restore {report.restore_s:.1f} s, replay to T and "
                  f"promotion {report.recovery_s:.1f} s), then every table read and checksummed in "
                  f"{report.verify_s:.1f} s; {pitr_drill.cores()} cores", highlight=False)
        out.print("[bold green]PASSED[/]" if report.ok else "[bold red]FAILED[/]: " + "; ".join(report.problems))
    pitr_drill.ensure_ok(report)
