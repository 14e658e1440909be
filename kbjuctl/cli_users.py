"""`kbjuctl users`: one person's data for requests that come by other channels (kbjuctl.users)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kbjuctl import users
from kbjuctl.confirm import confirm
from kbjuctl.console import out, print_json
from kbjuctl.options import DatabaseUrl, DryRun, JsonOutput, Yes, require_database_url

app = typer.Typer(help="One person's data: everything stored about them (subject access request), or its erasure.",
                  no_args_is_help=True)

TelegramId = Annotated[int, typer.Argument(help="The person's Telegram ID (what the bot stores them by).",
                                           show_default=False, metavar="TELEGRAM_ID")]


def _settings():
    from bot.config import load_settings

    return load_settings()


@app.command("export")
def export_command(
    telegram_id: TelegramId,
    folder: Annotated[Path | None, typer.Option("--out", help="Folder to write into (created; must be new or empty).",
                                                show_default="./kbju-TELEGRAM_ID-DATE")] = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Everything stored about a person: data.json (every table's rows), and the CSV and PDF report they get
    from /export. Files are readable by their owner only."""
    settings = _settings()
    today = date.today()
    folder = folder or Path(f"kbju-{telegram_id}-{today.isoformat()}")
    result = users.export_person(require_database_url(database_url), telegram_id, folder,
                                 today, settings.operator_name)
    if json_output:
        print_json(result.to_json())
        return
    table = Table(title=f"Stored about Telegram ID {telegram_id}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in result.tables.items():
        table.add_row(name, f"{rows:,}")
    out.print(table)
    out.print(f"Written to {result.folder}: {', '.join(result.files)}.", highlight=False, soft_wrap=True)


@app.command("erase")
def erase_command(
    telegram_id: TelegramId,
    database_url: DatabaseUrl = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    json_output: JsonOutput = False,
) -> None:
    """Erase everything stored about a person, in one transaction (asked first), as /delete_me does, and record
    it in the erasures ledger so that a restore of an older backup erases them again."""
    settings = _settings()
    result = users.erase_person(require_database_url(database_url), telegram_id,
                                dry_run=dry_run, approve=lambda what, details: confirm(what, details, yes=yes),
                                backup_dir=settings.backup_dir)
    if json_output:
        print_json(result.to_json())
        return
    table = Table(title=f"{'Would erase (dry run: nothing changed)' if dry_run else 'Erased'}: "
                        f"Telegram ID {telegram_id}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in result.rows.items():
        table.add_row(name, f"{rows:,}")
    out.print(table)
    if not dry_run:
        where = f" and {result.ledger_file}" if result.ledger_file else ""
        out.print(f"{result.total:,} rows removed; the erasure is recorded in the erasures ledger (database{where}).",
                  highlight=False)
