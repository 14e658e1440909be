"""`kbjuctl db`: schema migrations (yoyo) — upgrade, downgrade, status, break-lock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from kbjuctl import dburl, migrations
from kbjuctl.confirm import confirm
from kbjuctl.console import out, print_json
from kbjuctl.errors import BadInput
from kbjuctl.options import DatabaseUrl, DryRun, JsonOutput, Yes, require_database_url

app = typer.Typer(help="Schema migrations of the PostgreSQL database (sql/, applied with yoyo).", no_args_is_help=True)


def _applied_at(url: str, ids: list[str]) -> list[dict]:
    states = {s.id: s for s in migrations.status(url)}
    return [states[i].to_json() if i in states else {"id": i, "applied": False, "applied_at": None} for i in ids]


@app.command()
def upgrade(database_url: DatabaseUrl = None, dry_run: DryRun = False, as_json: JsonOutput = False) -> None:
    """Apply every pending migration (a no-op on an up-to-date database)."""
    url = require_database_url(database_url)
    ids = migrations.pending(url) if dry_run else migrations.upgrade(url)
    if as_json:
        print_json({"database": dburl.redact(url), "dry_run": dry_run, "migrations": _applied_at(url, ids)})
    elif dry_run:
        out.print(f"Would apply {len(ids)} migration(s): {', '.join(ids)}" if ids else
                  f"Nothing to apply: {dburl.redact(url)} is up to date.", highlight=False)
    elif ids:
        out.print(f"[green]Applied {len(ids)} migration(s)[/]: {', '.join(ids)}", highlight=False)
    else:
        out.print(f"[green]Already up to date[/] ({dburl.redact(url)}).", highlight=False)


@app.command()
def downgrade(
    database_url: DatabaseUrl = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Roll back the newest N migrations.",
                                              show_default="1")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Roll back every applied migration.")] = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    as_json: JsonOutput = False,
) -> None:
    """Roll back applied migrations: --steps N (default 1) or --all. Their tables and columns, and the
    data in them, are dropped: the plan is shown and confirmed first."""
    if steps is not None and all_:
        raise BadInput("Give either --steps N or --all, not both.")
    url = require_database_url(database_url)
    plan = migrations.downgrade_plan(url, None if all_ else (steps or 1))
    ids = [m.id for m in plan]
    if plan and not dry_run:
        confirm(f"Roll back {len(plan)} migration(s) of {dburl.redact(url)}, newest first; the tables and "
                "columns they made, with their data, are dropped:",
                [f"{m.id} (applied {m.applied_at:%Y-%m-%d %H:%M} UTC)" if m.applied_at else m.id for m in plan],
                yes=yes)
        migrations.downgrade(url, None if all_ else (steps or 1), expected=ids)
    if as_json:
        print_json({"database": dburl.redact(url), "dry_run": dry_run,
                    "finished_at": None if dry_run else datetime.now(UTC).isoformat(),
                    "migrations": [m.to_json() for m in plan]})
    elif not plan:
        out.print("Nothing to roll back: no migration is applied.")
    elif dry_run:
        out.print(f"Would roll back {len(plan)} migration(s): {', '.join(ids)}", highlight=False)
    else:
        out.print(f"[yellow]Rolled back {len(plan)} migration(s)[/]: {', '.join(ids)}", highlight=False)


@app.command()
def status(database_url: DatabaseUrl = None, as_json: JsonOutput = False) -> None:
    """Show applied and pending migrations."""
    url = require_database_url(database_url)
    states = migrations.status(url)
    pending = sum(not s.applied for s in states)
    if as_json:
        print_json({"database": dburl.redact(url), "applied": len(states) - pending, "pending": pending,
                    "migrations": [s.to_json() for s in states]})
        return
    table = Table(title=f"Migrations of {dburl.redact(url)}")
    table.add_column("migration")
    table.add_column("state")
    table.add_column("applied at (UTC)")
    for s in states:
        state = "[green]applied[/]" if s.applied else "[yellow]pending[/]"
        table.add_row(s.id, state, s.applied_at.strftime("%Y-%m-%d %H:%M:%S") if s.applied_at else "")
    out.print(table)
    out.print(f"{len(states) - pending} applied, {pending} pending.")


@app.command("break-lock")
def break_lock(database_url: DatabaseUrl = None, dry_run: DryRun = False, as_json: JsonOutput = False) -> None:
    """Remove a migration lock left behind by a crashed upgrade (only when none is running)."""
    url = require_database_url(database_url)
    held = migrations.lock_holder(url) if dry_run else migrations.break_lock(url)
    if as_json:
        print_json({"database": dburl.redact(url), "dry_run": dry_run, "lock": held.to_json() if held else None})
    elif held is None:
        out.print("No migration lock is held.")
    else:
        since = f" since {held.since:%Y-%m-%d %H:%M:%S} UTC" if held.since else ""
        verb = "Would remove" if dry_run else "Removed"
        out.print(f"{verb} the migration lock held by pid {held.pid}{since}.", highlight=False)
