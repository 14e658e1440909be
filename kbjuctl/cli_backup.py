"""`kbjuctl backup`: options in, a backup service called, progress and a rich summary drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kbjuctl.confirm import confirm
from kbjuctl.console import err, out, print_json
from kbjuctl.options import DatabaseUrl, DryRun, JsonOutput, Yes, require_database_url

app = typer.Typer(help="Backups of the PostgreSQL database: pg_dump archives with a checkable manifest.",
                  no_args_is_help=True)

PLAINTEXT = "plaintext"  # --encrypt-to / BACKUP_ENCRYPT_TO: unencrypted, asked for explicitly
# Unset: BACKUP_DIR from .env too, else Settings' default (bot.config is imported only then).
BackupDir = Annotated[Path | None, typer.Option("--dir", envvar="BACKUP_DIR", help="Folder holding the backups.",
                                                show_default="./backups")]
BackupPath = Annotated[Path, typer.Argument(help="A backup folder (or any file in it).", show_default=False)]
Identity = Annotated[Path | None, typer.Option("--identity", help="age identity file (AGE-SECRET-KEY-1...) for "
                                               "an encrypted backup.", show_default=False)]


class _Bars:
    """The services' Progress drawn as rich bars on stderr (stdout stays for results)."""

    def __init__(self, bars: Progress):
        self._bars, self._tasks = bars, {}

    def paused(self, ask):
        """`ask` wrapped so that the bars stop while it talks to the person."""
        def wrapped(*args):
            self._bars.stop()
            try:
                ask(*args)
            finally:
                self._bars.start()
        return wrapped

    def start(self, task: str, total: int | None = None) -> None:
        if task not in self._tasks:
            self._tasks[task] = self._bars.add_task(task, total=total)

    def advance(self, task: str, amount: int = 1) -> None:
        self._bars.advance(self._tasks[task], amount)

    def finish(self, task: str) -> None:
        if task in self._tasks:
            t = self._bars.tasks[self._tasks[task]]
            self._bars.update(self._tasks[task], total=t.total if t.total is not None else t.completed or 1,
                              completed=t.total if t.total is not None else t.completed or 1)


def _progress(quiet: bool) -> Progress:
    return Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err, transient=True, disable=quiet)


def _backup():
    """The backup package, imported by the command that needs it (kbjuctl starts faster)."""
    from kbjuctl import backup

    return backup


def _backup_dir(value: Path | None) -> Path:
    if value is not None:
        return value
    from bot.config import load_settings

    return load_settings().backup_dir


def _warn_skipped(skipped: dict[str, str]) -> None:
    for path, why in skipped.items():
        err.print(f"[yellow]Warning:[/] skipped {escape(path)}: {escape(why)}; left alone.", highlight=False)


@app.command()
def create(
    backup_dir: BackupDir = None,
    database_url: DatabaseUrl = None,
    encrypt_to: Annotated[str | None, typer.Option("--encrypt-to", envvar="BACKUP_ENCRYPT_TO",
                                                   help="Encrypt the archive for this age recipient (age1...) or "
                                                   "recipients file; 'plaintext': explicitly unencrypted "
                                                   "[env: BACKUP_ENCRYPT_TO].", show_default=False)] = None,
    dry_run: DryRun = False,
    json_output: JsonOutput = False,
) -> None:
    """Write one backup (pg_dump custom archive + manifest) into DIR; its path is the last line printed."""
    url = require_database_url(database_url)
    if encrypt_to == PLAINTEXT:
        err.print("[yellow]Warning:[/] BACKUP_ENCRYPT_TO=plaintext: this backup is unencrypted, and it holds "
                  "personal data.", highlight=False)
    recipient = None if encrypt_to in (None, "", PLAINTEXT) else encrypt_to
    if dry_run:
        planned = _backup().plan_backup(url, _backup_dir(backup_dir), recipient)
        if json_output:
            print_json(planned.to_json())
            return
        rows = sum(planned.estimated_rows.values())
        out.print(f"Would back up {planned.database} (PostgreSQL {planned.server_version}, schema "
                  f"{planned.schema_version or '-'}: {len(planned.estimated_rows)} tables, ~{rows:,} rows) with "
                  f"pg_dump {planned.pg_dump.version} into {planned.backup_dir}"
                  + (f", encrypted for {planned.recipients} age recipient(s)" if planned.recipients else "") + ".",
                  highlight=False)
        return
    with (bars := _progress(json_output)):
        result = _backup().create_backup(url, _backup_dir(backup_dir), recipient, _Bars(bars))
    if result.warning:
        err.print(f"[yellow]Warning:[/] {result.warning}", highlight=False)
    if json_output:
        print_json(result.to_json())
        return
    table = Table(title=f"Backup {result.manifest.name} ({result.seconds:.1f} s)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("checksum", justify="right")
    for name, t in result.manifest.tables.items():
        table.add_row(name, f"{t['rows']:,}", t["checksum"])
    out.print(table)
    archive = result.manifest.archive
    out.print(f"Archive {archive['file']}: {archive['bytes']:,} bytes, sha256 {archive['sha256']}"
              + (" (age-encrypted)" if archive["encrypted"] else "") + f"; schema {result.manifest.schema_version}.",
              highlight=False)
    out.print(str(result.path), highlight=False, soft_wrap=True)


@app.command()
def verify(
    path: BackupPath,
    deep: Annotated[bool, typer.Option("--deep", help="Also restore into a scratch database (created on the "
                                       "--database-url server, then dropped) and compare every table.")] = False,
    identity: Identity = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Prove a backup is intact: archive sha256, readable by pg_restore; --deep: restored data matches."""
    url = require_database_url(database_url) if deep else None
    with (bars := _progress(json_output)):
        result = _backup().verify_backup(path, deep=deep, identity=identity, database_url=url, progress=_Bars(bars))
    if result.warning:
        err.print(f"[yellow]Warning:[/] {result.warning}", highlight=False)
    if json_output:
        print_json(result.to_json())
        return
    if result.tables:
        table = Table(title="Restored into a scratch database: every table matches the manifest")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, t in result.tables.items():
            table.add_row(name, f"{t['rows']:,}")
        out.print(table)
    what = "deep (restored and compared)" if deep else "archive (sha256, readable by pg_restore)"
    out.print(f"[green]Verified[/] {what} in {result.seconds:.1f} s: {result.path}", highlight=False)


@app.command()
def restore(
    path: BackupPath,
    database_url: DatabaseUrl = None,
    force: Annotated[bool, typer.Option("--force", help="Restore even into a database that already has "
                                        "tables; objects of the backup replace theirs (asked first).")] = False,
    identity: Identity = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    json_output: JsonOutput = False,
) -> None:
    """Restore a backup (verified first, in one transaction), then compare every table with the manifest."""
    url = require_database_url(database_url)
    with (bars := _progress(json_output)):
        progress = _Bars(bars)
        approve = progress.paused(lambda what, details: confirm(what, details, yes=yes))
        result = _backup().restore_backup(path, url, force=force, identity=identity, progress=progress,
                                          dry_run=dry_run, approve=approve)
    if json_output:
        print_json(result.to_json())
        return
    if result.dry_run:
        replaced = f", replacing {len(result.replaced)} existing table(s)" if result.replaced else ""
        out.print(f"Would restore {result.path.name} ({len(result.tables)} tables, "
                  f"{sum(t.rows for t in result.tables.values()):,} rows) into {result.target}{replaced} with "
                  f"pg_restore {result.pg_restore.version}; the archive checks out.", highlight=False)
        return
    table = Table(title=f"Restored into {result.target}: every table matches the manifest")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, t in result.tables.items():
        table.add_row(name, f"{t.rows:,}")
    out.print(table)
    out.print(f"pg_restore {result.pg_restore.version}, {result.seconds:.1f} s.", highlight=False)


@app.command("list")
def list_(backup_dir: BackupDir = None, json_output: JsonOutput = False) -> None:
    """Every backup in DIR: time, size, rows, schema version, verified?"""
    listing = _backup().list_backups(_backup_dir(backup_dir))
    _warn_skipped(listing.skipped)
    if json_output:
        print_json(listing.to_json())
        return
    table = Table(title=f"Backups in {_backup_dir(backup_dir)}")
    for column in ("name", "time (UTC)", "size", "rows", "schema", "encrypted", "verified"):
        table.add_column(column, justify="right" if column in ("size", "rows") else "left")
    style = {"deep": "green", "archive": "green", "FAILED": "bold red", "no": "yellow"}
    for b in listing.backups:
        if b.damaged:
            table.add_row(b.name, "", f"{b.bytes / 2**20:,.1f} MiB", "", "", "", f"[red]damaged: {b.damaged}[/]")
            continue
        table.add_row(b.name, (b.created_at or "")[:19].replace("T", " "), f"{b.bytes / 2**20:,.1f} MiB",
                      f"{b.total_rows:,}", b.schema_version or "-", "yes" if b.encrypted else "no",
                      f"[{style[b.verified]}]{b.verified}[/]" + (f" {b.verified_at[:16]}" if b.verified_at else ""))
    out.print(table)
    if listing.leftovers:
        out.print(f"{len(listing.leftovers)} unfinished backup folder(s) (.tmp-*) ignored; "
                  "`kbjuctl backup prune` removes interrupted ones.")


@app.command()
def prune(
    keep_last: Annotated[int, typer.Option("--keep-last", help="Keep the newest N backups.", show_default=False)],
    keep_daily: Annotated[int, typer.Option("--keep-daily", help="Also keep the newest backup of each of the last "
                                            "D days that have one.")] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")]
    = False,
    backup_dir: BackupDir = None,
    yes: Yes = False,
    json_output: JsonOutput = False,
) -> None:
    """Delete old backups (never the newest verified one) and interrupted leftovers (asked first)."""

    def approve(planned) -> None:
        confirm(f"Delete {len(planned.delete)} backup(s) and {len(planned.leftovers)} interrupted leftover(s); "
                f"keep {len(planned.keep)}:",
                [f"delete {path}" for path in planned.delete + planned.leftovers]
                + [f"keep {name} ({', '.join(reasons)})" for name, reasons in sorted(planned.keep.items())], yes=yes)

    result = _backup().prune_backups(_backup_dir(backup_dir), keep_last, keep_daily, dry_run, approve=approve)
    _warn_skipped(result.skipped)
    if json_output:
        print_json(result.to_json())
        return
    table = Table(title="Prune (dry run: nothing deleted)" if dry_run else "Prune")
    table.add_column("backup")
    table.add_column("decision")
    for name, reasons in sorted(result.keep.items()):
        table.add_row(name, "[green]keep[/]: " + ", ".join(reasons))
    for path in result.delete + result.leftovers:
        table.add_row(Path(path).name, "[red]would delete[/]" if dry_run else "[red]deleted[/]")
    out.print(table)
