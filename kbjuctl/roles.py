"""Login roles of the bot and the exporter, and the server-wide group role the schema grants to.

Migration 0004 gives the NOLOGIN group role kbju_bot row access only. A login role that can use
it needs a password, which must not live in a migration; `ensure_login` creates the login role
(or, when it exists, sets its new password: token rotation works the same way) as a member of
kbju_bot or of pg_monitor. Only the password's SCRAM-SHA-256 verifier, computed here, reaches the
server, so the password never shows in its statement logs.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum

from kbjuctl import dburl
from kbjuctl.errors import BadInput

BOT_GROUP = "kbju_bot"
# Server-wide group roles the schema grants to (sql/0004.roles.sql). Roles are not part of a
# database dump: a restore onto a new server needs them first.
SCHEMA_GROUPS = (BOT_GROUP,)


class Group(StrEnum):
    """What a login made here may be a member of: nothing that can change the schema."""

    KBJU_BOT = BOT_GROUP
    PG_MONITOR = "pg_monitor"


GROUP_PURPOSE = {Group.KBJU_BOT: "the bot: read and write rows, no DDL",
                 Group.PG_MONITOR: "postgres_exporter: statistics only"}
MIN_PASSWORD_LENGTH = 16
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

ROLE_EXISTS = "SELECT 1 FROM pg_roles WHERE rolname = %s"
ROLE_ATTRIBUTES = "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = %s"


def ensure_group_role(conn, name: str) -> bool:
    """Create the NOLOGIN role `name` unless it exists; True when this call created it.

    Another session (a migration of another database of the server, a restore) may create it
    between the check and the CREATE: PostgreSQL then raises duplicate_object or unique_violation,
    which means the role is there, as wanted (sql/0004.roles.sql handles it the same way).
    """
    from psycopg import errors, sql

    if conn.execute(ROLE_EXISTS, (name,)).fetchone():
        return False
    try:
        with conn.transaction():  # a savepoint when a transaction is open: its failure is only its own
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    except (errors.DuplicateObject, errors.UniqueViolation):
        return False
    return True


@dataclass(frozen=True)
class LoginResult:
    name: str
    member_of: str
    created: bool  # False: the role existed and got its new password
    group_created: bool  # the group role was missing and was made too
    dry_run: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def check_request(name: str, password: str, member_of: str) -> None:
    if not _NAME.match(name):
        raise BadInput(f"Role name {name!r}: use 1-63 lower-case letters, digits and _, not starting with a digit.")
    if member_of not in set(Group):
        raise BadInput(f"--member-of must be one of: {', '.join(Group)}.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"The password must have at least {MIN_PASSWORD_LENGTH} characters "
                       "(e.g. `openssl rand -hex 24`).")


def ensure_login(database_url: str, name: str, password: str, member_of: str, *,
                 dry_run: bool = False) -> LoginResult:
    """Create the login role `name` in group `member_of`, or set its password if it exists.
    dry_run: check everything and report what would be done, change nothing."""
    import psycopg
    from psycopg import sql

    check_request(name, password, member_of)
    try:
        conn = psycopg.connect(database_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise BadInput(f"Cannot connect to the database: {dburl.mask(str(exc).strip().splitlines()[0], database_url)}"
                       ) from None
    with conn:
        row = conn.execute(ROLE_ATTRIBUTES, (name,)).fetchone()
        if row is not None and any(row):
            raise BadInput(f"Role {name} exists with superuser, CREATEROLE, CREATEDB or BYPASSRLS; "
                           "refusing to turn it into a restricted login. Choose another name.")
        if name == conn.info.user:
            raise BadInput(f"{name} is the role this command connects as (the owner); choose another name.")
        if dry_run:
            missing = member_of == BOT_GROUP and not conn.execute(ROLE_EXISTS, (member_of,)).fetchone()
            return LoginResult(name, member_of, created=row is None, group_created=missing, dry_run=True)
        # Normally made by migration 0004; here too, so that a fresh server can take a restore.
        group_created = ensure_group_role(conn, BOT_GROUP) if member_of == BOT_GROUP else False
        verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
        role = sql.Identifier(name)
        with conn.transaction():
            verb = "CREATE" if row is None else "ALTER"
            conn.execute(sql.SQL(verb + " ROLE {} LOGIN INHERIT PASSWORD {}").format(role, sql.Literal(verifier)))
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(member_of), role))
    return LoginResult(name, member_of, created=row is None, group_created=group_created)
