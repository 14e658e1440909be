"""The kbjuctl Typer app: every command group registered here; failures become exit codes here."""

from __future__ import annotations

import signal
import sys
from typing import Annotated

import typer

from bot import secret_files
from bot.config_checks import ConfigError
from kbjuctl import (
    cli_backup,
    cli_db,
    cli_drill,
    cli_loadtest,
    cli_migrate,
    cli_roles,
    cli_run,
    cli_stats,
    cli_users,
    cli_webhook,
)
from kbjuctl.console import err, out
from kbjuctl.errors import KbjuctlError

app = typer.Typer(
    name="kbjuctl",
    help="Operate the KBJU platform: the bot, its database, migrations, backups, load tests and drills.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help texts are plain text: rich markup swallowed anything in square brackets ("[env: ...]").
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)
_debug = {"on": False}


def _print_version(wanted: bool) -> None:
    if wanted:
        from bot import buildinfo

        out.print(buildinfo.describe("kbjuctl"), highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")] = False,
    _version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                           help="Print the version (and git revision, when known) and exit.")]
    = False,
) -> None:
    _debug["on"] = debug


app.add_typer(cli_db.app, name="db")
app.add_typer(cli_backup.app, name="backup")
app.add_typer(cli_roles.app, name="roles")
app.add_typer(cli_drill.app, name="drill")
app.add_typer(cli_webhook.app, name="webhook")
app.add_typer(cli_users.app, name="users")
app.command("stats")(cli_stats.stats)
app.command("migrate-from-sqlite")(cli_migrate.migrate_from_sqlite)
app.command("run")(cli_run.run)
app.command("loadtest")(cli_loadtest.loadtest)


class Terminated(BaseException):
    """SIGTERM (docker stop, a Kubernetes pod ending): unwinds the stack like Ctrl-C, so a migration's
    transaction and lock, a half-written backup folder and a running pg_dump are cleaned up before the
    exit. Not a KeyboardInterrupt, which Typer turns into a silent exit 130; not an Exception, which
    a worker's `except Exception` would swallow."""


def _on_sigterm(_signum, _frame) -> None:
    raise Terminated


def main() -> None:
    """Console-script entry point: the one place expected errors become messages and exit codes."""
    signal.signal(signal.SIGTERM, _on_sigterm)  # `kbjuctl run` replaces it with its own drain while serving
    try:
        secret_files.resolve()  # X_FILE -> X for every secret, before any option reads its envvar
        app()
    except KbjuctlError as exc:
        err.print(f"[bold red]Error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        err.print(f"[bold red]{exc}[/]", highlight=False)
        sys.exit(2)
    except BrokenPipeError:
        # stdout closed early (`kbjuctl backup list | head`): not an error of the command.
        sys.stderr.close()
        sys.exit(0)
    except Terminated:
        err.print("Stopped (SIGTERM).")
        sys.exit(143)
    except KeyboardInterrupt:
        err.print("Interrupted.")
        sys.exit(130)
    except Exception as exc:  # the only place an unexpected error is reported
        if _debug["on"]:
            raise
        err.print(f"[bold red]Unexpected error:[/] {type(exc).__name__}: {exc}\nRun again with --debug for details.",
                  highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
