"""`kbjuctl db`: schema migrations (yoyo) — upgrade, downgrade, status, break-lock."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from kbjuctl import dburl, migrations
from kbjuctl.console import out, print_json
from kbjuctl.errors import BadInput
from kbjuctl.options import DatabaseUrl, JsonOutput, require_database_url

app = typer.Typer(help="Schema migrations of the PostgreSQL database (sql/, applied with yoyo).", no_args_is_help=True)


@app.command()
def upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply every pending migration (a no-op on an up-to-date database)."""
    url = require_database_url(database_url)
    applied = migrations.upgrade(url)
    if applied:
        out.print(f"[green]Applied {len(applied)} migration(s)[/]: {', '.join(applied)}")
    else:
        out.print(f"[green]Already up to date[/] ({dburl.redact(url)}).")


@app.command()
def downgrade(
    database_url: DatabaseUrl = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Roll back the newest N migrations.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Roll back every applied migration.")] = False,
) -> None:
    """Roll back applied migrations: --steps N (default 1) or --all."""
    if steps is not None and all_:
        raise BadInput("Give either --steps N or --all, not both.")
    url = require_database_url(database_url)
    rolled = migrations.downgrade(url, None if all_ else (steps or 1))
    if rolled:
        out.print(f"[yellow]Rolled back {len(rolled)} migration(s)[/]: {', '.join(rolled)}")
    else:
        out.print("Nothing to roll back: no migration is applied.")


@app.command()
def status(database_url: DatabaseUrl = None, as_json: JsonOutput = False) -> None:
    """Show applied and pending migrations; with more than one node, each node's role and replication lag."""
    from kbjuctl import replication

    url = require_database_url(database_url)
    states = migrations.status(url)
    nodes, standbys = replication.cluster_state(url)
    clustered = len(nodes) > 1 or bool(standbys)
    if as_json:
        data = [{"id": s.id, "applied": s.applied, "applied_at": s.applied_at} for s in states]
        print_json({"migrations": data, "cluster": replication.as_json(nodes, standbys)} if clustered else data)
        return
    if clustered:
        _render_cluster(nodes, standbys)
    table = Table(title=f"Migrations of {dburl.redact(url)}")
    table.add_column("migration")
    table.add_column("state")
    table.add_column("applied at (UTC)")
    for s in states:
        state = "[green]applied[/]" if s.applied else "[yellow]pending[/]"
        table.add_row(s.id, state, s.applied_at.strftime("%Y-%m-%d %H:%M:%S") if s.applied_at else "")
    out.print(table)
    pending = sum(not s.applied for s in states)
    out.print(f"{len(states) - pending} applied, {pending} pending.")


@app.command("break-lock")
def break_lock(database_url: DatabaseUrl = None) -> None:
    """Remove a migration lock left behind by a crashed upgrade (only when none is running)."""
    migrations.break_lock(require_database_url(database_url))
    out.print("Migration lock removed.")


def _render_cluster(nodes, standbys) -> None:
    table = Table(title="Cluster")
    for column in ("node", "role", "WAL receiver", "lag (bytes)", "last replay (s ago)"):
        table.add_column(column, justify="right" if column.startswith(("lag", "last")) else "left")
    for n in nodes:
        role = {"primary": "[green]primary[/]", "unreachable": f"[red]unreachable[/] {n.error}"}.get(n.role, n.role)
        table.add_row(n.address, role, n.receiver or "", "" if n.lag_bytes is None else f"{n.lag_bytes:,}",
                      "" if n.replay_delay_s is None else f"{n.replay_delay_s:.1f}")
    out.print(table)
    if standbys:
        rows = Table(title="pg_stat_replication on the primary")
        for column in ("standby", "state", "sync", "lag (bytes)", "replay lag (s)"):
            rows.add_column(column)
        for r in standbys:
            rows.add_row(r["application_name"] or "", r["state"] or "", r["sync_state"] or "",
                         f"{r['lag_bytes'] or 0:,}", "" if r["lag_s"] is None else f"{r['lag_s']:.3f}")
        out.print(rows)
