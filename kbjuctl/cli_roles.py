"""`kbjuctl roles ensure-login`: the bot's and the exporter's login roles, with passwords kept out of SQL logs.

Migration 0004 gives the NOLOGIN group role kbju_bot row access only. A login role that can use
it needs a password, which must not live in a migration; this command creates the login role
(or, when it exists, sets its new password: token rotation works the same way) as a member of
kbju_bot or of pg_monitor. The password is read from an environment variable, never from the
command line, and only its SCRAM-SHA-256 verifier, computed here, reaches the server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

import typer

from bot import secret_files
from kbjuctl.console import out
from kbjuctl.errors import BadInput
from kbjuctl.options import DatabaseUrl, require_database_url

BOT_GROUP = "kbju_bot"
# What a login made here may be a member of: nothing that can change the schema.
GROUPS = {BOT_GROUP: "the bot: read and write rows, no DDL", "pg_monitor": "postgres_exporter: statistics only"}
MIN_PASSWORD_LENGTH = 16
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

ROLE_ATTRIBUTES = "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = %s"
CREATE_BOT_GROUP = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{BOT_GROUP}') THEN
        CREATE ROLE {BOT_GROUP} NOLOGIN;
    END IF;
END
$$"""

app = typer.Typer(help="Login roles of the bot and the exporter (the schema owner runs these).", no_args_is_help=True)


@dataclass(frozen=True)
class LoginResult:
    name: str
    member_of: str
    created: bool


def ensure_login(database_url: str, name: str, password: str, member_of: str) -> LoginResult:
    """Create the login role `name` in group `member_of`, or set its password if it exists."""
    import psycopg
    from psycopg import sql

    if not _NAME.match(name):
        raise BadInput(f"Role name {name!r}: use 1-63 lower-case letters, digits and _, not starting with a digit.")
    if member_of not in GROUPS:
        raise BadInput(f"--member-of must be one of: {', '.join(GROUPS)}.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"The password must have at least {MIN_PASSWORD_LENGTH} characters "
                       "(e.g. `openssl rand -hex 24`).")
    try:
        conn = psycopg.connect(database_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise BadInput(f"Cannot connect to the database: {str(exc).strip().splitlines()[0]}") from None
    with conn:
        row = conn.execute(ROLE_ATTRIBUTES, (name,)).fetchone()
        if row is not None and any(row):
            raise BadInput(f"Role {name} exists with superuser, CREATEROLE, CREATEDB or BYPASSRLS; "
                           "refusing to turn it into a restricted login. Choose another name.")
        if name == conn.info.user:
            raise BadInput(f"{name} is the role this command connects as (the owner); choose another name.")
        if member_of == BOT_GROUP:
            # Normally made by migration 0004; here too, so a fresh server can take a restore.
            conn.execute(CREATE_BOT_GROUP)
        verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
        role = sql.Identifier(name)
        with conn.transaction():
            if row is None:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN INHERIT PASSWORD {}").format(role, sql.Literal(verifier)))
            else:
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN INHERIT PASSWORD {}").format(role, sql.Literal(verifier)))
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(member_of), role))
    return LoginResult(name, member_of, created=row is None)


@app.command("ensure-login")
def ensure_login_command(
    name: Annotated[str, typer.Argument(help="The login role, e.g. kbju_bot_login.", show_default=False)],
    member_of: Annotated[str, typer.Option("--member-of", help="kbju_bot (the bot) or pg_monitor (the exporter).",
                                           show_default=False)],
    password_env: Annotated[str, typer.Option("--password-env",
                                              help="Name of the environment variable holding the password "
                                              "(or NAME_FILE: the path of a file holding it).")]
    = "ROLE_PASSWORD",
    database_url: DatabaseUrl = None,
) -> None:
    """Create a login role in a restricted group, or set its new password (rotation). Run as the owner."""
    password = secret_files.read(password_env) or ""
    if not password:
        raise BadInput(f"Set the password in the environment variable {password_env}, or the path of a file "
                       f"holding it in {password_env}_FILE (it is never taken as an argument).")
    result = ensure_login(require_database_url(database_url), name, password, member_of)
    verb = "Created login role" if result.created else "Set a new password for"
    out.print(f"[green]{verb}[/] {result.name} (member of {result.member_of}: {GROUPS[result.member_of]}).")
