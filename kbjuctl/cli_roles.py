"""`kbjuctl roles ensure-login`: options in, kbjuctl.roles called, the result shown."""

from __future__ import annotations

from typing import Annotated

import typer

from bot import secret_files
from kbjuctl import roles
from kbjuctl.console import out, print_json
from kbjuctl.errors import BadInput
from kbjuctl.options import DatabaseUrl, DryRun, JsonOutput, require_database_url

app = typer.Typer(help="Login roles of the bot and the exporter (the schema owner runs these).", no_args_is_help=True)


@app.command("ensure-login")
def ensure_login_command(
    name: Annotated[str, typer.Argument(help="The login role, e.g. kbju_bot_login.", show_default=False)],
    member_of: Annotated[roles.Group, typer.Option(
        "--member-of", help="The group: kbju_bot (the bot: rows, no DDL) or pg_monitor (the exporter: statistics).",
        show_default=False)],
    password_env: Annotated[str, typer.Option("--password-env",
                                              help="Name of the environment variable holding the password "
                                              "(or NAME_FILE: the path of a file holding it).")]
    = "ROLE_PASSWORD",
    database_url: DatabaseUrl = None,
    dry_run: DryRun = False,
    as_json: JsonOutput = False,
) -> None:
    """Create a login role in a restricted group, or set its new password (rotation). Run as the owner."""
    password = secret_files.read(password_env) or ""
    if not password:
        raise BadInput(f"Set the password in the environment variable {password_env}, or the path of a file "
                       f"holding it in {password_env}_FILE (it is never taken as an argument).")
    result = roles.ensure_login(require_database_url(database_url), name, password, member_of.value, dry_run=dry_run)
    if as_json:
        print_json(result.to_json())
        return
    verb = "Created login role" if result.created else "Set a new password for"
    if result.dry_run:
        verb = "Would create login role" if result.created else "Would set a new password for"
    purpose = roles.GROUP_PURPOSE[roles.Group(result.member_of)]
    out.print(f"[green]{verb}[/] {result.name} (member of {result.member_of}: {purpose})."
              + (f" The group role {result.member_of} was missing and is made too." if result.group_created else ""),
              highlight=False)
