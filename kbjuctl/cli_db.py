"""`kbjuctl db`: schema migrations (yoyo) — upgrade, downgrade, status, break-lock; release statement
catalogues and their compatibility check."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kbjuctl import dburl, migrations
from kbjuctl.confirm import confirm
from kbjuctl.console import out, print_json
from kbjuctl.errors import BadInput, VerificationFailed
from kbjuctl.options import DatabaseUrl, DryRun, JsonOutput, Yes, require_database_url

app = typer.Typer(help="Schema migrations of the PostgreSQL database (sql/, applied with yoyo), and the "
                       "compatibility of releases with the schema.", no_args_is_help=True)


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
    """Show applied and pending migrations; with more than one node, each node's role and replication lag."""
    from kbjuctl import replication

    url = require_database_url(database_url)
    states = migrations.status(url)
    pending = sum(not s.applied for s in states)
    nodes, standbys = replication.cluster_state(url)
    clustered = len(nodes) > 1 or bool(standbys)
    if as_json:
        data = {"database": dburl.redact(url), "applied": len(states) - pending, "pending": pending,
                "migrations": [s.to_json() for s in states]}
        if clustered:
            data["cluster"] = replication.as_json(nodes, standbys)
        print_json(data)
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


@app.command()
def catalogue(
    tree: Annotated[Path | None, typer.Option("--tree", help="A source tree of the project (default: this one).",
                                              show_default=False)] = None,
    rev: Annotated[str | None, typer.Option("--rev", help="A git revision (tag, branch, commit) whose tree to "
                                                          "catalogue, exported with git archive.",
                                            show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write it (default: "
                                                "sql/compat/<version>.json).", show_default=False)] = None,
) -> None:
    """Record every SQL statement a release runs (run when a release is tagged; docs/operations.md)."""
    from kbjuctl import gittree
    from kbjuctl.compat import catalogue as catalogues

    if tree is not None and rev is not None:
        raise BadInput("Give either --tree PATH or --rev REVISION, not both.")
    with tempfile.TemporaryDirectory(prefix="kbju-catalogue-") as scratch:
        revision = None
        if rev is not None:
            tree = Path(scratch) / "tree"
            revision = gittree.export(rev, tree)
        found = catalogues.collect((tree or gittree.PROJECT_ROOT).resolve(), revision=revision)
    path = output or catalogues.path_for(migrations.sql_dir(), found.version)
    found.write(path)
    out.print(f"[green]Catalogue of {found.version}[/]: {len(found.statements)} statements written to {path} "
              f"({found.not_catalogued} built at run time, not catalogued).")


@app.command("check-compat")
def check_compat(
    database_url: DatabaseUrl = None,
    catalogue_files: Annotated[list[Path] | None, typer.Option(
        "--catalogue", help="A catalogue to check (repeatable; default: the previous release's from "
                            "sql/compat/ and this tree's statements).", show_default=False)] = None,
    as_json: JsonOutput = False,
) -> None:
    """Check that every statement of the previous release (and of this one) prepares on the database's
    schema: a rolling upgrade runs the previous release on the newest schema. Exit 1 when one does not."""
    from kbjuctl import gittree
    from kbjuctl.compat import catalogue as catalogues
    from kbjuctl.compat.check import check

    url = require_database_url(database_url)
    if catalogue_files:
        chosen = [catalogues.read(path) for path in catalogue_files]
    else:
        here = catalogues.collect(gittree.PROJECT_ROOT)
        previous = catalogues.previous_release(migrations.sql_dir(), here.version)
        chosen = ([catalogues.read(previous)] if previous else []) + [here]
    results = [(found, check(url, found)) for found in chosen]
    this_tree = None if catalogue_files else chosen[-1]
    if as_json:
        print_json({"database": dburl.redact(url), "ok": not any(broken for _found, broken in results),
                    "catalogues": [{"version": found.version, "revision": found.revision,
                                    "this_tree": found is this_tree, "statements": len(found.statements),
                                    "broken": [{"statement": b.statement.label, "sql": b.statement.sql,
                                                "error": b.error} for b in broken]} for found, broken in results]})
    else:
        for found, broken in results:
            mark = "[green]ok[/]" if not broken else f"[red]{len(broken)} broken[/]"
            out.print(f"{found.version}{' (this tree)' if found is this_tree else ''}: "
                      f"{len(found.statements)} statements, {mark}", highlight=False)
            for b in broken:
                out.print(f"  [red]{b.statement.label}[/]: {b.error}", highlight=False)
    if any(broken for _found, broken in results):
        raise VerificationFailed("A release's statements do not prepare on this schema: a migration took away "
                                 "what they use. Keep it for the next release (expand/contract, "
                                 "docs/operations.md).")


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
