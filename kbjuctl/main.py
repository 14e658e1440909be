"""The kbjuctl Typer app: every command group registered here; failures become exit codes here."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bot.config_checks import ConfigError
from kbjuctl import cli_backup, cli_db, cli_drill, cli_loadtest, cli_migrate, cli_roles, cli_run
from kbjuctl.console import err
from kbjuctl.errors import KbjuctlError

app = typer.Typer(
    name="kbjuctl",
    help="Operate the KBJU platform: the bot, its database, migrations, backups, load tests and drills.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
_debug = {"on": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")] = False,
) -> None:
    _debug["on"] = debug


app.add_typer(cli_db.app, name="db")
app.add_typer(cli_backup.app, name="backup")
app.add_typer(cli_roles.app, name="roles")
app.add_typer(cli_drill.app, name="drill")
app.command("migrate-from-sqlite")(cli_migrate.migrate_from_sqlite)
app.command("run")(cli_run.run)
app.command("loadtest")(cli_loadtest.loadtest)


def main() -> None:
    """Console-script entry point: the one place expected errors become messages and exit codes."""
    try:
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
