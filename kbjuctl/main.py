"""The kbjuctl Typer app: every command group registered here; failures become exit codes here."""

from __future__ import annotations

import enum
import logging
import os
import signal
import sys
import time
from typing import Annotated, NoReturn

import typer

from bot import secret_files
from bot.config_checks import ConfigError
from kbjuctl import (
    cli_backup,
    cli_db,
    cli_dev,
    cli_drill,
    cli_loadtest,
    cli_migrate,
    cli_roles,
    cli_run,
    cli_stats,
    cli_users,
    cli_webhook,
    dburl,
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
log = logging.getLogger("kbjuctl")


class LogFormat(enum.StrEnum):
    text = "text"
    json = "json"


_log = {"json": False}


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
    log_format: Annotated[LogFormat, typer.Option(
        "--log-format", envvar="LOG_FORMAT", case_sensitive=False,
        help="json: kbjuctl's log lines, its outcome and its errors as JSON objects on stderr, one a line, "
             "with the fields of the bot's lines (for a log collector); what a command prints as its result "
             "stays on stdout.")] = LogFormat.text,
    log_level: Annotated[str, typer.Option("--log-level", envvar="LOG_LEVEL", help="Least level logged.")] = "INFO",
) -> None:
    _debug["on"] = debug
    if log_format is LogFormat.json:
        from bot import logging as bot_logging

        if log_level.upper() not in logging.getLevelNamesMapping():
            raise typer.BadParameter(f"{log_level!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL",
                                     param_hint="--log-level")
        bot_logging.setup(log_level.upper(), "json", service="kbjuctl")
        _log["json"] = True


app.add_typer(cli_db.app, name="db")
app.add_typer(cli_backup.app, name="backup")
app.add_typer(cli_roles.app, name="roles")
app.add_typer(cli_drill.app, name="drill")
app.add_typer(cli_dev.app, name="dev")
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


def _argv_urls(argv: list[str]) -> list[str]:
    urls = []
    for i, arg in enumerate(argv):
        if arg == "--database-url" and i + 1 < len(argv):
            urls.append(argv[i + 1])
        elif arg.startswith("--database-url="):
            urls.append(arg.split("=", 1)[1])
    return urls


def _given_urls(argv: list[str]) -> list[str]:
    """Database URLs this run was given (option or environment): their secrets are masked in messages."""
    urls = [os.environ.get(name, "") for name in ("DATABASE_URL", "LOADTEST_DATABASE_URL", "KBJU_TEST_PG_URL")]
    return [u for u in urls + _argv_urls(argv) if u]


def _plain(message: object) -> str:
    """A message as shown: whatever a driver or tool quoted back, never a password of a given URL."""
    text = str(message)
    for url in _given_urls(sys.argv):
        text = dburl.mask(text, url)
    return text


def _safe(message: object) -> str:
    """_plain, as plain text inside the console's markup (a tool's "[file:3]" is not a closing tag)."""
    from rich.markup import escape

    return escape(_plain(message))


def _warn_password_in_argv(argv: list[str]) -> None:
    """A password in --database-url is in kbjuctl's own command line: any local user can read it."""
    if any(dburl.secrets_of(url) for url in _argv_urls(argv)):
        err.print("[yellow]Warning:[/] the password in --database-url is visible to every local user in the process "
                  "list. Give the URL in DATABASE_URL instead, or leave the password out and use a passfile "
                  "(PGPASSFILE).", highlight=False)


def _command(argv: list[str]) -> str:
    """The command's name from the command line ("backup create"): command words only, never an
    argument's value (a person's id, a path)."""
    command = typer.main.get_command(app)
    words = []
    for arg in argv:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            break
        if arg in subcommands:
            words.append(arg)
            command = subcommands[arg]
    return " ".join(words) or "-"


def _outcome(exit_code: int, started: float, error: str | None = None) -> None:
    """--log-format json: how the command ended, as a log line (its error too: stderr is the log)."""
    if not _log["json"]:
        return
    fields = {"command": _command(sys.argv[1:]), "exit_code": exit_code,
              "outcome": "ok" if exit_code == 0 else "failed",
              "duration_ms": round((time.monotonic() - started) * 1000, 1)}
    if error is not None:
        log.error(error, extra={"fields": fields})
    else:
        log.log(logging.INFO if exit_code == 0 else logging.ERROR, "command finished", extra={"fields": fields})


def _fail(exit_code: int, started: float, plain: str, shown: str) -> NoReturn:
    """A failed command's message and exit code: `plain` as the error of its last JSON line under
    --log-format json, else `shown` (console markup) on stderr."""
    if _log["json"]:
        _outcome(exit_code, started, error=plain)
    else:
        err.print(shown, highlight=False)
    sys.exit(exit_code)


def main() -> None:
    """Console-script entry point: the one place expected errors become messages and exit codes."""
    signal.signal(signal.SIGTERM, _on_sigterm)  # `kbjuctl run` replaces it with its own drain while serving
    started = time.monotonic()
    try:
        secret_files.resolve()  # X_FILE -> X for every secret, before any option reads its envvar
        _warn_password_in_argv(sys.argv)
        app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        _outcome(code, started)
        raise
    except KbjuctlError as exc:
        _fail(exc.exit_code, started, f"Error: {_plain(exc)}", f"[bold red]Error:[/] {_safe(exc)}")
    except ConfigError as exc:
        _fail(2, started, _plain(exc), f"[bold red]{_safe(exc)}[/]")
    except BrokenPipeError:
        # stdout closed early (`kbjuctl backup list | head`): not an error of the command.
        sys.stderr.close()
        sys.exit(0)
    except Terminated:
        _outcome(143, started)
        err.print("Stopped (SIGTERM).")
        sys.exit(143)
    except KeyboardInterrupt:
        _outcome(130, started)
        err.print("Interrupted.")
        sys.exit(130)
    except Exception as exc:  # the only place an unexpected error is reported
        if _debug["on"]:
            raise
        _fail(1, started, f"Unexpected error: {type(exc).__name__}: {_plain(exc)}",
              f"[bold red]Unexpected error:[/] {type(exc).__name__}: {_safe(exc)}\n"
              "Run again with --debug for details.")


if __name__ == "__main__":
    main()
