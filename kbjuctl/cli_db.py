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
    """Show applied and pending migrations."""
    url = require_database_url(database_url)
    states = migrations.status(url)
    if as_json:
        print_json([{"id": s.id, "applied": s.applied, "applied_at": s.applied_at} for s in states])
        return
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
