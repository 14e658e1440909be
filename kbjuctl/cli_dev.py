"""`kbjuctl dev`: tools for rehearsing on this machine (an old-bot database to migrate, made up)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from kbjuctl.console import err, out, print_json
from kbjuctl.errors import BadInput
from kbjuctl.options import DryRun, JsonOutput

app = typer.Typer(help="Tools for rehearsals and tests on this machine.", no_args_is_help=True)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{option}: expected a date as YYYY-MM-DD, got {value!r}") from None


@app.command("make-sqlite")
def make_sqlite_command(
    out_path: Annotated[Path, typer.Argument(metavar="OUT", help="The SQLite file to write (kbju_bot.db).",
                                             show_default=False)],
    users: Annotated[int, typer.Option("--users", "-n", min=1, max=10_000_000, help="People in it.")] = 60,
    seed: Annotated[int, typer.Option("--seed", help="The same seed and options give a byte-identical file.")] = 11,
    edge_cases: Annotated[bool, typer.Option("--edge-cases/--no-edge-cases", help="Include the hand-made people "
                                             "that stand for every quirk of the old bot's rows (38 users).")] = True,
    start: Annotated[str | None, typer.Option("--start", help="The old bot went live (YYYY-MM-DD; default "
                                              "2022-02-01).", show_default=False)] = None,
    fix: Annotated[str | None, typer.Option("--fix", help="Its dev branch replaced main, and measurements stopped "
                                            "being saved under the bot's id (default 2023-05-15).",
                                            show_default=False)] = None,
    end: Annotated[str | None, typer.Option("--end", help="The day the file is taken (default 2026-11-20).",
                                            show_default=False)] = None,
    utc_offset: Annotated[int, typer.Option("--utc-offset", help="The old server's time zone, hours east of "
                                            "UTC.")] = 3,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT when it exists.")] = False,
    dry_run: DryRun = False,
    as_json: JsonOutput = False,
) -> None:
    """Write an old-bot (DEV) SQLite database of synthetic people, with every quirk the old code wrote,
    to rehearse `kbjuctl migrate-from-sqlite` (docs/migration.md). Nobody real is in it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from kbjuctl.devdata import Window, make_sqlite

    defaults = Window()
    try:
        window = Window(_day(start, "--start") or defaults.start, _day(fix, "--fix") or defaults.fix,
                        _day(end, "--end") or defaults.end, utc_offset).check()
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if out_path.is_dir():
        raise BadInput(f"{out_path} is a folder; expected the path of the SQLite file to write.")
    if out_path.exists() and not force:
        raise BadInput(f"{out_path} exists; pass --force to replace it.")
    if not out_path.parent.is_dir():
        raise BadInput(f"{out_path.parent} does not exist; create the folder first.")
    if dry_run:
        plan = {"path": str(out_path), "users": users, "seed": seed, "edge_cases": edge_cases, "dry_run": True}
        if as_json:
            print_json(plan)
        else:
            out.print(f"Would write {users:,} people (seed {seed}) to {out_path}.", highlight=False)
        return
    partial = out_path.with_name(f".{out_path.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("people", total=users)
            facts = make_sqlite(partial, users, seed, window=window, edge_cases=edge_cases,
                                progress=lambda done, total: bar.update(task, completed=done))
    except ValueError as exc:
        partial.unlink(missing_ok=True)
        raise BadInput(str(exc)) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out_path)
    facts.path = str(out_path)
    if as_json:
        print_json({**facts.to_json(), "dry_run": False})
        return
    out.print(f"[green]Wrote[/] {out_path}: {facts.users:,} users, {facts.user_records:,} user_records "
              f"({facts.bot_id_rows:,} under the bot's id {facts.bot_id}), {facts.user_food_preferences:,} "
              "user_food_preferences.", highlight=False)
