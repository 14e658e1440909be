"""`kbjuctl backup`: options in, a backup service called, progress and a rich summary drawn."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kbjuctl.confirm import confirm
from kbjuctl.console import err, out, print_json
from kbjuctl.errors import BadInput, OperationFailed, VerificationFailed
from kbjuctl.options import DatabaseUrl, DryRun, JsonOutput, Yes, require_database_url

app = typer.Typer(help="Backups of the PostgreSQL database: pg_dump archives with a checkable manifest, and "
                       "physical backups with continuous WAL archiving (pgBackRest, --physical).",
                  no_args_is_help=True)

PLAINTEXT = "plaintext"  # --encrypt-to / BACKUP_ENCRYPT_TO: unencrypted, asked for explicitly
# Unset: BACKUP_DIR from .env too, else Settings' default (bot.config is imported only then).
BackupDir = Annotated[Path | None, typer.Option("--dir", envvar="BACKUP_DIR", help="Folder holding the backups.",
                                                show_default="./backups")]
BackupPath = Annotated[Path, typer.Argument(help="A backup folder (or any file in it).", show_default=False)]
OptionalBackupPath = Annotated[Path | None, typer.Argument(help="A logical backup's folder (or any file in it); "
                                                           "none with --physical.", show_default=False)]
Physical = Annotated[bool, typer.Option("--physical", help="pgBackRest's physical backups and WAL archive "
                                        "instead of pg_dump archives.")]
PgbackrestConfig = Annotated[Path | None, typer.Option(
    "--pgbackrest-config", envvar="PGBACKREST_CONFIG", help="pgBackRest's configuration file (default: "
    "pgBackRest's own).", show_default=False)]
Stanza = Annotated[str, typer.Option("--stanza", envvar="PGBACKREST_STANZA", help="pgBackRest stanza.")]
RepoIndex = Annotated[int | None, typer.Option("--repo", min=1, max=4, help="pgBackRest repository number "
                                               "(default: pgBackRest's choice).", show_default=False)]
Identity = Annotated[Path | None, typer.Option("--identity", envvar="BACKUP_IDENTITY_FILE",
                                               help="age identity file (AGE-SECRET-KEY-1...) for "
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
                                                   "recipients file; 'plaintext': explicitly unencrypted.",
                                                   show_default=False)] = None,
    dry_run: DryRun = False,
    json_output: JsonOutput = False,
    physical: Physical = False,
    backup_type: Annotated[str, typer.Option("--type", help="--physical: full, diff (since the last full) or "
                                             "incr (since the last backup).")] = "full",
    pgbackrest_config: PgbackrestConfig = None,
    stanza: Stanza = "kbju",
    repo: RepoIndex = None,
) -> None:
    """Write one backup (pg_dump custom archive + manifest) into DIR; its path is the last line printed.
    With --physical: one pgBackRest backup (--type full|diff|incr); its label is the last line printed."""
    if physical:
        from kbjuctl.backup import physical as pgbr
        from kbjuctl.backup.records import record_physical_backup

        made, seconds = pgbr.create(pgbr.Repository(pgbackrest_config, stanza), backup_type, repo)
        warning = record_physical_backup(database_url, made.stopped, made.label, made.repo_size, made.type)
        if warning:
            err.print(f"[yellow]Warning:[/] {escape(warning)}", highlight=False)
        if json_output:
            print_json({**made.to_json(), "seconds": round(seconds, 2), "recorded_in_backup_runs": not warning})
            return
        out.print(f"pgBackRest {made.type} backup in repo {made.repo}: {made.size:,} bytes of database, "
                  f"{made.repo_size:,} bytes stored, WAL {made.wal_start}..{made.wal_stop}, {seconds:.1f} s.",
                  highlight=False)
        out.print(made.label, highlight=False)
        return
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
    if result.erasures_copied:
        out.print(f"{result.erasures_copied} new erasure(s) copied into the ledger beside the backups "
                  "(erasures.jsonl).", highlight=False)
    out.print(str(result.path), highlight=False, soft_wrap=True)


@app.command()
def verify(
    path: OptionalBackupPath = None,
    deep: Annotated[bool, typer.Option("--deep", help="Also restore into a scratch database (created on the "
                                       "--database-url server, then dropped) and compare every table.")] = False,
    identity: Identity = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
    physical: Physical = False,
    pgbackrest_config: PgbackrestConfig = None,
    stanza: Stanza = "kbju",
    repo: RepoIndex = None,
) -> None:
    """Prove a backup is intact: archive sha256, readable by pg_restore; --deep: restored data matches.
    With --physical: `pgbackrest check` (WAL reaches the repositories now) and `pgbackrest verify` (every
    file of every backup and archived WAL segment against its checksum). A success is recorded in
    backup_verifications when --database-url is given (the bot exports its age)."""
    from kbjuctl.backup.records import record_verifications

    url = require_database_url(database_url) if (deep or database_url) else None
    if physical:
        _verify_physical(pgbackrest_config, stanza, repo, url, json_output)
        return
    if path is None:
        raise BadInput("Give the backup folder to verify, or --physical for pgBackRest's backups.")
    with (bars := _progress(json_output)):
        result = _backup().verify_backup(path, deep=deep, identity=identity, database_url=url, progress=_Bars(bars))
    result.warning = " ".join(filter(None, [result.warning, record_verifications(
        url, [("logical", str(result.path), deep)])]))
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
    path: OptionalBackupPath = None,
    database_url: DatabaseUrl = None,
    force: Annotated[bool, typer.Option("--force", help="Restore even into a database that already has "
                                        "tables; objects of the backup replace theirs (asked first).")] = False,
    identity: Identity = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    json_output: JsonOutput = False,
    to_time: Annotated[str | None, typer.Option("--to-time", help="Point-in-time recovery with pgBackRest to "
                                                "this time (ISO 8601 with its zone, e.g. "
                                                "2026-12-04T10:15:00+03:00).", show_default=False)] = None,
    to_latest: Annotated[bool, typer.Option("--to-latest", help="pgBackRest restore replaying every archived "
                                            "WAL segment.")] = False,
    pg_data: Annotated[Path | None, typer.Option("--pg-data", help="--to-time/--to-latest: the new (or empty) "
                                                 "data directory to restore into.", show_default=False)] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Port for the restored server "
                                             "(default: a free one).", show_default=False)] = None,
    keep_running: Annotated[bool, typer.Option("--keep-running", help="Leave the restored server running "
                                               "(127.0.0.1 only) instead of stopping it after the check.")]
    = False,
    pgbackrest_config: PgbackrestConfig = None,
    stanza: Stanza = "kbju",
    repo: RepoIndex = None,
) -> None:
    """Restore a backup (verified first, in one transaction), then compare every table with the manifest.
    With --to-time or --to-latest: pgBackRest restores into --pg-data, the server replays the archived WAL
    to the target and is promoted, and every table of every database is read and checksummed."""
    if to_time is not None or to_latest:
        _restore_physical(to_time, to_latest, pg_data, port, keep_running, pgbackrest_config, stanza, repo,
                          json_output)
        return
    if path is None:
        raise BadInput("Give the backup folder to restore, or --to-time/--to-latest for pgBackRest.")
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
    out.print(f"Erasures newer than the backup re-applied: {len(result.reerased)} person(s) erased again.",
              highlight=False)
    if result.warning:
        err.print(f"[yellow]Warning:[/] {result.warning}", highlight=False)


@app.command("reapply-erasures")
def reapply_erasures(
    since: Annotated[str, typer.Option("--since", help="The moment the database's data is from (a backup's "
                                       "snapshot, a point-in-time recovery's target), ISO 8601 with a zone, e.g. "
                                       "2026-12-01T03:15:00+00:00.", show_default=False)],
    backup_dir: BackupDir = None,
    database_url: DatabaseUrl = None,
    dry_run: DryRun = False,
    json_output: JsonOutput = False,
) -> None:
    """Erase again everyone the ledger beside the backups says was erased after --since (after a restore
    that did not do it itself, e.g. pgBackRest's). `backup restore` does this on its own."""
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        raise BadInput(f"--since {since!r} is not an ISO 8601 time, e.g. 2026-12-01T03:15:00+00:00.") from None
    if moment.tzinfo is None:
        raise BadInput("--since needs a time zone, e.g. 2026-12-01T03:15:00+00:00.")
    erased, warning = _backup().reapply_erasures(require_database_url(database_url), _backup_dir(backup_dir), moment,
                                                 dry_run=dry_run)
    if warning:
        raise OperationFailed(warning)
    if json_output:
        print_json({"since": moment.isoformat(), "dry_run": dry_run, "reerased": len(erased)})
        return
    verb = "would be erased again (dry run: nothing changed)" if dry_run else "erased again"
    out.print(f"Erasures newer than {moment.isoformat()}: {len(erased)} person(s) {verb}.", highlight=False)


@app.command("list")
def list_(backup_dir: BackupDir = None, json_output: JsonOutput = False, physical: Physical = False,
          pgbackrest_config: PgbackrestConfig = None, stanza: Stanza = "kbju") -> None:
    """Every backup in DIR: time, size, rows, schema version, verified? Each archive's sha256 is re-checked:
    one changed since it was verified is listed as DAMAGED. --physical: pgBackRest's backups and WAL range."""
    if physical:
        _list_physical(pgbackrest_config, stanza, json_output)
        return
    listing = _backup().list_backups(_backup_dir(backup_dir))
    _warn_skipped(listing.skipped)
    if json_output:
        print_json(listing.to_json())
        return
    table = Table(title=f"Backups in {_backup_dir(backup_dir)}")
    for column in ("name", "time (UTC)", "size", "rows", "schema", "encrypted", "verified"):
        table.add_column(column, justify="right" if column in ("size", "rows") else "left")
    style = {"deep": "green", "archive": "green", "FAILED": "bold red", "DAMAGED": "bold red", "no": "yellow"}
    for b in listing.backups:
        if b.damaged:
            table.add_row(b.name, "", f"{b.bytes / 2**20:,.1f} MiB", "", "", "", f"[red]damaged: {b.damaged}[/]")
            continue
        table.add_row(b.name, (b.created_at or "")[:19].replace("T", " "), f"{b.bytes / 2**20:,.1f} MiB",
                      f"{b.total_rows:,}", b.schema_version or "-", "yes" if b.encrypted else "no",
                      f"[{style[b.verified]}]{b.verified}[/]" + (f" {b.verified_at[:16]}" if b.verified_at else ""))
    out.print(table)
    for b in listing.backups:
        if b.problem and not b.damaged:
            out.print(f"[bold red]{b.name} is damaged:[/] {b.problem}", highlight=False)
    if listing.leftovers:
        out.print(f"{len(listing.leftovers)} unfinished backup folder(s) (.tmp-*) ignored; "
                  "`kbjuctl backup prune` removes interrupted ones.")


@app.command()
def prune(
    keep_last: Annotated[int | None, typer.Option("--keep-last", help="Keep the newest N backups (logical; "
                                                  "required without --physical).", show_default=False)] = None,
    keep_daily: Annotated[int, typer.Option("--keep-daily", help="Also keep the newest backup of each of the last "
                                            "D days that have one.")] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")]
    = False,
    backup_dir: BackupDir = None,
    yes: Yes = False,
    json_output: JsonOutput = False,
    physical: Physical = False,
    pgbackrest_config: PgbackrestConfig = None,
    stanza: Stanza = "kbju",
    repo: RepoIndex = None,
) -> None:
    """Delete old backups and interrupted leftovers (asked first). Never the newest verified one nor the newest
    intact one, both judged by checksums re-computed now. --physical: `pgbackrest expire` by the repositories'
    retention settings, only after `pgbackrest verify` has re-checked every backup."""
    if physical:
        _prune_physical(pgbackrest_config, stanza, repo, dry_run, json_output)
        return
    if keep_last is None:
        raise BadInput("--keep-last N is required: how many of the newest backups to keep.")

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


def _repository(config: Path | None, stanza: str):
    from kbjuctl.backup import physical as pgbr

    return pgbr.Repository(config, stanza)


def _verify_physical(config: Path | None, stanza: str, repo: int | None, url: str | None, json_output: bool) -> None:
    from kbjuctl.backup import physical as pgbr
    from kbjuctl.backup.records import record_verifications

    repository = _repository(config, stanza)
    report = pgbr.verify(repository, repo)
    kinds = {f"repo{b.repo}:{b.label}": b.type for b in pgbr.backups(repository)}
    warning = record_verifications(url, [(kinds.get(label, "full"), label, False) for label in report.checked]
                                   ) if report.ok else ""
    if warning:
        err.print(f"[yellow]Warning:[/] {warning}", highlight=False)
    if json_output:
        print_json(report.to_json())
    if not report.ok:
        raise VerificationFailed("pgBackRest's backups do NOT verify:\n  " + "\n  ".join(report.problems))
    if not json_output:
        out.print(f"[green]Verified[/] archiving (pgbackrest check) and {len(report.checked)} backup(s) "
                  f"(pgbackrest verify): {', '.join(report.checked)} in {report.seconds:.1f} s.", highlight=False)


def _list_physical(config: Path | None, stanza: str, json_output: bool) -> None:
    from kbjuctl.backup import physical as pgbr

    repository = _repository(config, stanza)
    info = pgbr.info(repository)
    found = pgbr.backups(repository, info)
    archive = [{"repo": a.get("database", {}).get("repo-key"), "min": a.get("min"), "max": a.get("max")}
               for a in info.get("archive", [])]
    if json_output:
        print_json({"stanza": stanza, "status": info.get("status", {}).get("message"),
                    "backups": [b.to_json() for b in found], "archive": archive})
        return
    table = Table(title=f"pgBackRest backups of stanza {stanza} ({info.get('status', {}).get('message', '?')})")
    for column in ("label", "type", "repo", "finished (UTC)", "database", "stored", "WAL start..stop"):
        table.add_column(column)
    for b in found:
        table.add_row(b.label, b.type, str(b.repo), b.stopped.strftime("%Y-%m-%d %H:%M:%S"),
                      f"{b.size / 2**20:,.1f} MiB", f"{b.repo_size / 2**20:,.1f} MiB",
                      f"{b.wal_start}..{b.wal_stop}" + (" [red]page checksum errors[/]" if b.error else ""))
    out.print(table)
    for a in archive:
        out.print(f"WAL archive (repo {a['repo']}): {a['min']} .. {a['max']}", highlight=False)


def _prune_physical(config: Path | None, stanza: str, repo: int | None, dry_run: bool, json_output: bool) -> None:
    from kbjuctl.backup import physical as pgbr

    repository = _repository(config, stanza)
    report = pgbr.verify(repository, repo)
    if not report.ok:
        raise VerificationFailed("Nothing expired: pgbackrest verify finds damage, and expiring now could leave "
                                 "only damaged backups:\n  " + "\n  ".join(report.problems))
    output = "" if dry_run else pgbr.expire(repository, repo)
    if json_output:
        print_json({"verified": report.checked, "dry_run": dry_run, "expire": output})
        return
    out.print(f"Re-checked {len(report.checked)} backup(s) with pgbackrest verify: all intact.", highlight=False)
    out.print("Dry run: nothing expired." if dry_run else (output or "pgbackrest expire: done."), highlight=False)


def _restore_physical(to_time: str | None, to_latest: bool, pg_data: Path | None, port: int | None,
                      keep_running: bool, config: Path | None, stanza: str, repo: int | None,
                      json_output: bool) -> None:
    from kbjuctl.backup import physical as pgbr
    from kbjuctl.backup import pitr

    if to_time is not None and to_latest:
        raise BadInput("Give either --to-time or --to-latest, not both.")
    if pg_data is None:
        raise BadInput("--pg-data: give the new (or empty) data directory to restore into.")
    when = pgbr.parse_time(to_time) if to_time is not None else None
    result = pitr.restore(_repository(config, stanza), pg_data, to_time=when, port=port, repo_index=repo,
                          keep_running=keep_running)
    if json_output:
        print_json(result.to_json())
        return
    table = Table(title=f"Restored into {result.pg_data} to {to_time or 'the end of the WAL archive'}: every table "
                        "read and checksummed")
    for column in ("database", "table", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for database, tables in result.tables.items():
        for name, sums in tables.items():
            table.add_row(database, name, f"{sums.rows:,}")
    out.print(table)
    out.print(f"pgBackRest restore {result.restore_s:.1f} s, replay and promotion {result.recovery_s:.1f} s, "
              f"check {result.verify_s:.1f} s.", highlight=False)
    if keep_running:
        out.print(f"Running on 127.0.0.1:{result.port}: postgresql://postgres@127.0.0.1:{result.port}/postgres "
                  f"(stop it with pg_ctl -D {result.pg_data} stop).", highlight=False)
    else:
        out.print(f"Stopped; start it with pg_ctl -D {result.pg_data} start{pitr.chown_note()}.", highlight=False)
