"""`kbjuctl backup` (placeholder until the backup issue lands)."""

import typer

app = typer.Typer(help="Backups of the PostgreSQL database (not built yet).", no_args_is_help=True)
