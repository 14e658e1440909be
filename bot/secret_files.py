"""Secrets from files: every secret X may be given as X_FILE, the path of a file that holds it.

The Docker and Kubernetes convention (secrets mounted as files under /run/secrets or a volume),
for the bot and every kbjuctl command alike: `resolve` runs once at start (kbjuctl's entry point,
and `bot.config.load_settings`) and puts each file's content into the environment variable its
readers already take, so typer's envvar options, the settings and libpq all see it. A file's
trailing newline is dropped. A missing, unreadable or empty file is a configuration error naming the
variable and the path, never the content. No pydantic here: kbjuctl imports it on every start.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from bot.config_checks import ConfigError

# Each secret and the environment variable its readers take. DATABASE_PASSWORD completes a
# DATABASE_URL that has none: libpq (psycopg, pg_dump, pg_restore) and asyncpg read PGPASSWORD
# (a password written in the URL wins, as libpq does). A libpq passfile (PGPASSFILE) works as is.
SECRETS = {
    "BOT_TOKEN": "BOT_TOKEN",
    "WEBHOOK_SECRET": "WEBHOOK_SECRET",
    "WEBHOOK_SECRET_PREVIOUS": "WEBHOOK_SECRET_PREVIOUS",
    "DATABASE_URL": "DATABASE_URL",
    "DATABASE_PASSWORD": "PGPASSWORD",
}
MAX_BYTES = 64 * 1024  # a secret, not a data file: a wrong path to something big fails fast


def read(variable: str, environ: MutableMapping[str, str] | None = None) -> str | None:
    """The secret X: $X when set, else the content of the file $X_FILE names, else None.

    Both set is an error unless they agree (as after `resolve`)."""
    environ = os.environ if environ is None else environ
    direct = environ.get(variable, "")
    path = environ.get(f"{variable}_FILE", "")
    if not path:
        return direct or None
    value = _read_file(f"{variable}_FILE", Path(path))
    if direct and direct != value:
        raise ConfigError(f"Invalid configuration:\n  {variable}: set either {variable} or {variable}_FILE, not both")
    return value


def _read_file(name: str, path: Path) -> str:
    def fail(why: str) -> ConfigError:
        return ConfigError(f"Invalid configuration:\n  {name}: {path} {why}")

    try:
        if path.is_dir():
            raise fail("is a folder; expected the file that holds the secret")
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise fail("does not exist; expected the file that holds the secret (e.g. a mounted secret)") from None
    except PermissionError:
        raise fail(f"cannot be read by this user (uid {os.getuid()}): permission denied") from None
    except OSError as exc:
        raise fail(f"cannot be read: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise fail(f"is larger than {MAX_BYTES // 1024} KiB; expected a file holding one secret")
    try:
        value = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise fail("is not UTF-8 text") from None
    if not value:
        raise fail("is empty")
    return value


def resolve(environ: MutableMapping[str, str] | None = None, extra: tuple[str, ...] = ()) -> None:
    """Put the content of every X_FILE (of SECRETS, plus `extra` names) into the variable its readers
    take. Every problem is reported at once, like the settings' validation."""
    environ = os.environ if environ is None else environ
    problems = []
    for variable, target in [*SECRETS.items(), *((name, name) for name in extra)]:
        if not environ.get(f"{variable}_FILE"):
            if variable != target and environ.get(variable):
                environ[target] = environ[variable]
            continue
        try:
            environ[target] = read(variable, environ)
        except ConfigError as exc:
            problems.append(str(exc).removeprefix("Invalid configuration:\n"))
    if problems:
        raise ConfigError("Invalid configuration:\n" + "\n".join(problems))
